"""Expansion targeting: outcome labels, whitespace, plays, the guard, the capacity cut, the CSQL list and the NRR outlook.

Hand-computed cases first (arithmetic in the comments), then behaviour on the demo company.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cs_playbook.demo
from cs_playbook.data.revenue import monthly_mrr
from cs_playbook.errors import CsPlaybookError, ParamsError
from cs_playbook.expansion.outcomes import (
    PLAYS,
    ExpansionParams,
    expansion_outcomes,
    line_states,
)
from cs_playbook.expansion.outlook import (
    actual_retention,
    movement_ratios,
    outlook_summary,
    renewal_quarter,
    simulate_outlook,
)
from cs_playbook.expansion.plays import (
    CSQL_COLUMNS,
    best_plays,
    capacity_cut,
    churn_guard,
    csql_list,
    play_options,
    play_reasons,
)
from cs_playbook.expansion.whitespace import seat_headroom, usage_trend, whitespace, whitespace_summary
from cs_playbook.params import load_params

PRODUCTS = {
    "Platform": {"pricing": "per_seat", "role": "base", "list_price": 18000},
    "Analytics": {"pricing": "per_seat", "list_price": 6000},
    "API": {"pricing": "usage_tiers", "tiers": [600000, 1200000, 2400000]},
}


def make_params(**over: object) -> ExpansionParams:
    base = {
        "products": PRODUCTS,
        "segment_discount": {"enterprise": 0.25, "smb": 0.0},
        "addressable_share": {"enterprise": 0.5, "smb": 0.8, "default": 0.5},
    }
    base.update(over)
    return ExpansionParams.model_validate(base)


def line(acc: str, start: str, end: str | None, arr: float, seats: float | None, product: str = "Platform", dept=None):
    return {
        "subscription_id": f"{acc}-{product}-{dept}-{start}-{seats}",
        "account_id": acc,
        "department": dept,
        "product": product,
        "start_date": pd.Timestamp(start),
        "end_date": pd.Timestamp(end) if end else pd.NaT,
        "arr": float(arr),
        "seats": seats,
        "auto_renew": True,
        "currency": "JPY",
    }


def subs(*rows: dict) -> pd.DataFrame:
    df = pd.DataFrame(list(rows))
    df["seats"] = pd.array(df["seats"], dtype="Int64")
    return df


def accounts(*rows: tuple) -> pd.DataFrame:
    """(account_id, segment, employees[, csm])."""
    out = [
        {
            "account_id": r[0],
            "account_name": f"株式会社{r[0]}",
            "segment": r[1],
            "employees": r[2],
            "csm": r[3] if len(r) > 3 else None,
        }
        for r in rows
    ]
    df = pd.DataFrame(out)
    df["employees"] = pd.array(df["employees"], dtype="Int64")
    return df


def jp_source(tmp_path) -> Path:
    """A data source folder holding only the JP demo's params (cs_playbook/demo/params/jp/), as the demo installs them."""
    src = tmp_path / "jp_source"
    shutil.copytree(Path(cs_playbook.demo.__file__).parent / "params" / "jp", src / "params")
    return src


OBS = pd.DataFrame({"account_id": ["A"], "obs_date": [pd.Timestamp("2025-01-01")]})


# ---------- outcome labels ----------


def test_line_states_sum_per_department_and_product_on_each_day() -> None:
    s = subs(
        line("A", "2024-01-01", "2024-12-31", 1000, 10, dept="営業部"),
        line("A", "2024-06-15", "2024-12-31", 300, 3, dept="営業部"),  # mid-term add-on, co-terminous
        line("A", "2024-01-01", "2024-12-31", 600000, None, product="API"),
    )
    st = line_states(s, [pd.Timestamp("2024-06-14"), pd.Timestamp("2024-06-15"), pd.Timestamp("2025-01-01")])
    d = {(r.snapshot.strftime("%m-%d"), r.product): (r.seats, r.arr) for r in st.itertuples()}
    assert d[("06-14", "Platform")] == (10, 1000)
    assert d[("06-15", "Platform")] == (13, 1300)  # 10 + 3 seats, 1000 + 300
    assert np.isnan(d[("06-15", "API")][0]) and d[("06-15", "API")][1] == 600000
    assert not any(k[0] == "01-01" for k in d)  # every line ended 2024-12-31
    assert set(st.loc[st["product"] == "API", "department"]) == {""}  # company-wide key


def test_line_states_seats_unknown_only_when_no_line_of_the_key_has_seats() -> None:
    s = subs(
        line("A", "2024-01-01", "2024-12-31", 1000, 10),
        line("A", "2024-01-01", "2024-12-31", 200, None),  # same key, no seats: the known seats still count
        line("A", "2024-01-01", "2024-12-31", 600000, None, product="API"),
    )
    st = line_states(s, [pd.Timestamp("2024-03-01")]).set_index("product")
    assert st.loc["Platform", "seats"] == 10 and st.loc["Platform", "arr"] == 1200
    assert np.isnan(st.loc["API", "seats"])
    none = line_states(s, [pd.Timestamp("2023-01-01")])  # before every line
    assert none.empty and list(none.columns) == ["snapshot", "account_id", "department", "product", "seats", "arr"]


def test_seat_upsell_at_renewal_within_horizon() -> None:
    # Start (2024-12-31): 10 seats, ARR 1000. Renewal 2025-03-01 with 14 seats, ARR 1400: +400 in month 3 of 6.
    s = subs(line("A", "2024-03-01", "2025-02-28", 1000, 10), line("A", "2025-03-01", "2026-02-28", 1400, 14))
    o = expansion_outcomes(s, OBS, horizon_months=6).iloc[0]
    assert o["arr_start"] == 1000 and o["seat_upsell"] and o["expanded"]
    assert not (o["new_department"] or o["cross_sell"] or o["usage_tier"] or o["churned"] or o["contracted"])
    assert o["expansion_arr"] == 400


def test_expansion_after_the_horizon_does_not_count() -> None:
    # Renewal 2025-08-01 is after the 6 month ends Jan..Jun 2025: no expansion within the horizon.
    s = subs(line("A", "2024-08-01", "2025-07-31", 1000, 10), line("A", "2025-08-01", "2026-07-31", 1400, 14))
    o = expansion_outcomes(s, OBS, horizon_months=6).iloc[0]
    assert not o["expanded"] and o["expansion_arr"] == 0
    assert not expansion_outcomes(s, OBS, horizon_months=7).iloc[0]["expanded"]  # on 2025-07-31 the old line holds
    assert expansion_outcomes(s, OBS, horizon_months=8).iloc[0]["seat_upsell"]  # August's month end sees 14 seats


def test_new_department_cross_sell_and_usage_tier() -> None:
    s = subs(
        line("A", "2024-04-01", "2025-03-31", 1000, 10, dept="営業部"),
        line("A", "2024-04-01", "2025-03-31", 600000, None, product="API", dept="営業部"),
        line("A", "2025-04-01", "2026-03-31", 1000, 10, dept="営業部"),
        line("A", "2025-04-01", "2026-03-31", 500, 5, dept="人事部"),  # new department
        line("A", "2025-04-01", "2026-03-31", 300, 10, product="Analytics", dept="営業部"),  # new product
        line("A", "2025-04-01", "2026-03-31", 1200000, None, product="API", dept="営業部"),  # re-tier
    )
    o = expansion_outcomes(s, OBS, horizon_months=6).iloc[0]
    assert o["new_department"] and o["cross_sell"] and o["usage_tier"] and not o["seat_upsell"]
    # gross ARR added: 500 + 300 + 600000
    assert o["expansion_arr"] == 500 + 300 + 600000


def test_churn_and_contraction_are_labelled_and_new_customers_are_not_observed() -> None:
    s = subs(
        line("A", "2024-04-01", "2025-03-31", 1000, 10, dept="営業部"),
        line("A", "2024-04-01", "2025-03-31", 500, 5, dept="人事部"),
        line("A", "2025-04-01", "2026-03-31", 800, 8, dept="営業部"),  # 人事部 dropped, 営業部 down 200
        line("B", "2024-02-01", "2025-01-31", 1000, 10),  # churns 2025-02-01
        line("C", "2025-02-01", "2026-01-31", 1000, 10),  # new after the observation
    )
    obs = pd.DataFrame({"account_id": ["A", "B", "C"], "obs_date": pd.Timestamp("2025-01-01")})
    o = expansion_outcomes(s, obs, horizon_months=6).set_index("account_id")
    assert list(o.index) == ["A", "B"]
    assert o.loc["A", "contracted"] and not o.loc["A", "churned"] and o.loc["A", "contraction_arr"] == 700
    assert o.loc["B", "churned"] and not o.loc["B", "expanded"]


