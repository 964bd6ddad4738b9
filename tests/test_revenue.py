"""Revenue metrics against hand-computed cases (arithmetic in the comments)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cs_playbook.data.revenue import (
    arr_by,
    cohort_retention,
    last_complete_quarter,
    monthly_mrr,
    movement_summary,
    mrr_movements,
    net_revenue_retention,
    quarter_bounds,
)
from cs_playbook.errors import CsPlaybookError, ParamsError


def subs(*rows: tuple) -> pd.DataFrame:
    """Lines as (account_id, start, end or None, arr[, department, product])."""
    out = []
    for i, r in enumerate(rows):
        acc, start, end, arr = r[:4]
        dept = r[4] if len(r) > 4 else None
        prod = r[5] if len(r) > 5 else "Platform"
        out.append(
            {
                "subscription_id": f"S{i}",
                "account_id": acc,
                "department": dept,
                "product": prod,
                "start_date": pd.Timestamp(start),
                "end_date": pd.Timestamp(end) if end else pd.NaT,
                "arr": float(arr),
                "seats": 10.0,
                "auto_renew": True,
                "currency": "JPY",
            }
        )
    return pd.DataFrame(out)


def mrr_of(monthly: pd.DataFrame, account: str) -> dict[str, float]:
    m = monthly[monthly["account_id"] == account]
    return dict(zip(m["month"].dt.strftime("%Y-%m"), m["mrr"], strict=True))


def moves_of(moves: pd.DataFrame, account: str) -> dict[str, str]:
    m = moves[moves["account_id"] == account]
    return dict(zip(m["month"].dt.strftime("%Y-%m"), m["movement"], strict=True))


def test_annual_line_counts_twelve_month_ends() -> None:
    # 2024-04-01..2025-03-31 is active on the last day of April 2024 .. March 2025: 12 months, MRR 1200/12 = 100.
    m = monthly_mrr(subs(("A", "2024-04-01", "2025-03-31", 1200)), end=pd.Timestamp("2025-06-30"))
    got = mrr_of(m, "A")
    assert list(got) == [
        f"{y}-{mo:02d}" for y, mo in [(2024, i) for i in range(4, 13)] + [(2025, i) for i in range(1, 4)]
    ]
    assert set(got.values()) == {100.0}


def test_mid_month_start_and_end() -> None:
    # Starts 2024-04-15: active on Apr 30 -> counts in April. Ends 2024-06-14: not active on Jun 30 -> last month May.
    m = monthly_mrr(subs(("A", "2024-04-15", "2024-06-14", 1200)))
    assert mrr_of(m, "A") == {"2024-04": 100.0, "2024-05": 100.0}


def test_contract_ending_on_last_day_then_renewal_has_no_churn_blip() -> None:
    # Ends 2024-06-30 (last day: counts in June); renewal starts 2024-07-01 with ARR 2400 -> expansion in July.
    s = subs(("A", "2024-01-01", "2024-06-30", 1200), ("A", "2024-07-01", "2025-06-30", 2400))
    moves = mrr_movements(monthly_mrr(s), end=pd.Timestamp("2024-09-01"))
    got = moves_of(moves, "A")
    assert got["2024-01"] == "new" and got["2024-06"] == "flat" and got["2024-07"] == "expansion"
    assert "churn" not in got.values()
    assert moves.loc[moves["month"] == "2024-07-01", "delta"].item() == 100.0  # 200 - 100


def test_new_expansion_contraction_churn_sequence() -> None:
    # Jan-Feb 100; Mar-Apr 150 (+ add-on 600/12=50); May 120 (add-on replaced by 240/12=20); churn in June.
    s = subs(
        ("A", "2024-01-01", "2024-05-31", 1200),
        ("A", "2024-03-01", "2024-04-30", 600, None, "Analytics"),
        ("A", "2024-05-01", "2024-05-31", 240, None, "Analytics"),
    )
    moves = mrr_movements(monthly_mrr(s), end=pd.Timestamp("2024-07-01"))
    assert moves_of(moves, "A") == {
        "2024-01": "new",
        "2024-02": "flat",
        "2024-03": "expansion",
        "2024-04": "flat",
        "2024-05": "contraction",
        "2024-06": "churn",
    }
    churn = moves[moves["movement"] == "churn"].iloc[0]
    assert churn["mrr_prev"] == 120.0 and churn["delta"] == -120.0  # MRR lost = last month's MRR
    assert len(moves) == 6  # July: inactive before and after -> no row


def test_reactivation_is_not_new() -> None:
    # Active Jan-Mar, nothing Apr-May, back in June with ARR 2400.
    s = subs(("A", "2024-01-01", "2024-03-31", 1200), ("A", "2024-06-01", "2024-12-31", 2400))
    got = moves_of(mrr_movements(monthly_mrr(s), end=pd.Timestamp("2024-07-01")), "A")
    assert got["2024-04"] == "churn" and "2024-05" not in got and got["2024-06"] == "reactivation"
    assert list(got.values()).count("new") == 1


def test_departments_and_products_sum_and_losing_one_department_is_contraction() -> None:
    # 営業部 1200 + 人事部 600 + add-on 1200 -> MRR (1200+600+1200)/12 = 250 in Jan-Mar; 人事部 ends 2024-03-31 -> 200 in April.
    s = subs(
        ("A", "2024-01-01", "2024-12-31", 1200, "営業部"),
        ("A", "2024-01-01", "2024-03-31", 600, "人事部"),
        ("A", "2024-01-01", "2024-12-31", 1200, "営業部", "Analytics"),
    )
    m = monthly_mrr(s, end=pd.Timestamp("2024-04-30"))
    assert mrr_of(m, "A") == {"2024-01": 250.0, "2024-02": 250.0, "2024-03": 250.0, "2024-04": 200.0}
    assert m.loc[m["month"] == "2024-01-01", "lines"].item() == 3
    assert moves_of(mrr_movements(m), "A")["2024-04"] == "contraction"


def test_open_ended_line_runs_to_the_horizon() -> None:
    m = monthly_mrr(subs(("A", "2024-11-10", None, 120)), end=pd.Timestamp("2025-02-15"))
    assert mrr_of(m, "A") == {"2024-11": 10.0, "2024-12": 10.0, "2025-01": 10.0, "2025-02": 10.0}


def three_accounts() -> pd.DataFrame:
    # Snapshot Mar 2024 (before Q2): A 1200, B 2400, C 1200 -> start ARR 4800.
    # End of Q2 (Jun): A expands to 2400 (+1200), B contracts to 1800 (-600), C churns in May (-1200).
    # D starts in May: not in the cohort.
    return subs(
        ("A", "2024-01-01", "2024-04-30", 1200),
        ("A", "2024-05-01", "2025-04-30", 2400),
        ("B", "2024-01-01", "2024-05-31", 2400),
        ("B", "2024-06-01", "2025-05-31", 1800),
        ("C", "2024-01-01", "2024-04-30", 1200),
        ("D", "2024-05-01", "2025-04-30", 9999),
    )


def test_nrr_grr_and_logo_churn_by_hand() -> None:
    nrr = net_revenue_retention(monthly_mrr(three_accounts(), end=pd.Timestamp("2024-06-30"))).set_index("period")
    q2 = nrr.loc["2024Q2"]
    assert q2["start_arr"] == 4800 and q2["end_arr"] == 4200  # 2400 + 1800 + 0
    assert q2["nrr"] == pytest.approx(4200 / 4800)  # 87.5%
    assert q2["grr"] == pytest.approx((1200 + 1800 + 0) / 4800)  # min(start, end) per account = 62.5%
    assert q2["grr"] <= q2["nrr"] <= 1
    assert q2["logo_churn"] == pytest.approx(1 / 3)
    assert (q2["expansion_arr"], q2["contraction_arr"], q2["churned_arr"]) == (1200, 600, 1200)
    assert q2["start_arr"] + q2["expansion_arr"] - q2["contraction_arr"] - q2["churned_arr"] == q2["end_arr"]
    assert q2["period_start"] == pd.Timestamp("2024-04-01") and q2["period_end"] == pd.Timestamp("2024-06-30")
    assert "2024Q1" not in nrr.index  # its snapshot (Dec 2023) is before the data


def test_trailing_twelve_months() -> None:
    # A: 1200 from 2023-01 on, 1800 from 2024-01 -> T12M at 2024-03 vs 2023-03: 1800/1200 = 150%.
    # B: 1200 for 2023 only, churned in 2024 -> NRR (1800 + 0) / 2400 = 75%, GRR (1200 + 0) / 2400 = 50%.
    s = subs(
        ("A", "2023-01-01", "2023-12-31", 1200),
        ("A", "2024-01-01", "2024-12-31", 1800),
        ("B", "2023-01-01", "2023-12-31", 1200),
    )
    t = net_revenue_retention(monthly_mrr(s, end=pd.Timestamp("2024-03-31")), window_months=12).set_index("period")
    assert list(t.index) == ["2024Q1"]
    assert t.loc["2024Q1", "nrr"] == pytest.approx(0.75) and t.loc["2024Q1", "grr"] == pytest.approx(0.5)
    assert t.loc["2024Q1", "logo_churn"] == 0.5


def test_cohort_retention_two_cohorts() -> None:
    # Cohort 2024Q1: A (1200) and B (1200) -> base 2400; B churns after June, A doubles in Q3.
    # Cohort 2024Q2: C starts in May.
    s = subs(
        ("A", "2024-01-01", "2024-06-30", 1200),
        ("A", "2024-07-01", "2025-06-30", 2400),
        ("B", "2024-02-01", "2024-06-30", 1200),
        ("C", "2024-05-01", "2025-04-30", 600),
    )
    c = cohort_retention(monthly_mrr(s, end=pd.Timestamp("2024-09-30")))
    q1 = c[c["cohort"] == "2024Q1"].set_index("periods_since_start")
    assert q1.loc[0, "logo_retention"] == 1.0 and q1.loc[1, "arr_retention"] == 1.0
    assert q1.loc[2, "logo_retention"] == 0.5  # only A in September
    assert q1.loc[2, "arr_retention"] == 1.0  # 2400 / 2400
    q2 = c[c["cohort"] == "2024Q2"].set_index("periods_since_start")
    assert list(q2.index) == [0, 1] and q2.loc[1, "arr_retention"] == 1.0


def test_movement_summary_bridge_by_hand() -> None:
    summary = movement_summary(mrr_movements(monthly_mrr(three_accounts(), end=pd.Timestamp("2024-06-30")))).set_index(
        "period"
    )
    q2 = summary.loc["2024Q2"]
    # Start MRR (end of March): (1200 + 2400 + 1200) / 12 = 400; new D 9999/12; expansion A +100;
    # contraction B -50; churn C -100; end (2400 + 1800 + 9999) / 12.
    assert q2["start_mrr"] == pytest.approx(400)
    assert q2["new"] == pytest.approx(9999 / 12) and q2["expansion"] == pytest.approx(100)
    assert q2["contraction"] == pytest.approx(-50) and q2["churn"] == pytest.approx(-100)
    assert q2["end_mrr"] == pytest.approx((2400 + 1800 + 9999) / 12)


def test_randomized_identities_hold(rng: np.random.Generator) -> None:
    rows = []
    for _ in range(200):
        start = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(rng.integers(0, 700)))
        end = None if rng.random() < 0.1 else start + pd.Timedelta(days=int(rng.integers(20, 500)))
        rows.append((f"A{rng.integers(0, 40)}", start, end, float(rng.integers(1, 100) * 1200)))
    m = monthly_mrr(subs(*rows), end=pd.Timestamp("2024-12-31"))
    moves = mrr_movements(m)
    for freq in ("Q", "M"):
        s = movement_summary(moves, freq=freq)
        bridge = s["start_mrr"] + s[["new", "expansion", "contraction", "churn", "reactivation"]].sum(axis=1)
        assert np.allclose(bridge, s["end_mrr"])
        assert np.allclose(s["start_mrr"].iloc[1:].to_numpy(), s["end_mrr"].iloc[:-1].to_numpy())
    nrr = net_revenue_retention(m)
    assert ((nrr["grr"] <= 1 + 1e-12) & (nrr["grr"] <= nrr["nrr"] + 1e-12)).all()
    ident = nrr["start_arr"] + nrr["expansion_arr"] - nrr["contraction_arr"] - nrr["churned_arr"]
    assert np.allclose(ident, nrr["end_arr"])


def test_arr_by_segment() -> None:
    m = monthly_mrr(three_accounts(), end=pd.Timestamp("2024-06-30"))
    accounts = pd.DataFrame({"account_id": ["A", "B", "C", "D"], "segment": ["smb", "smb", "enterprise", "enterprise"]})
    got = arr_by(m, accounts, month=pd.Timestamp("2024-06-01")).set_index("segment")
    assert got.loc["enterprise", "arr"] == 9999 and got.loc["enterprise", "accounts"] == 1  # C churned
    assert got.loc["smb", "arr"] == 4200 and got["share"].sum() == pytest.approx(1.0)


def test_quarter_helpers() -> None:
    assert quarter_bounds("2026Q3") == (pd.Timestamp("2026-07-01"), pd.Timestamp("2026-09-30"))
    assert quarter_bounds("2024q1")[1] == pd.Timestamp("2024-03-31")
    assert last_complete_quarter(pd.Timestamp("2026-10-31")) == "2026Q3"
    assert last_complete_quarter(pd.Timestamp("2026-09-30")) == "2026Q3"
    assert last_complete_quarter(pd.Timestamp("2026-09-29")) == "2026Q2"
    for bad in ("2026Q5", "Q3-2026", "2026-Q3", ""):
        with pytest.raises(ParamsError, match="YYYYQn"):
            quarter_bounds(bad)


def test_several_currencies_are_refused() -> None:
    s = subs(("A", "2024-01-01", "2024-12-31", 1200), ("B", "2024-01-01", "2024-12-31", 10))
    s.loc[1, "currency"] = "USD"
    with pytest.raises(CsPlaybookError, match="JPY, USD"):
        monthly_mrr(s)
