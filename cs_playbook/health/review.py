"""What the health score means for the CS team: tiers, migration, segments, the CSM list and its review list.

- `tier_table`: churn rate and ARR lost per tier on scored observations (out of time in the notebook);
  `current_tiers`: accounts, ARR and ARR at risk (probability x ARR) per tier today.
- `migration_matrix`: how accounts moved between tiers from one date to another.
- `segment_figures`: the evaluation figures of each score per segment.
- `scored_accounts`: the CSV/XLSX list for CSMs, with each account's top three drivers.
- `disagreements`: accounts where the score and the latest qualitative signals disagree. The data
  contract has no free-text CSM notes, so the signals are the recorded ones: BANTC risk answers, a
  lost champion, an NPS detractor, a renewal coming with no renewal-schedule step done.
- `comparison_sentence`: the headline, in words, of the calibrated score against today's;
  `summary_figures` and `headline` for summary.json and index.html; `consistency_checks`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from cs_playbook.data.contract import BANTC_DIMENSIONS
from cs_playbook.data.measures import MEASURE_LABELS
from cs_playbook.health.calibration import HealthParams
from cs_playbook.health.rules import rules_contributions, rules_score, rules_tiers
from cs_playbook.modeling.evaluation import evaluate
from cs_playbook.modeling.scorecard import Scorecard, assign_tiers

__all__ = [
    "tier_table",
    "current_tiers",
    "migration_matrix",
    "segment_figures",
    "top_drivers",
    "scored_accounts",
    "disagreements",
    "comparison_sentence",
    "observation_summary",
    "summary_figures",
    "headline",
    "consistency_checks",
]

NEW, GONE = "(new)", "(no longer a customer)"


def tier_table(
    frame: pd.DataFrame, *, tier_col: str, order: list[str], outcome: str = "churned", group: str | None = None
) -> pd.DataFrame:
    """Observations, accounts, churn rate and ARR lost per tier (and per `group`, e.g. the model).

    `frame` holds the tier column, the 0/1 outcome, arr and arr_lost. Returns [group,] tier,
    observations, accounts, share (of the group's observations), churn_rate, arr, arr_lost,
    arr_lost_share (ARR lost / ARR), tiers in `order`.
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
    out["tier"] = pd.Categorical(out["tier"], categories=order, ordered=True)
    cols = ([group] if group else []) + [
        "tier",
        "observations",
        "accounts",
        "share",
        "churn_rate",
        "arr",
        "arr_lost",
        "arr_lost_share",
    ]
    return out.sort_values(([group] if group else []) + ["tier"]).reset_index(drop=True)[cols]


def current_tiers(scored: pd.DataFrame, *, order: list[str]) -> pd.DataFrame:
    """Accounts, ARR, ARR at risk (sum of churn probability x ARR) and mean probability per tier today."""
    out = scored.groupby("health_tier", as_index=False).agg(
        accounts=("account_id", "size"),
        arr=("arr", "sum"),
        arr_at_risk=("arr_at_risk", "sum"),
        mean_probability=("churn_probability", "mean"),
    )
    out["arr_share"] = out["arr"] / out["arr"].sum()
    out = out.rename(columns={"health_tier": "tier"})
    out["tier"] = pd.Categorical(out["tier"], categories=order, ordered=True)
    return out.sort_values("tier").reset_index(drop=True)[
        ["tier", "accounts", "arr", "arr_share", "arr_at_risk", "mean_probability"]
    ]


def migration_matrix(before: pd.DataFrame, after: pd.DataFrame, *, order: list[str]) -> pd.DataFrame:
    """Accounts by tier before (rows) and after (columns); new customers and those gone get their own row and column.

    `before` and `after` have account_id and health_tier.
    """
    b = before.set_index("account_id")["health_tier"].rename("before")
    a = after.set_index("account_id")["health_tier"].rename("after")
    both = pd.concat([b, a], axis=1)
    both["before"] = both["before"].fillna(NEW)
    both["after"] = both["after"].fillna(GONE)
    rows, cols = [*order, NEW], [*order, GONE]
    m = pd.crosstab(both["before"], both["after"]).reindex(index=rows, columns=cols, fill_value=0)
    m.index.name, m.columns.name = "tier before", "tier after"
    return m


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


def top_drivers(contributions: pd.DataFrame, measures: pd.DataFrame, *, k: int = 3) -> pd.DataFrame:
    """The k measures that move each row's score most (largest points, either way), with value and points.

    Returns driver_1, driver_1_value, driver_1_points, ... driver_k_points, index of `contributions`.
    """
    pts = contributions.fillna(0.0)
    order = np.argsort(-pts.abs().to_numpy(), axis=1, kind="stable")[:, :k]
    names = np.array(pts.columns)
    values = measures.reindex(columns=names).to_numpy(dtype=object)
    rows = np.arange(len(pts))
    out = {}
    for i in range(min(k, pts.shape[1])):
        out[f"driver_{i + 1}"] = [MEASURE_LABELS.get(c, c) for c in names[order[:, i]]]
        out[f"driver_{i + 1}_value"] = values[rows, order[:, i]]
        out[f"driver_{i + 1}_points"] = np.round(pts.to_numpy()[rows, order[:, i]], 1)
    return pd.DataFrame(out, index=contributions.index)


def scored_accounts(
    now: pd.DataFrame,
    accounts: pd.DataFrame,
    params: HealthParams,
    *,
    scorecard: Scorecard | None,
    rules_calibration: Callable[[np.ndarray], np.ndarray],
) -> pd.DataFrame:
    """The CSM list: each account's score, tier, churn probability, ARR at risk and top three drivers.

    `now` is health.measures_on output. With a usable `scorecard` the calibrated score leads;
    otherwise the rules score (its probability from `rules_calibration`). Returns account_id,
    account_name, segment, csm, health_score, health_tier, churn_probability, arr, arr_at_risk,
    driver_1 .. driver_3 (with _value and _points: score points relative to an average account for
    the calibrated score, points lost against full marks for the rules score), rules_score,
    rules_tier, scorecard; riskiest ARR first.
    """
    labels = params.tier_labels
    rules = params.rules_scorecard
    out = now[["account_id"]].copy()
    out["rules_score"] = rules_score(now, rules)
    out["rules_tier"] = assign_tiers(out["rules_score"], rules_tiers(rules, labels))
    if scorecard is not None and scorecard.fallback is None and scorecard.tiers is not None:
        out["health_score"] = scorecard.score(now)
        out["health_tier"] = assign_tiers(out["health_score"], scorecard.tiers.model_copy(update=labels.model_dump()))
        out["churn_probability"] = scorecard.probability(now)
        contrib = scorecard.contributions(now)
        out["scorecard"] = scorecard.name
    else:
        out["health_score"] = out["rules_score"]
        out["health_tier"] = out["rules_tier"]
        out["churn_probability"] = rules_calibration(out["rules_score"].to_numpy())
        contrib = rules_contributions(now, rules)
        out["scorecard"] = rules.name
    out["arr"] = now["arr"].to_numpy()
    out["arr_at_risk"] = out["churn_probability"] * out["arr"]
    out = out.join(top_drivers(contrib, now))
    acc = accounts[["account_id", "account_name", "segment", "csm"]].copy()
    acc["account_id"] = acc["account_id"].astype("string")
    out = out.merge(acc, on="account_id", how="left")
    out["health_score"] = out["health_score"].round(1)
    out["rules_score"] = out["rules_score"].round(1)
    first = [
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
    drivers = [c for c in out.columns if c.startswith("driver_")]
    return (
        out[[*first, *drivers, "rules_score", "rules_tier", "scorecard"]]
        .sort_values("arr_at_risk", ascending=False)
        .reset_index(drop=True)
    )


def disagreements(scored: pd.DataFrame, now: pd.DataFrame, params: HealthParams) -> pd.DataFrame:
    """Accounts whose tier and latest qualitative signals disagree, for a CSM to review.

    Risk signals: a BANTC dimension at risk in the latest assessment, a lost champion, an NPS
    detractor, a renewal within `review.renewal_soon_days` with no renewal-schedule step done
    (accounts with a CSM). Healthy signals: an NPS promoter, a champion, executive access, a BANTC
    assessment with no risk. Listed: GOOD accounts with a risk signal, and BAD accounts with at
    least `review.healthy_signals_min` healthy signals and no risk signal. Returns account_id, account_name, csm, health_score,
    health_tier, arr, disagreement, signals.
    """
    rv, labels = params.review, params.tier_labels
    m = now.set_index("account_id")
    risk: dict[str, pd.Series] = {}
    for dim in BANTC_DIMENSIONS:
        risk[f"BANTC {dim} risk"] = m[f"bantc_{dim}_risk"] == 1
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
    risk_df, healthy_df = pd.DataFrame(risk).fillna(False), pd.DataFrame(healthy).fillna(False)

    def joined(flags: pd.DataFrame) -> pd.Series:
        return flags.apply(lambda r: "; ".join(c for c, v in r.items() if v), axis=1)

    s = scored.set_index("account_id")
    tier = s["health_tier"].reindex(m.index)
    n_risk, n_ok = risk_df.sum(axis=1), healthy_df.sum(axis=1)
    good_risky = (tier == labels.good) & (n_risk > 0)
    bad_healthy = (tier == labels.bad) & (n_ok >= rv.healthy_signals_min) & (n_risk == 0)
    out = pd.DataFrame(index=m.index)
    out["disagreement"] = np.where(
        good_risky,
        f"score {labels.good}, risk signals",
        np.where(bad_healthy, f"score {labels.bad}, healthy signals", ""),
    )
    out["signals"] = np.where(good_risky, joined(risk_df), np.where(bad_healthy, joined(healthy_df), ""))
    out = out[good_risky | bad_healthy].join(s[["account_name", "csm", "health_score", "health_tier", "arr"]])
    cols = ["account_id", "account_name", "csm", "health_score", "health_tier", "arr", "disagreement", "signals"]
    return out.reset_index().sort_values(["disagreement", "arr"], ascending=[True, False]).reset_index(drop=True)[cols]


def comparison_sentence(c: dict, *, new: str = "the calibrated score", old: str = "today's score") -> str:
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


def summary_figures(
    *,
    backtest_summary: pd.DataFrame,
    comparison: dict,
    tiers_out_of_time: pd.DataFrame,
    current: pd.DataFrame,
    scorecard: Scorecard,
    disagreement_count: int,
    in_use: str,
) -> dict:
    """Raw figures for summary.json: per model AUC (interval), Brier, ECE, lift; the comparison; tiers; thresholds."""
    allrows = backtest_summary[backtest_summary["fold"] == "all"].set_index("model") if len(backtest_summary) else None
    models = {}
    if allrows is not None:
        for model, r in allrows.iterrows():
            models[model] = {
                k: r[k] for k in ("n", "events", "auc", "auc_lo", "auc_hi", "brier", "ece", "top_decile_lift")
            }
    tier_rates = {
        model: dict(zip(part["tier"].astype(str), part["churn_rate"], strict=True))
        for model, part in tiers_out_of_time.groupby("model", sort=False)
    }
    return {
        "out_of_time": models,
        "comparison": {
            k: comparison.get(k) for k in ("auc_a", "auc_b", "diff", "lo", "hi", "p_value", "share_a_better")
        },
        "tier_churn_rate_out_of_time": tier_rates,
        "current_tiers": {
            str(r.tier): {"accounts": int(r.accounts), "arr": r.arr, "arr_at_risk": r.arr_at_risk}
            for r in current.itertuples()
        },
        "arr_at_risk": float(current["arr_at_risk"].sum()),
        "thresholds": scorecard.tiers.model_dump() if scorecard.tiers else None,
        "points_to_double_odds": scorecard.points_to_double_odds,
        "calibrated_fallback": scorecard.fallback,
        "fitting": scorecard.fitting,
        "disagreements": disagreement_count,
        "scorecard_in_use": in_use,
    }


def headline(figures: dict, *, currency: str, labels: list[str]) -> dict[str, str]:
    """The few formatted figures shown on index.html."""
    from cs_playbook.formatting import fmt_money, fmt_pct

    out: dict[str, str] = {}
    cal = figures["out_of_time"].get("calibrated")
    rules = figures["out_of_time"].get("today's rules")
    if cal:
        out["Calibrated AUC (out of time)"] = f"{cal['auc']:.3f} ({cal['auc_lo']:.3f}-{cal['auc_hi']:.3f})"
    if rules:
        out["Today's score AUC"] = f"{rules['auc']:.3f}"
    c = figures["comparison"]
    if c.get("diff") is not None and c["diff"] == c["diff"]:
        verdict = "better" if c["lo"] > 0 else ("worse" if c["hi"] < 0 else "no clear difference")
        out["Calibrated vs today"] = f"{c['diff']:+.3f} AUC, {verdict} ({c['share_a_better']:.0%} of resamples)"
    rates = figures["tier_churn_rate_out_of_time"].get("calibrated", {})
    good, bad = labels[0], labels[-1]
    if good in rates and bad in rates:
        out[f"Churn {bad} vs {good}"] = f"{fmt_pct(rates[bad], digits=0)} vs {fmt_pct(rates[good], digits=0)}"
    out["ARR at risk (all accounts)"] = fmt_money(figures["arr_at_risk"], currency)
    return out


def consistency_checks(
    scored: pd.DataFrame,
    *,
    active_accounts: int,
    migration: pd.DataFrame,
    scorecard: Scorecard,
    fit_before: pd.Timestamp,
) -> dict[str, bool]:
    """Properties that must hold on any data; the notebook prints them and nbval compares the output."""
    by_tier = scored.groupby("health_tier")["health_score"].agg(["min", "max"])
    ordered = by_tier.sort_values("min")
    last = scorecard.fitting.get("last_observation")
    return {
        "every_active_account_scored_once": bool(scored["account_id"].is_unique and len(scored) == active_accounts),
        "probabilities_between_0_and_1": bool(scored["churn_probability"].between(0, 1).all()),
        "arr_at_risk_at_most_arr": bool((scored["arr_at_risk"] <= scored["arr"] + 1e-6).all()),
        "tiers_do_not_overlap": bool((ordered["min"].shift(-1).dropna() >= ordered["max"].iloc[:-1].to_numpy()).all()),
        "fit_uses_no_observation_of_the_quarter": bool(last is None or pd.Timestamp(last) < fit_before),
        "migration_counts_every_account_once": bool(int(migration.drop(columns=GONE).to_numpy().sum()) == len(scored)),
    }
