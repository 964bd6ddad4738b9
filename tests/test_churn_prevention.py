"""Churn-prevention priorities and data hygiene on hand-made accounts (arithmetic in the comments).

As of Fri 2026-11-20 on the JP calendar (11/23 勤労感謝の日 is a holiday): the next business days are
11/24 (1), 11/25 (2), 11/26 (3), 11/27 (4), 11/30 (5), 12/1 (6), 12/2 (7), 12/3 (8), 12/4 (9), 12/7 (10),
12/8 (11), 12/9 (12), 12/10 (13), 12/11 (14), 12/14 (15).
"""

from __future__ import annotations

import pandas as pd
import pytest

from cs_playbook.errors import CsPlaybookError
from cs_playbook.renewals.business_days import CalendarParams, business_calendar
from cs_playbook.renewals.prevention import (
    PriorityParams,
    account_tenure,
    notes_missing_by_account,
    prioritise,
    priority_export,
    renewal_accounts,
    risk_by_tier,
    stakeholder_freshness,
)

AS_OF = pd.Timestamp("2026-11-20")
CAL = business_calendar(CalendarParams(country="JP"), years=(2025, 2027))
P = PriorityParams()  # handling from 30%, now within 15 business days, fit floor 0.5, tenure weight 0.5, 3 years


def renewing(*rows: tuple) -> pd.DataFrame:
    """Accounts as (account_id, arr_renewing, tenure_years, business_days_to_deadline, decision_deadline)."""
    df = pd.DataFrame(rows, columns=["account_id", "arr_renewing", "tenure_years", "business_days_to_deadline", "dl"])
    return df.assign(
        account_name=lambda d: "株式会社" + d["account_id"], decision_deadline=pd.to_datetime(df["dl"])
    ).drop(columns="dl")


def risk(**p: tuple[float, float]) -> pd.DataFrame:
    """account -> (churn_probability, health_score)."""
    return pd.DataFrame(
        {
            "account_id": list(p),
            "churn_probability": [v[0] for v in p.values()],
            "health_score": [v[1] for v in p.values()],
            "health_tier": ["NORMAL"] * len(p),
        }
    )


def test_priority_is_arr_at_risk_weighted_by_fit() -> None:
    acc = renewing(
        ("X", 10_000_000, 5.0, 20, "2026-12-18"),
        ("Y", 4_000_000, 0.5, 20, "2026-12-18"),
        ("Z", 10_000_000, 0.3, 20, "2026-12-18"),
    )
    got = prioritise(acc, risk(X=(0.1, 80), Y=(0.4, 20), Z=(0.1, 10)), CAL, P, as_of=AS_OF).set_index("account_id")
    # ARR at risk: X 1.0M, Y 1.6M, Z 1.0M. Health percentiles: Z 1/3, Y 2/3, X 1.
    # fit X = 0.5 x min(5/3, 1) + 0.5 x 1 = 1; Y = 0.5 x 0.5/3 + 0.5 x 2/3 = 0.41667; Z = 0.5 x 0.1 + 0.5 x 1/3 = 0.21667
    # score = at risk x (0.5 + 0.5 fit): X 1.0M, Y 1.6M x 0.70833 = 1.13333M, Z 1.0M x 0.60833 = 0.60833M
    assert got["fit"].to_dict() == pytest.approx({"Y": 5 / 12, "X": 1.0, "Z": 13 / 60})
    assert got["priority_score"].to_dict() == pytest.approx({"Y": 1_133_333.33, "X": 1_000_000, "Z": 608_333.33})
    assert list(got.index) == ["Y", "X", "Z"] and got["rank"].tolist() == [1, 2, 3]
    # Same ARR at risk (X, Z): the better product fit (long tenure, healthy) comes first.
    assert got.loc["X", "rank"] < got.loc["Z", "rank"]