def test_complete_only_when_the_window_has_ended() -> None:
    s = subs(line("A", "2024-03-01", "2025-02-28", 1000, 10))
    o = expansion_outcomes(s, OBS, horizon_months=6, as_of=pd.Timestamp("2025-06-29"))
    assert not o["complete"].iloc[0]
    o = expansion_outcomes(s, OBS, horizon_months=6, as_of=pd.Timestamp("2025-06-30"))
    assert o["complete"].iloc[0]


# ---------- whitespace ----------


def test_seat_headroom_is_capped_by_employees() -> None:
    s = subs(
        line("A", "2025-01-01", None, 90000, 6),  # 15,000/seat; cap floor(20 x 0.8) = 16 -> headroom 10
        line("B", "2025-01-01", None, 180000, 10),  # cap floor(12 x 0.8) = 9 < 10 held -> headroom 0
        line("C", "2025-01-01", None, 180000, 10),  # employees unknown -> headroom 0
    )
    acc = accounts(("A", "smb", 20), ("B", "smb", 12), ("C", "smb", None))
    h = seat_headroom(acc, s, make_params(), as_of=pd.Timestamp("2025-06-30")).set_index("account_id")
    assert h.loc["A", "seat_cap"] == 16 and h.loc["A", "headroom"] == 10 and h.loc["A", "seat_price"] == 15000
    assert h.loc["B", "headroom"] == 0 and h.loc["C", "headroom"] == 0
    # addressable share 1 still never goes beyond the employee count
    h1 = seat_headroom(acc, s, make_params(addressable_share={"default": 1.0}), as_of=pd.Timestamp("2025-06-30"))
    assert (h1["seats_held"] + h1["headroom"] <= h1["employees"].fillna(np.inf)).all()


def test_whitespace_plays_priced_from_the_price_list() -> None:
    s = subs(
        line("A", "2025-01-01", None, 1350000, 100, dept="営業部"),  # 13,500/seat
        line("A", "2025-01-01", None, 675000, 50, dept="人事部"),
        line("A", "2025-01-01", None, 600000, None, product="API", dept="営業部"),
        line("Z", "2025-01-01", None, 100, 1, dept="経理部"),  # makes 経理部 a known department
    )
    acc = accounts(("A", "enterprise", 1000), ("Z", "smb", 10))
    ws = whitespace(acc, s, make_params(), as_of=pd.Timestamp("2025-06-30"))
    a = ws[ws["account_id"] == "A"].set_index(["play", "product"])
    # cap floor(1000 x 0.5) = 500, held 150 -> headroom 350; step ceil(150 x 0.2) = 30 seats x 13,500
    assert a.loc[("seat_upsell", "Platform"), "seats"] == 30
    assert a.loc[("seat_upsell", "Platform"), "play_arr"] == 30 * 13500
    assert a.loc[("seat_upsell", "Platform"), "whitespace_arr"] == 350 * 13500
    # new department 経理部: ceil(median(100, 50) x 0.5) = 38 seats x 13,500
    nd = a.loc[("new_department", "Platform")]
    assert nd["department"] == "経理部" and nd["seats"] == 38 and nd["play_arr"] == 38 * 13500
    # Analytics not held: on the largest department's 100 seats at 6,000 x (1 - 0.25) = 4,500
    assert a.loc[("cross_sell", "Analytics"), "play_arr"] == 100 * 4500
    assert a.loc[("cross_sell", "Analytics"), "whitespace_arr"] == 150 * 4500
    # API at tier 1 of 3: next tier 1.2M - 0.6M; whole potential 2.4M - 0.6M
    assert a.loc[("usage_tier", "API"), "play_arr"] == 600000
    assert a.loc[("usage_tier", "API"), "whitespace_arr"] == 1800000
    assert set(ws["current_arr"][ws["account_id"] == "A"]) == {1350000 + 675000 + 600000}
    summary = whitespace_summary(ws, acc).set_index("account_id")
    # total: max(seat, department) + cross-sell (Analytics 675,000 + nothing else) + usage 1.8M
    assert summary.loc["A", "total_whitespace_arr"] == 350 * 13500 + 150 * 4500 + 1800000


def test_unknown_product_is_a_clear_error() -> None:
    s = subs(line("A", "2025-01-01", None, 1000, 10, product="Chat"))
    with pytest.raises(CsPlaybookError, match="Chat"):
        whitespace(accounts(("A", "smb", 20)), s, make_params(), as_of=pd.Timestamp("2025-06-30"))


def test_params_allow_at_most_one_base_product_and_shares_between_0_and_1(tmp_path) -> None:
    with pytest.raises(ValueError, match="at most one product may have role: base"):
        make_params(products={**PRODUCTS, "Analytics": {"pricing": "per_seat", "role": "base", "list_price": 1}})
    no_base = make_params(products={"Analytics": {"pricing": "per_seat", "list_price": 1}})  # the data chooses it
    with pytest.raises(CsPlaybookError, match="fit_price_list"):
        _ = no_base.base_product
    (tmp_path / "expansion.yaml").write_text(
        "products: {Platform: {pricing: per_seat, role: base, list_price: 1}}\naddressable_share: {default: 1.5}\n"
    )
    with pytest.raises(ParamsError, match="addressable_share"):
        load_params("expansion", ExpansionParams, directory=tmp_path, source=tmp_path)


def test_project_params_are_neutral_and_the_jp_price_list_is_next_to_the_demo(tmp_path) -> None:
    p = load_params("expansion", ExpansionParams, source=tmp_path)  # the project's file alone (no overlay)
    assert p.products == {} and p.segment_discount == {} and p.reason_language == "en"
    assert p.guard.exclude_tiers == ["bad"]  # tier codes, not the words shown for them
    jp = load_params("expansion", ExpansionParams, source=jp_source(tmp_path))  # the JP demo's overlay
    assert jp.base_product == "Platform" and jp.usage_products() == ["API"]
    assert jp.usage_event_types() == ["api_call", "api_v2_call"]


def test_guard_tiers_must_be_tier_codes(tmp_path) -> None:
    (tmp_path / "expansion.yaml").write_text(
        "products: {Platform: {pricing: per_seat, role: base, list_price: 1}}\naddressable_share: {default: 0.5}\n"
        "guard: {exclude_tiers: [BAD]}\n"
    )
    with pytest.raises(ParamsError, match=r"exclude_tiers \['BAD'\] are not tier codes: use good, normal, bad"):
        load_params("expansion", ExpansionParams, directory=tmp_path, source=tmp_path)


def test_demo_whitespace_never_exceeds_the_employee_cap(demo_ds) -> None:
    params = load_params("expansion", ExpansionParams)
    as_of = demo_ds.as_of
    h = seat_headroom(demo_ds.accounts, demo_ds.subscriptions, params, as_of=as_of)
    emp = h["employees"]
    assert len(h) > 100
    assert (h["seats_held"] + h["headroom"] <= emp).all()
    ws = whitespace(demo_ds.accounts, demo_ds.subscriptions, params, as_of=as_of)
    seat_plays = ws[ws["play"].isin(["seat_upsell", "new_department"])].merge(h, on="account_id")
    assert (seat_plays["seats"] <= seat_plays["headroom"]).all()
    assert (seat_plays["whitespace_arr"] <= seat_plays["headroom"] * seat_plays["seat_price"] + 1e-6).all()
    cross = ws[(ws["play"] == "cross_sell") & ws["seats"].notna()].merge(h, on="account_id")
    assert (cross["seats"] <= cross["employees"]).all()
    assert (ws["play_arr"] <= ws["whitespace_arr"] + 1e-6).all() and (ws["play_arr"] > 0).all()
    assert set(ws["play"]) <= set(PLAYS)


