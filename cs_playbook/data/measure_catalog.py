"""The catalogue of account measures: every measure's meaning, its readable label and the table it comes from.

`data.measures` computes them; the catalogue is data so that docs, charts and exports name them
the same way. Importable from `cs_playbook.data.measures` too.
"""

from __future__ import annotations

from cs_playbook.data.contract import BANTC_DIMENSIONS

__all__ = ["MEASURES", "MEASURE_LABELS", "TABLE_OF", "USAGE_PREFIX", "usage_measure_names", "measure_label"]

# Every column account_measures returns besides account_id and obs_date: what it means and where it comes from.
# "window" is `window_days` (default 90) days before obs_date; "month" is the last calendar month that ended
# before obs_date.
MEASURES: dict[str, str] = {
    "segment": "Account segment (accounts.segment), text.",
    "employees": "Employee count (accounts.employees).",
    "has_csm": "1 when the account has an owning CSM (accounts.csm), else 0.",
    "arr": "ARR of the contract lines active the day before obs_date (subscriptions).",
    "seats": "Seats held the day before obs_date: the largest seat total of any one product (add-ons on the same seats are not added up).",
    "products": "Distinct products held the day before obs_date.",
    "departments": "Distinct contracting departments the day before obs_date (0 for a company-wide contract).",
    "tenure_days": "Days since the account's first contract line started.",
    "days_to_renewal": "Days from obs_date to the next renewal (the day after the earliest end_date of the active lines); NaN when open-ended.",
    "auto_renew": "1 when every active line renews automatically, else 0.",
    "term_months": "Contract term of the active lines: the longest line (end_date - start_date + 1 day) in months; NaN when open-ended.",
    "events": "Usage events in the month (usage metric of kind count without event_types).",
    "active_users": "Distinct active users in the month (usage metric of kind distinct_users).",
    "active_days": "Days with any usage in the month (usage metric of kind distinct_days).",
    "feature_breadth": "Distinct event types (features) used in the month (usage metric of kind distinct_event_types).",
    "events_per_seat": "Activity per seat: events in the month / seats.",
    "events_per_active_user": "Usage intensity: events in the month / active users.",
    "active_user_share": "Seat utilization: active users in the month / seats.",
    "usage_trend_1m": "Usage trend: events in the month / events the month before - 1 (NaN when that was 0).",
    "usage_trend_3m": "Usage trend: events in the month / events three months before - 1 (NaN when that was 0).",
    "active_users_trend_3m": "Active users in the month / active users three months before - 1.",
    "days_since_last_activity": "Days from the last day with any event to obs_date; with no event yet, days since the later of contract start and the first event in the data.",
    "tickets": "Support tickets opened in the window.",
    "severe_tickets": "Tickets of severity high or critical opened in the window.",
    "severe_ticket_share": "severe_tickets / tickets (NaN without tickets).",
    "open_tickets": "Tickets opened before obs_date and not closed before it.",
    "nps_score": "Latest NPS answer (0-10) before obs_date, within nps_max_age_days (default 365).",
    "nps_age_days": "Age in days of that answer.",
    "touchpoints": "CSM activities of any type in the window (activities).",
    "meetings": "Meetings (meeting, qbr, ebr, onboarding) in the window.",
    "renewal_steps": "Renewal-schedule steps (power_map ... upsell_proposal) done in the window.",
    "champion": "1 when the latest stakeholder snapshot (within stakeholder_max_age_days, default 365) has a champion.",
    "exec_access": "1 when that snapshot has direct access to the decision maker.",
    "success_plan": "1 when that snapshot has an agreed success plan.",
    "champion_lost": "1 when the latest snapshot has no champion but the one before it had.",
    "stakeholder_age_days": "Age in days of the latest stakeholder snapshot.",
    "bantc_budget_risk": "1 when the latest BANTC assessment (within bantc_max_age_days, default 180) marks budget at risk.",
    "bantc_authority_risk": "1 when it marks authority at risk.",
    "bantc_need_risk": "1 when it marks need at risk.",
    "bantc_timeframe_risk": "1 when it marks timeframe at risk.",
    "bantc_competitor_risk": "1 when it marks a competitor risk.",
    "bantc_risk_count": "Number of BANTC dimensions at risk (0-5).",
    "bantc_unknown_count": "Number of BANTC dimensions answered unknown.",
    "bantc_age_days": "Age in days of that assessment.",
}

