"""Churn prevention: which renewing accounts to work on first, in which mode, when, and why.

Practices [001][000] (docs/renewals.md): churn prevention has two modes, prevention (deeper,
longer use) and handling (persuading to stay); effort goes to the important accounts first,
high MRR, then product fit (long-lived accounts usually fit). The health score is a digital
output and can be wrong: combined with the history it decides whether to contact now or in two
to three weeks. Data hygiene sits alongside: meeting notes logged after every meeting, and
stakeholders re-confirmed after a year.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from cs_playbook.data.activities import MEETING_TYPES, meetings_without_notes
from cs_playbook.data.io import Dataset
from cs_playbook.data.usage import dataset_usage
from cs_playbook.errors import CsPlaybookError, ParamsError
from cs_playbook.health.calibration import HealthParams, risk_as_of
from cs_playbook.health.scorer import FittedScorer, HealthScorer
from cs_playbook.modeling.scorecard import TierLabels
from cs_playbook.params import StrictModel, UsageParams
from cs_playbook.renewals.business_days import BusinessCalendar, business_days_after, jp_date
from cs_playbook.renewals.churn_review import segment_churn_risk

__all__ = [
    "PriorityParams",
    "past_risk",
    "risk_scorer",
    "churn_risk",
    "risk_history",
    "stakeholder_freshness",
    "notes_missing_by_account",
    "account_tenure",
    "renewal_accounts",
    "prioritise",
    "risk_by_tier",
    "hygiene_gaps",
    "hygiene_figures",
    "priority_export",
]


NOT_SCORED = "(not scored)"
HYGIENE_COLUMNS = ("meetings_without_notes", "stakeholders_age_days", "stakeholders_stale")


class PriorityParams(StrictModel):
    """Churn-prevention mode, timing and the product-fit weighting of ARR at risk."""

    handling_probability: float = Field(0.3, gt=0, le=1)  # churn probability from which we persuade to stay
    act_now_business_days: int = Field(15, ge=1)  # decision deadline this close (and not passed): act now
    now_within_business_days: int = Field(5, ge=1)  # "now" means within this many business days
    follow_up_business_days: tuple[int, int] = (10, 15)  # "in 2-3 weeks": from .. to business days
    fit_full_tenure_years: float = Field(3.0, gt=0)  # tenure at which the tenure part of fit is full
    tenure_weight: float = Field(0.5, ge=0, le=1)  # share of tenure in fit; the rest is health history
    health_history_months: list[int] = Field(default_factory=lambda: [6])  # health also taken this long ago
    fit_floor: float = Field(0.5, ge=0, le=1)  # weight of ARR at risk for an account with no fit at all

    @model_validator(mode="after")
    def _timing(self) -> PriorityParams:
        lo, hi = self.follow_up_business_days
        if not 0 < lo <= hi <= self.act_now_business_days:
            raise ValueError("follow_up_business_days must be 0 < from <= to <= act_now_business_days")
        return self


def past_risk(
    ds: Dataset,
    params: HealthParams,
    scorer: HealthScorer,
    day: pd.Timestamp,
    *,
    usage_params: UsageParams | None = None,
) -> pd.DataFrame:
    """Every account active on a past `day` scored as the scorer in use would have then (product fit, back-tests).

    A fitted (promoted) scorer scores as it is; the rules scorer's probability is recalibrated on the
    churn observed up to `day` (`health.calibration.risk_as_of`), so no later outcome leaks in.
    Returns account_id, health_score, health_tier (code), churn_probability, drivers, scorecard, arr.
    """
    day = pd.Timestamp(day).normalize()
    promoted = scorer.scorecard if isinstance(scorer, FittedScorer) else None
    usage = dataset_usage(ds, usage_params, end=day) if usage_params is not None else None
    _, scored = risk_as_of(ds, params, promoted=promoted, day=day, usage=usage, usage_params=usage_params)
    return scored


def risk_scorer(
    ds: Dataset, params: HealthParams, scorer: HealthScorer, *, usage_params: UsageParams | None = None
) -> Callable[[pd.Timestamp], pd.DataFrame]:
    """`past_risk` bound to the data, params and scorer in use: day -> health frame (for `churn_risk`)."""
    return functools.partial(past_risk, ds, params, scorer, usage_params=usage_params)


def churn_risk(
    score: Callable[[pd.Timestamp], pd.DataFrame],
    monthly: pd.DataFrame,
    accounts: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    fallback_months: int = 12,
    fallback_min_accounts: int = 20,
) -> tuple[pd.DataFrame, str | None]:
    """Churn probability per account as known at `as_of` from `score(as_of)`, and a warning when only a fallback.

    `score` returns the health frame of a day (account_id, health_score, health_tier,
    churn_probability, scorecard), e.g. `past_risk` bound to the data, params and scorer. When it
    cannot score the accounts (bad params still raise), each segment's logo churn over the trailing
    `fallback_months` is used instead (`churn_review.segment_churn_risk`).
    """
    as_of = pd.Timestamp(as_of).normalize()
    try:
        return score(as_of), None
    except ParamsError:
        raise
    except CsPlaybookError as err:
        note = (
            f"The health score could not score the accounts at {as_of:%Y/%m/%d} ({err}). Each segment's logo churn "
            f"over the trailing {fallback_months} months is used instead: priorities within a segment then follow "
            "ARR and fit."
        )
        fallback = segment_churn_risk(
            monthly, accounts, as_of=as_of, months=fallback_months, min_accounts=fallback_min_accounts
        )
        return fallback, note


def risk_history(
    score: Callable[[pd.Timestamp], pd.DataFrame],
    monthly: pd.DataFrame,
    accounts: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    months_ago: list[int],
    fallback_months: int = 12,
    fallback_min_accounts: int = 20,
) -> tuple[list[pd.DataFrame], list[str]]:
    """The health frames `months_ago` before `as_of` (for product fit in `prioritise`) and the fallback warnings."""
    frames, notes = [], []
    for m in months_ago:
        frame, note = churn_risk(
            score,
            monthly,
            accounts,
            as_of=pd.Timestamp(as_of) - pd.DateOffset(months=m),
            fallback_months=fallback_months,
            fallback_min_accounts=fallback_min_accounts,
        )
        frames.append(frame)
        if note:
            notes.append(note)
    return frames, notes


def stakeholder_freshness(
    account_ids: pd.Series | list[str], stakeholders: pd.DataFrame, *, as_of: pd.Timestamp, max_age_days: int = 365
) -> pd.DataFrame:
    """The latest stakeholder snapshot of each account and whether it is older than `max_age_days`.

    After a year the customer's structure has usually changed [001]. Returns account_id,
    stakeholders_as_of, stakeholders_age_days, stakeholders_stale (also when there is none),
    champion, exec_access.
    """
    as_of = pd.Timestamp(as_of).normalize()
    latest = stakeholders[stakeholders["as_of"] <= as_of].sort_values("as_of").groupby("account_id").tail(1)
    latest = latest[["account_id", "as_of", "champion", "exec_access"]].rename(columns={"as_of": "stakeholders_as_of"})
    out = pd.DataFrame({"account_id": pd.unique(pd.Series(account_ids, dtype="str"))}).astype({"account_id": str})
    out = out.merge(latest, on="account_id", how="left")
    out["stakeholders_age_days"] = (as_of - out["stakeholders_as_of"]).dt.days
    out["stakeholders_stale"] = (out["stakeholders_age_days"] > max_age_days) | out["stakeholders_as_of"].isna()
    return out[
        ["account_id", "stakeholders_as_of", "stakeholders_age_days", "stakeholders_stale", "champion", "exec_access"]
    ]


def notes_missing_by_account(
    activities: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    grace_days: int = 2,
    lookback_days: int = 365,
    meeting_types: tuple[str, ...] | list[str] = MEETING_TYPES,
) -> pd.DataFrame:
    """Past meetings of the last `lookback_days` with no notes logged, counted per account.

    Returns account_id, meetings_without_notes, last_meeting_without_notes (see
    activities.meetings_without_notes for the rule).
    """
    as_of = pd.Timestamp(as_of).normalize()
    recent = activities[activities["occurred_at"] >= as_of - pd.Timedelta(days=lookback_days)]
    missing = meetings_without_notes(recent, as_of=as_of, grace_days=grace_days, meeting_types=meeting_types)
    return missing.groupby("account_id", as_index=False).agg(
        meetings_without_notes=("occurred_at", "size"), last_meeting_without_notes=("occurred_at", "max")
    )


def account_tenure(subscriptions: pd.DataFrame, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """How long each account has been a customer: account_id, customer_since (first contract start), tenure_years."""
    as_of = pd.Timestamp(as_of).normalize()
    started = (
        subscriptions[subscriptions["start_date"] <= as_of].groupby("account_id", as_index=False)["start_date"].min()
    )
    started = started.rename(columns={"start_date": "customer_since"})
    started["tenure_years"] = (as_of - started["customer_since"]).dt.days / 365.25
    return started


def renewal_accounts(
    calendar: pd.DataFrame,
    *,
    schedule: pd.DataFrame | None = None,
    bantc: pd.DataFrame | None = None,
    stakeholders: pd.DataFrame | None = None,
    notes: pd.DataFrame | None = None,
    tenure: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per renewing account: its first renewal and deadline, ARR renewing, and the readiness signals.

    `calendar` from renewal_calendar; the optional frames from schedule_summary, bantc_readiness,
    stakeholder_freshness, notes_missing_by_account and account_tenure (absent tables: absent
    columns). Returns account_id, account_name, segment, csm, renewal_date, decision_deadline,
    business_days_to_deadline, arr_renewing, departments, auto_renew, plus the signals' columns.
    """
    cal = calendar.sort_values(["renewal_date", "account_id"])
    info = [c for c in ("account_name", "segment", "csm") if c in cal.columns]
    out = cal.groupby("account_id", as_index=False, sort=False).agg(
        **{c: (c, "first") for c in info},
        renewal_date=("renewal_date", "first"),
        decision_deadline=("decision_deadline", "first"),
        business_days_to_deadline=("business_days_to_deadline", "first"),
        arr_renewing=("arr", "sum"),
        departments=("department", "size"),
        auto_renew=("auto_renew", "all"),
    )
    if schedule is not None:
        per = schedule.groupby("account_id", as_index=False).agg(
            steps_done=("steps_done", "sum"),
            steps_overdue=("steps_overdue", "sum"),
            overdue_steps=("overdue_steps", lambda s: ", ".join(x for x in s if x)),
        )
        out = out.merge(per, on="account_id", how="left")
    if bantc is not None:
        cols = [
            "bantc_status",
            "bantc_due",
            "bantc_age_days",
            "risks",
            "need_lost",
            "authority_changed",
            "ready",
            "act",
        ]
        first = bantc.sort_values("renewal_date").groupby("account_id").first()[cols].add_prefix("b_").reset_index()
        out = out.merge(first, on="account_id", how="left")
        out = out.rename(columns={f"b_{c}": c if c.startswith("bantc") else f"bantc_{c}" for c in cols})
    for extra in (stakeholders, notes, tenure):
        if extra is not None:
            out = out.merge(extra, on="account_id", how="left")
    if notes is not None:
        out["meetings_without_notes"] = out["meetings_without_notes"].fillna(0).astype("int64")
    return out


