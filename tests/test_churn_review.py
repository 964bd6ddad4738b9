"""Churn review, win-back and the GRR forecast on hand-made contracts (arithmetic in the comments)."""

from __future__ import annotations

import pandas as pd
import pytest

from cs_playbook.data.revenue import monthly_mrr, net_revenue_retention, quarter_bounds
from cs_playbook.errors import CsPlaybookError
from cs_playbook.renewals.calendar import lines_known_at
from cs_playbook.renewals.churn_review import (
    WinbackParams,
    churn_breakdown,
    churn_events,
    churn_trend,
    exit_quality,
    forecast_base,
    forecast_quarter,
    grr_forecast,
    reactivation_rates,
    segment_churn_risk,
    tenure_band_labels,
    winback_candidates,
)


def subs(*rows: tuple) -> pd.DataFrame:
    """Lines as (account_id, start, end or None, arr[, department])."""
    return pd.DataFrame(
        [
            {
                "subscription_id": f"S{i}",
                "account_id": r[0],
                "department": r[4] if len(r) > 4 else None,
                "product": "Platform",
                "start_date": pd.Timestamp(r[1]),
                "end_date": pd.Timestamp(r[2]) if r[2] else pd.NaT,
                "arr": float(r[3]),
                "seats": 10,
                "auto_renew": True,
                "currency": "JPY",
            }
            for i, r in enumerate(rows)
        ]
    )


ACCOUNTS = pd.DataFrame(
    {
        "account_id": ["P", "Q", "R", "S"],
        "account_name": ["株式会社P", "株式会社Q", "株式会社R", "株式会社S"],
        "segment": ["smb", "enterprise", "smb", "smb"],
        "csm": ["佐藤", None, None, "鈴木"],
    }
)
HISTORY = subs(
    ("P", "2023-01-01", "2024-12-31", 1200),  # churns: first month without MRR is 2025-01; back 2025-06
    ("P", "2025-06-01", "2026-05-31", 600),  # and churns again 2026-06
    ("Q", "2024-03-15", "2025-03-14", 2400),  # active on Feb 28, not on Mar 31: churn month 2025-03
    ("R", "2024-01-01", "2024-12-31", 360),  # churn 2025-01, reason recorded far from it
    ("S", "2022-06-01", None, 100),  # never churns
)
REASONS = pd.DataFrame(
    {
        "account_id": ["P", "Q", "R", "P"],
        "churned_at": pd.to_datetime(["2025-01-01", "2025-03-15", "2025-05-01", "2026-06-01"]),
        "reason": ["予算削減", "競合製品へ乗り換え", "機能不足", "担当者の異動"],
    }
)
END = pd.Timestamp("2026-10-31")


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return churn_events(monthly_mrr(HISTORY, end=END), ACCOUNTS, churn_reasons=REASONS, end=END)


def test_churn_events_reason_cohort_tenure_and_comeback(events: pd.DataFrame) -> None:
    e = events.set_index(["account_id", events["churn_month"].dt.strftime("%Y-%m")])
    assert sorted(e.index) == [("P", "2025-01"), ("P", "2026-06"), ("Q", "2025-03"), ("R", "2025-01")]
    p1 = e.loc[("P", "2025-01")]
    assert p1["churned_arr"] == 1200 and p1["reason"] == "予算削減" and p1["cohort"] == "2023"
    assert p1["tenure_months"] == 24 and p1["tenure_band"] == "24-36 months"  # 2023-01 to 2025-01
    assert p1["reactivated"] and p1["reactivated_month"] == pd.Timestamp("2025-06-01")
    p2 = e.loc[("P", "2026-06")]
    assert p2["reason"] == "担当者の異動" and not p2["reactivated"] and p2["churned_arr"] == 600
    q = e.loc[("Q", "2025-03")]
    # Recorded on 2025-03-15, 14 days from the churn month: matched, and churned_at is the recorded date.
    assert q["reason"] == "競合製品へ乗り換え" and q["churned_at"] == pd.Timestamp("2025-03-15")
    assert q["tenure_months"] == 12 and q["tenure_band"] == "12-24 months" and q["segment"] == "enterprise"
    r = e.loc[("R", "2025-01")]
    assert r["reason"] == "(not recorded)" and r["churned_at"] == pd.Timestamp("2025-01-01")  # 120 days off