def test_mrr_first_when_fit_is_ignored() -> None:
    acc = renewing(("big", 9_000_000, 0.1, 20, "2026-12-18"), ("small", 1_000_000, 9.0, 20, "2026-12-18"))
    got = prioritise(
        acc, risk(big=(0.2, 10), small=(0.2, 90)), CAL, PriorityParams(fit_floor=1.0), as_of=AS_OF
    ).set_index("account_id")
    assert list(got.index) == ["big", "small"]
    assert got["priority_score"].to_dict() == pytest.approx({"big": 1_800_000, "small": 200_000})


def test_mode_and_when_to_act() -> None:
    acc = renewing(
        ("handle", 1_000_000, 1.0, 20, "2026-12-18"),  # probability 40%: handling, now
        ("bantc", 1_000_000, 1.0, 20, "2026-12-18"),  # 10% but need lost: handling, now
        ("close", 1_000_000, 1.0, 3, "2026-11-26"),  # 10%, deadline in 3 business days: prevention, now
        ("later", 1_000_000, 1.0, 20, "2026-12-18"),  # 10%, deadline far: prevention, in 2-3 weeks
        ("passed", 1_000_000, 1.0, -2, "2026-11-18"),  # 10%, deadline passed: decided, follow up later
    ).assign(bantc_act=[False, True, False, False, False], bantc_need_lost=[False, True, False, False, False])
    r = risk(handle=(0.4, 50), bantc=(0.1, 50), close=(0.1, 50), later=(0.1, 50), passed=(0.1, 50))
    got = prioritise(acc, r, CAL, P, as_of=AS_OF).set_index("account_id")
    assert got["mode"].to_dict() == {
        "handle": "handling",
        "bantc": "handling",
        "close": "prevention",
        "later": "prevention",
        "passed": "prevention",
    }
    assert got["act_when"].to_dict() == {
        "handle": "now",
        "bantc": "now",
        "close": "now",
        "later": "in 2-3 weeks",
        "passed": "in 2-3 weeks",
    }
    # Now: from the next business day (Tue 11/24) to the 5th (11/30), or the deadline when sooner (11/26).
    assert (got.loc["handle", "act_from"], got.loc["handle", "act_by"]) == (
        pd.Timestamp("2026-11-24"),
        pd.Timestamp("2026-11-30"),
    )
    assert got.loc["close", "act_by"] == pd.Timestamp("2026-11-26")
    # In 2-3 weeks: the 10th to the 15th business day after the as-of date, 12/7 to 12/14.
    assert (got.loc["later", "act_from"], got.loc["later", "act_by"]) == (
        pd.Timestamp("2026-12-07"),
        pd.Timestamp("2026-12-14"),
    )
    assert got.loc["handle", "why"].startswith("persuade to stay (handling): churn probability 40% (health NORMAL)")
    assert "BANTC: need at risk" in got.loc["bantc", "why"]
    assert "decision deadline 2026/11/26(木) in 3 business days" in got.loc["close", "why"]
    assert "decision deadline passed 2026/11/18(水): check for a cancellation notice" in got.loc["passed", "why"]
    assert got.loc["later", "why"].startswith("deepen use before the renewal (prevention)")


def test_unscored_accounts_and_a_risk_frame_without_probabilities() -> None:
    acc = renewing(("A", 1_000_000, 1.0, 20, "2026-12-18"), ("new", 2_000_000, 0.1, 20, "2026-12-18"))
    got = prioritise(acc, risk(A=(0.2, 50), B=(0.4, 40)), CAL, P, as_of=AS_OF).set_index("account_id")
    assert got.loc["new", "churn_probability"] == pytest.approx(0.3)  # mean of the scored accounts
    assert got.loc["new", "probability_source"].startswith("imputed")
    with pytest.raises(CsPlaybookError, match="churn_probability"):
        prioritise(acc, pd.DataFrame({"account_id": ["A"], "health_score": [1.0]}), CAL, P, as_of=AS_OF)


