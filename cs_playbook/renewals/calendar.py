"""Renewal management: what renews when, what must happen by which date, and where to act first.

Practices [000][001] (docs/renewals.md):
- The auto-renewal decision deadline is 20 business days before the renewal; contracts held per
  department are contacted about their decision one month before.
- The renewal schedule starts three months before the renewal and takes ten business days, in five
  steps (activity types): power_map, usage_review, dissatisfaction_check, renewal_intent,
  upsell_proposal.
- BANTC (budget, authority, need, timeframe, competitor) before the renewal: all ok, it basically
  renews; need gone or authority changed, act. Stakeholders change within a year: re-confirm them.
- Churn prevention has two modes, prevention (deepen use) and handling (persuade to stay),
  prioritised by importance: MRR first, then product fit (long-lived accounts usually fit).
  Whether to contact now or in two to three weeks is decided from the score and the history.

A renewal is the day after a contract line's end_date (end_date is inclusive). Everything is
computed as of a date (`as_of`): nothing recorded after it is used, so a past date back-tests.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from cs_playbook.data.activities import MEETING_TYPES
from cs_playbook.data.contract import BANTC_DIMENSIONS, RENEWAL_STEPS
from cs_playbook.params import StrictModel
from cs_playbook.renewals.business_days import (
    BusinessCalendar,
    CalendarParams,
    business_calendar,
    business_days_after,
    business_days_before,
    business_days_between,
    fit_calendar,
    jp_date,
    roll_back,
    roll_forward,
)
from cs_playbook.renewals.churn_review import ChurnReviewParams, ForecastParams
from cs_playbook.renewals.prevention import PriorityParams

__all__ = [
    "ScheduleStep",
    "BantcParams",
    "RenewalParams",
    "calendar_for",
    "fit_calendar",
    "lines_known_at",
    "renewal_lines",
    "renewal_deadlines",
    "renewal_calendar",
    "schedule_status",
    "schedule_summary",
    "renewal_totals",
    "bantc_readiness",
    "overdue_renewals",
    "bantc_flagged",
    "jp_dates",
    "calendar_export",
    "arr_by_week",
    "schedule_progress",
    "bantc_answers",
]

COMPANY_WIDE = "(company-wide)"


class ScheduleStep(StrictModel):
    """One step of the renewal schedule: the activity type that records it and when it is due."""

    activity_type: str
    label: str
    due_business_day: int = Field(ge=1)  # due by this business day of the schedule window (1 = its first day)


def _default_steps() -> list[ScheduleStep]:
    labels = ["power structure mapped", "usage reviewed", "dissatisfaction picked up", "renewal intent confirmed"]
    labels.append("up/cross-sell proposed")
    return [
        ScheduleStep(activity_type=t, label=lab, due_business_day=2 * (i + 1))
        for i, (t, lab) in enumerate(zip(RENEWAL_STEPS, labels, strict=True))
    ]


class BantcParams(StrictModel):
    """When a BANTC assessment counts as fresh, stale or missing."""

    max_age_days: int = Field(120, ge=1)  # older than this at the as-of date: stale, re-assess
    cycle_days: int = Field(300, ge=1)  # assessed more than this before the renewal: previous cycle, missing
    due_days: int = Field(60, ge=0)  # a renewal this close needs a fresh assessment

    @model_validator(mode="after")
    def _order(self) -> BantcParams:
        if self.cycle_days <= self.max_age_days:
            raise ValueError("cycle_days must be larger than max_age_days")
        return self


class RenewalParams(StrictModel):
    """params/renewals.yaml."""

    horizon_days: int = Field(120, ge=1)
    calendar: CalendarParams = Field(default_factory=CalendarParams)
    decision_deadline_business_days: int = Field(20, ge=0)
    department_contact_months: int = Field(1, ge=0)
    schedule_start_months: int = Field(3, ge=0)
    schedule_business_days: int = Field(10, ge=1)
    schedule_for: Literal["with_csm", "all"] = "with_csm"
    step_lookback_days: int = Field(180, ge=1)
    steps: list[ScheduleStep] = Field(default_factory=_default_steps)
    bantc: BantcParams = Field(default_factory=BantcParams)
    stakeholder_max_age_days: int = Field(365, ge=1)
    notes_grace_days: int = Field(2, ge=0)
    notes_lookback_days: int = Field(365, ge=1)
    meeting_types: list[str] = Field(default_factory=lambda: list(MEETING_TYPES))
    priority: PriorityParams = Field(default_factory=PriorityParams)
    forecast: ForecastParams = Field(default_factory=ForecastParams)
    churn_review: ChurnReviewParams = Field(default_factory=ChurnReviewParams)

    @model_validator(mode="before")
    @classmethod
    def _no_as_of(cls, data: Any) -> Any:
        if isinstance(data, dict) and "as_of" in data:
            raise ValueError(
                "as_of is no longer a renewals setting: every page uses the report's as-of date (the quarter end, "
                "or the data's as-of date while the quarter is open). Remove as_of from params/renewals.yaml and "
                "choose the quarter of the report instead."
            )
        return data

    @model_validator(mode="after")
    def _steps_fit(self) -> RenewalParams:
        types = [s.activity_type for s in self.steps]
        if len(set(types)) != len(types):
            raise ValueError("steps: each activity_type may appear once")
        late = [s.activity_type for s in self.steps if s.due_business_day > self.schedule_business_days]
        if late:
            raise ValueError(
                f"steps {late} are due after the schedule's last business day ({self.schedule_business_days})"
            )
        return self


def calendar_for(subscriptions: pd.DataFrame, params: CalendarParams, *, as_of: pd.Timestamp) -> BusinessCalendar:
    """The business calendar covering the data's contract dates and a year either side of `as_of`."""
    dates = pd.concat([subscriptions["start_date"], subscriptions["end_date"]]).dropna()
    lo = min([pd.Timestamp(as_of).year - 2, *([dates.min().year - 1] if len(dates) else [])])
    hi = max([pd.Timestamp(as_of).year + 2, *([dates.max().year + 1] if len(dates) else [])])
    return business_calendar(params, years=(lo, hi))


