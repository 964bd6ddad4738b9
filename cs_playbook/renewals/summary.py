"""The renewal notebook's figures: what each section says, summary.json, the headline and the checks.

Builds on `renewals.calendar` (calendar, schedule, BANTC), `renewals.prevention` (priorities) and
`renewals.churn_review` (churn review, GRR). The ARR at risk here is that of the renewals in the
horizon (the quarter state's arr_renewing_at_risk); the health page shows the ARR at risk of all
accounts. The next quarter's GRR forecast is the quarter state's, computed once per run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from cs_playbook.formatting import MISSING, Formatter
from cs_playbook.i18n import Messages, messages
from cs_playbook.renewals.business_days import BusinessCalendar, business_days_between, is_business_day
from cs_playbook.renewals.calendar import RenewalParams
from cs_playbook.renewals.churn_review import reactivation_rates

__all__ = [
    "arr_at_risk_label",
    "calendar_figures",
    "schedule_figures",
    "reactivation_figures",
    "summary_figures",
    "headline",
    "consistency_checks",
    "previous_figures",
    "decision_figures",
    "contact_now",
    "reasons",
    "step_names",
    "with_step_names",
    "tenure_band_name",
    "with_codes_joined",
]

FORECAST_KEYS = {  # summary.json key -> key of the state's GRR forecast
    "forecast_grr": "expected_grr",
    "forecast_grr_low": "grr_low",
    "forecast_grr_high": "grr_high",
    "forecast_open_renewal_arr": "open_renewal_arr",
    "forecast_expected_churn_arr": "expected_churn_arr",
    "forecast_interval": "interval",
}


def arr_at_risk_label(horizon_days: int) -> str:
    """What this page's ARR at risk is: that of the renewals in the horizon, not of all accounts."""
    return f"ARR at risk (renewals in the next {horizon_days} days)"


def calendar_figures(calendar: pd.DataFrame, *, act_now_business_days: int) -> dict[str, float | int]:
    """The renewal calendar in figures: renewals, accounts, ARR renewing, auto-renewal share, deadlines soon and passed."""
    bd = calendar["business_days_to_deadline"]
    soon = calendar[(bd >= 0) & (bd <= act_now_business_days)]
    passed = calendar[bd < 0]
    arr = float(calendar["arr"].sum())
    auto = float(calendar.loc[calendar["auto_renew"].astype(bool), "arr"].sum())
    return {
        "renewals": int(len(calendar)),
        "accounts_renewing": int(calendar["account_id"].nunique()),
        "arr_renewing": arr,
        "arr_renewing_auto_renew": auto,
        "auto_renew_share": auto / arr if arr > 0 else 0.0,
        "deadlines_soon": int(len(soon)),
        "arr_deadlines_soon": float(soon["arr"].sum()),
        "deadlines_passed": int(len(passed)),
        "arr_deadlines_passed": float(passed["arr"].sum()),
    }


def schedule_figures(steps: pd.DataFrame | None) -> dict[str, float | int | None]:
    """Overdue schedule steps, the renewals they concern and the share of steps done late (None without activities)."""
    if steps is None:
        return {"overdue_steps": None, "renewals_with_overdue_steps": None, "steps_done_late_share": None}
    over = steps[steps["status"] == "overdue"]
    done = steps["status"].isin(["done", "done_late"])
    return {
        "overdue_steps": int(len(over)),
        "renewals_with_overdue_steps": int(over[["account_id", "renewal_date"]].drop_duplicates().shape[0]),
        "steps_done_late_share": float((steps["status"] == "done_late").sum() / done.sum()) if done.any() else None,
    }


def _rate(rates: pd.DataFrame, key: str, value: object) -> float | None:
    row = rates.loc[rates[key] == value, "rate"]
    return float(row.iloc[0]) if len(row) else None


def reactivation_figures(events: pd.DataFrame, *, as_of: pd.Timestamp, wait_months: int) -> dict[str, float | None]:
    """How many past churners came back: overall and after a clean exit or not (`events` from exit_quality)."""
    overall = reactivation_rates(events, as_of=as_of, wait_months=wait_months)
    by_exit = reactivation_rates(events, as_of=as_of, wait_months=wait_months, by="clean_exit")
    return {
        "churned": int(overall["churned"].iloc[0]) if len(overall) else 0,
        "reactivated": int(overall["reactivated"].iloc[0]) if len(overall) else 0,
        "reactivation_rate": float(overall["rate"].iloc[0]) if len(overall) else None,
        "reactivation_rate_clean_exit": _rate(by_exit, "clean_exit", True),
        "reactivation_rate_other_exit": _rate(by_exit, "clean_exit", False),
    }


