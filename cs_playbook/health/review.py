"""What the health score means for the CS team: tiers, migration, the candidate beside the score in use, CSM lists.

Every table here carries tier CODES (good / normal / bad, `modeling.scorecard.TIERS`, best first);
the words of params (`tier_labels`) are applied only where a table, a chart or an export is rendered.

- `tier_table`: churn rate and ARR lost per tier on scored observations (out of time in the notebook);
  `current_tiers`: accounts, ARR and ARR at risk (probability x ARR, all active accounts) per tier today.
- `migration_matrix`: how accounts moved between tiers from one date to another; `tier_migration`:
  the scorer in use applied to an earlier date's measures, against today's accounts.
- `promotion_impact`: what promoting the candidate (calibrated) scorecard would change for today's
  accounts: tier migration in use -> candidate, counts, ARR, the accounts whose tier would change most.
- `segment_figures`: the evaluation figures of each score per segment.
- `scored_accounts`: the CSV/XLSX list for CSMs (the accounts of the quarter state), top three drivers.
- `disagreements`: accounts where the tier and the latest qualitative signals disagree. The data
  contract has no free-text CSM notes, so the signals are the recorded ones: BANTC risk answers, a
  lost champion, an NPS detractor, a renewal coming with no renewal-schedule step done.
- `comparison_sentence`: the headline, in words, of the calibrated score against the rules score;
  `observation_summary`: observations per quarter. Figures, headline and checks: `health.summary`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_playbook.data.contract import BANTC_DIMENSIONS
from cs_playbook.health.calibration import ReviewParams
from cs_playbook.health.scorer import FittedScorer, HealthScorer, score_accounts
from cs_playbook.modeling.evaluation import evaluate
from cs_playbook.modeling.scorecard import TIERS, Scorecard

__all__ = [
    "NEW",
    "GONE",
    "tier_table",
    "current_tiers",
    "migration_matrix",
    "TierMigration",
    "tier_migration",
    "PromotionImpact",
    "promotion_impact",
    "segment_figures",
    "scored_accounts",
    "disagreements",
    "comparison_sentence",
    "observation_summary",
]

NEW, GONE = "(new)", "(no longer a customer)"
TIER_RANK = {t: i for i, t in enumerate(TIERS)}  # 0 = best


def _tier_categorical(values: pd.Series) -> pd.Categorical:
    """Tier codes as an ordered categorical, best first (TIERS)."""
    return pd.Categorical(values.astype("string"), categories=list(TIERS), ordered=True)


def tier_table(
    frame: pd.DataFrame, *, tier_col: str, outcome: str = "churned", group: str | None = None
) -> pd.DataFrame:
    """Observations, accounts, churn rate and ARR lost per tier code (and per `group`, e.g. the model).

    `frame` holds the tier-code column, the 0/1 outcome, account_id, arr and arr_lost. Returns [group,]
    tier (code), observations, accounts, share (of the group's observations), churn_rate, arr, arr_lost,
    arr_lost_share (ARR lost / ARR), tiers in TIERS order.
    """
    known = frame[frame[outcome].notna()]
    keys = [group, tier_col] if group else [tier_col]
    out = known.groupby(keys, as_index=False).agg(
        observations=(outcome, "size"),
        accounts=("account_id", "nunique"),
        churn_rate=(outcome, "mean"),
        arr=("arr", "sum"),
        arr_lost=("arr_lost", "sum"),
    )
    out["share"] = (
        out["observations"] / out.groupby(group)["observations"].transform("sum")
        if group
        else out["observations"] / out["observations"].sum()
    )
    out["arr_lost_share"] = out["arr_lost"] / out["arr"].where(out["arr"] > 0)
    out = out.rename(columns={tier_col: "tier"})
    out["tier"] = _tier_categorical(out["tier"])
    cols = [*([group] if group else []), "tier", "observations", "accounts", "share", "churn_rate", "arr"]
    cols += ["arr_lost", "arr_lost_share"]
    out = out.sort_values(([group] if group else []) + ["tier"]).reset_index(drop=True)[cols]
    out["tier"] = out["tier"].astype("string")
    return out


def current_tiers(accounts: pd.DataFrame) -> pd.DataFrame:
    """Accounts, ARR, ARR at risk (sum of churn probability x ARR, all active accounts) and mean probability per tier.

    `accounts` is the quarter state's accounts (account_id, health_tier code, arr, arr_at_risk,
    churn_probability). Returns tier (code; all three, best first), accounts, arr, arr_share,
    arr_at_risk, mean_probability.
    """
    out = accounts.groupby("health_tier").agg(
        accounts=("account_id", "size"),
        arr=("arr", "sum"),
        arr_at_risk=("arr_at_risk", "sum"),
        mean_probability=("churn_probability", "mean"),
    )
    out = out.reindex(list(TIERS)).fillna({"accounts": 0, "arr": 0.0, "arr_at_risk": 0.0})
    out["accounts"] = out["accounts"].astype("int64")
    total = out["arr"].sum()
    out["arr_share"] = out["arr"] / total if total > 0 else np.nan
    out = out.rename_axis("tier").reset_index()
    out["tier"] = out["tier"].astype("string")
    return out[["tier", "accounts", "arr", "arr_share", "arr_at_risk", "mean_probability"]]


def migration_matrix(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Accounts by tier code before (rows) and after (columns); new customers and those gone get their own row and column.

    `before` and `after` have account_id and health_tier (codes).
    """
    b = before.set_index("account_id")["health_tier"].astype("string").rename("before")
    a = after.set_index("account_id")["health_tier"].astype("string").rename("after")
    both = pd.concat([b, a], axis=1)
    both["before"] = both["before"].fillna(NEW)
    both["after"] = both["after"].fillna(GONE)
    rows, cols = [*TIERS, NEW], [*TIERS, GONE]
    m = pd.crosstab(both["before"], both["after"]).reindex(index=rows, columns=cols, fill_value=0)
    m.index.name, m.columns.name = "tier before", "tier after"
    return m