def test_fit_uses_tenure_only_without_a_health_score() -> None:
    acc = renewing(("A", 1_000_000, 1.5, 20, "2026-12-18"))
    r = pd.DataFrame({"account_id": ["A"], "churn_probability": [0.1], "health_score": [float("nan")]})
    got = prioritise(acc, r, CAL, P, as_of=AS_OF).iloc[0]
    assert got["fit"] == pytest.approx(0.5)  # 1.5 of 3 years
    assert got["priority_score"] == pytest.approx(100_000 * 0.75)


def test_params_timing_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="follow_up_business_days"):
        PriorityParams(follow_up_business_days=(15, 10))
    with pytest.raises(ValueError, match="follow_up_business_days"):
        PriorityParams(act_now_business_days=5)


def test_stakeholder_records_older_than_a_year() -> None:
    st = pd.DataFrame(
        {
            "account_id": ["A", "A", "B", "C"],
            "as_of": pd.to_datetime(["2025-06-30", "2025-11-20", "2025-11-19", "2026-12-31"]),
            "champion": [True, False, True, True],
            "exec_access": [True, True, False, True],
            "success_plan": [True] * 4,
        }
    )
    got = stakeholder_freshness(["A", "B", "C", "D"], st, as_of=AS_OF, max_age_days=365).set_index("account_id")
    # A: latest 2025-11-20 is 365 days old (not stale); B: 366 days (stale); C: only a future snapshot; D: none.
    assert got["stakeholders_age_days"].to_dict() == pytest.approx(
        {"A": 365, "B": 366, "C": float("nan"), "D": float("nan")}, nan_ok=True
    )
    assert got["stakeholders_stale"].to_dict() == {"A": False, "B": True, "C": True, "D": True}
    assert not got.loc["A", "champion"] and not got.loc["B", "exec_access"]


def test_meetings_without_notes_per_account() -> None:
    acts = pd.DataFrame(
        {
            "account_id": ["A", "A", "A", "A", "B", "B"],
            "occurred_at": pd.to_datetime(
                ["2026-11-19", "2026-11-10", "2025-10-01", "2026-11-12", "2026-11-01", "2026-11-02"]
            ),
            "activity_type": ["meeting", "qbr", "meeting", "email", "meeting", "meeting"],
            "notes_logged": [False, False, False, False, True, False],
        }
    )
    got = notes_missing_by_account(acts, as_of=AS_OF, grace_days=2, lookback_days=365).set_index("account_id")
    # A: 11/19 is within the 2-day grace, 2025-10-01 is older than a year, the email is not a meeting -> 1 (the QBR).
    assert got["meetings_without_notes"].to_dict() == {"A": 1, "B": 1}
    assert got.loc["B", "last_meeting_without_notes"] == pd.Timestamp("2026-11-02")


def test_renewal_accounts_and_export() -> None:
    calendar = pd.DataFrame(
        {
            "account_id": ["A", "A", "B"],
            "account_name": ["株式会社A", "株式会社A", "株式会社B"],
            "segment": ["enterprise", "enterprise", "smb"],
            "csm": ["佐藤", "佐藤", None],
            "department": ["営業部", "人事部", ""],
            "renewal_date": pd.to_datetime(["2027-01-01", "2027-02-01", "2026-12-01"]),
            "decision_deadline": pd.to_datetime(["2026-12-01", "2026-12-28", "2026-10-30"]),
            "business_days_to_deadline": [6, 22, -15],
            "arr": [1000.0, 500.0, 300.0],
            "auto_renew": [True, False, True],
        }
    )
    subs = pd.DataFrame(
        {"account_id": ["A", "B"], "start_date": pd.to_datetime(["2023-11-20", "2026-12-01"])}
    )  # B starts after the as-of date: no tenure yet
    acc = renewal_accounts(calendar, tenure=account_tenure(subs, as_of=AS_OF)).set_index("account_id")
    assert acc.loc["A", "arr_renewing"] == 1500 and acc.loc["A", "departments"] == 2 and not acc.loc["A", "auto_renew"]
    assert acc.loc["A", "renewal_date"] == pd.Timestamp("2027-01-01")  # the first renewal and its deadline
    assert acc.loc["A", "decision_deadline"] == pd.Timestamp("2026-12-01")
    assert acc.loc["A", "tenure_years"] == pytest.approx(
        3 * 365 / 365.25 + 1 / 365.25
    )  # 2023-11-20 .. 2026-11-20: 1096 days
    pr = prioritise(acc.reset_index(), risk(A=(0.1, 50), B=(0.1, 50)), CAL, P, as_of=AS_OF)
    out = priority_export(pr)
    # A: deadline in 6 business days -> now, from the next business day (Tue 11/24).
    assert out.loc[0, "renewal_date"] == "2027/01/01" and out.loc[0, "act_from"] == "2026/11/24"
    assert list(out.columns[:3]) == ["rank", "account_id", "account_name"]


