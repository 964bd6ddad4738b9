"""One PoC tracking run and what notebook 03 shows of it: every table, each open PoC's card, the planned PoCs.

`track_pocs` builds every table of a run at the report's as-of date from `poc.usage` (weekly
series), `poc.tracking` (projection, status, verdict, next action) and `poc.portfolio` (open
PoCs, conversion history) into one `PocTracking`; `rank_planned` ranks where each planned PoC of
params should run. The notebook narrates these; its figures, headline and checks are in
`poc.summary`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import ibis
import pandas as pd

from cs_playbook.formatting import MISSING, Formatter, fmt_money, md_text
from cs_playbook.i18n import messages
from cs_playbook.poc.criteria import PlannedPoc, PocParams, parse_metric, pocs_as_of
from cs_playbook.poc.portfolio import (
    closed_history,
    conversion_summary,
    decision_time_summary,
    open_portfolio,
    rank_candidates,
)
from cs_playbook.poc.tracking import format_value, next_actions, poc_verdicts, projection_paths, track_criteria
from cs_playbook.poc.usage import criterion_series, series_as_of

__all__ = [
    "PocTracking",
    "track_pocs",
    "unused_event_types",
    "criteria_view",
    "STATUS_COLUMNS",
    "PAGE_STATUS_COLUMNS",
    "open_criteria",
    "poc_card",
    "PlannedRanking",
    "PlannedRankings",
    "rank_planned",
    "column_formats",
    "page_view",
    "PAGE_NAMES",
]

STATUS_COLUMNS = [
    "poc_id",
    "account_name",
    "csm",
    "name",
    "end_date",
    "days_left",
    "verdict",
    "must_haves_met",
    "must_haves",
    "score",
    "expected_score",
    "arr_at_stake",
    "next_action",
]
# The overview table of the page: one line per open PoC (its next action is on its card below, so no long text here).
PAGE_STATUS_COLUMNS = [
    "poc_id",
    "account_name",
    "csm",
    "end_date",
    "days_left",
    "verdict",
    "score",
    "expected_score",
    "arr_at_stake",
]
_SHARES = ("score", "expected_score", "likelihood", "p_must_haves", "conversion", "ci_low", "ci_high")


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
    later_series: pd.DataFrame | None = None,
) -> PocTracking:
    """Track every PoC started by `as_of`: series, projections, verdicts, actions, portfolio and history.

    `later_series` (the `series` of a run at a later as-of date on the same tables, e.g. this quarter's
    when tracking last quarter's) is cut at `as_of` (`usage.series_as_of`) instead of reading the events again.
    """
    state = pocs_as_of(pocs, as_of)
    if later_series is not None:
        series = series_as_of(later_series, state, as_of=as_of)
    else:
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


def criteria_view(tracked: pd.DataFrame, poc_id: str, *, lang: str = "en") -> pd.DataFrame:
    """One PoC's criteria as a CSM reads them: values formatted in their metric's unit.

    Returns criterion_id, criterion_description, must_have, criterion_target, criterion_current,
    criterion_projected, criterion_interval, p_meet (text) and criterion_status (code); the page translates headers.
    """
    msg, fmt = messages(lang), Formatter(lang)
    t = tracked[tracked["poc_id"] == poc_id]
    rows = []
    for c in t.itertuples(index=False):

        def fv(v: float, c=c) -> str:
            return format_value(v, c.metric, c.source)

        rows.append(
            {
                "criterion_id": c.criterion_id,
                "criterion_description": c.description,
                "must_have": fmt.yes_no(bool(c.must_have)),
                "criterion_target": f"{c.comparator} {fv(c.target)}",
                "criterion_current": fv(c.current),
                "criterion_projected": fv(c.projected) if pd.notna(c.projected) else MISSING,
                "criterion_interval": msg.t("poc.each.interval", low=fv(c.lower), high=fv(c.upper))
                if pd.notna(c.lower)
                else MISSING,
                "p_meet": fmt.pct(c.p_meet, digits=0),
                "criterion_status": c.status,
            }
        )
    return pd.DataFrame(rows)


PAGE_NAMES = {
    "name": "poc_name",
    "score": "poc_score",
    "group": "poc_group",
    "outcome": "poc_outcome",
    "won": "pocs_won",
    "conversion": "poc_conversion",
    "users": "team_users",
}


def page_view(df: pd.DataFrame) -> pd.DataFrame:
    """A PoC table for the page: generic column names (name, score, group...) made PoC-specific for the headers,
    and the per-criterion columns of a candidate ranking (C1_current, C1_p_meet) left to the export."""
    per_criterion = [c for c in df.columns if str(c).endswith(("_current", "_p_meet"))]
    return df.drop(columns=per_criterion).rename(columns=PAGE_NAMES)


def open_criteria(result: PocTracking) -> pd.DataFrame:
    """The criteria rows (`tracked`) of the PoCs still open on as_of, for the CSMs' export."""
    return result.tracked[result.tracked["poc_id"].isin(set(result.portfolio["poc_id"]))]


def poc_card(poc: pd.Series, currency: str, *, lang: str = "en") -> str:
    """One open PoC (a row of `PocTracking.portfolio`) as its heading, verdict, timing and next action (Markdown)."""
    msg, fmt = messages(lang), Formatter(lang, currency)
    end = fmt.date(poc["end_date"])
    if poc["days_left"] >= 0:
        days = msg.t("poc.each.days_left", days=poc["days_left"], end=end)
    else:
        days = msg.t("poc.each.days_past", days=-poc["days_left"], end=end)
    e = {k: md_text(poc[k]) for k in ("poc_id", "name", "account_name", "objective", "next_action")}
    return msg.t(
        "poc.each.card",
        poc_id=e["poc_id"],
        name=e["name"],
        account=e["account_name"],
        objective=e["objective"],
        verdict=md_text(msg.code(poc["verdict"])) if lang != "en" else md_text(poc["verdict"]),
        must_met=poc["must_haves_met"],
        must=poc["must_haves"],
        met=poc["n_met"],
        n=poc["n_criteria"],
        score=fmt.pct(poc["score"], digits=0),
        expected=fmt.pct(poc["expected_score"], digits=0),
        days=days,
        arr=fmt.money(poc["arr_at_stake"]),
        csm=md_text(poc["csm"]) if pd.notna(poc["csm"]) else msg.t("poc.each.unassigned"),
        action=e["next_action"],
    )


@dataclass
class PlannedRanking:
    """Where one planned PoC should run: its teams ranked (`poc.portfolio.rank_candidates`) and its summary."""

    plan: PlannedPoc
    account_name: str
    ranking: pd.DataFrame
    text: str  # the plan's heading, criteria and most promising team (Markdown)


@dataclass
class PlannedRankings:
    """The rankings of every planned PoC that could be ranked, and why the others could not."""

    rankings: list[PlannedRanking] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """Every ranking in one table with its planned_poc (empty without rankings), for the export."""
        if not self.rankings:
            return pd.DataFrame(columns=["planned_poc"])
        return pd.concat([r.ranking.assign(planned_poc=r.plan.name) for r in self.rankings], ignore_index=True)


def _plan_text(plan: PlannedPoc, name: str, ranking: pd.DataFrame, lookback_weeks: int, lang: str = "en") -> str:
    """A planned PoC's heading, its proposed criteria and the most promising team of its own account (Markdown)."""
    msg, fmt = messages(lang), Formatter(lang)
    must = msg.t("poc.planned.must")
    sep = "、" if lang == "ja" else "; "
    criteria = sep.join(
        msg.t(
            "poc.planned.item",
            description=c.description,
            metric=c.metric,
            comparator=c.comparator,
            target=f"{c.target:g}",
            must=must if c.must_have else "",
        )
        for c in plan.criteria
    )
    own = ranking[ranking["this_account"]]
    teams, weeks = len(ranking), lookback_weeks
    if len(own):
        best = own.iloc[0]
        where = msg.t(
            "poc.planned.best",
            team=md_text(best["department"]),
            users=best["users"],
            likelihood=fmt.pct(best["likelihood"], digits=0),
            teams=teams,
            weeks=weeks,
        )
    else:
        where = msg.t("poc.planned.no_best", teams=teams, weeks=weeks)
    head = msg.t("poc.planned.heading", plan=md_text(plan.name), account=md_text(name))
    return f"{head}\n{msg.t('poc.planned.criteria', criteria=criteria)}  \n{where}"


def rank_planned(
    params: PocParams,
    events: ibis.Table,
    users: pd.DataFrame,
    accounts: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    lang: str = "en",
) -> PlannedRankings:
    """Rank the teams of every planned PoC of params at `as_of`; a plan that cannot be ranked gets a warning."""
    out = PlannedRankings()
    names = accounts.set_index("account_id")["account_name"]
    for plan in params.planned:
        if plan.account_id not in names.index:
            out.warnings.append(
                f"Planned PoC '{plan.name}': account {plan.account_id} is not in the data, so it is not ranked."
            )
            continue
        ranking, _ = rank_candidates(events, users, accounts, plan, as_of=as_of, rules=params.candidates)
        if ranking.empty:
            out.warnings.append(
                f"Planned PoC '{plan.name}': no team of {plan.account_id} or similar accounts has "
                f"{params.candidates.min_users}+ users to judge."
            )
            continue
        name = str(names.at[plan.account_id])
        text = _plan_text(plan, name, ranking, params.candidates.lookback_weeks, lang)
        out.rankings.append(PlannedRanking(plan=plan, account_name=name, ranking=ranking, text=text))
    return out


def column_formats(columns: Any, currency: str) -> dict[str, Any]:
    """Styler formats of the PoC tables' `columns`: money in `currency`, shares as percentages, dates, days."""
    money = partial(fmt_money, currency=currency)
    out: dict[str, Any] = {}
    for c in map(str, columns):
        if c in ("arr_at_stake", "arr_won"):
            out[c] = money
        elif c in ("end_date", "start_date"):
            out[c] = "{:%Y-%m-%d}"
        elif (
            c.endswith("p_meet")
            or c in ("score", "expected_score", "likelihood", "p_must_haves", "conversion")
            or c in ("ci_low", "ci_high")
        ):
            out[c] = "{:.0%}"
        elif c.endswith("_current"):
            out[c] = "{:.2f}"
        elif c in ("median_days", "mean_days", "max_days", "median_poc_days"):
            out[c] = "{:.0f}"
    return out