def summary_figures(
    calendar: pd.DataFrame,
    priorities: pd.DataFrame,
    params: RenewalParams,
    *,
    steps: pd.DataFrame | None = None,
    readiness: pd.DataFrame | None = None,
    forecast: dict[str, Any] | None = None,
    backtest: dict[str, Any] | None = None,
    review: pd.DataFrame | None = None,
    winback: pd.DataFrame | None = None,
    reactivation: dict[str, float | None] | None = None,
    risk_source: str | None = None,
) -> dict[str, Any]:
    """The figures of summary.json: ARR renewing and at risk (renewals in the horizon), deadlines, schedule, BANTC,
    the state's GRR forecast for the next quarter, the back-test of this quarter and the churn review."""
    figures: dict[str, Any] = {
        "horizon_days": params.horizon_days,
        **calendar_figures(calendar, act_now_business_days=params.priority.act_now_business_days),
        "arr_renewing_at_risk": float(priorities["arr_renewing_at_risk"].sum()) if len(priorities) else 0.0,
        "accounts_handling": int((priorities["mode"] == "handling").sum()) if len(priorities) else 0,
        "accounts_act_now": int((priorities["act_when"] == "now").sum()) if len(priorities) else 0,
        **schedule_figures(steps),
        "bantc_ready_share": None,
        "churn_probability_source": risk_source,
    }
    if readiness is not None and len(readiness):
        due = readiness[readiness["bantc_due"]]
        figures["bantc_ready_share"] = float(readiness["ready"].mean())
        figures["bantc_due_missing_or_stale"] = int(due["bantc_status"].isin(["missing", "stale"]).sum())
        figures["bantc_act"] = int(readiness["act"].sum())
    if len(priorities) and "health_tier" in priorities.columns:
        tier = priorities["health_tier"].astype("string").fillna("(not scored)")
        figures["arr_renewing_at_risk_by_tier"] = {
            str(k): float(v) for k, v in priorities.groupby(tier)["arr_renewing_at_risk"].sum().items()
        }
    figures["forecast_quarter"] = forecast["quarter"] if forecast else None
    for key, k in FORECAST_KEYS.items():
        figures[key] = forecast[k] if forecast else None
    figures["backtest_quarter"] = backtest["quarter"] if backtest else None
    figures["backtest_forecast_grr"] = backtest["expected_grr"] if backtest else None
    figures["backtest_actual_grr"] = backtest["actual_grr"] if backtest else None
    if review is not None:
        figures["churned_accounts_review"] = int(len(review))
        figures["churned_arr_review"] = float(review["churned_arr"].sum())
        by_reason = review.groupby("reason")["churned_arr"].sum().sort_values(ascending=False)
        figures["churned_arr_by_reason"] = {str(k): float(v) for k, v in by_reason.items()}
    if reactivation is not None:
        figures["reactivation_rate"] = reactivation["reactivation_rate"]
    if winback is not None:
        figures["winback_candidates"] = int(len(winback))
    return figures


def headline(figures: dict[str, Any], currency: str, *, lang: str = "en") -> dict[str, str]:
    """The figures quoted on index.html: ARR renewing and at risk in the horizon, the GRR forecast, what to do now."""
    msg, fmt = messages(lang), Formatter(lang, currency)
    days = figures["horizon_days"]
    fq = figures.get("forecast_quarter")
    grr = figures.get("forecast_grr")
    overdue = figures["overdue_steps"]
    return {
        msg.t("renewals.decision.arr_renewing", days=days): fmt.money(figures["arr_renewing"]),
        msg.t("renewals.decision.arr_at_risk", days=days): fmt.money(figures["arr_renewing_at_risk"]),
        msg.t("renewals.decision.grr_forecast", quarter=fq or msg.t("renewals.decision.next_quarter")): (
            msg.t(
                "renewals.decision.grr_range",
                value=fmt.pct(grr),
                low=fmt.pct(figures["forecast_grr_low"]),
                high=fmt.pct(figures["forecast_grr_high"]),
            )
            if grr is not None
            else MISSING
        ),
        msg.t("renewals.decision.overdue_steps"): fmt.count(overdue) if overdue is not None else MISSING,
        msg.t("renewals.decision.contact_now"): msg.t(
            "renewals.decision.contact_now_value", count=fmt.count(figures["accounts_act_now"])
        ),
    }