def test_usage_trend_in_the_engine(demo_ds) -> None:
    ev = demo_ds.events
    as_of = demo_ds.as_of
    u = usage_trend(ev, ["api_call"], as_of=as_of, months=3)
    assert (u["usage_recent"] >= 0).all()
    # one account by hand with pandas-free ibis counts
    acc = u.sort_values("usage_recent").iloc[-1]
    end = as_of + pd.Timedelta(days=1)
    mid = end - pd.DateOffset(months=3)
    e = ev.filter((ev.account_id == acc["account_id"]) & (ev.event_type == "api_call"))
    recent = e.filter((e.event_time >= mid) & (e.event_time < end)).count().to_pandas()
    assert recent == acc["usage_recent"]
    assert usage_trend(ev, [], as_of=as_of).empty


# ---------- plays, guard, capacity, CSQL ----------


def small_targets() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ws = pd.DataFrame(
        {
            "account_id": ["A", "A", "B", "C", "D"],
            "play": ["seat_upsell", "cross_sell", "seat_upsell", "new_department", "seat_upsell"],
            "product": ["Platform", "Analytics", "Platform", "Platform", "Platform"],
            "department": ["営業部", "営業部", "", "人事部", ""],
            "seats": [10.0, 50.0, 5.0, 20.0, 4.0],
            "play_arr": [100000.0, 300000.0, 50000.0, 400000.0, 10000.0],
            "whitespace_arr": [500000.0, 300000.0, 50000.0, 800000.0, 10000.0],
            "current_arr": [1e6, 1e6, 5e5, 2e6, 1e5],
            "detail": ["", "", "", "人事部; 経理部", ""],
        }
    )
    probs = pd.DataFrame(
        {
            "account_id": ["A", "B", "C", "D"],
            "p_seat_upsell": [0.5, 0.9, 0.2, 0.6],
            "p_new_department": [0.1, 0.1, 0.3, 0.1],
            "p_cross_sell": [0.2, 0.1, 0.1, 0.1],
            "p_usage_tier": [0.0, 0.0, 0.0, 0.0],
        }
    )
    risk = pd.DataFrame(
        {
            "account_id": ["A", "B", "C", "D"],
            "churn_probability": [0.05, 0.5, 0.1, 0.1],
            "health_tier": ["good", "normal", "normal", "bad"],
        }
    )
    return ws, probs, risk


def test_expected_arr_best_play_and_guard() -> None:
    ws, probs, risk = small_targets()
    opts = play_options(ws, probs)
    # A: seat 0.5 x 100,000 = 50,000; cross-sell 0.2 x 300,000 = 60,000 -> best is cross-sell
    assert opts.loc[(opts["account_id"] == "A") & (opts["play"] == "cross_sell"), "expected_arr"].item() == 60000
    guard = churn_guard(risk, make_params().guard)
    # B: churn 50% >= 30%; D: tier code bad (named by the default labels in the reason)
    assert guard.set_index("account_id")["guarded"].to_dict() == {"A": False, "B": True, "C": False, "D": True}
    assert guard.set_index("account_id").loc["D", "guard_reason"] == "health tier BAD"
    from cs_playbook.modeling.scorecard import TierLabels

    named = churn_guard(risk, make_params().guard, labels=TierLabels(good="良好", normal="普通", bad="要注意"))
    assert named.set_index("account_id").loc["D", "guard_reason"] == "health tier 要注意"
    best = best_plays(opts, guard).set_index("account_id")
    assert best.loc["A", "play"] == "cross_sell" and best.loc["A", "alternatives"] == "seat_upsell Platform"
    # C: 0.3 x 400,000 = 120,000 ranks first, A second; B (45,000) and D are guarded despite their expected ARR
    assert best.loc["C", "rank"] == 1 and best.loc["A", "rank"] == 2
    assert pd.isna(best.loc["B", "rank"]) and best.loc["B", "guarded"] and "50%" in best.loc["B", "guard_reason"]


def test_capacity_cut_per_csm_and_unassigned_pool() -> None:
    ws, probs, risk = small_targets()
    best = best_plays(play_options(ws, probs), churn_guard(risk, make_params().guard))
    acc = accounts(("A", "smb", 10, "佐藤"), ("B", "smb", 10, "佐藤"), ("C", "smb", 10, "佐藤"), ("D", "smb", 10))
    cap = make_params(capacity={"plays_per_csm": 1, "unassigned_plays": 5}).capacity
    cut = capacity_cut(best, acc, cap).set_index("account_id")
    # 佐藤 owns A, B, C: B is guarded, C (120,000) beats A (60,000) for the single slot
    assert cut.loc["C", "within_capacity"] and not cut.loc["A", "within_capacity"] and cut.loc["A", "owner_rank"] == 2
    assert not cut.loc["B", "within_capacity"] and not cut.loc["D", "within_capacity"]  # guarded, even with room
    cap = make_params(capacity={"plays_per_csm": 5, "min_probability": 0.25}).capacity
    cut = capacity_cut(best, acc, cap).set_index("account_id")
    assert cut.loc["C", "within_capacity"] and not cut.loc["A", "within_capacity"]  # A's cross-sell is 20% < 25%


def test_reasons_and_csql_list() -> None:
    ws, probs, risk = small_targets()
    params = make_params(capacity={"plays_per_csm": 5})
    best = best_plays(play_options(ws, probs), churn_guard(risk, params.guard))
    acc = accounts(("A", "smb", 10, "佐藤"), ("B", "smb", 10), ("C", "smb", 10, "鈴木"), ("D", "smb", 10))
    cut = capacity_cut(best, acc, params.capacity)
    signals = pd.DataFrame(
        {
            "account_id": ["A", "C"],
            "active_user_share": [0.92, 0.5],
            "champion": [1.0, 1.0],
            "exec_access": [0.0, 1.0],
            "active_users_trend_3m": [0.12, np.nan],
            "renewal_in_window": [0.0, 1.0],
            "days_to_renewal": [200.0, 45.0],
            "headroom": [40.0, 100.0],
        }
    )
    contrib = pd.DataFrame(
        {"account_id": ["C", "C"], "signal": ["exec_access", "champion"], "contribution": [0.5, 0.2]}
    )
    cut["reason"] = play_reasons(cut, signals, params, contributions=contrib)
    r = cut.set_index("account_id")["reason"]
    assert r["A"].startswith("Analyticsを提案（営業部 50席）")
    assert "座席利用率92%（上限間近）" in r["A"] and "チャンピオンあり" in r["A"] and "決裁者" not in r["A"]
    assert r["C"].startswith("人事部へ横展開（未契約の部署 2）")
    assert r["C"].index("決裁者に直接アクセスあり") < r["C"].index("チャンピオンあり")  # ordered by contribution
    assert r["C"].endswith("更新まで45日（提案の好機）")  # utilization 50% is not near the limit: not said
    assert "：" not in r["B"] and "（" in r["B"]  # no signals for B: the play alone
    r2 = play_reasons(cut, signals, params, contributions=contrib, max_signals=2).loc[cut["account_id"] == "C"].item()
    assert "更新まで" not in r2
    en = play_reasons(cut, signals, make_params(reason_language="en"))
    assert "seat utilization 92% (near the limit)" in en[cut["account_id"] == "A"].item()
    leads = csql_list(cut, params)
    assert list(leads.columns[: len(CSQL_COLUMNS)]) == CSQL_COLUMNS
    assert list(leads["account_id"]) == ["C", "A"]  # B and D guarded
    assert leads["play"].iloc[0] == "new department: Platform"
    assert leads["owner"].tolist() == ["鈴木", "佐藤"]


# ---------- NRR outlook ----------


def outlook_inputs(n: int = 4, **cols: object) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "account_id": [f"A{i}" for i in range(n)],
            "arr": [100.0] * n,
            "segment": ["smb"] * n,
            "renewal_quarter": [1, 2, 3, 0][:n],
            "p_churn": 0.0,
            "p_expansion_1": 0.0,
            "p_expansion_2": 0.0,
            "p_contraction_1": 0.0,
            "p_contraction_2": 0.0,
        }
    )
    for k, v in cols.items():
        df[k] = v
    return df


RATIOS = {"expansion": {"all": np.array([0.5])}, "contraction": {"all": np.array([0.2])}}


def test_outlook_without_movements_keeps_nrr_at_100() -> None:
    sims = simulate_outlook(outlook_inputs(), RATIOS, simulations=50)
    assert np.allclose(sims["nrr"], 1) and np.allclose(sims["grr_cum"], 1)