@dataclass(frozen=True)
class TierMigration:
    """Tier migration between an earlier date and today, both scored by the scorer in use.

    `before`: account_id, health_tier (code) on the earlier date; `matrix`: `migration_matrix`;
    `fell` / `rose`: today's accounts that went from good to bad / from bad to good (account_id,
    account_name, csm, arr, health_tier_before, health_tier), largest ARR first.
    """

    before: pd.DataFrame
    matrix: pd.DataFrame
    fell: pd.DataFrame
    rose: pd.DataFrame


def tier_migration(measures_before: pd.DataFrame, accounts: pd.DataFrame, scorer: HealthScorer) -> TierMigration:
    """How today's accounts (quarter state) moved since the date of `measures_before`, scored by the same `scorer`.

    `measures_before` is `calibration.measures_on` of the earlier date; `accounts` the state's accounts.
    """
    before = score_accounts(measures_before, scorer, drivers=0)[["account_id", "health_tier"]].reset_index(drop=True)
    matrix = migration_matrix(before, accounts[["account_id", "health_tier"]])
    both = accounts.merge(before, on="account_id", how="inner", suffixes=("", "_before"))
    cols = ["account_id", "account_name", "csm", "arr", "health_tier_before", "health_tier"]

    def moved(src: str, dst: str) -> pd.DataFrame:
        part = both[(both["health_tier_before"] == src) & (both["health_tier"] == dst)]
        return part.sort_values("arr", ascending=False).reset_index(drop=True)[cols]

    return TierMigration(before=before, matrix=matrix, fell=moved("good", "bad"), rose=moved("bad", "good"))