def test_risk_by_tier() -> None:
    pr = pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "d"],
            "health_tier": ["BAD", "GOOD", "BAD", None],
            "arr_renewing": [100.0, 1000.0, 300.0, 50.0],
            "churn_probability": [0.5, 0.02, 0.3, 0.2],
        }
    ).assign(arr_renewing_at_risk=lambda d: d["arr_renewing"] * d["churn_probability"])
    got = risk_by_tier(pr).set_index("health_tier")
    # BAD: 50 + 90 = 140 at risk of 400; GOOD: 20; not scored: 10 -> shares of 170.
    assert list(got.index) == ["BAD", "GOOD", "(not scored)"]
    assert got.loc["BAD", "arr_renewing_at_risk"] == pytest.approx(140) and got.loc["BAD", "accounts"] == 2
    assert got.loc["BAD", "mean_probability"] == pytest.approx(0.4)
    assert got["share_of_risk"].to_dict() == pytest.approx(
        {"BAD": 140 / 170, "GOOD": 20 / 170, "(not scored)": 10 / 170}
    )


def test_fit_averages_the_health_history() -> None:
    acc = renewing(("steady", 1_000_000, 0.0, 20, "2026-12-18"), ("recent", 1_000_000, 0.0, 20, "2026-12-18"))
    now = risk(steady=(0.1, 60), recent=(0.1, 80))
    before = risk(steady=(0.1, 70), recent=(0.1, 10))
    got = prioritise(acc, now, CAL, P, as_of=AS_OF, risk_history=[before]).set_index("account_id")
    # Percentiles now: steady 0.5, recent 1; six months ago: steady 1, recent 0.5 -> both 0.75; no tenure.
    assert got["fit"].to_dict() == pytest.approx({"steady": 0.375, "recent": 0.375})
    alone = prioritise(acc, now, CAL, P, as_of=AS_OF).set_index("account_id")
    assert alone.loc["recent", "fit"] > alone.loc["steady", "fit"]
    # An account not scored back then uses the periods it was scored in.
    partial = prioritise(acc, now, CAL, P, as_of=AS_OF, risk_history=[before.iloc[:1]]).set_index("account_id")
    assert partial.loc["recent", "fit"] == pytest.approx(0.5 * 1.0)


def test_past_risk_at_the_as_of_date_is_the_state_risk(demo_ds, quarter_state) -> None:
    """The scorer in use, scoring the state's own date again, gives the state's probabilities and tier codes."""
    from cs_playbook.health.calibration import HealthParams
    from cs_playbook.params import UsageParams, load_params, params_dir
    from cs_playbook.renewals.prevention import past_risk

    hp = load_params("health_score", HealthParams, directory=params_dir(None))
    up = load_params("usage_metrics", UsageParams, directory=params_dir(None)) if demo_ds.has("events") else None
    got = past_risk(demo_ds, hp, quarter_state.scorer, quarter_state.as_of, usage_params=up).set_index("account_id")
    want = quarter_state.risk.set_index("account_id")
    assert list(got.index) == list(want.index)
    assert got["churn_probability"].to_numpy() == pytest.approx(want["churn_probability"].to_numpy())
    assert (got["health_tier"].astype("string") == want["health_tier"].astype("string")).all()
    assert set(want["health_tier"].dropna()) <= {"good", "normal", "bad"}