def _nth_business_day_after(as_of: pd.Timestamp, n: int, cal: BusinessCalendar) -> pd.Timestamp:
    """The n-th business day after `as_of` (1 = the next business day)."""
    return business_days_after(pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1), n - 1, cal)


def _flag(frame: pd.DataFrame, col: str, default: object = False) -> pd.Series:
    return frame[col].fillna(default) if col in frame.columns else pd.Series(default, index=frame.index)


def prioritise(
    renewing: pd.DataFrame,
    risk: pd.DataFrame,
    cal: BusinessCalendar,
    params: PriorityParams,
    *,
    as_of: pd.Timestamp,
    risk_history: list[pd.DataFrame] | None = None,
    tier_labels: TierLabels | None = None,
) -> pd.DataFrame:
    """Churn-prevention priorities: ARR at risk weighted by product fit, the mode, when to act and why.

    `renewing` from renewal_accounts (needs account_id, arr_renewing, decision_deadline,
    business_days_to_deadline; uses the signals' columns when present). `risk` has account_id,
    churn_probability and optionally health_score, health_tier code (the quarter state's risk). An account
    missing from `risk` gets the mean probability (probability_source says so).
    arr_renewing_at_risk = arr_renewing x churn_probability; fit (0-1) = tenure_weight x min(tenure /
    fit_full_tenure_years, 1) + the rest x the health history: the mean of the health score's
    percentile among these accounts in `risk` and in each earlier frame of `risk_history` (same
    shape, e.g. `past_risk` some months ago), tenure only without any score; priority_score = arr_renewing_at_risk x (fit_floor + (1 - fit_floor) x fit). Mode: handling
    (persuade to stay) when the probability reaches handling_probability or BANTC says act (need
    lost, authority changed), else prevention (deepen use). Act now when handling or when the
    decision deadline is still ahead and within act_now_business_days (the last chance to talk
    before the customer decides); otherwise in two to three weeks. Overdue steps, BANTC gaps and
    stale records are named in `why` (tiers in words by `tier_labels`, else the codes). Highest
    priority_score first, with rank; health_tier stays a code.
    """
    if "churn_probability" not in risk.columns:
        raise CsPlaybookError("prioritise: the risk frame needs a churn_probability column per account_id")
    as_of = pd.Timestamp(as_of).normalize()
    keep = [c for c in ("health_score", "health_tier", "churn_probability") if c in risk.columns]
    df = renewing.merge(risk[["account_id", *keep]].drop_duplicates("account_id"), on="account_id", how="left")
    p = df["churn_probability"].astype("float64")
    df["probability_source"] = np.where(p.isna(), "imputed (mean: not scored)", "scored")
    df["churn_probability"] = p.fillna(risk["churn_probability"].astype("float64").mean()).clip(0, 1)
    df["arr_renewing_at_risk"] = df["arr_renewing"] * df["churn_probability"]
    tenure_part = (_flag(df, "tenure_years", 0.0).astype("float64") / params.fit_full_tenure_years).clip(0, 1)
    percentiles = []
    for frame in [risk, *(risk_history or [])]:
        if "health_score" in frame.columns:
            score = frame.drop_duplicates("account_id").set_index("account_id")["health_score"].astype("float64")
            mapped = df["account_id"].map(score)
            if mapped.notna().any():
                percentiles.append(mapped.rank(pct=True))
    if percentiles:
        health_part = pd.concat(percentiles, axis=1).mean(axis=1)  # the periods an account was scored in
        fit = params.tenure_weight * tenure_part + (1 - params.tenure_weight) * health_part
        df["fit"] = fit.fillna(tenure_part)
    else:
        df["fit"] = tenure_part
    df["priority_score"] = df["arr_renewing_at_risk"] * (params.fit_floor + (1 - params.fit_floor) * df["fit"])
    bantc_act = _flag(df, "bantc_act").astype(bool)
    df["mode"] = np.where(
        (df["churn_probability"] >= params.handling_probability) | bantc_act, "handling", "prevention"
    )
    to_deadline = df["business_days_to_deadline"].astype("float64")
    deadline_soon = (to_deadline >= 0) & (to_deadline <= params.act_now_business_days)
    now = (df["mode"] == "handling") | deadline_soon
    df["act_when"] = np.where(now, "now", "in 2-3 weeks")
    lo, hi = params.follow_up_business_days
    now_from = _nth_business_day_after(as_of, 1, cal)
    now_by = _nth_business_day_after(as_of, params.now_within_business_days, cal)
    deadline = df["decision_deadline"]
    by_now = deadline.where((deadline >= now_from) & (deadline < now_by), now_by)
    df["act_from"] = np.where(now, now_from, _nth_business_day_after(as_of, lo, cal))
    df["act_by"] = pd.to_datetime(np.where(now, by_now, _nth_business_day_after(as_of, hi, cal)))
    df["act_from"] = pd.to_datetime(df["act_from"])
    # The deadlines in words once for all rows (a date formatted per row is the slow part of the reasons).
    deadline_words = jp_date(deadline, weekday=True).tolist() if len(df) else []  # no weekdays of no dates
    df["why"] = [
        _why(row, params, tier_labels, deadline_words=when)
        for row, when in zip(df.to_dict("records"), deadline_words, strict=True)
    ]
    df = df.sort_values(["priority_score", "arr_renewing"], ascending=False).reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df