def _state_checks(calendar: pd.DataFrame, priorities: pd.DataFrame, accounts: pd.DataFrame) -> dict[str, bool]:
    """The page agrees with the quarter state: ARR renewing per account and ARR renewing at risk."""
    cal = calendar.groupby("account_id")["arr"].sum()
    state = accounts.set_index("account_id")["arr_renewing"]
    state = state[state > 0]
    both = cal.index.astype("str").union(state.index.astype("str"))
    same = np.allclose(
        cal.rename(index=str).reindex(both, fill_value=0.0), state.rename(index=str).reindex(both, fill_value=0.0)
    )
    p_risk = (
        priorities.set_index("account_id")["arr_renewing_at_risk"] if len(priorities) else pd.Series(dtype="float64")
    )
    s_risk = accounts.set_index("account_id")["arr_renewing_at_risk"].reindex(p_risk.index)
    return {
        "calendar_arr_matches_state": bool(same),
        "arr_renewing_at_risk_matches_state": bool(np.allclose(p_risk.to_numpy(), s_risk.to_numpy(), rtol=1e-9)),
    }


def consistency_checks(
    calendar: pd.DataFrame,
    cal: BusinessCalendar,
    params: RenewalParams,
    priorities: pd.DataFrame,
    forecast: dict[str, Any] | None = None,
    *,
    accounts: pd.DataFrame | None = None,
    figures: dict[str, Any] | None = None,
) -> dict[str, bool]:
    """Invariants that hold on any data; the notebook prints them and nbval compares the output.

    With the quarter state's `accounts`, also that the page agrees with it (ARR renewing per account,
    ARR renewing at risk); with `figures` (summary_figures), that their forecast_grr is `forecast`'s.
    """
    deadline, renewal = calendar["decision_deadline"], calendar["renewal_date"]
    exact = business_days_between(deadline, renewal, cal) == params.decision_deadline_business_days
    checks = {
        "deadlines_exact_business_days": bool(exact.all()),
        "deadlines_on_business_days": bool(is_business_day(deadline, cal).all()),
        "deadlines_before_renewal": bool((deadline < renewal).all()),
        "schedule_window_ordered": bool((calendar["schedule_start"] <= calendar["schedule_end"]).all()),
        "priorities_cover_calendar_arr": bool(
            np.isclose(priorities["arr_renewing"].sum(), calendar["arr"].sum(), rtol=1e-9, atol=1e-6)
        ),
        "arr_at_risk_within_arr": bool((priorities["arr_renewing_at_risk"] <= priorities["arr_renewing"] + 1e-6).all()),
    }
    if accounts is not None:
        checks.update(_state_checks(calendar, priorities, accounts))
    if forecast is not None:
        f = forecast
        checks["forecast_interval_ordered"] = bool(
            f["grr_low"] <= f["expected_grr"] + 1e-9 and f["expected_grr"] <= f["grr_high"] + 1e-9
        )
        checks["forecast_grr_at_most_if_all_renew"] = bool(f["grr_high"] <= f["grr_if_all_renew"] + 1e-9 <= 1 + 2e-9)
    if figures is not None:
        expected = forecast["expected_grr"] if forecast is not None else None
        checks["forecast_grr_is_the_state_forecast"] = figures.get("forecast_grr") == expected
    return checks


# --- What the page shows first: the decision box, in the report's language -------------------------------------


def previous_figures(accounts: pd.DataFrame | None, forecast: dict[str, Any] | None) -> dict[str, float | None] | None:
    """The previous quarter's comparable figures from its quarter state (`accounts`, `grr_forecast`); None without.

    Returns arr_renewing, arr_renewing_at_risk (renewals in that quarter's horizon) and forecast_grr.
    """
    if accounts is None:
        return None
    return {
        "arr_renewing": float(accounts["arr_renewing"].sum()),
        "arr_renewing_at_risk": float(accounts["arr_renewing_at_risk"].sum()),
        "forecast_grr": float(forecast["expected_grr"]) if forecast else None,
    }


def _change(
    now: float | None, before: float | None, fmt: Formatter, msg: Messages, *, kind: str, up_is: str
) -> tuple[str | None, str | None]:
    """The change text against the previous quarter and its direction (up_is: good, bad or neutral)."""
    if now is None or before is None or pd.isna(now) or pd.isna(before):
        return None, None
    delta = float(now) - float(before)
    text = msg.t("common.vs_previous", delta=fmt.delta(delta, kind))
    if abs(delta) < 1e-12 or up_is == "neutral":
        return text, "neutral"
    flip = {"good": "bad", "bad": "good"}
    return text, up_is if delta > 0 else flip[up_is]


