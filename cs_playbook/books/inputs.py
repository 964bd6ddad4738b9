"""The analyses' tables a book quotes, computed the way their pages compute them (notebooks 03, 04 and 05).

Each function takes the dataset, the quarter state and the params models, and returns plain frames:
the renewal calendar with its schedule and churn-prevention priorities (`renewals`), the expansion
targets and CSQL leads (`expansion`), and the open PoCs (`poc`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cs_playbook.changes import leads_converted
from cs_playbook.data import revenue
from cs_playbook.data.io import Dataset
from cs_playbook.expansion import model as expansion_model
from cs_playbook.expansion import plays as expansion_plays
from cs_playbook.expansion import prices as expansion_prices
from cs_playbook.expansion import whitespace
from cs_playbook.expansion.outcomes import ExpansionParams
from cs_playbook.health.calibration import HealthParams
from cs_playbook.modeling.scorecard import TierLabels
from cs_playbook.params import UsageParams
from cs_playbook.poc import report as poc_report
from cs_playbook.poc.criteria import PocParams
from cs_playbook.renewals import calendar as renewals
from cs_playbook.renewals import prevention
from cs_playbook.state import QuarterState

__all__ = ["BookInputs", "renewal_inputs", "expansion_inputs", "poc_inputs", "book_inputs", "previous_leads"]


@dataclass
class BookInputs:
    """The analyses' tables a book quotes.

    `calendar`: `renewals.calendar.renewal_calendar` (one row per account, department and renewal);
    `schedule`: `schedule_summary` (next step and its due date per renewal) or None without activities;
    `priorities`: `renewals.prevention.prioritise` (mode, act_when, act_by, why per renewing account);
    `targets`: `expansion.plays.rank_targets` (best play per account, within_capacity, owner);
    `leads`: `expansion.plays.csql_list`; `pocs`: open PoCs (`poc.report.track_pocs(...).portfolio`)
    or None without PoC tables; `notes`: what could not be computed and why.
    """

    calendar: pd.DataFrame
    schedule: pd.DataFrame | None
    priorities: pd.DataFrame
    targets: pd.DataFrame
    leads: pd.DataFrame
    pocs: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)


def renewal_inputs(
    ds: Dataset,
    state: QuarterState,
    rp: renewals.RenewalParams,
    hp: HealthParams,
    *,
    usage_params: UsageParams | None = None,
    tier_labels: TierLabels | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame, list[str]]:
    """The renewal calendar, schedule summary and churn-prevention priorities as notebook 05 computes them."""
    as_of = state.as_of
    subs = renewals.lines_known_at(ds.subscriptions, as_of=as_of, data_as_of=ds.as_of)
    calendar_params, _ = renewals.fit_calendar(rp.calendar, ds.accounts)
    cal = renewals.calendar_for(subs, calendar_params, as_of=as_of)
    calendar = renewals.renewal_calendar(subs, ds.accounts, cal, rp, as_of=as_of)
    schedule = notes_missing = None
    if ds.has("activities"):
        steps = renewals.schedule_status(
            calendar,
            ds.get("activities"),
            rp.steps,
            cal,
            as_of=as_of,
            lookback_days=rp.step_lookback_days,
            only_with_csm=rp.schedule_for == "with_csm",
        )
        schedule = renewals.schedule_summary(steps)
        codes = {s.label: s.activity_type for s in rp.steps}  # the step as a code the catalog translates
        schedule["next_step"] = schedule["next_step"].map(lambda v: codes.get(v, v))
        notes_missing = prevention.notes_missing_by_account(
            ds.get("activities"),
            as_of=as_of,
            grace_days=rp.notes_grace_days,
            lookback_days=rp.notes_lookback_days,
            meeting_types=rp.meeting_types,
        )
    readiness = renewals.bantc_readiness(calendar, ds.get("bantc"), rp.bantc, as_of=as_of) if ds.has("bantc") else None
    stakeholders = (
        prevention.stakeholder_freshness(
            calendar["account_id"], ds.get("stakeholders"), as_of=as_of, max_age_days=rp.stakeholder_max_age_days
        )
        if ds.has("stakeholders")
        else None
    )
    renewing = prevention.renewal_accounts(
        calendar,
        schedule=schedule,
        bantc=readiness,
        stakeholders=stakeholders,
        notes=notes_missing,
        tenure=prevention.account_tenure(subs, as_of=as_of),
    )
    crp = rp.churn_review
    score_on = prevention.risk_scorer(ds, hp, state.scorer, usage_params=usage_params)
    history, notes = prevention.risk_history(
        score_on,
        revenue.monthly_mrr(subs, end=as_of),
        ds.accounts,
        as_of=as_of,
        months_ago=rp.priority.health_history_months,
        fallback_months=crp.fallback_months,
        fallback_min_accounts=crp.fallback_min_accounts,
    )
    priorities = prevention.prioritise(
        renewing, state.risk, cal, rp.priority, as_of=as_of, risk_history=history, tier_labels=tier_labels
    )
    return calendar, schedule, priorities, notes


def expansion_inputs(
    ds: Dataset, state: QuarterState, given: ExpansionParams, *, tier_labels: TierLabels | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The expansion targets (best play per account) and the CSQL leads as notebook 04 computes them at state.as_of."""
    cut, xp, _ = _expansion_targets(ds, state, given, tier_labels=tier_labels)
    return cut, expansion_plays.csql_list(cut, xp)


