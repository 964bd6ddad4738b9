"""The renewal notebook's figures: what each section says, summary.json, the headline and the checks.

Builds on `renewals.calendar` (calendar, schedule, BANTC), `renewals.prevention` (priorities) and
`renewals.churn_review` (churn review, GRR). The ARR at risk here is that of the renewals in the
horizon (the quarter state's arr_renewing_at_risk); the health page shows the ARR at risk of all
accounts. The next quarter's GRR forecast is the quarter state's, computed once per run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cs_playbook.formatting import fmt_money, fmt_pct
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
]

FORECAST_KEYS = {  # summary.json key -> key of the state's GRR forecast
    "forecast_grr": "expected_grr",
    "forecast_grr_low": "grr_low",
    "forecast_grr_high": "grr_high",
    "forecast_open_renewal_arr": "open_renewal_arr",
    "forecast_expected_churn_arr": "expected_churn_arr",
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


def headline(figures: dict[str, Any], currency: str) -> dict[str, str]:
    """The figures quoted on index.html: ARR renewing and at risk in the horizon, the GRR forecast, what to do now."""
    days = figures["horizon_days"]
    fq = figures.get("forecast_quarter")
    grr = figures.get("forecast_grr")
    return {
        f"ARR renewing (next {days} days)": fmt_money(figures["arr_renewing"], currency),
        arr_at_risk_label(days): fmt_money(figures["arr_renewing_at_risk"], currency),
        f"Forecast GRR {fq or 'next quarter'}": (
            f"{fmt_pct(grr)} ({fmt_pct(figures['forecast_grr_low'])}-{fmt_pct(figures['forecast_grr_high'])})"
            if grr is not None
            else "n/a"
        ),
        "Overdue schedule steps": f"{figures['overdue_steps']:,}" if figures["overdue_steps"] is not None else "n/a",
        "Accounts to contact now": f"{figures['accounts_act_now']:,}",
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