def lines_known_at(subscriptions: pd.DataFrame, *, as_of: pd.Timestamp, data_as_of: pd.Timestamp) -> pd.DataFrame:
    """The contract lines known at `as_of`: all of them at the data's own date (lines starting later are
    renewals signed in advance), only those started by `as_of` when back-testing an earlier date."""
    if pd.Timestamp(as_of).normalize() >= pd.Timestamp(data_as_of).normalize():
        return subscriptions
    return subscriptions[subscriptions["start_date"] <= pd.Timestamp(as_of).normalize()]


def _dept_key(s: pd.Series) -> pd.Series:
    return s.astype("str").fillna("").str.strip()


def renewal_lines(subscriptions: pd.DataFrame, *, as_of: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """Contract lines active at `as_of` whose renewal (the day after end_date) is within the horizon.

    Returns the subscriptions columns plus renewal_date and signed (a line for the same account and
    department already starts on the renewal date: renewed in advance).
    """
    as_of = pd.Timestamp(as_of).normalize()
    subs = subscriptions[subscriptions["start_date"] <= as_of]
    active = subs[subs["end_date"].notna() & (subs["end_date"] >= as_of)].copy()
    active["renewal_date"] = active["end_date"] + pd.Timedelta(days=1)
    out = active[active["renewal_date"] <= as_of + pd.Timedelta(days=horizon_days)].copy()
    nxt = subscriptions.assign(_dept=_dept_key(subscriptions["department"]))[["account_id", "_dept", "start_date"]]
    nxt = nxt.drop_duplicates().rename(columns={"start_date": "renewal_date"}).assign(signed=True)
    out = out.assign(_dept=_dept_key(out["department"])).merge(
        nxt, on=["account_id", "_dept", "renewal_date"], how="left"
    )
    out["signed"] = out["signed"].fillna(False).astype(bool)
    return out.drop(columns="_dept").sort_values(["renewal_date", "account_id"]).reset_index(drop=True)


def renewal_deadlines(
    renewals: pd.DataFrame,
    cal: BusinessCalendar,
    *,
    as_of: pd.Timestamp,
    deadline_business_days: int = 20,
    contact_months: int = 1,
    schedule_months: int = 3,
    schedule_business_days: int = 10,
) -> pd.DataFrame:
    """The dates each renewal sets: decision deadline, department contact and schedule window.

    `renewals` has renewal_date and department (empty for company-wide). Adds decision_deadline
    (exactly `deadline_business_days` business days from it up to the day before the renewal),
    department_contact (`contact_months` before, moved back to a business day; per-department
    contracts only), schedule_start (`schedule_months` before, moved forward to a business day),
    schedule_end (its `schedule_business_days`-th business day), days_to_renewal and
    business_days_to_deadline (business days after `as_of` up to and including the deadline;
    0 = the deadline is today, negative = passed).
    """
    as_of = pd.Timestamp(as_of).normalize()
    out = renewals.copy()
    r = pd.to_datetime(out["renewal_date"])
    out["decision_deadline"] = business_days_before(r, deadline_business_days, cal)
    per_department = _dept_key(out["department"]) != ""
    contact = roll_back(r - pd.DateOffset(months=contact_months), cal)
    out["department_contact"] = contact.where(per_department.to_numpy())
    out["schedule_start"] = roll_forward(r - pd.DateOffset(months=schedule_months), cal)
    out["schedule_end"] = business_days_after(out["schedule_start"], schedule_business_days - 1, cal)
    out["days_to_renewal"] = (r - as_of).dt.days
    one = pd.Timedelta(days=1)
    out["business_days_to_deadline"] = business_days_between(
        pd.Series(as_of + one, index=out.index), out["decision_deadline"] + one, cal
    )
    return out


def renewal_calendar(
    subscriptions: pd.DataFrame,
    accounts: pd.DataFrame,
    cal: BusinessCalendar,
    params: RenewalParams,
    *,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """Every renewal in the horizon, one row per account, department and renewal date, with its deadlines.

    Returns account_id, account_name, segment, csm, department, renewal_date, products, lines,
    arr, auto_renew (every line renews automatically), signed, and the columns of
    `renewal_deadlines`; soonest renewal first.
    """
    lines = renewal_lines(subscriptions, as_of=as_of, horizon_days=params.horizon_days)
    lines["department"] = _dept_key(lines["department"])
    lines["auto_renew"] = lines["auto_renew"].fillna(False).astype(bool)
    grouped = lines.groupby(["account_id", "department", "renewal_date"], as_index=False).agg(
        products=("product", lambda s: ", ".join(sorted(set(s)))),
        lines=("subscription_id", "size"),
        arr=("arr", "sum"),
        auto_renew=("auto_renew", "all"),
        signed=("signed", "all"),
    )
    cols = [c for c in ("account_name", "segment", "csm") if c in accounts.columns]
    out = grouped.merge(accounts[["account_id", *cols]], on="account_id", how="left")
    out = renewal_deadlines(
        out,
        cal,
        as_of=as_of,
        deadline_business_days=params.decision_deadline_business_days,
        contact_months=params.department_contact_months,
        schedule_months=params.schedule_start_months,
        schedule_business_days=params.schedule_business_days,
    )
    first = ["account_id", *cols, "department", "renewal_date"]
    out = out[first + [c for c in out.columns if c not in first]]
    return out.sort_values(["renewal_date", "arr"], ascending=[True, False]).reset_index(drop=True)


def schedule_status(
    calendar: pd.DataFrame,
    activities: pd.DataFrame,
    steps: list[ScheduleStep],
    cal: BusinessCalendar,
    *,
    as_of: pd.Timestamp,
    lookback_days: int = 180,
    only_with_csm: bool = True,
) -> pd.DataFrame:
    """Each renewal's schedule steps from the activities, with what is done, late or overdue.

    `calendar` from `renewal_calendar` (one schedule per account and renewal date). A step counts
    when its activity type occurs in the `lookback_days` before the renewal and not after
    `as_of`. Returns account_id, renewal_date, schedule_start, order, step, label, due, done_at,
    status: done, done_late (after its due date), overdue (not done, due date passed), open (the
    schedule has started, not yet due), not_started.
    """
    as_of = pd.Timestamp(as_of).normalize()
    base = calendar
    if only_with_csm and "csm" in base.columns:
        base = base[base["csm"].notna() & (base["csm"].astype("str").str.strip() != "")]
    base = base.drop_duplicates(["account_id", "renewal_date"])[["account_id", "renewal_date", "schedule_start"]]
    grid = base.merge(
        pd.DataFrame(
            {
                "order": range(1, len(steps) + 1),
                "step": [s.activity_type for s in steps],
                "label": [s.label for s in steps],
                "due_day": [s.due_business_day for s in steps],
            }
        ),
        how="cross",
    )
    grid["due"] = business_days_after(grid["schedule_start"], grid["due_day"].to_numpy() - 1, cal)
    acts = activities[activities["activity_type"].isin(grid["step"].unique()) & (activities["occurred_at"] <= as_of)]
    acts = acts[["account_id", "activity_type", "occurred_at"]].rename(columns={"activity_type": "step"})
    hits = grid[["account_id", "renewal_date", "step"]].merge(acts, on=["account_id", "step"])
    window = (hits["occurred_at"] < hits["renewal_date"]) & (
        hits["occurred_at"] >= hits["renewal_date"] - pd.Timedelta(days=lookback_days)
    )
    done = hits[window].groupby(["account_id", "renewal_date", "step"], as_index=False)["occurred_at"].min()
    out = grid.merge(
        done.rename(columns={"occurred_at": "done_at"}), on=["account_id", "renewal_date", "step"], how="left"
    )
    done_day = out["done_at"].dt.normalize()
    out["status"] = np.select(
        [
            done_day.notna() & (done_day <= out["due"]),
            done_day.notna(),
            out["due"] < as_of,
            out["schedule_start"] <= as_of,
        ],
        ["done", "done_late", "overdue", "open"],
        default="not_started",
    )
    cols = ["account_id", "renewal_date", "schedule_start", "order", "step", "label", "due", "done_at", "status"]
    return out[cols].sort_values(["renewal_date", "account_id", "order"]).reset_index(drop=True)


def schedule_summary(steps: pd.DataFrame) -> pd.DataFrame:
    """Per account and renewal: steps_done (on time or late), steps_overdue, overdue_steps (labels), next_step, next_due."""
    s = steps.assign(
        _done=steps["status"].isin(["done", "done_late"]),
        _over=steps["status"] == "overdue",
    )
    keys = ["account_id", "renewal_date"]
    out = s.groupby(keys, as_index=False).agg(steps_done=("_done", "sum"), steps_overdue=("_over", "sum"))
    over = s[s["_over"]].groupby(keys)["label"].agg(", ".join).rename("overdue_steps")
    todo = s[~s["_done"]].sort_values("order").groupby(keys).first()[["label", "due"]]
    todo = todo.rename(columns={"label": "next_step", "due": "next_due"})
    out = out.merge(over, on=keys, how="left").merge(todo, on=keys, how="left")
    out["overdue_steps"] = out["overdue_steps"].fillna("")
    return out.astype({"steps_done": "int64", "steps_overdue": "int64"})


def renewal_totals(calendar: pd.DataFrame) -> pd.DataFrame:
    """One row per renewal (account and date) from the calendar's department lines.

    Returns account_id, renewal_date, account_name, csm, arr (summed over the departments renewing that day).
    """
    return calendar.groupby(["account_id", "renewal_date"], as_index=False).agg(
        account_name=("account_name", "first"), csm=("csm", "first"), arr=("arr", "sum")
    )


def bantc_readiness(
    calendar: pd.DataFrame, bantc: pd.DataFrame, params: BantcParams, *, as_of: pd.Timestamp
) -> pd.DataFrame:
    """The latest BANTC assessment of each upcoming renewal: fresh, stale or missing, and what changed.

    Per account and renewal date: bantc_assessed_at, bantc_age_days, bantc_status (fresh; stale:
    older than max_age_days; missing: none, or only one from the previous cycle, assessed more
    than cycle_days before the renewal), bantc_due (renewal within due_days), the five answers,
    risks and unknowns (dimensions not ok), worsened (ok in the previous assessment, not ok now),
    need_lost (need at risk), authority_changed (authority at risk, or no longer ok), ready (fresh
    and all five ok) and act (need lost or authority changed: act, per [000]).
    """
    as_of = pd.Timestamp(as_of).normalize()
    keys = calendar.drop_duplicates(["account_id", "renewal_date"])[["account_id", "renewal_date"]]
    past = bantc[bantc["assessed_at"] <= as_of].sort_values(["account_id", "assessed_at"])
    ranked = past.assign(_k=past.groupby("account_id").cumcount(ascending=False))
    latest = ranked[ranked["_k"] == 0].set_index("account_id")
    previous = ranked[ranked["_k"] == 1].set_index("account_id")
    out = keys.merge(
        latest[["assessed_at", *BANTC_DIMENSIONS]].rename(columns={"assessed_at": "bantc_assessed_at"}),
        left_on="account_id",
        right_index=True,
        how="left",
    )
    out["bantc_age_days"] = (as_of - out["bantc_assessed_at"]).dt.days
    in_cycle = out["bantc_assessed_at"] > out["renewal_date"] - pd.Timedelta(days=params.cycle_days)
    out["bantc_status"] = np.select(
        [~in_cycle, out["bantc_age_days"] > params.max_age_days], ["missing", "stale"], default="fresh"
    )
    out["bantc_due"] = (out["renewal_date"] - as_of).dt.days <= params.due_days
    for dim in BANTC_DIMENSIONS:  # answers of a previous cycle do not describe this renewal
        out[dim] = out[dim].astype("str").where(in_cycle.to_numpy())
    before = out[["account_id"]].merge(
        previous[list(BANTC_DIMENSIONS)], left_on="account_id", right_index=True, how="left"
    )
    dims = list(BANTC_DIMENSIONS)
    now, was = out[dims], before[dims].set_index(out.index)
    worse = was.eq("ok").fillna(False) & now.notna() & now.ne("ok").fillna(False)
    out["risks"] = _names(now.eq("risk").fillna(False))
    out["unknowns"] = _names(now.eq("unknown").fillna(False))
    out["worsened"] = _names(worse)
    out["need_lost"] = now["need"].eq("risk").fillna(False).astype(bool)
    out["authority_changed"] = (now["authority"].eq("risk").fillna(False) | worse["authority"]).astype(bool)
    all_ok = now.eq("ok").fillna(False).all(axis=1)
    out["ready"] = (out["bantc_status"] == "fresh") & all_ok
    out["act"] = out["need_lost"] | out["authority_changed"]
    return out.reset_index(drop=True)


def overdue_renewals(schedule: pd.DataFrame, calendar: pd.DataFrame, *, top: int = 15) -> pd.DataFrame:
    """The largest renewals with overdue schedule steps (schedule_summary joined with renewal_totals), ARR first."""
    late = schedule[schedule["steps_overdue"] > 0].merge(renewal_totals(calendar), on=["account_id", "renewal_date"])
    return late.sort_values("arr", ascending=False).head(top).reset_index(drop=True)


def bantc_flagged(readiness: pd.DataFrame, calendar: pd.DataFrame, *, top: int = 15) -> pd.DataFrame:
    """The largest renewals to act on: need lost, authority changed, or a due assessment missing or stale."""
    gap = readiness["bantc_due"] & readiness["bantc_status"].isin(["missing", "stale"])
    flagged = readiness[readiness["act"] | gap].merge(renewal_totals(calendar), on=["account_id", "renewal_date"])
    return flagged.sort_values("arr", ascending=False).head(top).reset_index(drop=True)


def _names(mask: pd.DataFrame) -> pd.Series:
    """The column names that are True in each row, joined: 'need, authority'."""
    return pd.Series(
        [", ".join(c for c, v in zip(mask.columns, row, strict=True) if v) for row in mask.to_numpy()],
        index=mask.index,
        dtype="str",
    )


def jp_dates(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """`df` with the named date columns as Japanese-style text (2026/11/20) for CSV/XLSX exports."""
    out = df.copy()
    for c in cols:
        if c in out.columns:
            out[c] = jp_date(out[c])
    return out


def calendar_export(
    calendar: pd.DataFrame, *, schedule: pd.DataFrame | None = None, bantc: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The renewal calendar for CSMs and the CRM: one row per account, department and renewal, dates as 2026/11/20."""
    out = calendar.copy()
    keys = ["account_id", "renewal_date"]
    if schedule is not None:
        out = out.merge(schedule, on=keys, how="left")
    if bantc is not None:
        out = out.merge(bantc[[*keys, "bantc_status", "bantc_assessed_at", "risks", "ready"]], on=keys, how="left")
        out = out.rename(columns={"risks": "bantc_risks", "ready": "bantc_ready"})
    for c in ("steps_done", "steps_overdue"):
        if c in out.columns:
            out[c] = out[c].astype("Int64")
    out["department"] = out["department"].replace("", COMPANY_WIDE)
    out["auto_renew"] = np.where(out["auto_renew"], "yes", "no")
    dates = ["renewal_date", "decision_deadline", "department_contact", "schedule_start", "schedule_end"]
    dates += ["next_due", "bantc_assessed_at"]
    out = jp_dates(out, dates)
    if "signed" in out.columns and not out["signed"].to_numpy(dtype=bool, na_value=False).any():
        out = out.drop(columns="signed")  # only worth a column when some renewals are signed in advance
    return out


def arr_by_week(calendar: pd.DataFrame, risk: pd.DataFrame) -> pd.DataFrame:
    """ARR renewing per week (weeks start on Monday; weeks without renewals show 0), expected to renew and at risk.

    `risk` has account_id and churn_probability (accounts missing from it count at the mean).
    Returns week, outcome ("expected to renew", "at risk"), arr, for a stacked chart.
    """
    p = risk.drop_duplicates("account_id").set_index("account_id")["churn_probability"].astype("float64")
    prob = calendar["account_id"].map(p).astype("float64").fillna(p.mean()).fillna(0.0)
    week = calendar["renewal_date"].dt.to_period("W-SUN").dt.start_time
    df = pd.DataFrame(
        {"week": week, "at risk": calendar["arr"] * prob, "expected to renew": calendar["arr"] * (1 - prob)}
    )
    wide = df.groupby("week").sum()
    if len(wide):  # every week from the first to the last, so the time axis is honest
        wide = wide.reindex(pd.date_range(wide.index.min(), wide.index.max(), freq="7D"), fill_value=0.0)
    out = wide.rename_axis("week").reset_index().melt(id_vars="week", var_name="outcome", value_name="arr")
    return out.sort_values(["week", "outcome"], ascending=[True, False]).reset_index(drop=True)


def schedule_progress(steps: pd.DataFrame) -> pd.DataFrame:
    """Renewals per schedule step and status (from schedule_status), in step order: order, label, status, renewals."""
    out = steps.groupby(["order", "label", "status"], as_index=False).size().rename(columns={"size": "renewals"})
    return out.sort_values(["order", "status"]).reset_index(drop=True)


def bantc_answers(readiness: pd.DataFrame) -> pd.DataFrame:
    """Upcoming renewals per BANTC dimension and answer (ok, unknown, risk, or none in this cycle).

    Returns dimension, answer, renewals, share.
    """
    long = readiness.melt(value_vars=list(BANTC_DIMENSIONS), var_name="dimension", value_name="answer")
    long["answer"] = long["answer"].astype("str").fillna("none")
    out = long.groupby(["dimension", "answer"], as_index=False).size().rename(columns={"size": "renewals"})
    out["share"] = out["renewals"] / out.groupby("dimension")["renewals"].transform("sum")
    out["_o"] = out["dimension"].map({d: i for i, d in enumerate(BANTC_DIMENSIONS)})
    return out.sort_values(["_o", "answer"]).drop(columns="_o").reset_index(drop=True)