def test_outlook_certain_churn_happens_at_the_renewal_quarter() -> None:
    # everyone churns at renewal: quarter 1 loses A0, quarter 2 A1, quarter 3 A2; A3 has no renewal in the year
    sims = simulate_outlook(outlook_inputs(p_churn=1.0), RATIOS, simulations=10)
    cum = sims.groupby("quarter")["nrr_cum"].mean()
    assert np.allclose(cum.to_numpy(), [0.75, 0.5, 0.25, 0.25])
    q2 = sims[sims["quarter"] == 2].iloc[0]
    assert q2["nrr"] == pytest.approx(200 / 300) and q2["churned_arr"] == 100  # 3 accounts at the start of Q2


def test_outlook_mean_matches_the_expected_value() -> None:
    # 400 accounts of ARR 100; in window 1 expansion p=0.3 by +50%, contraction p=0.1 by -20%; churn 0.2 at renewal
    n = 400
    inp = outlook_inputs(n=4, p_churn=0.2, p_expansion_1=0.3, p_contraction_1=0.1)
    inp = pd.concat([inp] * (n // 4), ignore_index=True).assign(account_id=lambda d: [f"A{i}" for i in range(n)])
    sims = simulate_outlook(inp, RATIOS, simulations=400, seed=1)
    s = outlook_summary(sims, start_quarter="2026Q3", interval=0.9)
    assert list(s["period"]) == ["2026Q4", "2027Q1", "2027Q2", "2027Q3"]
    end = s.iloc[-1]
    # survivors of window 1 (quarters 1-2) gain E = 0.3 x 50 - 0.1 x 20 = +13 on ARR 100. Renewals in Q1 and Q2
    # decide churn (p 0.2) in the quarter the movement happens, so a churner's movement is lost: 0.8 x 113.
    # Renewals in Q3 move in Q1 or Q2, then churn in Q3: 0.8 x 113. No renewal in the year: 113.
    exp = (3 * 0.8 * 113 + 113) / 400
    assert end["nrr_cum"] == pytest.approx(exp, abs=0.01)
    assert end["nrr_cum_low"] < end["nrr_cum"] < end["nrr_cum_high"]
    assert (s["grr_cum"] <= 1 + 1e-12).all() and (s["grr_cum"] <= s["nrr_cum"] + 1e-12).all()


def test_outlook_needs_its_inputs() -> None:
    with pytest.raises(CsPlaybookError, match="p_expansion_2"):
        simulate_outlook(outlook_inputs().drop(columns="p_expansion_2"), RATIOS)
    with pytest.raises(CsPlaybookError, match="ARR"):
        simulate_outlook(outlook_inputs().iloc[:0], RATIOS)


def test_movement_ratios_and_renewal_quarter() -> None:
    outcomes = pd.DataFrame(
        {
            "account_id": ["A", "B", "C"],
            "arr_start": [100.0, 200.0, 100.0],
            "expanded": [True, True, False],
            "expansion_arr": [50.0, 20.0, 0.0],
            "contracted": [False, False, True],
            "churned": [False, False, False],
            "contraction_arr": [0.0, 0.0, 30.0],
            "complete": [True, True, True],
        }
    )
    r = movement_ratios(outcomes, accounts(("A", "smb", 1), ("B", "smb", 1), ("C", "enterprise", 1)))
    assert sorted(r["expansion"]["smb"]) == [0.1, 0.5] and list(r["contraction"]["all"]) == [0.3]
    s = subs(
        line("A", "2025-11-01", "2026-10-31", 1, 1),  # renews 2026-11-01: quarter 1 after 2026-10-01
        line("B", "2026-01-01", "2027-08-31", 1, 1),  # renews 2027-09-01: quarter 4
        line("C", "2026-01-01", None, 1, 1),  # open-ended: none
        line("D", "2026-01-01", "2027-12-31", 1, 1),  # renews 2028-01-01: beyond four quarters
    )
    rq = renewal_quarter(s, start=pd.Timestamp("2026-10-01"), quarters=4).set_index("account_id")
    assert rq["renewal_quarter"].to_dict() == {"A": 1, "B": 4, "C": 0, "D": 0}


def test_actual_retention_last_four_quarters(demo_ds) -> None:
    monthly = monthly_mrr(demo_ds.subscriptions, end=pd.Timestamp("2026-09-30"))
    act = actual_retention(monthly, quarter="2026Q3")
    assert list(act["period"]) == ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]
    assert (act["grr"] <= 1).all() and act["nrr_t12m"].notna().all()


# ---------- propensity signals and model pieces ----------


def test_expansion_signals_renewal_window_poc_and_eligibility(demo_ds, quarter_state) -> None:
    from cs_playbook.expansion.model import expansion_signals

    params = load_params("expansion", ExpansionParams)
    pocs = demo_ds.get("pocs")
    poc = pocs.sort_values("start_date").iloc[0]
    inside = poc["start_date"] + pd.Timedelta(days=1)
    frame = pd.DataFrame(
        {
            "account_id": [poc["account_id"], poc["account_id"], "nobody"],
            "obs_date": [inside, poc["start_date"], inside],  # PoC started the day before; PoC starts that day
            "days_to_renewal": [181.0, 200.0, np.nan],
            "seats": [10.0, 10.0, np.nan],
            "employees": [40.0, 40.0, np.nan],
            "departments": [2.0, 2.0, 0.0],
            "products": [4.0, 1.0, 0.0],
        }
    )
    frame["obs_date"] = frame["obs_date"].astype("datetime64[ns]")
    out = expansion_signals(frame, demo_ds, params, scorer=quarter_state.scorer)
    assert out["poc_open"].tolist() == [1.0, 0.0, 0.0]
    # window: month ends of the 6 months after the day before obs_date; 181 days is inside, 200 is not
    assert out["renewal_in_window"].tolist()[1:] == [0.0, 0.0]
    assert out["headroom_share"].iloc[0] == 0.75  # 1 - 10 / 40
    assert out["eligible_new_department"].tolist() == [True, True, False]
    assert out["eligible_cross_sell"].tolist() == [False, True, True]  # 4 products of 4 held: nothing to cross-sell
    assert out["health_score"].between(0, 100).all()
    # the health score is the quarter's scorer's, the one that scored the accounts on every page
    assert np.allclose(out["health_score"], quarter_state.scorer.score(out))


def test_predict_uses_play_models_or_the_share_of_past_expansions() -> None:
    from cs_playbook.expansion.model import PropensityModel
    from cs_playbook.modeling.logistic import Scorecard

    base = Scorecard(outcome="expanded", intercept=0.0, base_rate=0.5)  # log-odds 0 -> p 0.5
    seat = Scorecard(outcome="seat_upsell", intercept=np.log(0.3 / 0.7), base_rate=0.3)
    m = PropensityModel(
        overall=base, plays={"seat_upsell": seat}, play_share={"new_department": 0.2, "cross_sell": 0.1}
    )
    frame = pd.DataFrame(
        {
            "eligible_seat_upsell": [True, False],
            "eligible_new_department": [True, True],
            "eligible_cross_sell": [False, True],
            "eligible_usage_tier": [True, True],
        }
    )
    p = m.predict(frame)
    assert p["p_expansion"].tolist() == [0.5, 0.5]
    assert p["p_seat_upsell"].round(6).tolist() == [0.3, 0.0]  # own model; 0 where not possible
    assert p["p_new_department"].tolist() == [0.1, 0.1]  # 0.5 x 0.2
    assert p["p_cross_sell"].tolist() == [0.0, 0.05]
    assert p["p_usage_tier"].tolist() == [0.0, 0.0]  # no share learnt


def test_window_probabilities_move_the_renewal_to_its_window() -> None:
    from cs_playbook.expansion.model import PropensityModel, window_probabilities
    from cs_playbook.modeling.logistic import MeasureScaling, Scorecard, Term

    # a model that only knows renewal_in_window: log-odds -2 + 4 x (standardized 0/1 with mean 0.5, sd 0.5)
    spec = MeasureScaling(measure="renewal_in_window", mean=0.5, sd=0.5)
    term = Term(name="renewal_in_window", inputs=[spec.key], directions=[1], coef=2.0)
    sc = Scorecard(outcome="expanded", intercept=0.0, base_rate=0.5, inputs=[spec], terms=[term])
    frame = pd.DataFrame(
        {
            "account_id": ["A", "B", "C"],
            "obs_date": pd.Timestamp("2026-10-01"),
            "days_to_renewal": [30.0, 250.0, np.nan],
            "renewal_in_window": [1.0, 0.0, 0.0],
        }
    )
    w = window_probabilities(frame, PropensityModel(overall=sc), sc, make_params(), windows=2)
    hi, lo = 1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(2.0))
    assert w["p_expansion_1"].round(6).tolist() == [round(hi, 6), round(lo, 6), round(lo, 6)]
    assert w["p_expansion_2"].round(6).tolist() == [round(lo, 6), round(hi, 6), round(lo, 6)]  # 250 days: window 2
    assert w["renewal_in_window_2"].tolist() == [False, True, False]