def _n(count: float, noun: str) -> str:
    """'1 meeting', '3 meetings'."""
    return f"{int(count)} {noun}{'' if int(count) == 1 else 's'}"


def _why(row: dict, params: PriorityParams, tier_labels: TierLabels | None = None, *, deadline_words: str = "") -> str:
    """The reasons behind one account's priority, mode and timing, in words.

    `deadline_words` is the row's decision deadline as `jp_date` writes it with the weekday.
    """
    parts = [f"churn probability {row['churn_probability']:.0%}"]
    tier = row.get("health_tier")
    if isinstance(tier, str) and tier:
        parts[0] += f" (health {tier_labels.label(tier) if tier_labels is not None else tier})"
    if row.get("bantc_need_lost") is True:
        parts.append("BANTC: need at risk")
    if row.get("bantc_authority_changed") is True:
        parts.append("BANTC: authority changed")
    other = [r for r in str(row.get("bantc_risks") or "").split(", ") if r and r not in ("need", "authority")]
    if other:
        parts.append("BANTC risk: " + ", ".join(other))
    if row.get("bantc_due") is True and row.get("bantc_status") in ("missing", "stale"):
        age = row.get("bantc_age_days")
        parts.append("BANTC missing" if row["bantc_status"] == "missing" else f"BANTC stale ({int(age)} days old)")
    if (row.get("steps_overdue") or 0) > 0:
        parts.append(f"{_n(row['steps_overdue'], 'schedule step')} overdue ({row['overdue_steps']})")
    bd = row.get("business_days_to_deadline")
    if pd.notna(bd) and pd.notna(row.get("decision_deadline")):
        when = deadline_words
        if bd < 0:
            parts.append(f"decision deadline passed {when}: check for a cancellation notice")
        elif bd <= params.act_now_business_days:
            parts.append(f"decision deadline {when} in {int(bd)} business days")
    if row.get("stakeholders_stale") is True:
        age = row.get("stakeholders_age_days")
        parts.append(
            "no stakeholder record: map the approval line"
            if pd.isna(age)
            else f"stakeholder record {int(age)} days old: re-confirm the approval line"
        )
    if row.get("champion") is False:
        parts.append("no champion")
    if row.get("exec_access") is False:
        parts.append("no executive access")
    if (row.get("meetings_without_notes") or 0) > 0:
        parts.append(f"{_n(row['meetings_without_notes'], 'meeting')} without notes")
    if pd.notna(row.get("tenure_years")):
        parts.append(f"customer for {row['tenure_years']:.1f} years")
    action = (
        "persuade to stay (handling)" if row["mode"] == "handling" else "deepen use before the renewal (prevention)"
    )
    return f"{action}: " + "; ".join(parts)