def _expansion_targets(
    ds: Dataset, state: QuarterState, given: ExpansionParams, *, tier_labels: TierLabels | None = None
) -> tuple[pd.DataFrame, ExpansionParams, Dataset]:
    """The ranked targets at state.as_of, with the price list fitted then and the dataset by product family."""
    xp, _ = expansion_prices.fit_price_list(given, ds.subscriptions, as_of=state.as_of)
    fam = expansion_prices.family_dataset(ds, xp)
    ws = whitespace.analyse_whitespace(
        fam.accounts, fam.subscriptions, xp, as_of=state.as_of, events=fam.events if fam.has("events") else None
    )
    score_date = state.as_of + pd.Timedelta(days=1)
    panel = expansion_model.propensity_panel(fam, xp, score_date=score_date, scorer=state.scorer, usage=state.usage)
    model = expansion_model.fit_propensity(panel, xp)
    frame = expansion_model.scoring_frame(fam, xp, score_date=score_date, scorer=state.scorer, usage=state.usage)
    probabilities = pd.concat([frame[["account_id"]], model.predict(frame)], axis=1)
    contributions = expansion_model.signal_contributions(model.overall, frame)
    cut = expansion_plays.rank_targets(
        ws.plays,
        probabilities,
        state.risk,
        fam.accounts,
        frame,
        xp,
        headroom=ws.headroom,
        contributions=contributions,
        labels=tier_labels,
    )
    return cut, xp, fam


def poc_inputs(ds: Dataset, state: QuarterState, pp: PocParams) -> pd.DataFrame | None:
    """The open PoCs on state.as_of with verdict and next action (notebook 03), or None without PoC tables."""
    if not (ds.has("pocs") and ds.has("poc_criteria")):
        return None
    usage = ds.has("events") and ds.has("users")
    result = poc_report.track_pocs(
        ds.get("pocs"),
        ds.get("poc_criteria"),
        ds.accounts,
        pp,
        as_of=state.as_of,
        measurements=ds.get("poc_measurements"),
        events=ds.events if usage else None,
        users=ds.get("users") if usage else None,
        currency=state.currency,
    )
    return result.portfolio


def book_inputs(
    ds: Dataset,
    state: QuarterState,
    *,
    rp: renewals.RenewalParams,
    hp: HealthParams,
    xp: ExpansionParams,
    pp: PocParams,
    usage_params: UsageParams | None = None,
    tier_labels: TierLabels | None = None,
) -> BookInputs:
    """Every table a book quotes, for the quarter state."""
    calendar, schedule, priorities, notes = renewal_inputs(
        ds, state, rp, hp, usage_params=usage_params, tier_labels=tier_labels
    )
    targets, leads = expansion_inputs(ds, state, xp, tier_labels=tier_labels)
    return BookInputs(calendar, schedule, priorities, targets, leads, poc_inputs(ds, state, pp), notes)


def previous_leads(
    ds: Dataset, state: QuarterState, given: ExpansionParams, *, tier_labels: TierLabels | None = None
) -> pd.DataFrame:
    """The previous quarter's CSQL leads (plays within capacity, recomputed at its as-of) and whether each expanded since.

    Empty (changes.LEAD_COLUMNS) without a previous quarter. Contracts by product family, as the
    propensity model labels them, so a plan upgrade counts as a seat upsell.
    """
    previous = state.previous
    if previous is None:
        return leads_converted(pd.DataFrame(), ds.subscriptions, since=state.as_of, until=state.as_of)
    cut, xp, fam = _expansion_targets(ds, previous, given, tier_labels=tier_labels)
    leads = cut[cut["within_capacity"].astype(bool)]  # the CSQL list, with the play as its code
    return leads_converted(
        leads, fam.subscriptions, since=previous.as_of, until=state.as_of, usage_products=xp.usage_products()
    )