def test_outlook_inputs_condition_expansion_on_staying() -> None:
    current = pd.DataFrame({"account_id": ["A", "B"], "arr": [100.0, 50.0], "segment": ["smb", "smb"]})
    risk = pd.DataFrame({"account_id": ["A"], "churn_probability": [0.2]})
    windows = pd.DataFrame(
        {
            "account_id": ["A", "B"],
            "p_expansion_1": [0.4, 0.4],
            "p_contraction_1": [0.1, 0.1],
            "renewal_in_window_1": [True, True],
        }
    )
    renewals = pd.DataFrame({"account_id": ["A", "B"], "renewal_quarter": [2, 1]})
    from cs_playbook.expansion.outlook import outlook_inputs as build

    inp = build(current, risk, windows, renewals).set_index("account_id")
    assert inp.loc["A", "p_expansion_1"] == pytest.approx(0.4 / 0.8)  # P(expansion) / P(staying through the renewal)
    assert inp.loc["B", "p_churn"] == 0 and inp.loc["B", "p_expansion_1"] == pytest.approx(0.4)  # no risk row: 0
    assert inp.loc["A", "renewal_quarter"] == 2


# ---------- the demo company ----------


@pytest.fixture(scope="module")
def medium_model(medium_demo_ds) -> dict:
    from cs_playbook.expansion.model import backtest_propensity, fit_propensity, propensity_panel
    from cs_playbook.health.calibration import HealthParams, risk_as_of

    ds = medium_demo_ds
    params = load_params("expansion", ExpansionParams)
    # the scorer in use on the quarter's as_of (no promoted scorecard in the project params: the rules scorecard)
    scorer, _ = risk_as_of(ds, load_params("health_score", HealthParams), promoted=None, day=pd.Timestamp("2026-09-30"))
    panel = propensity_panel(ds, params, score_date=pd.Timestamp("2026-10-01"), scorer=scorer)
    preds, summary = backtest_propensity(panel, params, last_quarter="2026Q3")
    return {"panel": panel, "model": fit_propensity(panel, params), "preds": preds, "summary": summary}


def test_propensity_top_decile_lift_out_of_time_is_well_above_1(medium_model) -> None:
    s = medium_model["summary"].set_index(["fold", "model"])
    pooled = s.loc[("all", "propensity")]
    assert medium_model["preds"]["fold"].nunique() == 3
    # base rate ~38%, so the largest possible lift is ~2.6
    assert pooled["top_decile_lift"] > 2.0 and pooled["auc_lo"] > 0.8
    for fold in medium_model["preds"]["fold"].unique():
        assert s.loc[(fold, "propensity"), "top_decile_lift"] > 1.8
    # the behavioural signals add to knowing when the renewal falls
    assert pooled["auc"] > s.loc[("all", "renewal timing only"), "auc"] + 0.05
    # no observation in a test fold had its outcome known when the fold's model was fitted: folds are after training
    assert (medium_model["preds"]["obs_date"] >= pd.Timestamp("2025-07-01")).all()


def test_documented_drivers_of_expansion_come_out_with_the_right_sign(medium_model) -> None:
    from cs_playbook.expansion.model import DEFAULT_SIGNALS, driver_table

    d = driver_table(medium_model["model"].overall, signals=DEFAULT_SIGNALS).set_index("signal")
    documented = d[(d["expected"] != "") & d["in_model"].astype(bool)]
    assert documented["agrees"].astype(bool).all(), documented[["coef", "expected"]]
    # the drivers the demo documents strongly: in the model, positive, interval above 0
    for signal in ("champion", "exec_access", "active_user_share", "health_score", "nps_score"):
        assert d.loc[signal, "in_model"] and d.loc[signal, "ci_lo"] > 0, signal
    assert d.loc["renewal_in_window", "coef"] > 0  # expansion happens at renewals


def test_a_churn_risk_account_is_never_a_top_target(demo_ds, quarter_state) -> None:
    from cs_playbook.expansion.model import fit_propensity, propensity_panel, scoring_frame
    from cs_playbook.expansion.plays import rank_targets

    params = load_params("expansion", ExpansionParams)
    as_of = quarter_state.as_of
    score_date = as_of + pd.Timedelta(days=1)
    scorer = quarter_state.scorer
    panel = propensity_panel(demo_ds, params, score_date=score_date, scorer=scorer, usage=quarter_state.usage)
    frame = scoring_frame(demo_ds, params, score_date=score_date, scorer=scorer, usage=quarter_state.usage)
    probs = pd.concat([frame[["account_id"]], fit_propensity(panel, params).predict(frame)], axis=1)
    ws = whitespace(demo_ds.accounts, demo_ds.subscriptions, params, as_of=as_of)
    risk = quarter_state.risk  # the quarter's tiers (codes) and churn probabilities, as every page shows them
    cut = rank_targets(ws, probs, risk, demo_ds.accounts, frame, params)
    # the scoring frame's health score is the one the quarter state shows for the same accounts
    both = frame[["account_id", "health_score"]].merge(risk, on="account_id", suffixes=("", "_state"))
    assert len(both) and np.allclose(both["health_score"], both["health_score_state"], atol=0.051)
    guard = params.guard
    risky = set(
        risk.loc[
            (risk["churn_probability"] >= guard.max_churn_probability) | risk["health_tier"].isin(guard.exclude_tiers),
            "account_id",
        ]
    )
    assert risky and set(cut.loc[cut["within_capacity"], "account_id"]).isdisjoint(risky)
    assert cut.loc[cut["account_id"].isin(risky), "rank"].isna().all()
    # the best target, made risky, drops out of the list and its place is taken by the next one
    top = cut.loc[cut["rank"] == 1, "account_id"].item()
    risk2 = risk.copy()
    risk2.loc[risk2["account_id"] == top, "churn_probability"] = 0.9
    cut2 = rank_targets(ws, probs, risk2, demo_ds.accounts, frame, params).set_index("account_id")
    assert cut2.loc[top, "guarded"] and not cut2.loc[top, "within_capacity"] and pd.isna(cut2.loc[top, "rank"])
    leads = csql_list(cut2.reset_index(), params)
    assert top not in set(leads["account_id"]) and leads["reason"].str.len().gt(0).all()
    assert (leads["probability"].between(0, 1)).all() and leads["expected_arr"].is_monotonic_decreasing


# ---------- report tables, checks and charts ----------


def test_whitespace_by_segment_counts_the_employee_cap_once() -> None:
    from cs_playbook.expansion.whitespace import whitespace_by_segment

    ws, _, _ = small_targets()
    acc = accounts(("A", "smb", 10), ("B", "smb", 10), ("C", "enterprise", 10), ("D", "smb", 10))
    ws.loc[ws["account_id"] == "C", "whitespace_arr"] = 800000.0  # C: new department only (no seat upsell row)
    ws = pd.concat([ws, ws[ws["account_id"] == "A"].head(1).assign(play="new_department", whitespace_arr=200000.0)])
    by = whitespace_by_segment(ws, acc).set_index(["segment", "play"])
    # A's department (200,000) is inside its seat headroom (500,000): counted 0; C has no seat row: all 800,000 counts
    assert by.loc[("smb", "new_department"), "counted_arr"] == 0
    assert by.loc[("enterprise", "new_department"), "counted_arr"] == 800000
    assert by.loc[("smb", "seat_upsell"), "counted_arr"] == 500000 + 50000 + 10000
    total = whitespace_summary(ws, acc)["total_whitespace_arr"].sum()
    assert by["counted_arr"].sum() == pytest.approx(total)