@dataclass(frozen=True)
class PromotionImpact:
    """What promoting the candidate scorecard would change for today's accounts.

    `matrix`: accounts by tier in use (rows) and candidate tier (columns), codes in TIERS order;
    `arr_matrix`: the same for ARR; `accounts`: one row per account, account_id, account_name,
    segment, csm, arr, health_score, health_tier (in use), arr_at_risk, candidate_score,
    candidate_tier, candidate_probability, candidate_arr_at_risk, steps (candidate tier rank minus
    the tier in use: > 0 worse under the candidate); `consequential`: the accounts that would change
    tier, the jumps across the middle tier (good <-> bad) first, then by ARR, largest first;
    `figures`: counts and ARR for summary.json.
    """

    candidate: str
    in_use: str
    matrix: pd.DataFrame
    arr_matrix: pd.DataFrame
    accounts: pd.DataFrame
    consequential: pd.DataFrame
    figures: dict


def _impact_figures(acc: pd.DataFrame) -> dict:
    """Counts and ARR of the tier changes a promotion would bring."""
    changed = acc[acc["steps"] != 0]

    def move(src: str, dst: str) -> dict:
        part = acc[(acc["health_tier"] == src) & (acc["candidate_tier"] == dst)]
        return {"accounts": int(len(part)), "arr": float(part["arr"].sum())}

    return {
        "accounts": int(len(acc)),
        "accounts_changing_tier": int(len(changed)),
        "arr_changing_tier": float(changed["arr"].sum()),
        "accounts_worse": int((acc["steps"] > 0).sum()),
        "arr_worse": float(acc.loc[acc["steps"] > 0, "arr"].sum()),
        "accounts_better": int((acc["steps"] < 0).sum()),
        "arr_better": float(acc.loc[acc["steps"] < 0, "arr"].sum()),
        "good_to_bad": move("good", "bad"),
        "bad_to_good": move("bad", "good"),
        "candidate_tiers": {t: int((acc["candidate_tier"] == t).sum()) for t in TIERS},
        "arr_at_risk_all_accounts_in_use": float(acc["arr_at_risk"].sum()),
        "arr_at_risk_all_accounts_candidate": float(acc["candidate_arr_at_risk"].sum()),
    }


def promotion_impact(
    accounts: pd.DataFrame, measures_now: pd.DataFrame, candidate: HealthScorer | Scorecard, *, in_use: str = ""
) -> PromotionImpact:
    """Today's accounts scored by the candidate beside their tier in use: what promoting it would change.

    `accounts` is the quarter state's accounts (the scorer in use); `measures_now` the measures of
    the same day (`calibration.measures_on(as_of)`), `candidate` the fitted scorecard (or a scorer).
    Accounts without measures keep no candidate tier and are left out of the matrices.
    """
    scorer = FittedScorer(candidate) if isinstance(candidate, Scorecard) else candidate
    cand = score_accounts(measures_now, scorer, drivers=0)
    cand = cand.rename(
        columns={
            "health_score": "candidate_score",
            "health_tier": "candidate_tier",
            "churn_probability": "candidate_probability",
        }
    )[["account_id", "candidate_score", "candidate_tier", "candidate_probability"]]
    keep = ["account_id", "account_name", "segment", "csm", "arr", "health_score", "health_tier", "arr_at_risk"]
    acc = accounts[keep].merge(cand, on="account_id", how="inner")
    acc["candidate_arr_at_risk"] = acc["candidate_probability"] * acc["arr"]
    acc["steps"] = (acc["candidate_tier"].map(TIER_RANK) - acc["health_tier"].map(TIER_RANK)).astype("int64")
    rows = pd.Index(list(TIERS), name="tier in use")
    cols = pd.Index(list(TIERS), name="candidate tier")
    matrix = pd.crosstab(acc["health_tier"], acc["candidate_tier"]).reindex(index=rows, columns=cols, fill_value=0)
    arr = acc.pivot_table(index="health_tier", columns="candidate_tier", values="arr", aggfunc="sum", observed=False)
    arr_matrix = arr.reindex(index=rows, columns=cols).fillna(0.0)
    arr_matrix.index.name, arr_matrix.columns.name = rows.name, cols.name
    moved = acc[acc["steps"] != 0].assign(jump=acc["steps"].abs())
    consequential = (
        moved.sort_values(["jump", "arr", "account_id"], ascending=[False, False, True])
        .drop(columns="jump")
        .reset_index(drop=True)
    )
    return PromotionImpact(
        candidate=scorer.name,
        in_use=in_use or (str(accounts["scorecard"].iloc[0]) if len(accounts) else ""),
        matrix=matrix,
        arr_matrix=arr_matrix,
        accounts=acc.sort_values(["steps", "arr"], ascending=[False, False]).reset_index(drop=True),
        consequential=consequential,
        figures=_impact_figures(acc),
    )