def test_breakdown_and_reactivation(events: pd.DataFrame) -> None:
    by_reason = churn_breakdown(events, by="reason")
    assert by_reason["reason"].tolist() == ["競合製品へ乗り換え", "予算削減", "担当者の異動", "(not recorded)"]
    assert by_reason["churned_arr"].sum() == 1200 + 600 + 2400 + 360
    assert by_reason.loc[0, "arr_share"] == pytest.approx(2400 / 4560)
    seg = churn_breakdown(events, by="segment").set_index("segment")
    assert seg.loc["smb", "accounts"] == 3 and seg.loc["smb", "accounts_share"] == pytest.approx(0.75)
    with pytest.raises(CsPlaybookError, match="no column 'nope'"):
        churn_breakdown(events, by="nope")
    # Churners at least 9 months before 2026-10-31 (by 2026-01-31): P 2025-01, Q, R -> 1 of 3 came back.
    rates = reactivation_rates(events, as_of=END, wait_months=9)
    assert (rates.loc[0, "churned"], rates.loc[0, "reactivated"]) == (3, 1)
    assert rates.loc[0, "rate"] == pytest.approx(1 / 3)
    assert tenure_band_labels([12, 24]) == ["< 12 months", "12-24 months", "24+ months"]


TICKETS = pd.DataFrame(
    {
        "account_id": ["Q", "R", "P"],
        "opened_at": pd.to_datetime(["2025-01-20", "2024-01-10", "2024-01-01"]),
        "severity": ["critical", "high", "low"],
        "closed_at": pd.to_datetime(["2025-01-25", None, None]),
    }
)
SURVEYS = pd.DataFrame(
    {
        "account_id": ["P", "P", "R"],
        "responded_at": pd.to_datetime(["2024-06-01", "2026-03-01", "2024-10-01"]),
        "score": [9, 4, 8],
    }
)


def test_exit_quality_clean_and_good_history(events: pd.DataFrame) -> None:
    q = exit_quality(events, WinbackParams(), tickets=TICKETS, surveys=SURVEYS)
    q = q.set_index(["account_id", q["churn_month"].dt.strftime("%Y-%m")])
    # P 2025-01: last NPS 9 (2024-06), the low-severity ticket does not count -> clean; 24 months -> good history.
    assert q.loc[("P", "2025-01"), "clean_exit"] and q.loc[("P", "2025-01"), "good_history"]
    assert q.loc[("P", "2025-01"), "last_nps"] == 9
    # P 2026-06: last NPS 4 (a detractor) -> not clean; tenure counts from the first contract (2023-01): 41 months.
    assert not q.loc[("P", "2026-06"), "clean_exit"] and q.loc[("P", "2026-06"), "good_history"]
    assert q.loc[("P", "2026-06"), "tenure_months"] == 41
    # Q: a critical ticket 54 days before the churn -> not clean.
    assert q.loc[("Q", "2025-03"), "severe_tickets_at_exit"] == 1 and not q.loc[("Q", "2025-03"), "clean_exit"]
    # R: a high ticket opened a year earlier and still open at the churn -> not clean.
    assert q.loc[("R", "2025-01"), "severe_tickets_at_exit"] == 1 and not q.loc[("R", "2025-01"), "clean_exit"]
    no_tables = exit_quality(events, WinbackParams())
    assert no_tables["clean_exit"].all() and no_tables["last_nps"].isna().all()