def test_outcome_rates_and_summary_figures() -> None:
    from cs_playbook.expansion.outcomes import outcome_rates
    from cs_playbook.expansion.outlook import NEXT_QUARTER_SOURCE, align_next_quarter
    from cs_playbook.expansion.summary import consistency_checks, headline, summary_figures

    panel = pd.DataFrame(
        {
            "expanded": [1.0, 0.0, 1.0, np.nan],
            "seat_upsell": [1.0, 0.0, 0.0, np.nan],
            "new_department": [0.0, 0.0, 1.0, np.nan],
            "cross_sell": [0.0, 0.0, 0.0, np.nan],
            "usage_tier": [0.0, 0.0, 0.0, np.nan],
            "contracted": [0.0, np.nan, 1.0, np.nan],
            "churned": [0.0, 1.0, 0.0, np.nan],
            "arr_start": [100.0, 100.0, 200.0, 100.0],
            "expansion_arr": [10.0, 0.0, 60.0, 0.0],
            "contraction_arr": [0.0, 0.0, 20.0, 0.0],
        }
    )
    r = outcome_rates(panel).set_index("kind")
    assert r.loc["expanded", "rate"] == pytest.approx(2 / 3) and r.loc["expanded", "median_share"] == pytest.approx(0.2)
    assert r.loc["contracted", "observations"] == 2 and r.loc["contracted", "median_share"] == pytest.approx(0.1)

    ws, probs, risk = small_targets()
    params = make_params(capacity={"plays_per_csm": 5})
    acc = accounts(("A", "smb", 10, "佐藤"), ("B", "smb", 10), ("C", "smb", 10, "鈴木"), ("D", "smb", 10))
    cut = capacity_cut(best_plays(play_options(ws, probs), churn_guard(risk, params.guard)), acc, params.capacity)
    cut["reason"] = "r"
    leads = csql_list(cut, params)
    simulated = outlook_summary(simulate_outlook(outlook_inputs(), RATIOS, simulations=20), start_quarter="2026Q3")
    forecast = {"quarter": "2026Q4", "expected_grr": 0.975, "grr_low": 0.95, "grr_high": 0.99, "open_renewal_arr": 1e6}
    outlook = align_next_quarter(simulated, forecast)
    # the forecast quarter's GRR is the renewal forecast's; the cumulative figures stay the simulation's
    first = outlook.iloc[0]
    assert first["period"] == "2026Q4" and first["grr"] == 0.975 and first["grr_source"] == NEXT_QUARTER_SOURCE
    assert (outlook["nrr_cum"] == simulated["nrr_cum"]).all() and (outlook["grr_cum"] == simulated["grr_cum"]).all()
    assert (outlook["grr"].iloc[1:] == simulated["grr"].iloc[1:]).all()
    actual = pd.DataFrame({"period": ["2026Q3"], "nrr": [1.05], "grr": [0.97], "nrr_t12m": [1.2], "grr_t12m": [0.9]})
    backtest = pd.DataFrame(
        {
            "fold": ["all", "all"],
            "model": ["propensity", "renewal timing only"],
            "auc": [0.8, 0.7],
            "auc_lo": [0.75, 0.6],
            "auc_hi": [0.85, 0.8],
            "top_decile_lift": [2.5, 1.5],
            "brier": [0.1, 0.2],
            "ece": [0.02, 0.03],
        }
    )
    drivers = pd.DataFrame(
        {"expected": ["+", "+", ""], "in_model": [True, False, True], "agrees": [True, pd.NA, pd.NA]}
    )
    f = summary_figures(cut, leads, whitespace_summary(ws, acc), backtest, drivers, outlook, actual, forecast)
    # unguarded best plays: A 60,000 + C 120,000; B and D are guarded
    assert f["expected_expansion_arr"] == 180000 and f["csql_leads"] == 2 and f["accounts_guarded"] == 2
    assert f["top_decile_lift"] == 2.5 and f["documented_drivers_in_model"] == 1
    assert f["outlook_4q_cumulative"]["nrr_cumulative"] == 1.0 and f["actual"]["nrr_last_4q"] == 1.2
    # one answer to "next quarter's GRR": the renewal forecast, in the figures and in the quarterly outlook
    assert f["grr_next_quarter"] == {
        "quarter": "2026Q4",
        "expected_grr": 0.975,
        "grr_low": 0.95,
        "grr_high": 0.99,
        "source": NEXT_QUARTER_SOURCE,
    }
    assert f["outlook_4q_cumulative"]["grr_quarterly"][0] == 0.975
    h = headline(f, "JPY")
    assert h["Top-decile lift (out of time)"] == "2.5x"
    assert h["NRR, 4-quarter cumulative outlook"] == "100.0% (100.0%-100.0%)"
    assert not [k for k in h if "next" in k.lower() and "GRR" in k]  # no second next-quarter GRR in the headline
    headroom = pd.DataFrame(
        {"account_id": ["A", "C"], "employees": [100.0, 50.0], "seats_held": [50.0, 10.0], "headroom": [30.0, 40.0]}
    )
    checks = consistency_checks(headroom, ws, cut, leads, outlook, params, figures=f, grr_forecast=forecast)
    assert all(checks.values()), checks
    broken = cut.copy()
    broken.loc[broken["account_id"] == "B", "within_capacity"] = True  # a guarded account slipped into the list
    assert not consistency_checks(headroom, ws, broken, leads, outlook, params, figures=f, grr_forecast=forecast)[
        "no_churn_risk_account_is_a_target"
    ]
    # a simulated next-quarter GRR beside the forecast is a second answer: the check fails
    check = "next_quarter_grr_is_the_renewal_forecast"
    assert not consistency_checks(headroom, ws, cut, leads, simulated, params, figures=f, grr_forecast=forecast)[check]
    other = {**forecast, "expected_grr": 0.97}
    assert not consistency_checks(headroom, ws, cut, leads, outlook, params, figures=f, grr_forecast=other)[check]
    # without a forecast the page states none
    f_none = summary_figures(cut, leads, whitespace_summary(ws, acc), backtest, drivers, simulated, actual, None)
    assert f_none["grr_next_quarter"] is None
    assert consistency_checks(headroom, ws, cut, leads, simulated, params, figures=f_none, grr_forecast=None)[check]


def test_charts_state_their_numbers() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cs_playbook.i18n import messages
    from cs_playbook.plots import expansion as charts

    by = pd.DataFrame(
        {
            "segment": ["enterprise", "smb"],
            "play": ["seat_upsell", "cross_sell"],
            "counted_arr": [3e6, 1e6],
            "play_arr": [1e5, 1e5],
        }
    )
    ax = charts.whitespace_bars(by)
    assert ax.get_title() == "Enterprise holds 75% of the ¥4.0M whitespace"
    # the legend sits below the bars (never over one) and the tallest bar keeps headroom (never clipped)
    ax.figure.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.y1 <= ax.get_window_extent().y0 and ax.get_ylim()[1] > 3e6 * 1.05
    ja = charts.whitespace_bars(by, msg=messages("ja"))
    assert ja.get_title() == "エンタープライズがホワイトスペース400万円の75%を占める"
    assert [t.get_text() for t in ja.get_legend().get_texts()] == ["クロスセル", "席数アップセル"]
    lift = pd.DataFrame({"decile": [1, 2], "n": [10, 10], "events": [8, 2], "rate": [0.8, 0.2], "lift": [1.6, 0.4]})
    assert "1.6x" in charts.lift_bars(lift).get_title()
    ws, probs, risk = small_targets()
    params = make_params(capacity={"plays_per_csm": 1})
    acc = accounts(("A", "smb", 10, "佐藤"), ("B", "smb", 10), ("C", "smb", 10, "佐藤"), ("D", "smb", 10))
    cut = capacity_cut(best_plays(play_options(ws, probs), churn_guard(risk, params.guard)), acc, params.capacity)
    # 佐藤 can take one play: C (120,000) of the unguarded 180,000 (A 60,000)
    assert (
        charts.capacity_curve(cut)
        .get_title()
        .startswith("CSM capacity covers ¥120.0K of ¥180.0K expected expansion ARR (67%)")
    )
    d = pd.DataFrame(
        {
            "signal": ["champion", "tenure_days"],
            "odds_ratio": [1.3, 0.9],
            "or_lo": [1.1, 0.8],
            "or_hi": [1.5, 1.0],
            "expected": ["+", ""],
            "agrees": [True, pd.NA],
        }
    )
    assert charts.driver_forest(d).get_title() == "1 of 1 documented expansion drivers come out with the expected sign"
    plt.close("all")