def _figure(label: str, value: str, change: tuple[str | None, str | None]) -> dict[str, str | None]:
    return {"label": label, "value": value, "change": change[0], "direction": change[1]}


def decision_figures(
    figures: dict[str, Any], previous: dict[str, float | None] | None, fmt: Formatter, msg: Messages
) -> list[dict[str, str | None]]:
    """The page's headline figures with their change vs the previous quarter (`previous_figures`).

    ARR renewing in the horizon, ARR renewing at risk, the next quarter's GRR forecast and the accounts to
    contact now (no comparable previous figure: the state does not keep the priorities).
    """
    prev = previous or {}
    days = figures["horizon_days"]
    grr = figures.get("forecast_grr")
    quarter = figures.get("forecast_quarter") or ""
    return [
        _figure(
            msg.t("renewals.decision.arr_renewing", days=days),
            fmt.money(figures["arr_renewing"]),
            _change(figures["arr_renewing"], prev.get("arr_renewing"), fmt, msg, kind="money", up_is="neutral"),
        ),
        _figure(
            msg.t("renewals.decision.arr_at_risk", days=days),
            fmt.money(figures["arr_renewing_at_risk"]),
            _change(
                figures["arr_renewing_at_risk"], prev.get("arr_renewing_at_risk"), fmt, msg, kind="money", up_is="bad"
            ),
        ),
        _figure(
            msg.t(
                "renewals.decision.grr_forecast_range",
                quarter=quarter,
                interval=fmt.pct(figures.get("forecast_interval"), digits=0),
                low=fmt.pct(figures.get("forecast_grr_low")),
                high=fmt.pct(figures.get("forecast_grr_high")),
            )
            if grr is not None
            else msg.t("renewals.decision.grr_forecast", quarter=quarter),
            fmt.pct(grr),
            _change(grr, prev.get("forecast_grr"), fmt, msg, kind="pct_points", up_is="good"),
        ),
        _figure(
            msg.t("renewals.decision.contact_now"),
            msg.t("renewals.decision.contact_now_value", count=fmt.count(figures["accounts_act_now"])),
            (None, None),
        ),
    ]


def contact_now(priorities: pd.DataFrame, fmt: Formatter, msg: Messages, *, top: int = 5) -> pd.DataFrame:
    """The top accounts to contact now (priority order): account_name, csm, decision_deadline, arr_renewing, action.

    `priorities` from prevention.prioritise; the action says by when and in which mode (or that the deadline
    passed). Columns keep their snake_case names; the page translates the headers.
    """
    cols = ["account_name", "csm", "decision_deadline", "arr_renewing", "action"]
    if priorities.empty:
        return pd.DataFrame(columns=cols)
    now = priorities[priorities["act_when"] == "now"].head(top)
    actions = []
    for row in now.itertuples(index=False):
        if pd.notna(row.business_days_to_deadline) and row.business_days_to_deadline < 0:
            actions.append(msg.t("renewals.decision.action_passed"))
        else:
            actions.append(msg.t(f"renewals.decision.action_{row.mode}", act_by=fmt.date(row.act_by)))
    return now.assign(action=actions)[cols].reset_index(drop=True)