# Short readable names for charts and CSM exports.
MEASURE_LABELS: dict[str, str] = {
    "segment": "Segment",
    "employees": "Employees",
    "has_csm": "Has a CSM",
    "arr": "ARR",
    "seats": "Seats",
    "products": "Products held",
    "departments": "Departments contracted",
    "tenure_days": "Tenure (days)",
    "days_to_renewal": "Days to renewal",
    "auto_renew": "Auto-renews",
    "term_months": "Contract term (months)",
    "events": "Events last month",
    "active_users": "Active users last month",
    "active_days": "Active days last month",
    "feature_breadth": "Feature breadth",
    "events_per_seat": "Activity per seat",
    "events_per_active_user": "Events per active user",
    "active_user_share": "Seat utilization",
    "usage_trend_1m": "Usage trend (1 month)",
    "usage_trend_3m": "Usage trend (3 months)",
    "active_users_trend_3m": "Active-user trend (3 months)",
    "days_since_last_activity": "Days since last activity",
    "tickets": "Support tickets (90 days)",
    "severe_tickets": "High/critical tickets (90 days)",
    "severe_ticket_share": "High/critical ticket share",
    "open_tickets": "Open tickets",
    "nps_score": "Latest NPS",
    "nps_age_days": "NPS answer age (days)",
    "touchpoints": "CSM touchpoints (90 days)",
    "meetings": "Meetings (90 days)",
    "renewal_steps": "Renewal steps done (90 days)",
    "champion": "Champion",
    "exec_access": "Executive access",
    "success_plan": "Success plan",
    "champion_lost": "Champion lost",
    "stakeholder_age_days": "Stakeholder record age (days)",
    "bantc_budget_risk": "BANTC budget risk",
    "bantc_authority_risk": "BANTC authority risk",
    "bantc_need_risk": "BANTC need risk",
    "bantc_timeframe_risk": "BANTC timeframe risk",
    "bantc_competitor_risk": "BANTC competitor risk",
    "bantc_risk_count": "BANTC risks",
    "bantc_unknown_count": "BANTC unknowns",
    "bantc_age_days": "BANTC assessment age (days)",
}

# The measures each source table feeds (NaN when the optional table is absent).
TABLE_OF: dict[str, tuple[str, ...]] = {
    "tickets": ("tickets", "severe_tickets", "severe_ticket_share", "open_tickets"),
    "surveys": ("nps_score", "nps_age_days"),
    "activities": ("touchpoints", "meetings", "renewal_steps"),
    "stakeholders": ("champion", "exec_access", "success_plan", "champion_lost", "stakeholder_age_days"),
    "bantc": tuple(f"bantc_{d}_risk" for d in BANTC_DIMENSIONS)
    + ("bantc_risk_count", "bantc_unknown_count", "bantc_age_days"),
    "events": (
        "events",
        "active_users",
        "active_days",
        "feature_breadth",
        "events_per_seat",
        "events_per_active_user",
        "active_user_share",
        "usage_trend_1m",
        "usage_trend_3m",
        "active_users_trend_3m",
        "days_since_last_activity",
    ),
}

# Usage-metric measures (any metric of params/usage_metrics.yaml and every events_<type> count) are named
# usage_<metric> (its value in the month) or, for counts, usage_<metric>_per_user (per active user) and
# usage_<metric>_per_seat (per seat held); account_measures adds them after the MEASURES columns.
USAGE_PREFIX = "usage_"


def usage_measure_names(metric: str, *, count: bool) -> list[str]:
    """The measure columns made from one usage metric: per active user and per seat for counts, else its value."""
    if count:
        return [f"{USAGE_PREFIX}{metric}_per_user", f"{USAGE_PREFIX}{metric}_per_seat"]
    return [f"{USAGE_PREFIX}{metric}"]


def measure_label(name: str) -> str:
    """The readable label of a measure, usage-metric measures included (e.g. "events_export per active user")."""
    if name in MEASURE_LABELS:
        return MEASURE_LABELS[name]
    if name.startswith(USAGE_PREFIX):
        base = name[len(USAGE_PREFIX) :]
        for suffix, words in (("_per_user", " per active user"), ("_per_seat", " per seat")):
            if base.endswith(suffix):
                return base[: -len(suffix)] + words
        return base
    return name
