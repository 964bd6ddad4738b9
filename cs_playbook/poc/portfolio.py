"""The PoC portfolio: open PoCs and the ARR at stake, closed PoCs and conversion, where to run the next one.

Once started, 70-80% of PoCs should close (DOMAIN.md, PoC); the history shows whether
meeting the agreed criteria is what converts them. For a planned PoC, the sites or teams of
the account (and of similar accounts) are ranked by how likely their current usage meets
the proposed criteria.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from cs_playbook.poc.criteria import CandidateRules, PlannedPoc
from cs_playbook.poc.tracking import meets
from cs_playbook.poc.usage import scope_users, scope_weekly_metrics

__all__ = [
    "VERDICT_ORDER",
    "open_portfolio",
    "arr_by_verdict",
    "closed_history",
    "conversion_summary",
    "decision_time_summary",
    "level_probability",
    "similar_accounts",
    "candidate_teams",
    "rank_candidates",
]

VERDICT_ORDER = ["off track", "at risk", "too early", "on track", "met", "not met", "no criteria"]


def open_portfolio(
    pocs: pd.DataFrame, verdicts: pd.DataFrame, actions: pd.DataFrame, accounts: pd.DataFrame
) -> pd.DataFrame:
    """Every open PoC with its verdict, ARR at stake and next action, the most urgent first.

    Returns poc_id, account_id, account_name, csm, name, objective, scope, start_date,
    end_date, days_left, verdict, n_met, n_criteria, must_haves_met, must_haves, score,
    expected_score, p_must_haves, arr_at_stake, focus_criterion, next_action; sorted by verdict
    (off track first), then ARR at stake.
    """
    open_ = pocs[pocs["outcome"] == "open"]
    out = (
        open_[["poc_id", "account_id", "name", "objective", "scope", "start_date", "end_date", "arr_at_stake"]]
        .merge(verdicts, on="poc_id", how="left")
        .merge(actions, on="poc_id", how="left")
        .merge(accounts[["account_id", "account_name", "csm"]], on="account_id", how="left")
    )
    out["_order"] = out["verdict"].map({v: i for i, v in enumerate(VERDICT_ORDER)})
    out = out.sort_values(["_order", "arr_at_stake"], ascending=[True, False]).reset_index(drop=True)
    cols = [
        "poc_id",
        "account_id",
        "account_name",
        "csm",
        "name",
        "objective",
        "scope",
        "start_date",
        "end_date",
        "days_left",
        "verdict",
        "n_met",
        "n_criteria",
        "must_haves_met",
        "must_haves",
        "score",
        "expected_score",
        "p_must_haves",
        "arr_at_stake",
        "focus_criterion",
        "next_action",
    ]
    return out[cols]


def arr_by_verdict(portfolio: pd.DataFrame) -> pd.DataFrame:
    """Open PoCs and ARR at stake per verdict (verdicts in urgency order). Returns verdict, pocs, arr_at_stake."""
    g = portfolio.groupby("verdict").agg(pocs=("poc_id", "size"), arr_at_stake=("arr_at_stake", "sum"))
    order = [v for v in VERDICT_ORDER if v in g.index]
    return g.loc[order].reset_index()


def closed_history(pocs: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """Decided PoCs with whether their criteria were met at the end and how long the decision took.

    Returns poc_id, account_id, name, start_date, end_date, decided_at, outcome, won,
    criteria_met (verdict met), score, poc_days (start to end, inclusive),
    days_to_decision (end date to decision; negative when decided early), arr_at_stake.
    """
    closed = pocs[pocs["outcome"].isin(["won", "lost"])]
    out = closed.merge(verdicts[["poc_id", "verdict", "score"]], on="poc_id", how="left")
    out["won"] = out["outcome"] == "won"
    out["criteria_met"] = out["verdict"] == "met"
    out["poc_days"] = (out["end_date"] - out["start_date"]).dt.days + 1
    out["days_to_decision"] = (out["decided_at"] - out["end_date"]).dt.days
    cols = [
        "poc_id",
        "account_id",
        "name",
        "start_date",
        "end_date",
        "decided_at",
        "outcome",
        "won",
        "criteria_met",
        "score",
        "poc_days",
        "days_to_decision",
        "arr_at_stake",
    ]
    return out[cols].sort_values("decided_at").reset_index(drop=True)


def conversion_summary(history: pd.DataFrame, *, benchmark: tuple[float, float] = (0.7, 0.8)) -> pd.DataFrame:
    """Conversion of decided PoCs overall and when the criteria were met or not, against the benchmark.

    Returns group (all, criteria met, criteria not met), pocs, won, conversion, ci_low,
    ci_high (95% Wilson interval), arr_won, benchmark_low, benchmark_high, vs_benchmark
    (below / within / above, judged on the rate itself).
    """
    groups = [
        ("all", history),
        ("criteria met", history[history["criteria_met"]]),
        ("criteria not met", history[~history["criteria_met"]]),
    ]
    rows = []
    for name, g in groups:
        n, won = len(g), int(g["won"].sum())
        lo, hi = proportion_confint(won, n, alpha=0.05, method="wilson") if n else (np.nan, np.nan)
        rate = won / n if n else np.nan
        position = (
            "n/a" if not n else ("below" if rate < benchmark[0] else ("above" if rate > benchmark[1] else "within"))
        )
        rows.append(
            {
                "group": name,
                "pocs": n,
                "won": won,
                "conversion": rate,
                "ci_low": float(lo),
                "ci_high": float(hi),
                "arr_won": float(g.loc[g["won"], "arr_at_stake"].sum()),
                "benchmark_low": benchmark[0],
                "benchmark_high": benchmark[1],
                "vs_benchmark": position,
            }
        )
    return pd.DataFrame(rows)


def decision_time_summary(history: pd.DataFrame) -> pd.DataFrame:
    """Days from the end date to the decision, by outcome and overall.

    Returns outcome (won, lost, all), pocs, median_days, mean_days, max_days, median_poc_days.
    """
    rows = []
    for name, g in [("won", history[history["won"]]), ("lost", history[~history["won"]]), ("all", history)]:
        d = g["days_to_decision"].dropna()
        rows.append(
            {
                "outcome": name,
                "pocs": len(g),
                "median_days": float(d.median()) if len(d) else np.nan,
                "mean_days": float(d.mean()) if len(d) else np.nan,
                "max_days": float(d.max()) if len(d) else np.nan,
                "median_poc_days": float(g["poc_days"].median()) if len(g) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def level_probability(values: np.ndarray, comparator: str, target: float) -> float:
    """Probability that the next week meets the target if usage stays at its current level.

    The t predictive distribution of one more value from `values` (mean, sd x sqrt(1 + 1/n),
    n - 1 degrees of freedom); one value or identical values give 1 or 0.
    """
    v = np.asarray(values, dtype="float64")
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return np.nan
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) * np.sqrt(1 + 1 / len(v)) if len(v) > 1 else 0.0
    if sd == 0:
        return float(meets(mean, comparator, target))
    below = float(stats.t.cdf((target - mean) / sd, len(v) - 1))
    return 1.0 - below if comparator == ">=" else below


def similar_accounts(accounts: pd.DataFrame, account_id: str, *, match_on: list[str], limit: int) -> pd.DataFrame:
    """Up to `limit` other accounts sharing the `match_on` attributes, the closest in employees first.

    Returns account_id, account_name, employee_ratio (their employees / this account's).
    """
    me = accounts.loc[accounts["account_id"] == account_id]
    if me.empty or limit <= 0:
        return pd.DataFrame(columns=["account_id", "account_name", "employee_ratio"])
    me = me.iloc[0]
    mask = accounts["account_id"] != account_id
    for col in match_on:
        mask &= accounts[col] == me[col] if pd.notna(me[col]) else accounts[col].isna()
    out = accounts.loc[mask, ["account_id", "account_name", "employees"]].copy()
    out["employee_ratio"] = (
        out["employees"].astype("float64") / float(me["employees"]) if pd.notna(me["employees"]) else np.nan
    )
    out["_gap"] = np.abs(np.log(out["employee_ratio"].astype("float64"))).fillna(np.inf)
    out = out.sort_values(["_gap", "account_id"]).head(limit)
    return out[["account_id", "account_name", "employee_ratio"]].reset_index(drop=True)


def candidate_teams(
    users: pd.DataFrame, account_ids: list[str], *, departments: list[str] | str = "all", min_users: int = 3
) -> pd.DataFrame:
    """The sites or teams (users.department) of these accounts with at least `min_users` users.

    Returns scope_id ('account_id|department'), account_id, scope (the department), users.
    """
    u = users[users["account_id"].isin(account_ids)].dropna(subset=["department"])
    if departments != "all":
        u = u[u["department"].isin(list(departments))]
    teams = u.groupby(["account_id", "department"], as_index=False).agg(users=("user_id", "size"))
    teams = teams[teams["users"] >= min_users]
    teams["scope_id"] = teams["account_id"] + "|" + teams["department"]
    return teams.rename(columns={"department": "scope"})[["scope_id", "account_id", "scope", "users"]].reset_index(
        drop=True
    )


def rank_candidates(
    events: ibis.Table,
    users: pd.DataFrame,
    accounts: pd.DataFrame,
    planned: PlannedPoc,
    *,
    as_of: pd.Timestamp,
    rules: CandidateRules,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rank the teams where the planned PoC is most likely to meet its criteria, from current usage.

    Each candidate team's weekly values of every proposed criterion over the last
    `lookback_weeks` complete weeks up to `as_of` (computed in the engine) give the
    probability a week meets its target (`level_probability`). likelihood = probability that
    every must-have is met (criteria taken as independent), or the expected weighted score
    when there are no must-haves. Returns (ranking, detail): ranking has rank, account_id,
    account_name, department, this_account, users, likelihood, p_must_haves, expected_score
    and <criterion_id>_current / <criterion_id>_p_meet; detail has scope_id, criterion_id,
    metric, target, weeks, current, p_meet.
    """
    similar = similar_accounts(accounts, planned.account_id, match_on=rules.match_on, limit=planned.similar_accounts)
    ids = [planned.account_id, *similar["account_id"].tolist()]
    teams = candidate_teams(users, ids, departments=planned.departments, min_users=rules.min_users)
    ends = [as_of.normalize() - pd.Timedelta(days=7 * j) for j in range(rules.lookback_weeks)]
    windows = pd.DataFrame(
        [(s, e - pd.Timedelta(days=6), e) for s in teams["scope_id"] for e in ends],
        columns=["scope_id", "period_start", "period_end"],
    )
    crit = pd.DataFrame([c.model_dump() for c in planned.criteria])
    members = scope_users(teams, users, id_column="scope_id")
    weekly = scope_weekly_metrics(events, members, windows, crit["metric"].tolist())
    rows = []
    for scope_id, g in weekly.groupby("scope_id", sort=False):
        for c in crit.itertuples(index=False):
            vals = g[c.metric].to_numpy(dtype="float64")
            rows.append(
                {
                    "scope_id": scope_id,
                    "criterion_id": c.criterion_id,
                    "metric": c.metric,
                    "target": c.target,
                    "weeks": int(np.isfinite(vals).sum()),
                    "current": float(np.nanmean(vals)) if np.isfinite(vals).any() else np.nan,
                    "p_meet": level_probability(vals, c.comparator, c.target),
                }
            )
    detail = pd.DataFrame(rows, columns=["scope_id", "criterion_id", "metric", "target", "weeks", "current", "p_meet"])
    if detail.empty:
        return pd.DataFrame(columns=["rank", "account_id", "department", "likelihood"]), detail
    w = crit.set_index("criterion_id")["weight"]
    must = crit.set_index("criterion_id")["must_have"]
    d = detail.assign(_w=detail["criterion_id"].map(w), _must=detail["criterion_id"].map(must).astype(bool))
    d["_p"] = d["p_meet"].fillna(0.0)
    den = d.groupby("scope_id")["_w"].sum()
    score = (d["_w"] * d["_p"]).groupby(d["scope_id"]).sum() / den.where(den > 0)
    p_must = d[d["_must"]].groupby("scope_id")["_p"].prod()
    wide = detail.pivot(index="scope_id", columns="criterion_id", values=["current", "p_meet"])
    wide.columns = [f"{cid}_{kind}" for kind, cid in wide.columns]
    out = teams.set_index("scope_id")[["account_id", "scope", "users"]].rename(columns={"scope": "department"})
    out["expected_score"] = score
    out["p_must_haves"] = p_must if must.any() else np.nan
    out["likelihood"] = out["p_must_haves"] if must.any() else out["expected_score"]
    out = out.join(wide).reset_index(drop=True)
    out["this_account"] = out["account_id"] == planned.account_id
    out = out.merge(accounts[["account_id", "account_name"]], on="account_id", how="left")
    out = out.sort_values(["likelihood", "expected_score", "users"], ascending=False).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    lead = ["rank", "account_id", "account_name", "department", "this_account", "users", "likelihood"]
    rest = ["p_must_haves", "expected_score", *sorted(wide.columns, key=lambda c: (c.split("_")[0], c))]
    return out[lead + rest], detail