def _reason_parts(row: dict, params: RenewalParams, fmt: Formatter, msg: Messages, tier: str | None) -> list[str]:
    """One account's reasons (see `reasons`)."""
    p = fmt.pct(row["churn_probability"], digits=0)
    parts = [
        msg.t("renewals.reasons.probability_tier", p=p, tier=tier)
        if tier
        else msg.t("renewals.reasons.probability", p=p)
    ]
    if row.get("bantc_need_lost") is True:
        parts.append(msg.t("renewals.reasons.need_lost"))
    if row.get("bantc_authority_changed") is True:
        parts.append(msg.t("renewals.reasons.authority_changed"))
    other = [r for r in str(row.get("bantc_risks") or "").split(", ") if r and r not in ("need", "authority")]
    if other:
        parts.append(msg.t("renewals.reasons.other_risks", items="・".join(str(msg.code(r)) for r in other)))
    if row.get("bantc_due") is True and row.get("bantc_status") == "missing":
        parts.append(msg.t("renewals.reasons.bantc_missing"))
    elif row.get("bantc_due") is True and row.get("bantc_status") == "stale":
        parts.append(msg.t("renewals.reasons.bantc_stale", days=int(row["bantc_age_days"])))
    if (row.get("steps_overdue") or 0) > 0:
        steps = step_names(str(row.get("overdue_steps") or ""), params, msg)
        parts.append(msg.t("renewals.reasons.steps_overdue", count=int(row["steps_overdue"]), steps=steps))
    bd = row.get("business_days_to_deadline")
    if pd.notna(bd) and pd.notna(row.get("decision_deadline")):
        when = fmt.date(row["decision_deadline"])
        if bd < 0:
            parts.append(msg.t("renewals.reasons.deadline_passed", date=when))
        elif bd <= params.priority.act_now_business_days:
            parts.append(msg.t("renewals.reasons.deadline_soon", date=when, days=int(bd)))
    if row.get("stakeholders_stale") is True:
        age = row.get("stakeholders_age_days")
        parts.append(
            msg.t("renewals.reasons.no_stakeholders")
            if pd.isna(age)
            else msg.t("renewals.reasons.stakeholders_stale", days=int(age))
        )
    if row.get("champion") is False:
        parts.append(msg.t("renewals.reasons.no_champion"))
    if row.get("exec_access") is False:
        parts.append(msg.t("renewals.reasons.no_exec"))
    if (row.get("meetings_without_notes") or 0) > 0:
        parts.append(msg.t("renewals.reasons.meetings_without_notes", count=int(row["meetings_without_notes"])))
    if pd.notna(row.get("tenure_years")):
        parts.append(msg.t("renewals.reasons.tenure", years=f"{row['tenure_years']:.1f}"))
    return parts


def reasons(
    priorities: pd.DataFrame,
    params: RenewalParams,
    fmt: Formatter,
    msg: Messages,
    *,
    tier_label: Callable[[str], str] | None = None,
) -> pd.Series:
    """Why each account (a row of prevention.prioritise) is where it is, in the report's language.

    The same signals as prioritise's `why` (probability and tier, BANTC, overdue steps, deadline, stakeholders,
    champion, executive access, notes, tenure); the mode is its own column, so it is not repeated here.
    """
    out = []
    for row in priorities.to_dict("records"):
        code = row.get("health_tier")
        tier = (tier_label(code) if tier_label else code) if isinstance(code, str) and code else None
        out.append(msg.t("renewals.reasons.separator").join(_reason_parts(row, params, fmt, msg, tier)))
    return pd.Series(out, index=priorities.index, dtype="object")


def step_names(labels: str, params: RenewalParams, msg: Messages) -> str:
    """Schedule-step labels of params ("usage reviewed, renewal intent confirmed") in the report's language.

    A step's name is its activity type's code label ("renewals.codes.usage_review"), else the label of params.
    """
    names = {
        s.label: str(msg.code(s.activity_type)) for s in params.steps if msg.code(s.activity_type) != s.activity_type
    }
    parts = [p for p in str(labels).split(", ") if p]
    sep = "、" if msg.lang == "ja" else ", "
    return sep.join(names.get(p, p) for p in parts)


def with_step_names(df: pd.DataFrame, columns: list[str], params: RenewalParams, msg: Messages) -> pd.DataFrame:
    """`df` with the step-label columns (`columns`, e.g. next_step, overdue_steps) in the report's language."""
    out = df.copy()
    for col in columns:
        if col in out.columns:
            out[col] = [step_names(v, params, msg) if isinstance(v, str) else v for v in out[col]]
    return out


def tenure_band_name(label: str, msg: Messages) -> str:
    """A tenure band of churn_review.tenure_band_labels ("< 12 months", "12-24 months", "36+ months") translated."""
    text = str(label)
    if text.startswith("< ") and text.endswith(" months"):
        return msg.t("renewals.tenure.below", months=text[2:-7])
    if text.endswith("+ months"):
        return msg.t("renewals.tenure.above", months=text[:-8])
    if text.endswith(" months") and "-" in text:
        low, high = text[:-7].split("-", 1)
        return msg.t("renewals.tenure.between", low=low, high=high)
    return msg.t("renewals.tenure.all") if text == "all" else text


def with_codes_joined(df: pd.DataFrame, columns: list[str], msg: Messages) -> pd.DataFrame:
    """`df` with columns of comma-joined codes ("need, authority") in the report's language ("ニーズ（Need）・...")."""
    out = df.copy()
    sep = "・" if msg.lang == "ja" else ", "
    for col in columns:
        if col in out.columns:
            out[col] = [
                sep.join(str(msg.code(c)) for c in v.split(", ") if c) if isinstance(v, str) else v for v in out[col]
            ]
    return out