def risk_by_tier(priorities: pd.DataFrame) -> pd.DataFrame:
    """Renewing accounts, ARR and ARR at risk per health tier code (from prioritise), the riskiest share first.

    Returns health_tier (code; "(not scored)" without one), accounts, arr_renewing, arr_renewing_at_risk,
    mean_probability, share_of_risk. Labels are applied when the table is shown.
    """
    tier = (
        priorities["health_tier"] if "health_tier" in priorities.columns else pd.Series(pd.NA, index=priorities.index)
    )
    df = priorities.assign(health_tier=tier.astype("string").fillna(NOT_SCORED))
    out = df.groupby("health_tier", as_index=False).agg(
        accounts=("account_id", "size"),
        arr_renewing=("arr_renewing", "sum"),
        arr_renewing_at_risk=("arr_renewing_at_risk", "sum"),
        mean_probability=("churn_probability", "mean"),
    )
    total = out["arr_renewing_at_risk"].sum()
    out["share_of_risk"] = out["arr_renewing_at_risk"] / total if total > 0 else np.nan
    return out.sort_values("arr_renewing_at_risk", ascending=False).reset_index(drop=True)


def hygiene_gaps(priorities: pd.DataFrame) -> pd.DataFrame:
    """Renewing accounts with a data-hygiene gap (meetings without notes, stale or missing stakeholders), largest first.

    `priorities` from prioritise. Returns account_id, account_name, csm, renewal_date,
    arr_renewing and those of meetings_without_notes, stakeholders_age_days, stakeholders_stale
    that are tracked (their tables are in the data).
    """
    cols = ["account_id", "account_name", "csm", "renewal_date", "arr_renewing"]
    cols += [c for c in HYGIENE_COLUMNS if c in priorities.columns]
    out = priorities[[c for c in cols if c in priorities.columns]].copy()
    flag = pd.Series(False, index=out.index)
    if "meetings_without_notes" in out.columns:
        flag |= out["meetings_without_notes"].fillna(0) > 0
    if "stakeholders_stale" in out.columns:
        flag |= out["stakeholders_stale"].fillna(False).astype(bool)
    return out[flag].sort_values("arr_renewing", ascending=False).reset_index(drop=True)