def segment_figures(
    predictions: pd.DataFrame, *, models: dict[str, str], outcome: str = "churned", n_boot: int = 300, seed: int = 0
) -> pd.DataFrame:
    """Evaluation figures of each model per segment (account clusters resampled for the intervals).

    Returns segment, model and the columns of evaluation.evaluate.
    """
    rows = []
    for seg, part in predictions.groupby("segment", sort=True):
        for label, col in models.items():
            f = evaluate(part[outcome], part[col], groups=part["account_id"].to_numpy(), n_boot=n_boot, seed=seed)
            rows.append({"segment": seg, "model": label, **f})
    return pd.DataFrame(rows)


CSM_COLUMNS = [
    "account_id",
    "account_name",
    "segment",
    "csm",
    "health_score",
    "health_tier",
    "churn_probability",
    "arr",
    "arr_at_risk",
]


def scored_accounts(accounts: pd.DataFrame) -> pd.DataFrame:
    """The CSM list: the quarter state's accounts, as scored by the scorer in use, riskiest ARR first.

    `accounts` is the state's accounts. Returns account_id, account_name, segment, csm, health_score,
    health_tier (code), churn_probability, arr, arr_at_risk (all accounts), driver_1 .. driver_3
    (with _value and _points), next_renewal, arr_renewing, arr_renewing_at_risk, scorecard.
    """
    drivers = [c for c in accounts.columns if c.startswith("driver_")]
    renewal = [c for c in ("next_renewal", "arr_renewing", "arr_renewing_at_risk") if c in accounts.columns]
    out = accounts[[*CSM_COLUMNS, *drivers, *renewal, "scorecard"]]
    return out.sort_values(["arr_at_risk", "account_id"], ascending=[False, True]).reset_index(drop=True)


def _joined(flags: pd.DataFrame) -> pd.Series:
    """The names of the True columns of each row, joined by '; '."""
    names = np.array(flags.columns)
    return pd.Series(["; ".join(names[row]) for row in flags.to_numpy(dtype=bool)], index=flags.index)