def test_winback_candidates_rules() -> None:
    ev = pd.DataFrame(
        {
            "account_id": ["A", "B", "C", "D", "E", "F"],
            "churn_month": pd.to_datetime(
                ["2026-03-01", "2026-05-01", "2026-01-01", "2024-06-01", "2026-02-01", "2026-04-01"]
            ),
            "churned_at": pd.to_datetime(
                ["2026-03-01", "2026-05-01", "2026-01-01", "2024-06-01", "2026-02-01", "2026-04-01"]
            ),
            "churned_arr": [500.0, 900.0, 800.0, 700.0, 600.0, 300.0],
            "reason": ["機能不足", "予算削減", "事業縮小", "予算削減", "予算削減", "予算削減"],
            "segment": ["smb"] * 6,
            "tenure_months": [36, 24, 30, 40, 12, 26],
            "reactivated": [False, False, True, False, False, False],
            "clean_exit": [True, True, True, True, True, False],
            "good_history": [True, True, True, True, False, True],
            "last_nps": [8.0, None, 9.0, 9.0, 9.0, 3.0],
            "severe_tickets_at_exit": [0] * 6,
        }
    )
    acc = pd.DataFrame({"account_id": list("ABCDEF"), "account_name": list("ABCDEF"), "csm": [None] * 6})
    got = winback_candidates(
        ev, acc, WinbackParams(comeback_reasons=["予算削減", "事業縮小", "担当者の異動"]), as_of=END
    )
    # C came back, D left more than 24 months ago, E has a short history, F had an unclean exit.
    # B (budget cut: circumstantial) comes before A despite A's reason, then by lost ARR.
    assert got["account_id"].tolist() == ["B", "A"]
    assert got.loc[0, "comeback_reason"] and not got.loc[1, "comeback_reason"]
    assert got.loc[0, "why"] == (
        "left 2026/05/01 after 24 months (予算削減); circumstantial reason: ask again when it changes; "
        "no severe ticket at exit, no NPS answer"
    )


def test_segment_churn_rate_fallback() -> None:
    # As of 2026-10-31: accounts with ARR at the end of 2025-10, and whether they still have it at 2026-10.
    rows = [(f"s{i}", "2025-01-01", "2026-12-31" if i >= 2 else "2026-03-31", 100) for i in range(4)]  # 2 of 4 churn
    rows += [(f"e{i}", "2025-01-01", "2026-12-31" if i else "2026-05-31", 100) for i in range(3)]  # 1 of 3 churns
    rows += [("new", "2026-06-01", "2027-05-31", 100)]
    accounts = pd.DataFrame(
        {
            "account_id": [f"s{i}" for i in range(4)] + [f"e{i}" for i in range(3)] + ["new"],
            "segment": ["smb"] * 4 + ["enterprise"] * 3 + ["smb"],
        }
    )
    m = monthly_mrr(subs(*rows), end=END)
    got = segment_churn_risk(m, accounts, as_of=END, months=12, min_accounts=4).set_index("account_id")
    # smb: 2 of 4 churned = 50%; enterprise has only 3 (< 4) -> the overall 3 of 7.
    assert got.loc["s0", "churn_probability"] == pytest.approx(0.5) and got.loc["new", "churn_probability"] == 0.5
    assert got.loc["e1", "churn_probability"] == pytest.approx(3 / 7)
    assert got["health_score"].isna().all() and got.loc["s0", "scorecard"].startswith(
        "segment logo churn 2025-10 to 2026-10"
    )
    # Mid-month as-of: the last complete month is September.
    mid = segment_churn_risk(m, accounts, as_of=pd.Timestamp("2026-10-15"), months=12, min_accounts=1)
    assert mid["scorecard"].iloc[0].startswith("segment logo churn 2025-09 to 2026-09")


Q4 = subs(
    ("1", "2025-11-01", "2026-10-31", 1200),  # renews 11/01: open
    ("2", "2025-10-01", "2026-09-30", 600),  # renewed 10/01 with expansion: known, kept 600
    ("2", "2026-10-01", "2027-09-30", 900),
    ("3", "2025-10-15", "2026-10-14", 300),  # did not renew on 10/15: known churn
    ("4", "2026-01-01", "2026-12-31", 1000, "a"),  # renews 2027-01-01: after the quarter
    ("4", "2025-12-01", "2026-11-30", 500, "b"),  # renews 12/01: open
    ("5", "2026-10-10", "2027-10-09", 700),  # new in the quarter: not in the starting cohort
    ("6", "2025-11-15", "2026-11-14", 800, "c"),  # renewal already signed for 11/15
    ("6", "2026-11-15", "2027-11-14", 800, "c"),
)


