"""Churn dates and outcomes against hand-made contract histories."""

from __future__ import annotations

import pandas as pd

from cs_playbook.health.outcomes import churn_dates, churn_outcomes

T = pd.Timestamp


def _subs() -> pd.DataFrame:
    rows = [
        ("A", "2024-01-01", "2024-12-31", 1200.0),
        ("A", "2025-01-01", "2025-12-31", 600.0),  # renewed smaller: contraction
        ("B", "2024-02-15", "2025-02-14", 900.0),  # not renewed: churn 2025-02-15
        ("C", "2024-01-01", "2024-06-30", 500.0),  # churn 2024-07-01 ...
        ("C", "2024-09-01", "2025-08-31", 400.0),  # ... back in September: churns again 2025-09-01
    ]
    df = pd.DataFrame(rows, columns=["account_id", "start_date", "end_date", "arr"])
    df["start_date"], df["end_date"] = pd.to_datetime(df["start_date"]), pd.to_datetime(df["end_date"])
    df["subscription_id"] = [f"S{i}" for i in range(len(df))]
    df["department"], df["product"], df["seats"], df["auto_renew"] = None, "Platform", 10.0, True
    return df


def test_churn_dates_are_the_days_after_coverage_ends() -> None:
    got = churn_dates(_subs(), as_of=T("2025-06-30"))
    assert list(zip(got["account_id"], got["churn_date"], strict=True)) == [
        ("B", T("2025-02-15")),
        ("C", T("2024-07-01")),
    ]  # A renews without a gap; C's second churn is after the as-of date


def test_outcome_by_next_renewal() -> None:
    obs = pd.DataFrame(
        {
            "account_id": ["A", "B", "C", "A", "C"],
            "obs_date": [T("2024-05-01")] * 3 + [T("2025-03-01"), T("2024-08-01")],
        }
    )
    y = churn_outcomes(_subs(), obs, as_of=T("2025-06-30"))
    assert y["window_end"].tolist()[:3] == [T("2025-01-01"), T("2025-02-15"), T("2024-07-01")]
    assert y["observed"].tolist() == [True, True, True, False, False]  # A's 2025 term is still running; C was gone
    assert y["churned"].tolist()[:3] == [0.0, 1.0, 1.0] and y["churned"].iloc[3:].isna().all()
    assert y["arr"].tolist()[:3] == [1200.0, 900.0, 500.0]
    assert y["arr_lost"].tolist()[:3] == [600.0, 900.0, 500.0]  # A kept 600 of 1200


def test_outcome_within_a_horizon() -> None:
    obs = pd.DataFrame({"account_id": ["A", "B", "C"], "obs_date": [T("2024-05-01")] * 3})
    y = churn_outcomes(_subs(), obs, as_of=T("2025-06-30"), window="horizon", horizon_months=3)
    assert y["window_end"].tolist() == [T("2024-07-31")] * 3
    assert y["churned"].tolist() == [0.0, 0.0, 1.0]  # only C churns by July 31