def hygiene_figures(priorities: pd.DataFrame) -> dict[str, int | None]:
    """Counts of the hygiene gaps among the renewing accounts; None for what is not tracked."""
    notes = "meetings_without_notes" in priorities.columns
    stale = "stakeholders_stale" in priorities.columns
    return {
        "renewing_accounts": int(len(priorities)),
        "accounts_with_meetings_without_notes": int((priorities["meetings_without_notes"] > 0).sum())
        if notes
        else None,
        "meetings_without_notes": int(priorities["meetings_without_notes"].sum()) if notes else None,
        "accounts_stakeholders_stale": int(priorities["stakeholders_stale"].fillna(False).astype(bool).sum())
        if stale
        else None,
    }


def priority_export(priorities: pd.DataFrame) -> pd.DataFrame:
    """The churn-prevention list for CSMs: rank, account, dates as 2026/11/20, mode, when to act and why."""
    cols = [
        "rank",
        "account_id",
        "account_name",
        "segment",
        "csm",
        "renewal_date",
        "decision_deadline",
        "business_days_to_deadline",
        "arr_renewing",
        "churn_probability",
        "health_tier",
        "arr_renewing_at_risk",
        "fit",
        "priority_score",
        "mode",
        "act_when",
        "act_from",
        "act_by",
        "why",
    ]
    out = priorities[[c for c in cols if c in priorities.columns]].copy()
    out = out.round({"fit": 3, "arr_renewing_at_risk": 0, "priority_score": 0})  # probabilities exact: the state's
    for c in ("renewal_date", "decision_deadline", "act_from", "act_by"):
        out[c] = jp_date(out[c])
    return out
