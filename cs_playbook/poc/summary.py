"""The PoC tracking notebook's assembly: every table it shows, its headline figures and its checks.

Builds on `poc_usage` (weekly series), `poc_tracking` (projection, status, verdict, next
action) and `poc_portfolio` (open PoCs, conversion history); the notebook
03_poc_tracking narrates these tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd

from cs_playbook.formatting import fmt_money, fmt_pct
from cs_playbook.poc.criteria import PocParams, parse_metric, pocs_as_of
from cs_playbook.poc.portfolio import closed_history, conversion_summary, decision_time_summary, open_portfolio
from cs_playbook.poc.tracking import format_value, next_actions, poc_verdicts, projection_paths, track_criteria
from cs_playbook.poc.usage import criterion_series

__all__ = [
    "PocTracking",
    "track_pocs",
    "unused_event_types",
    "criteria_view",
    "summary_figures",
    "headline",
    "consistency_checks",
]

AT_RISK = ("at risk", "off track", "not met")


@dataclass
class PocTracking:
    """Every table of one tracking run (see the functions that build each)."""

    as_of: pd.Timestamp
    pocs: pd.DataFrame  # pocs as they stood on as_of (poc.pocs_as_of)
    series: pd.DataFrame  # poc_usage.criterion_series
    tracked: pd.DataFrame  # poc_tracking.track_criteria
    paths: pd.DataFrame  # poc_tracking.projection_paths
    verdicts: pd.DataFrame  # poc_tracking.poc_verdicts
    actions: pd.DataFrame  # poc_tracking.next_actions
    portfolio: pd.DataFrame  # poc_portfolio.open_portfolio
    history: pd.DataFrame  # poc_portfolio.closed_history
    conversion: pd.DataFrame  # poc_portfolio.conversion_summary
    decision_times: pd.DataFrame  # poc_portfolio.decision_time_summary


def track_pocs(
    pocs: pd.DataFrame,
    criteria: pd.DataFrame,
    accounts: pd.DataFrame,
    params: PocParams,
    *,
    as_of: pd.Timestamp,
    measurements: pd.DataFrame | None = None,
    events: ibis.Table | None = None,
    users: pd.DataFrame | None = None,
    currency: str = "JPY",
) -> PocTracking:
    """Track every PoC started by `as_of`: series, projections, verdicts, actions, portfolio and history."""
    state = pocs_as_of(pocs, as_of)
    series = criterion_series(state, criteria, as_of=as_of, measurements=measurements, events=events, users=users)
    tracked = track_criteria(state, criteria, series, as_of=as_of, rules=params.status)
    verdicts = poc_verdicts(state, tracked, as_of=as_of, rules=params.status)
    actions = next_actions(state, verdicts, tracked, actions=params.actions, currency=currency)
    history = closed_history(state, verdicts)
    return PocTracking(
        as_of=as_of,
        pocs=state,
        series=series,
        tracked=tracked,
        paths=projection_paths(state, criteria, series, as_of=as_of, rules=params.status),
        verdicts=verdicts,
        actions=actions,
        portfolio=open_portfolio(state, verdicts, actions, accounts),
        history=history,
        conversion=conversion_summary(history, benchmark=params.benchmark_conversion),
        decision_times=decision_time_summary(history),
    )


def unused_event_types(criteria: pd.DataFrame, events: ibis.Table) -> list[str]:
    """Event types named by events criteria (metric:<event_type>) that never occur in the events (a typo?)."""
    named = {
        et for m in criteria.loc[criteria["source"] == "events", "metric"] if (et := parse_metric(m)[1]) is not None
    }
    if not named:
        return []
    seen = events.filter(events.event_type.isin(sorted(named))).select("event_type").distinct().to_pandas()
    return sorted(named - set(seen["event_type"]))


def criteria_view(tracked: pd.DataFrame, poc_id: str) -> pd.DataFrame:
    """One PoC's criteria as a CSM reads them: values formatted in their metric's unit.

    Returns Criterion, Description, Must-have, Target, Current, Projected at end, Interval,
    Chance of meeting, Status.
    """
    t = tracked[tracked["poc_id"] == poc_id]
    rows = []
    for c in t.itertuples(index=False):

        def fv(v: float, c=c) -> str:
            return format_value(v, c.metric, c.source)

        interval = f"{fv(c.lower)} to {fv(c.upper)}" if pd.notna(c.lower) else ""
        rows.append(
            {
                "Criterion": c.criterion_id,
                "Description": c.description,
                "Must-have": "yes" if c.must_have else "",
                "Target": f"{c.comparator} {fv(c.target)}",
                "Current": fv(c.current),
                "Projected at end": fv(c.projected),
                "Interval": interval,
                "Chance of meeting": fmt_pct(c.p_meet, digits=0) if pd.notna(c.p_meet) else "",
                "Status": c.status,
            }
        )
    return pd.DataFrame(rows)


def summary_figures(result: PocTracking, params: PocParams) -> dict[str, object]:
    """The raw figures for summary.json: open PoCs, at risk, ARR at stake and conversion."""
    port, conv = result.portfolio, result.conversion.set_index("group")
    risky = port[port["verdict"].isin(AT_RISK)]
    med = result.decision_times.set_index("outcome").loc["all", "median_days"]
    return {
        "as_of": result.as_of,
        "open_pocs": int(len(port)),
        "at_risk": int(len(risky)),
        "off_track": int((port["verdict"] == "off track").sum()),
        "ready_to_sign": int((port["verdict"] == "met").sum()),
        "arr_at_stake": float(port["arr_at_stake"].sum()),
        "arr_at_risk": float(risky["arr_at_stake"].sum()),
        "verdicts": port["verdict"].value_counts().to_dict(),
        "closed_pocs": int(conv.loc["all", "pocs"]),
        "conversion_rate": float(conv.loc["all", "conversion"]),
        "conversion_when_criteria_met": float(conv.loc["criteria met", "conversion"]),
        "conversion_when_criteria_not_met": float(conv.loc["criteria not met", "conversion"]),
        "benchmark_conversion": list(params.benchmark_conversion),
        "median_days_end_to_decision": None if pd.isna(med) else float(med),
    }


def headline(figures: dict[str, object], currency: str) -> dict[str, str]:
    """The figures quoted on index.html."""
    lo, hi = figures["benchmark_conversion"]
    return {
        "Open PoCs": f"{figures['open_pocs']} ({fmt_money(figures['arr_at_stake'], currency)} ARR at stake)",
        "At risk or off track": f"{figures['at_risk']} ({fmt_money(figures['arr_at_risk'], currency)} ARR)",
        "Conversion (decided PoCs)": (
            f"{fmt_pct(figures['conversion_rate'], digits=0)} of {figures['closed_pocs']} "
            f"(benchmark {fmt_pct(lo, digits=0)}-{fmt_pct(hi, digits=0)})"
        ),
        "Conversion when criteria met / not": (
            f"{fmt_pct(figures['conversion_when_criteria_met'], digits=0)} / "
            f"{fmt_pct(figures['conversion_when_criteria_not_met'], digits=0)}"
        ),
    }


def consistency_checks(result: PocTracking) -> dict[str, bool]:
    """Rules that hold on any data; the notebook prints them and nbval compares the output."""
    t, v = result.tracked, result.verdicts
    p = t["p_meet"].dropna() if "p_meet" in t else pd.Series(dtype="float64")
    has_band = t.dropna(subset=["lower", "upper"]) if "lower" in t else t.iloc[:0]
    met = t[t["status"] == "met"] if "status" in t else t.iloc[:0]
    met_ok = all((c.current >= c.target) if c.comparator == ">=" else (c.current <= c.target) for c in met.itertuples())
    must = t[t["must_have"].astype(bool)] if "must_have" in t else t.iloc[:0]
    passed = set(v.loc[v["verdict"] == "met", "poc_id"])
    must_ok = bool((must.loc[must["poc_id"].isin(passed), "status"] == "met").all())
    conv = result.conversion.set_index("group")
    return {
        "probabilities_between_0_and_1": bool(((p >= 0) & (p <= 1)).all()),
        "interval_contains_projection": bool(
            (
                (has_band["lower"] <= has_band["projected"] + 1e-9)
                & (has_band["projected"] <= has_band["upper"] + 1e-9)
            ).all()
        ),
        "met_criteria_meet_their_target": bool(met_ok),
        "met_verdict_has_every_must_have_met": must_ok,
        "every_open_poc_has_a_next_action": bool(result.portfolio["next_action"].fillna("").str.len().gt(0).all()),
        "conversion_groups_add_up": bool(
            conv.loc["criteria met", "pocs"] + conv.loc["criteria not met", "pocs"] == conv.loc["all", "pocs"]
            and conv.loc["criteria met", "won"] + conv.loc["criteria not met", "won"] == conv.loc["all", "won"]
        ),
        "scores_between_0_and_1": bool(v["score"].dropna().between(0, 1).all()),
    }