def test_too_few_expansions_fall_back_to_the_base_rate() -> None:
    from cs_playbook.expansion.model import fit_propensity

    n = 40
    panel = pd.DataFrame(
        {
            "account_id": [f"A{i}" for i in range(n)],
            "expanded": [1.0] * 4 + [0.0] * (n - 4),
            "champion": np.r_[np.ones(4), np.zeros(n - 4)],
            "seat_upsell": [1.0] * 4 + [0.0] * (n - 4),
            "new_department": 0.0,
            "cross_sell": 0.0,
            "usage_tier": 0.0,
            **{f"eligible_{p}": True for p in PLAYS},
        }
    )
    model = fit_propensity(panel, make_params(), signals=["champion"])
    assert model.overall.fallback and not model.plays
    p = model.predict(panel)
    assert np.allclose(p["p_expansion"], 0.1) and np.allclose(p["p_seat_upsell"], 0.1)  # 4 / 40, all seat upsells
    assert np.allclose(p["p_new_department"], 0.0)


def test_calibration_plot_with_an_interval_not_around_the_rate() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cs_playbook.plots import expansion as charts

    curve = pd.DataFrame(
        {"mean_predicted": [0.1, 0.5], "observed_rate": [0.0, 0.5], "lo": [0.001, 0.4], "hi": [0.2, 0.6]}
    )
    assert charts.calibration_plot(curve, ece=0.05).get_title() == "Calibration: off by 5.0% on average"
    plt.close("all")


def test_guard_by_tier_and_plays_within_capacity() -> None:
    from cs_playbook.expansion.plays import guard_by_tier, play_mix_text, plays_within_capacity

    ws, probs, risk = small_targets()
    params = make_params(capacity={"plays_per_csm": 5})
    guard = churn_guard(risk, params.guard)
    t = guard_by_tier(guard)
    # codes best tier first; B (normal) is guarded by its 50% churn probability, D by its tier
    assert t["health_tier"].tolist() == ["good", "normal", "bad"]
    assert t["guarded"].tolist() == [0, 1, 1] and t["accounts"].tolist() == [1, 2, 1]
    acc = accounts(("A", "smb", 10, "佐藤"), ("B", "smb", 10), ("C", "smb", 10, "鈴木"), ("D", "smb", 10))
    cut = capacity_cut(best_plays(play_options(ws, probs), guard), acc, params.capacity)
    by = plays_within_capacity(cut)
    assert by.to_dict("list") == {
        "play": ["new_department", "cross_sell"],
        "plays": [1, 1],
        "expected_arr": [120000.0, 60000.0],
    }
    assert play_mix_text(by, params, "JPY") == "new department: 1 plays, ¥120.0K; cross sell: 1 plays, ¥60.0K"


def test_whitespace_bundle_on_the_demo(demo_ds, quarter_state) -> None:
    from cs_playbook.expansion.whitespace import analyse_whitespace

    params = load_params("expansion", ExpansionParams)
    w = analyse_whitespace(
        demo_ds.accounts, demo_ds.subscriptions, params, as_of=quarter_state.as_of, events=demo_ds.events
    )
    assert w.total_arr == pytest.approx(w.by_segment["counted_arr"].sum())
    assert w.next_steps_arr == pytest.approx(w.plays["play_arr"].sum()) and w.usage_change is not None
    assert w.at_cap == int(((w.headroom["headroom"] <= 0) & w.headroom["employees"].notna()).sum())
    # the current customers' ARR is the quarter state's ARR on the same as_of
    assert w.current_arr == pytest.approx(quarter_state.accounts["arr"].sum(), rel=1e-9)


def test_cumulative_outlook_states_the_renewal_forecast_for_the_next_quarter(demo_ds, quarter_state) -> None:
    from cs_playbook.expansion.model import fit_propensity, propensity_panel, scoring_frame
    from cs_playbook.expansion.outlook import NEXT_QUARTER_SOURCE, SIMULATION_SOURCE, cumulative_outlook
    from cs_playbook.expansion.whitespace import seat_headroom

    params = load_params("expansion", ExpansionParams, overrides={"outlook": {"simulations": 200}})
    st = quarter_state
    score_date = st.as_of + pd.Timedelta(days=1)
    panel = propensity_panel(demo_ds, params, score_date=score_date, scorer=st.scorer, usage=st.usage)
    frame = scoring_frame(demo_ds, params, score_date=score_date, scorer=st.scorer, usage=st.usage)
    headroom = seat_headroom(demo_ds.accounts, demo_ds.subscriptions, params, as_of=st.as_of)
    out = cumulative_outlook(
        frame,
        panel,
        fit_propensity(panel, params),
        headroom,
        st.risk,
        demo_ds.subscriptions,
        demo_ds.accounts,
        params,
        score_date=score_date,
        quarter=st.quarter,
        grr_forecast=st.grr_forecast,
    )
    assert st.grr_forecast is not None and len(out.outlook) == 4
    row = out.outlook.set_index("period").loc[st.grr_forecast["quarter"]]
    assert row["grr"] == st.grr_forecast["expected_grr"] and row["grr_source"] == NEXT_QUARTER_SOURCE
    assert out.next_quarter_grr == st.grr_forecast["expected_grr"]
    assert (out.outlook["grr_source"] == SIMULATION_SOURCE).sum() == 3
    assert (out.outlook["grr_cum"] <= out.outlook["nrr_cum"] + 1e-12).all()
    assert out.actual["period"].iloc[-1] == st.quarter


def test_table_formats_and_the_outlook_chart_name_the_forecast() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cs_playbook.expansion.outlook import align_next_quarter
    from cs_playbook.plots import expansion as charts

    f = charts.table_formats(["account_name", "play_arr", "probability"], "JPY", formats={"probability": "{:.0%}"})
    assert set(f) == {"play_arr", "probability"} and f["play_arr"](1_234_000) == "¥1.2M"
    outlook = outlook_summary(simulate_outlook(outlook_inputs(), RATIOS, simulations=20), start_quarter="2026Q3")
    outlook = align_next_quarter(
        outlook, {"quarter": "2026Q4", "expected_grr": 0.975, "grr_low": 0.95, "grr_high": 0.99}
    )
    actual = pd.DataFrame({"period": ["2026Q3"], "nrr": [1.05], "grr": [0.97]})
    labels = charts.outlook_fan(actual, outlook).get_legend_handles_labels()[1]
    assert "GRR 2026Q4: renewal GRR forecast 97.5%" in labels
    plt.close("all")


# ---------- params that fit the data: product families, plan tiers and observed prices ----------


def test_product_families_by_separator_or_explicit_mapping() -> None:
    from cs_playbook.expansion.prices import family_map

    values = ["platform_basic", "platform_pro", "automation_credits", "API", "Analytics"]
    fam = family_map(values, make_params())
    assert fam == {
        "platform_basic": "platform",
        "platform_pro": "platform",
        "automation_credits": "automation_credits",  # no other "automation_*": its own family
        "API": "API",
        "Analytics": "Analytics",
    }
    explicit = make_params(families={"Analytics": "API"}, plan_separator="")
    assert family_map(values, explicit)["Analytics"] == "API"
    assert family_map(values, explicit)["platform_pro"] == "platform_pro"  # separator off