def disagreements(scored: pd.DataFrame, now: pd.DataFrame, review: ReviewParams) -> pd.DataFrame:
    """Accounts whose tier and latest qualitative signals disagree, for a CSM to review.

    Risk signals: a BANTC dimension at risk in the latest assessment, a lost champion, an NPS
    detractor, a renewal within `review.renewal_soon_days` with no renewal-schedule step done
    (accounts with a CSM). Healthy signals: an NPS promoter, a champion, executive access, a BANTC
    assessment with no risk. Listed: good-tier accounts with a risk signal ('risk signals'), and
    bad-tier accounts with at least `review.healthy_signals_min` healthy signals and no risk signal
    ('healthy signals'). Returns account_id, account_name, csm, health_score, health_tier (code),
    arr, disagreement, signals.
    """
    rv = review
    m = now.set_index("account_id")
    risk: dict[str, pd.Series] = {f"BANTC {dim} risk": m[f"bantc_{dim}_risk"] == 1 for dim in BANTC_DIMENSIONS}
    risk["champion lost"] = m["champion_lost"] == 1
    risk["NPS detractor"] = m["nps_score"] <= rv.nps_detractor_max
    risk["renewal soon, no renewal step done"] = (
        (m["days_to_renewal"] <= rv.renewal_soon_days) & (m["renewal_steps"] == 0) & (m["has_csm"] == 1)
    )
    healthy = {
        "NPS promoter": m["nps_score"] >= rv.nps_promoter_min,
        "champion engaged": m["champion"] == 1,
        "executive access": m["exec_access"] == 1,
        "BANTC all clear": m["bantc_risk_count"] == 0,
    }
    risk_df = pd.DataFrame(risk).fillna(False).astype(bool)
    healthy_df = pd.DataFrame(healthy).fillna(False).astype(bool)
    s = scored.set_index("account_id")
    tier = s["health_tier"].astype("string").reindex(m.index)
    n_risk, n_ok = risk_df.sum(axis=1), healthy_df.sum(axis=1)
    good_risky = ((tier == "good") & (n_risk > 0)).fillna(False).astype(bool)
    bad_healthy = ((tier == "bad") & (n_ok >= rv.healthy_signals_min) & (n_risk == 0)).fillna(False).astype(bool)
    out = pd.DataFrame(index=m.index)
    out["disagreement"] = np.where(good_risky, "risk signals", np.where(bad_healthy, "healthy signals", ""))
    out["signals"] = np.where(good_risky, _joined(risk_df), np.where(bad_healthy, _joined(healthy_df), ""))
    out = out[good_risky | bad_healthy].join(s[["account_name", "csm", "health_score", "health_tier", "arr"]])
    cols = ["account_id", "account_name", "csm", "health_score", "health_tier", "arr", "disagreement", "signals"]
    return out.reset_index().sort_values(["disagreement", "arr"], ascending=[True, False]).reset_index(drop=True)[cols]


def comparison_sentence(c: dict, *, new: str = "the calibrated score", old: str = "the rules score") -> str:
    """The headline in words: does `new` rank churners better than `old`, by how much, how sure (compare_auc output)."""
    if c.get("diff") is None or np.isnan(c["diff"]):
        return f"There are not enough churn events out of time to compare {new} with {old}."
    gap = f"AUC {c['auc_a']:.3f} against {c['auc_b']:.3f} ({c['diff']:+.3f}; 95% interval {c['lo']:+.3f} to {c['hi']:+.3f})"
    share = c.get("share_a_better", np.nan)
    sure = f"; it ranks better in {share:.0%} of the resamples" if share == share else ""
    if c["lo"] > 0:
        return f"{new[0].upper() + new[1:]} predicts churn better than {old}: {gap}{sure}."
    if c["hi"] < 0:
        return f"{new[0].upper() + new[1:]} predicts churn worse than {old}: {gap}{sure}."
    return f"No clear difference between {new} and {old}: {gap}{sure}."


def observation_summary(observations: pd.DataFrame, *, fit_before: pd.Timestamp) -> pd.DataFrame:
    """Observations per quarter: how many, how many with a known outcome, the churn rate, and whether fitted.

    Returns quarter, observations, accounts, outcome_known, churned, churn_rate, used_for_fit.
    """
    df = observations.assign(quarter=observations["obs_date"].dt.to_period("Q").astype(str))
    out = df.groupby("quarter", as_index=False).agg(
        observations=("account_id", "size"),
        accounts=("account_id", "nunique"),
        outcome_known=("churned", "count"),
        churned=("churned", "sum"),
        first_date=("obs_date", "min"),
    )
    out["churn_rate"] = out["churned"] / out["outcome_known"].where(out["outcome_known"] > 0)
    out["used_for_fit"] = (out["first_date"] < fit_before) & (out["outcome_known"] > 0)
    return out.drop(columns="first_date")