def test_forecast_base_and_expected_grr() -> None:
    q0, q1 = quarter_bounds("2026Q4")
    base = forecast_base(Q4, quarter_start=q0, quarter_end=q1, as_of=pd.Timestamp("2026-10-31"))
    b = base.set_index("account_id")
    assert b.to_dict("index") == {
        "1": {"start_arr": 1200, "arr_now": 1200, "renewing_arr": 1200},
        "2": {"start_arr": 600, "arr_now": 900, "renewing_arr": 0},
        "3": {"start_arr": 300, "arr_now": 0, "renewing_arr": 0},
        "4": {"start_arr": 1500, "arr_now": 1500, "renewing_arr": 500},
        "6": {"start_arr": 800, "arr_now": 800, "renewing_arr": 0},
    }
    risk = pd.DataFrame({"account_id": ["1", "4"], "churn_probability": [0.25, 0.5]})
    f = grr_forecast(base, risk, simulations=20_000, seed=1, interval=0.9)
    # Kept if all renew: 1200 + 600 + 0 + 1500 + 800 = 4100 of 4400. Expected: account 1 keeps 0.75 x 1200 = 900,
    # account 4 keeps 0.5 x 1500 + 0.5 x 1000 = 1250 -> 900 + 600 + 0 + 1250 + 800 = 3550 -> GRR 3550 / 4400.
    # Accounts 2, 3 and 6 get the mean probability but have nothing open.
    assert f["start_arr"] == 4400 and f["accounts_start"] == 5 and f["open_renewal_accounts"] == 2
    assert f["open_renewal_arr"] == 1700 and f["expected_churn_arr"] == pytest.approx(550)
    assert f["grr_if_all_renew"] == pytest.approx(4100 / 4400) and f["expected_grr"] == pytest.approx(3550 / 4400)
    # Outcomes: both churn (p 0.125) -> 2400, only 1 (0.125) -> 2900, only 4 (0.375) -> 3600, none (0.375) -> 4100.
    assert f["grr_low"] == pytest.approx(2400 / 4400) and f["grr_high"] == pytest.approx(4100 / 4400)
    with pytest.raises(CsPlaybookError, match="not within the quarter"):
        forecast_base(Q4, quarter_start=q0, quarter_end=q1, as_of=pd.Timestamp("2026-08-31"))
    assert (
        forecast_quarter(pd.Timestamp("2026-10-31")) == "2026Q4"
        and forecast_quarter(pd.Timestamp("2026-09-30")) == "2026Q4"
    )


def test_forecast_at_the_quarter_end_equals_the_actual_grr(demo_ds) -> None:
    """On the demo company: with every renewal known, the forecast is the revenue module's GRR exactly."""
    monthly = monthly_mrr(demo_ds.subscriptions, end=demo_ds.as_of)
    actual = net_revenue_retention(monthly, freq="Q").set_index("period")["grr"]
    for q in ("2025Q4", "2026Q2"):
        q0, q1 = quarter_bounds(q)
        subs_ = lines_known_at(demo_ds.subscriptions, as_of=q1, data_as_of=demo_ds.as_of)
        base = forecast_base(subs_, quarter_start=q0, quarter_end=q1, as_of=q1)
        risk = segment_churn_risk(monthly, demo_ds.accounts, as_of=q1)
        f = grr_forecast(base, risk, simulations=200)
        assert f["open_renewal_arr"] == 0 and f["expected_grr"] == pytest.approx(actual[q], abs=1e-12)


def test_forecast_from_the_quarter_start_brackets_the_actual_grr(demo_ds) -> None:
    """Back-test on the demo company: forecasts made the day before each quarter against what happened."""
    monthly = monthly_mrr(demo_ds.subscriptions, end=demo_ds.as_of)
    trend = churn_trend(monthly, quarter="2026Q3", quarters=4).set_index("period")
    errors, inside = [], 0
    for q in trend.index:
        q0, q1 = quarter_bounds(q)
        at = q0 - pd.Timedelta(days=1)
        subs_ = lines_known_at(demo_ds.subscriptions, as_of=at, data_as_of=demo_ds.as_of)
        f = grr_forecast(
            forecast_base(subs_, quarter_start=q0, quarter_end=q1, as_of=at),
            segment_churn_risk(monthly, demo_ds.accounts, as_of=at),
        )
        assert f["open_renewal_accounts"] > 0 and f["grr_low"] <= f["expected_grr"] <= f["grr_high"]
        errors.append(abs(f["expected_grr"] - trend.loc[q, "grr"]))
        inside += f["grr_low"] - 0.005 <= trend.loc[q, "grr"] <= f["grr_high"] + 0.005
    assert sum(errors) / len(errors) < 0.03 and inside >= 3
    assert (trend["arr_churn"] == trend["churned_arr"] / trend["start_arr"]).all()