def test_a_plan_upgrade_is_an_upsell_of_the_same_product_not_a_cross_sell() -> None:
    from cs_playbook.expansion.prices import with_families

    s = subs(
        line("A", "2024-01-01", "2024-12-31", 2160, 10, product="platform_basic"),
        line("A", "2025-01-01", None, 4320, 10, product="platform_pro"),  # same seats, the next plan up
        line("B", "2024-01-01", None, 2160, 10, product="platform_basic"),
        line("C", "2024-01-01", "2024-12-31", 4320, 10, product="platform_pro"),
        line("C", "2025-01-01", None, 2160, 10, product="platform_basic"),  # a downgrade
    )
    p = make_params()
    fam = with_families(s, p)
    assert set(fam["product"]) == {"platform"}
    assert fam.set_index("subscription_id")["plan_rank"].tolist() == [0, 1, 0, 1, 0]
    obs = pd.DataFrame({"account_id": ["A", "C"], "obs_date": [pd.Timestamp("2024-12-01")] * 2})
    out = expansion_outcomes(fam, obs, horizon_months=3).set_index("account_id")
    assert out.loc["A", "seat_upsell"] and not out.loc["A", "cross_sell"] and out.loc["A", "expansion_arr"] == 2160
    assert not out.loc["C", "expanded"] and out.loc["C", "contracted"] and out.loc["C", "contraction_arr"] == 2160
    raw = expansion_outcomes(s, obs, horizon_months=3).set_index("account_id")
    assert raw.loc["A", "cross_sell"]  # without families the new plan would look like a new product


def test_price_list_defaults_to_observed_prices_and_params_override() -> None:
    from cs_playbook.expansion.prices import fit_price_list, price_table

    s = subs(
        line("A", "2025-03-01", None, 2160, 10, product="platform_basic"),  # 216 per seat
        line("B", "2025-04-01", None, 4400, 20, product="platform_basic"),  # 220 per seat
        line("C", "2025-05-01", None, 13200, 30, product="platform_pro"),  # 440 per seat
        line("A", "2025-03-01", None, 1200, None, product="credits"),
        line("B", "2025-03-01", None, 3000, None, product="credits"),
        line("C", "2020-01-01", "2020-12-31", 500, 5, product="legacy_x"),  # only before the window
    )
    as_of = pd.Timestamp("2025-06-30")
    given = ExpansionParams.model_validate({"addressable_share": {"default": 0.5}})
    fitted, observed = fit_price_list(given, s, as_of=as_of)
    assert fitted.base_product == "platform"  # the per-seat family with the most ARR today
    assert fitted.products["platform"].list_price == 218.0  # the entry plan: median of 216 and 220
    assert fitted.products["credits"].pricing == "usage_tiers" and fitted.products["credits"].tiers == [1200, 3000]
    assert fitted.products["legacy_x"].list_price == 100.0  # no recent line: all its lines
    pro = observed[observed["plan"] == "platform_pro"].iloc[0]
    assert pro["plan_rank"] == 1 and pro["price"] == 440.0
    over = ExpansionParams.model_validate(
        {
            "addressable_share": {"default": 0.5},
            "products": {
                "credits": {"usage_event_types": ["run"]},
                "legacy_x": {"pricing": "per_seat", "list_price": 1},
            },
        }
    )
    fitted2, observed2 = fit_price_list(over, s, as_of=as_of)
    assert fitted2.products["credits"].tiers == [1200, 3000] and fitted2.products["credits"].usage_event_types == [
        "run"
    ]
    assert fitted2.products["legacy_x"].list_price == 1
    table = price_table(fitted2, observed2, given=over).set_index("product")
    assert table.loc["credits", "source"] == "observed + params" and table.loc["legacy_x", "source"] == "params"
    assert table.loc["platform", "plans"] == "platform_basic (218), platform_pro (440)"


def test_company_wide_accounts_only_run_the_whitespace() -> None:
    """One department per account (department empty everywhere): the pandas-3 str/float crash of whitespace_by_segment."""
    from cs_playbook.expansion.prices import fit_price_list, with_families
    from cs_playbook.expansion.whitespace import analyse_whitespace

    s = subs(
        line("A", "2025-01-01", None, 2160, 10, product="platform_basic"),
        line("B", "2025-01-01", None, 8640, 20, product="platform_pro"),
        line("B", "2025-01-01", None, 1200, None, product="credits"),
    )
    s["department"] = pd.array([pd.NA] * 3, dtype="string")
    s["account_id"] = s["account_id"].astype("string")
    acc = accounts(("A", "smb", 100), ("B", "enterprise", 200))
    acc["account_id"] = acc["account_id"].astype("string")
    as_of = pd.Timestamp("2025-06-30")
    params, _ = fit_price_list(ExpansionParams.model_validate({"addressable_share": {"default": 0.5}}), s, as_of=as_of)
    ws = analyse_whitespace(acc, with_families(s, params), params, as_of=as_of)
    assert set(ws.plays["play"]) == {"seat_upsell", "cross_sell"}  # credits: one observed level, B holds it
    assert ws.by_segment["counted_arr"].dtype == "float64"
    assert ws.by_segment["counted_arr"].sum() == pytest.approx(ws.total_arr)


def test_jp_demo_observed_prices_recover_its_price_list(demo_ds) -> None:
    from cs_playbook.expansion.prices import fit_price_list

    given = ExpansionParams.model_validate({"addressable_share": {"default": 0.3}})
    fitted, observed = fit_price_list(given, demo_ds.subscriptions, as_of=demo_ds.as_of)
    assert fitted.base_product == "Platform" and fitted.usage_products() == ["API"]
    assert fitted.products["API"].tiers == [600000, 1200000, 2400000]  # the demo's tiers, from the contracts
    assert fitted.products["Analytics"].list_price == 6000 and fitted.products["Workflow"].list_price == 4000
    assert observed["plan_rank"].eq(0).all()  # no plan tiers in the JP demo


def test_decision_box_and_lead_actions_in_the_report_language() -> None:
    from cs_playbook.expansion.summary import decision_figures, driver_rows, in_language, lead_actions
    from cs_playbook.i18n import messages

    params = in_language(make_params(), "ja")
    assert params.reason_language == "ja" and params.play_label("cross_sell") == "クロスセル"
    assert (
        in_language(make_params(plays={"labels": {"cross_sell": "クロス"}}), "en").play_label("cross_sell")
        == "Cross-sell"
    )
    cut = pd.DataFrame(
        {
            "account_id": ["A", "B", "C", "D"],
            "play": ["seat_upsell", "cross_sell", "seat_upsell", "seat_upsell"],
            "expected_arr": [300_000.0, 200_000.0, 100_000.0, 50_000.0],
            "within_capacity": [True, True, True, False],
            "guarded": [False, False, False, True],
        }
    )
    leads = pd.DataFrame(
        {
            "account_id": ["A", "B", "C"],
            "account_name": ["Alpha", "Beta", None],
            "owner": ["佐藤", "(unassigned)", "鈴木"],
            "play": ["席数アップセル: Platform", "クロスセル: API", "席数アップセル: Platform"],
            "product": ["Platform", "API", "Platform"],
            "expected_arr": [300_000.0, 200_000.0, 100_000.0],
            "probability": [0.5, 0.4, 0.3],
        }
    )
    box = decision_figures(leads, cut, guarded_before=3, params=params, currency="JPY", lang="ja")
    assert [f["value"] for f in box] == ["60万円", "3件", "席数アップセル（2件・40万円）", "1社"]
    assert box[3]["change"] == "▼ -2" and box[3]["direction"] == "good"  # fewer customers held back than last quarter
    assert decision_figures(leads, cut, guarded_before=None, params=params, currency="JPY")[3]["change"] is None
    actions = lead_actions(leads, as_of=pd.Timestamp("2026-09-30"), params=params, lang="ja")
    assert list(actions["owner"]) == ["佐藤", "担当なし（プール）", "鈴木"]
    assert list(actions["account_name"]) == ["Alpha", "Beta", "C"]
    assert actions["action"].iloc[1] == "クロスセルを提案（API）"
    assert (actions["deadline"] == pd.Timestamp("2026-10-30")).all()
    drivers = pd.DataFrame(
        {
            "signal": ["champion", "segment=smb"],
            "term": ["champion", "segment=smb"],
            "coef": [0.3, -0.1],
            "ci_lo": [0.1, -0.3],
            "ci_hi": [0.5, 0.1],
            "odds_ratio": [1.35, 0.905],
            "or_lo": [1.1, 0.74],
            "or_hi": [1.65, 1.1],
            "p_value": [0.001, 0.4],
            "expected": ["+", ""],
            "agrees": [True, pd.NA],
            "in_model": [True, True],
        }
    )
    rows = driver_rows(drivers, messages("ja"))
    assert list(rows["signal"]) == ["チャンピオン", "セグメント (SMB)"] and list(rows["odds_ratio"]) == ["1.35", "0.91"]