def test_churn_risk_uses_the_scoring_function_it_is_given(demo_ds, quarter_state) -> None:
    from cs_playbook.data.revenue import monthly_mrr
    from cs_playbook.renewals.prevention import churn_risk, risk_history

    seen = []

    def score(day: pd.Timestamp) -> pd.DataFrame:
        seen.append(day)
        return quarter_state.risk

    monthly = monthly_mrr(demo_ds.subscriptions)
    risk, note = churn_risk(score, monthly, demo_ds.accounts, as_of=quarter_state.as_of)
    assert note is None and risk.equals(quarter_state.risk) and seen == [quarter_state.as_of]
    frames, notes = risk_history(score, monthly, demo_ds.accounts, as_of=quarter_state.as_of, months_ago=[6, 3])
    assert len(frames) == 2 and not notes
    assert seen[1:] == [quarter_state.as_of - pd.DateOffset(months=m) for m in (6, 3)]


def test_churn_risk_falls_back_to_segment_churn_and_says_so(demo_ds) -> None:
    from cs_playbook.data.revenue import monthly_mrr
    from cs_playbook.errors import ParamsError
    from cs_playbook.renewals.prevention import churn_risk

    monthly = monthly_mrr(demo_ds.subscriptions)

    def cannot_score(day: pd.Timestamp) -> pd.DataFrame:
        raise CsPlaybookError("no churn in the history")

    risk, note = churn_risk(cannot_score, monthly, demo_ds.accounts, as_of=demo_ds.as_of, fallback_months=12)
    assert "no churn in the history" in note and "trailing 12 months" in note
    assert risk["health_score"].isna().all() and risk["churn_probability"].between(0, 1).all()

    def bad_params(day: pd.Timestamp) -> pd.DataFrame:
        raise ParamsError("params/health_score.yaml: invalid parameters")

    with pytest.raises(ParamsError):  # a typo in params is the analyst's to fix, not a reason to fall back
        churn_risk(bad_params, monthly, demo_ds.accounts, as_of=demo_ds.as_of)


def test_risk_by_tier_keeps_codes_and_names_the_unscored() -> None:
    pr = pd.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "health_tier": pd.Series(["bad", "good", pd.NA], dtype="string"),
            "arr_renewing": [100.0, 100.0, 50.0],
            "churn_probability": [0.5, 0.1, 0.2],
        }
    ).assign(arr_renewing_at_risk=lambda d: d["arr_renewing"] * d["churn_probability"])
    got = risk_by_tier(pr).set_index("health_tier")
    assert set(got.index) == {"bad", "good", "(not scored)"}
    assert got.loc["(not scored)", "arr_renewing_at_risk"] == pytest.approx(10)


def test_hygiene_gaps_and_figures() -> None:
    from cs_playbook.renewals.prevention import hygiene_figures, hygiene_gaps

    pr = pd.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "account_name": ["A", "B", "C"],
            "csm": ["x", "x", "y"],
            "renewal_date": pd.to_datetime(["2026-12-01"] * 3),
            "arr_renewing": [10.0, 30.0, 20.0],
            "meetings_without_notes": [0, 2, 0],
            "stakeholders_stale": [False, False, True],
        }
    )
    assert list(hygiene_gaps(pr)["account_id"]) == ["b", "c"]
    f = hygiene_figures(pr)
    assert f["meetings_without_notes"] == 2 and f["accounts_stakeholders_stale"] == 1
    assert hygiene_figures(pr.drop(columns="stakeholders_stale"))["accounts_stakeholders_stale"] is None
