"""ROI: cash-flow arithmetic, scenarios, tornado, Monte Carlo and realized value against hand-computed cases.

The tiny world: one template, benefit = users x value per user (JPY/user/month), a one-off setup
fee, a monthly admin cost, ARR 12,000 billed annually in advance, horizon 12 months, ramp 50% in
month 1. Account A has 10 active users on average over the last three months (8, 10, 12).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from cs_playbook.data.revenue import monthly_mrr
from cs_playbook.data.usage import account_usage
from cs_playbook.errors import CsPlaybookError, ParamsError
from cs_playbook.params import UsageParams, load_params
from cs_playbook.roi import scenarios
from cs_playbook.roi.cashflow import (
    cash_flows,
    discount_factors,
    irr,
    irrs,
    npv,
    payback_month,
    subscription_schedule,
)
from cs_playbook.roi.facts import bind_inputs, contract_terms
from cs_playbook.roi.formula import FormulaError
from cs_playbook.roi.model import RoiParams, assign_models, compile_models, unused_account_models
from cs_playbook.roi.portfolio import TIER_ORDER, evaluate_portfolio, roi_by_tier
from cs_playbook.roi.summary import (
    consistency_checks,
    decision_figures,
    headline,
    portfolio_figures,
    previous_figures,
    summary_figures,
)
from cs_playbook.roi.views import focus_case, portfolio_sentence

AS_OF = pd.Timestamp("2026-10-31")

TEMPLATE = {
    "label": "Tiny",
    "scenario": "Users save time.",
    "inputs": {
        "users": {"unit": "user", "source": "measured", "metric": "active_users", "planned": 5},
        "value_per_user": {"unit": "JPY/user/month", "source": "assumption", "low": 500, "base": 1000, "high": 1500},
        "setup_fee": {"unit": "JPY", "source": "customer-stated", "low": 6000, "base": 6000, "high": 9000},
        "admin_cost": {"unit": "JPY/month", "source": "assumption", "low": 250, "base": 500, "high": 1000},
    },
    "benefits": {
        "saved": {"label": "Saved", "kind": "cost_reduction", "formula": "users * value_per_user", "unit": "JPY/month"}
    },
    "costs": {
        "setup": {"label": "Setup", "formula": "setup_fee", "unit": "JPY"},
        "admin": {"label": "Admin", "formula": "admin_cost", "unit": "JPY/month"},
    },
}


def make_params(template: dict | None = None, **top: object) -> RoiParams:
    data = {
        "horizon_months": 12,
        "discount_rate": 0.0,
        "subscription_billing": "annual",
        "ramp": [0.5],
        "measured_window_months": 3,
        "monte_carlo": {"draws": 2000, "seed": 1},
        "templates": {"t": copy.deepcopy(template or TEMPLATE)},
        "default_template": "t",
    }
    data.update(top)
    return RoiParams.model_validate(data)


def line(acc: str, start: str, end: str | None, arr: float, *, dept: str | None = None, product: str = "Platform"):
    return {
        "subscription_id": f"S-{acc}-{start}-{product}",
        "account_id": acc,
        "department": dept,
        "product": product,
        "start_date": pd.Timestamp(start),
        "end_date": pd.Timestamp(end) if end else pd.NaT,
        "arr": float(arr),
        "seats": 10.0,
        "auto_renew": True,
        "currency": "JPY",
    }


@pytest.fixture
def world() -> dict:
    accounts = pd.DataFrame(
        {
            "account_id": ["A", "B", "C"],
            "account_name": ["Alpha <b>株式会社</b>", "Beta", "Gamma"],
            "segment": ["smb", "smb", "enterprise"],
            "csm": ["X", None, "Y"],
        }
    )
    subs = pd.DataFrame(
        [
            line("A", "2025-11-01", "2026-10-31", 12_000),
            line("B", "2024-01-01", "2024-12-31", 12_000),  # churned: not a current customer
            line("C", "2026-01-01", None, 24_000),  # current, but no usage at all
        ]
    )
    months = pd.date_range("2025-11-01", "2026-10-01", freq="MS")
    users = [10.0] * 9 + [8.0, 10.0, 12.0]  # 120 user-months in total, last three average 10
    usage = pd.DataFrame({"account_id": "A", "period_start": months, "active_users": users})
    return {"accounts": accounts, "subs": subs, "usage": usage}


def evaluate(world: dict, params: RoiParams):
    models = compile_models(params, "JPY")
    res = evaluate_portfolio(params, models, world["accounts"], world["subs"], world["usage"], as_of=AS_OF)
    return models, res


# --- cash-flow arithmetic -------------------------------------------------------------------


def test_npv_irr_payback_by_hand() -> None:
    annual = 1.01**12 - 1  # 1% a month
    # -100 + 60 / 1.01 + 60 / 1.01^2 = -100 + 59.405940 + 58.817763 = 18.223704
    assert npv(np.array([-100.0, 60.0, 60.0]), annual) == pytest.approx(18.223704, abs=1e-6)
    # IRR: 60 x + 60 x^2 = 100 with x = 1 / (1 + r): x = (-60 + sqrt(3600 + 24000)) / 120
    x = (-60 + np.sqrt(27_600)) / 120
    monthly = 1 / x - 1  # 13.0662% a month
    assert irr(np.array([-100.0, 60.0, 60.0])) == pytest.approx((1 + monthly) ** 12 - 1, rel=1e-9)
    # Two sign changes: (1 + r) = 1.1 or 1.2 both solve -100 + 230 / (1 + r) - 132 / (1 + r)^2 = 0;
    # the root closest to zero is returned.
    assert irr(np.array([-100.0, 230.0, -132.0])) == pytest.approx(1.1**12 - 1, rel=1e-9)
    assert np.isnan(irr(np.array([100.0, 10.0]))) and np.isnan(irr(np.array([-100.0, -10.0])))
    # cumulative -100, -85, -45, -5, 35: ahead from month 4
    assert payback_month(np.array([-100.0, 15, 40, 40, 40])) == 4
    # cumulative -100, -40, 20, -10, 30: dips below again, so month 4 (not 2)
    assert payback_month(np.array([-100.0, 60, 60, -30, 40])) == 4
    assert np.isnan(payback_month(np.array([-100.0, 60, 60, -50, 10])))  # ends at -20
    assert payback_month(np.array([0.0, 10, 10])) == 0


def test_irr_of_many_rows_equals_irr_of_each() -> None:
    flows = np.array([[-100.0, 60.0, 60.0], [-100.0, 230.0, -132.0], [100.0, 10.0, 5.0], [-5.0, 1.0, 1.0]])
    got = irrs(flows)
    want = [irr(row) for row in flows]
    assert np.array_equal(got, np.array(want), equal_nan=True)  # the same bits, NaN where there is no IRR
    assert irrs(flows[0]).shape == (1,) and irrs(flows[0])[0] == irr(flows[0])


def test_schedules_and_cash_flows_by_hand() -> None:
    annual = subscription_schedule(36, "annual")
    assert list(np.nonzero(annual)[0]) == [0, 12, 24] and annual.sum() == 3
    monthly = subscription_schedule(12, "monthly")
    assert monthly[0] == 0 and monthly[1:].sum() == pytest.approx(1.0)
    assert discount_factors(12, 0.08)[12] == pytest.approx(1 / 1.08)
    # benefit 50/month with ramp 50%, 100%, 100%, 100%; admin 5/month; setup 100; ARR 120 billed monthly (10)
    cf = cash_flows(50.0, 5.0, 100.0, 120.0, ramp=np.array([0.5, 1, 1, 1]), billing="monthly")
    assert cf["net"].tolist() == [-100.0, 10.0, 35.0, 35.0, 35.0]
    assert cf["cumulative"].tolist() == [-100.0, -90.0, -55.0, -20.0, 15.0]
    assert payback_month(cf["net"].to_numpy()) == 4


# --- one account: scenarios, tornado ----------------------------------------------------------


def test_scenarios_against_hand_computed_values(world: dict) -> None:
    models, res = evaluate(world, make_params())
    sc = res.scenarios.set_index(["account_id", "scenario"])
    base = sc.loc[("A", "base")]
    # B = 10 users x 1,000 = 10,000/month; benefit = 10,000 x (0.5 + 11) = 115,000
    # cost = setup 6,000 + admin 500 x 12 + ARR 12,000 (annual, month 0) = 24,000
    assert base["benefit_annual"] == pytest.approx(120_000)
    assert base["benefit_total"] == pytest.approx(115_000)
    assert base["cost_total"] == pytest.approx(24_000)
    assert base["roi"] == pytest.approx(91_000 / 24_000)
    assert base["npv"] == pytest.approx(91_000)  # no discounting
    # flows: -18,000, 4,500, then 9,500: cumulative -13,500, -4,000, +5,500 -> month 3
    assert base["payback_month"] == 3
    flows = np.r_[-18_000.0, 4_500.0, np.full(11, 9_500.0)]
    assert base["irr"] == pytest.approx(irr(flows), rel=1e-9)
    # conservative: users 8 (lowest month), 500/user, setup 9,000, admin 1,000 -> 46,000 / 33,000
    assert sc.loc[("A", "conservative"), "roi"] == pytest.approx((46_000 - 33_000) / 33_000)
    # optimistic: users 12, 1,500/user, setup 6,000, admin 250 -> 207,000 / 21,000
    assert sc.loc[("A", "optimistic"), "roi"] == pytest.approx((207_000 - 21_000) / 21_000)
    assert "C" not in sc.index.get_level_values(0)  # incomplete: no usage


def test_closed_form_npv_equals_month_by_month_cash_flows(world: dict) -> None:
    params = make_params(discount_rate=0.12, subscription_billing="monthly", horizon_months=24, ramp=[0.2, 0.6])
    models, res = evaluate(world, params)
    cf = scenarios.account_cash_flows(res.inputs, models, res.terms, params, "A", scenario_values=res.scenario_values)
    sc = res.scenarios.set_index(["account_id", "scenario"])
    for scenario in scenarios.SCENARIOS:
        flows = cf.loc[cf["scenario"] == scenario, "net"].to_numpy()
        row = sc.loc[("A", scenario)]
        assert row["npv"] == pytest.approx(npv(flows, 0.12), rel=1e-10)
        assert row["payback_month"] == payback_month(flows) or (
            np.isnan(row["payback_month"]) and np.isnan(payback_month(flows))
        )
        assert row["net_benefit"] == pytest.approx(flows.sum(), rel=1e-10)
        assert npv(flows, row["irr"]) == pytest.approx(0, abs=1e-6 * np.abs(flows).sum())


def test_tornado_swings_by_hand(world: dict) -> None:
    _, res = evaluate(world, make_params())
    t = res.tornado[res.tornado["account_id"] == "A"].set_index("input")
    # value per user: 10 users x (1,500 - 500) x 11.5 ramped months = 115,000
    assert t.at["value_per_user", "swing"] == pytest.approx(115_000)
    assert t.at["users", "swing"] == pytest.approx((12 - 8) * 1000 * 11.5)
    assert t.at["admin_cost", "swing"] == pytest.approx((1000 - 250) * 12)
    assert t.at["setup_fee", "swing"] == pytest.approx(3000)
    assert t.index[0] == "value_per_user"  # largest swing first
    assert (t["npv_base"] == 91_000).all()


# --- Monte Carlo ----------------------------------------------------------------------------


def test_monte_carlo_is_reproducible_and_per_account(world: dict) -> None:
    params = make_params()
    models, res = evaluate(world, params)
    a = scenarios.monte_carlo(res.inputs, models, res.terms, params, draws=3000, seed=7)
    b = scenarios.monte_carlo(res.inputs, models, res.terms, params, draws=3000, seed=7)
    c = scenarios.monte_carlo(res.inputs, models, res.terms, params, draws=3000, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert a["roi_p50"].iloc[0] != c["roi_p50"].iloc[0]
    # The same account's draws do not depend on which other accounts are simulated.
    alone = scenarios.simulate_account(res.inputs, models, res.terms, params, "A", draws=3000, seed=7)
    assert np.percentile(alone["roi"], 50) == pytest.approx(a.set_index("account_id").at["A", "roi_p50"])


def test_monte_carlo_converges_to_the_base_case(world: dict) -> None:
    params = make_params()
    models, res = evaluate(world, params)
    base_roi = res.scenarios.set_index(["account_id", "scenario"]).at[("A", "base"), "roi"]
    collapsed = res.inputs.assign(low=res.inputs["base"], high=res.inputs["base"])
    sim = scenarios.monte_carlo(collapsed, models, res.terms, params, draws=500).set_index("account_id")
    for col in ("roi_p10", "roi_p50", "roi_p90", "roi_mean"):
        assert sim.at["A", col] == pytest.approx(base_roi, rel=1e-12)
    assert sim.at["A", "p_roi_positive"] == 1.0
    errors, spreads = [], []
    for eps in (1.0, 0.1, 0.01):
        shrunk = res.inputs.assign(
            low=res.inputs["base"] - eps * (res.inputs["base"] - res.inputs["low"]),
            high=res.inputs["base"] + eps * (res.inputs["high"] - res.inputs["base"]),
        )
        s = scenarios.monte_carlo(shrunk, models, res.terms, params, draws=4000).set_index("account_id").loc["A"]
        errors.append(abs(s["roi_p50"] - base_roi))
        spreads.append(s["roi_p90"] - s["roi_p10"])
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.01 * base_roi
    assert spreads[0] > spreads[1] > spreads[2] and spreads[2] < 0.05 * spreads[0]


@pytest.mark.parametrize(("dist", "mean"), [("pert", (800 + 4 * 1000 + 2000) / 6), ("triangular", 3800 / 3)])
def test_monte_carlo_draws_follow_the_stated_distribution(world: dict, dist: str, mean: float) -> None:
    template = copy.deepcopy(TEMPLATE)
    template["inputs"]["value_per_user"].update(low=800, base=1000, high=2000, distribution=dist)
    params = make_params(template)
    models, res = evaluate(world, params)
    only_value = res.inputs.assign(
        low=np.where(res.inputs["input"] == "value_per_user", res.inputs["low"], res.inputs["base"]),
        high=np.where(res.inputs["input"] == "value_per_user", res.inputs["high"], res.inputs["base"]),
    )
    draws = scenarios.simulate_account(only_value, models, res.terms, params, "A", draws=20_000, seed=3)
    # benefit total = 10 users x value x 11.5 months: its mean reveals the mean of the input's draws
    assert (draws["benefit_total"] / (10 * 11.5)).mean() == pytest.approx(mean, rel=0.005)
    assert draws["benefit_total"].min() >= 10 * 800 * 11.5 and draws["benefit_total"].max() <= 10 * 2000 * 11.5


def test_portfolio_without_simulation_keeps_every_other_figure(world: dict) -> None:
    """Last quarter's figures skip the Monte Carlo: every figure but the probability of a positive ROI is the same."""
    params = make_params()
    models, full = evaluate(world, params)
    quick = evaluate_portfolio(
        params, models, world["accounts"], world["subs"], world["usage"], as_of=AS_OF, simulate=False
    )
    simulated = ["p_roi_positive", "roi_p10", "roi_p50", "roi_p90"]
    assert quick.table[simulated].isna().all().all() and full.table["p_roi_positive"].notna().any()
    pd.testing.assert_frame_equal(quick.table.drop(columns=simulated), full.table.drop(columns=simulated))
    pd.testing.assert_frame_equal(quick.scenarios, full.scenarios)
    assert quick.tornado.empty and quick.scenario_values.empty and quick.simulation.empty
    now, before = portfolio_figures(full.table), portfolio_figures(quick.table)
    assert before["p_roi_positive_mean"] is None
    assert {k: v for k, v in before.items() if k != "p_roi_positive_mean"} == {
        k: v for k, v in now.items() if k != "p_roi_positive_mean"
    }

    class Previous:  # the previous quarter's state: its as_of, usage and risk
        as_of, usage, risk = AS_OF, world["usage"], None

    assert previous_figures(params, models, world["accounts"], world["subs"], Previous()) == before
    assert previous_figures(params, models, world["accounts"], world["subs"], None) is None


# --- facts: contracts and usage ---------------------------------------------------------------


def test_contract_terms_follow_the_current_run() -> None:
    subs = pd.DataFrame([line("R", "2024-01-01", "2024-12-31", 1200), line("R", "2025-03-01", "2026-02-28", 2400)])
    as_of = pd.Timestamp("2025-06-30")
    terms = contract_terms(monthly_mrr(subs, end=as_of), subs, as_of=as_of).set_index("account_id")
    # churned after December 2024, reactivated in March 2025: the current run was signed in March
    assert terms.at["R", "signing_month"] == pd.Timestamp("2025-03-01")
    assert terms.at["R", "arr"] == 2400 and terms.at["R", "arr_at_signing"] == 2400
    assert terms.at["R", "months_since_signing"] == 4 and terms.at["R", "seats_at_signing"] == 10


def test_measured_inputs_bind_to_the_window(world: dict) -> None:
    params = make_params()
    models = compile_models(params, "JPY")
    asg = assign_models(params, world["accounts"], world["subs"], as_of=AS_OF)
    terms = contract_terms(monthly_mrr(world["subs"], end=AS_OF), world["subs"], as_of=AS_OF)
    inputs = bind_inputs(asg, models, terms, world["usage"], as_of=AS_OF, window_months=3).set_index(
        ["account_id", "input"]
    )
    row = inputs.loc[("A", "users")]
    assert (row["low"], row["base"], row["high"], row["planned"], row["months_observed"]) == (8, 10, 12, 5, 3)
    assert bool(inputs.loc[("C", "users"), "missing"]) and not bool(row["missing"])
    wider = bind_inputs(asg, models, terms, world["usage"], as_of=AS_OF, window_months=12).set_index(
        ["account_id", "input"]
    )
    assert wider.loc[("A", "users"), "base"] == pytest.approx(120 / 12)
    assert wider.loc[("A", "users"), "months_observed"] == 12


def test_measured_input_follows_the_usage_data(demo_ds) -> None:
    params = load_params("roi", RoiParams)
    models = compile_models(params, demo_ds.currency)
    usage_params = load_params("usage_metrics", UsageParams)
    asg = assign_models(params, demo_ds.accounts, demo_ds.subscriptions, as_of=demo_ds.as_of)
    terms = contract_terms(
        monthly_mrr(demo_ds.subscriptions, end=demo_ds.as_of), demo_ds.subscriptions, as_of=demo_ds.as_of
    )
    before = account_usage(demo_ds.events, demo_ds.subscriptions, usage_params)
    inp1 = bind_inputs(asg, models, terms, before, as_of=demo_ds.as_of)
    users1 = inp1[inp1["input"] == "active_users"].set_index("account_id")["base"]
    acc = users1.idxmax()
    ev = demo_ds.events
    window = pd.Timestamp("2026-08-01")
    seen = ev.filter((ev.account_id == acc) & (ev.event_time >= window)).select("user_id").distinct().to_pandas()
    dropped = sorted(seen["user_id"])[: len(seen) // 2]
    # The same events without half of that account's recent users, filtered inside DuckDB.
    after = account_usage(
        ev.filter(~((ev.account_id == acc) & ev.user_id.isin(dropped))), demo_ds.subscriptions, usage_params
    )
    inp2 = bind_inputs(asg, models, terms, after, as_of=demo_ds.as_of)
    users2 = inp2[inp2["input"] == "active_users"].set_index("account_id")["base"]
    assert users2[acc] < users1[acc]
    assert users2.drop(acc).equals(users1.drop(acc))
    roi1 = scenarios.scenarios(inp1[inp1["account_id"] == acc], models, terms, params)
    roi2 = scenarios.scenarios(inp2[inp2["account_id"] == acc], models, terms, params)
    assert roi2.loc[roi2["scenario"] == "base", "npv"].iloc[0] < roi1.loc[roi1["scenario"] == "base", "npv"].iloc[0]


def test_realized_to_date_by_hand(world: dict) -> None:
    _, res = evaluate(world, make_params())
    r = res.realized.set_index("account_id").loc["A"]
    assert r["window_start"] == pd.Timestamp("2025-11-01") and r["window_months"] == 12
    # realized: 120 user-months x 1,000 = 120,000; projected: 5 planned users x 1,000 x 11.5 = 57,500
    assert r["benefit_realized"] == pytest.approx(120_000) and r["benefit_projected"] == pytest.approx(57_500)
    # costs: fees 12 x 1,000 + setup 6,000 + admin 12 x 500 = 24,000 on both sides
    assert r["cost_realized"] == pytest.approx(24_000) and r["cost_projected"] == pytest.approx(24_000)
    assert r["roi_realized"] == pytest.approx(4.0)
    assert r["value_realization"] == pytest.approx(120_000 / 57_500)
    proj = res.projected.set_index("account_id").loc["A"]
    assert proj["roi_projected_at_signing"] == pytest.approx((57_500 - 24_000) / 24_000)


# --- portfolio --------------------------------------------------------------------------------


def test_portfolio_status_health_and_renewal_risk(world: dict) -> None:
    params = make_params(realization_alert=0.5, realization_min_months=3)
    low_usage = world | {"usage": world["usage"].assign(active_users=1.0)}  # 12 user-months vs 57.5 planned
    models = compile_models(params, "JPY")
    health = pd.DataFrame({"account_id": ["A"], "health_tier": ["bad"], "health_score": [31.0]})
    res = evaluate_portfolio(
        params, models, world["accounts"], world["subs"], low_usage["usage"], as_of=AS_OF, health=health
    )
    t = res.table.set_index("account_id")
    assert list(t.index) == ["C", "A"]  # largest ARR first; B has no active contract
    assert t.at["A", "status"] == "modeled" and t.at["C", "status"] == "incomplete"
    assert "no usage data" in t.at["C", "reason"] and "active_users" in t.at["C", "reason"]
    assert t.at["A", "value_realization"] == pytest.approx(12_000 / 57_500) and bool(t.at["A", "renewal_risk"])
    assert t.at["A", "health_tier"] == "bad" and t.at["C", "health_tier"] == "unknown"
    tiers = roi_by_tier(res.table).set_index("health_tier")
    assert tiers.at["bad", "renewal_risk_arr"] == 12_000 and tiers.at["unknown", "modeled"] == 0
    figures = summary_figures(res)
    assert figures["accounts_with_contract"] == 2 and figures["accounts_incomplete"] == 1
    assert figures["renewal_risk_accounts"] == 1
    assert figures["renewal_risk_accounts_by_tier"] == {"bad": 1, "unknown": 0}  # keyed by code, not label
    assert headline(figures, "JPY")["Renewal risk: value far below plan"] == "1 accounts, ¥12.0K ARR"
    assert all(consistency_checks(res).values())


def test_tiers_group_by_code_whatever_the_labels(world: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cs_playbook.modeling.scorecard import TierLabels
    from cs_playbook.plots import roi as charts

    world["subs"] = pd.concat(
        [world["subs"], pd.DataFrame([line("D", "2025-11-01", None, 6_000), line("E", "2025-11-01", None, 3_000)])]
    )
    world["accounts"] = pd.concat(
        [world["accounts"], pd.DataFrame({"account_id": ["D", "E"], "account_name": ["D", "E"], "segment": "smb"})]
    )
    world["usage"] = pd.concat(
        [world["usage"], world["usage"].assign(account_id="D"), world["usage"].assign(account_id="E")]
    )
    health = pd.DataFrame({"account_id": ["A", "C", "D"], "health_tier": ["bad", "good", "normal"]})
    params = make_params()
    res = evaluate_portfolio(
        params,
        compile_models(params, "JPY"),
        world["accounts"],
        world["subs"],
        world["usage"],
        as_of=AS_OF,
        health=health,
    )
    by_tier = roi_by_tier(res.table)
    assert list(by_tier["health_tier"]) == list(TIER_ORDER)  # good, normal, bad, then E without a score
    assert list(by_tier["accounts"]) == [1, 1, 1, 1] and by_tier["arr"].tolist() == [24_000, 6_000, 12_000, 3_000]
    ja = TierLabels(good="良好", normal="普通", bad="要注意")
    shown = ja.apply(by_tier["health_tier"])
    assert shown.tolist() == ["良好", "普通", "要注意", "unknown"]  # labels only when shown
    assert roi_by_tier(res.table).equals(by_tier)  # nothing in the grouping depends on a label
    ax = charts.roi_by_tier_bars(by_tier, labels=ja)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["普通", "要注意", "unknown"]  # C (good) has no case
    assert ax.get_title() == "unknown accounts show a median ROI of 667%, 要注意 379%"  # labelled, not coded
    scatter = charts.roi_vs_arr(res.table, labels=ja)
    assert {t.get_text() for t in scatter.get_legend().get_texts()} == {"普通", "要注意", "unknown"}
    plt.close("all")


def test_portfolio_from_the_quarter_state(demo_ds, quarter_state) -> None:
    """The notebook's inputs: the state's usage binds every measured input, its risk gives the tiers."""
    params = load_params("roi", RoiParams, overrides={"monte_carlo": {"draws": 200}})
    models = compile_models(params, demo_ds.currency)
    res = evaluate_portfolio(
        params,
        models,
        demo_ds.accounts,
        demo_ds.subscriptions,
        quarter_state.usage,
        as_of=quarter_state.as_of,
        health=quarter_state.risk,
    )
    measured = res.inputs[res.inputs["source"] == "measured"]
    assert set(measured["metric"]) <= set(quarter_state.usage.columns)
    assert quarter_state.usage["period_start"].max() <= quarter_state.as_of
    tiers = res.table.set_index("account_id")["health_tier"]
    state = quarter_state.accounts.set_index("account_id")["health_tier"]
    scored = tiers.index.intersection(state.index)
    assert len(scored) / len(tiers) > 0.95  # the state scores the accounts with an active contract on as_of
    assert (tiers[scored] == state[scored].astype(str)).all()
    assert set(tiers) <= set(TIER_ORDER)
    assert all(consistency_checks(res).values())
    focus = focus_case(res)
    assert focus is not None and focus.row["status"] == "modeled" and len(focus.draws) == 200
    assert focus.row["account_name"] in focus.sentence(demo_ds.currency)


def test_assignment_rules_accounts_exclusions() -> None:
    accounts = pd.DataFrame(
        {"account_id": ["E1", "E2", "M1", "S1", "X1"], "segment": ["enterprise"] * 2 + ["mid", "smb", "smb"]}
    )
    subs = pd.DataFrame(
        [
            line("E1", "2026-01-01", None, 1, dept="営業部"),
            line("E2", "2026-01-01", None, 1, dept="人事部"),
            line("M1", "2026-01-01", None, 1),
            line("S1", "2026-01-01", None, 1, product="API"),
            line("X1", "2026-01-01", None, 1),
        ]
    )
    params = make_params(
        templates={"t": TEMPLATE, "sales": {"extends": "t", "label": "Sales"}, "api": {"extends": "t"}},
        assignment=[
            {"template": "sales", "segments": ["enterprise"], "departments": ["営業部"]},
            {"template": "api", "products": ["API"]},
        ],
        default_template=None,
        accounts={"M1": {"extends": "t"}, "Z9": {"extends": "t"}},
        excluded={"X1": "customer declined"},
    )
    asg = assign_models(params, accounts, subs, as_of=AS_OF).set_index("account_id")
    assert asg.at["E1", "model"] == "sales" and asg.at["E1", "assigned_by"] == "rule 1"
    assert pd.isna(asg.at["E2", "model"]) and "no template matches" in asg.at["E2", "reason"]
    assert asg.at["M1", "model"] == "M1" and asg.at["M1", "assigned_by"] == "account"
    assert asg.at["S1", "model"] == "api"
    assert asg.at["X1", "assigned_by"] == "excluded" and asg.at["X1", "reason"] == "customer declined"
    assert unused_account_models(params, asg.reset_index()) == ["Z9"]


# --- errors name the model, the item and the input -------------------------------------------


def with_change(path: list[str], value: object) -> dict:
    t = copy.deepcopy(TEMPLATE)
    node = t
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return t


@pytest.mark.parametrize(
    ("template", "error", "message"),
    [
        (
            with_change(["benefits", "saved", "formula"], "users * valu_per_user"),
            FormulaError,
            r"model templates\.t, benefit saved: unknown name valu_per_user \(did you mean value_per_user\?\)",
        ),
        (with_change(["benefits", "saved", "unit"], "JPY"), FormulaError, r"benefit saved: unit 'JPY' must be"),
        (
            with_change(["benefits", "saved", "formula"], "users + value_per_user"),
            FormulaError,
            r"model templates\.t, benefit saved: unit mismatch in 'users \+ value_per_user'",
        ),
        (
            with_change(["costs", "admin", "unit"], "JPY"),
            FormulaError,
            r"cost admin: unit mismatch: the formula gives JPY/month but the unit is JPY",
        ),
        (with_change(["benefits", "saved", "unit"], "USD/year"), FormulaError, "the report currency is JPY"),
        (
            with_change(
                ["benefits", "saved", "formula"], "users * value_per_user * setup_fee / (setup_fee - setup_fee)"
            ),
            FormulaError,
            r"benefit saved: division by zero in .*setup_fee - setup_fee is 0",
        ),
        (
            with_change(["inputs", "value_per_user", "base"], None),
            ParamsError,
            r"model templates\.t is invalid\n- templates\.t\.inputs\.value_per_user: Value error, the input has no base value",
        ),
        (with_change(["inputs", "value_per_user", "low"], 2000), ParamsError, "low <= base <= high"),
        (
            with_change(["inputs", "users", "low"], 3),
            ParamsError,
            "a measured input takes its values from the usage data",
        ),
        (
            with_change(["inputs", "extra"], {"unit": "user", "source": "assumption", "base": 1}),
            FormulaError,
            r"model templates\.t: input extra is not used by any formula",
        ),
        (
            with_change(["derived"], {"a": {"formula": "b"}, "b": {"formula": "a"}}),
            FormulaError,
            r"model templates\.t: circular reference a -> b -> a",
        ),
        (with_change(["inputs", "users", "unit"], "JPY)"), FormulaError, r"model templates\.t, input users: unit"),
    ],
)
def test_model_errors_name_model_item_and_input(world: dict, template: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        evaluate(world, make_params(template))


def test_template_chain_errors(tmp_path) -> None:
    with pytest.raises(ParamsError, match="extends unknown template 'nope'"):
        compile_models(make_params(accounts={"A": {"extends": "nope"}}), "JPY")
    loop = {"t": {**TEMPLATE, "extends": "u"}, "u": {"extends": "t"}}
    with pytest.raises(ParamsError, match="extend each other in a circle"):
        compile_models(make_params(templates=loop), "JPY")
    # Through the loader, as the notebook reads params/roi.yaml: errors name the file and the key.
    (tmp_path / "roi.yaml").write_text(
        "templates: {t: {}}\nassignment: [{template: nope}]\naccounts: {00123: {extends: t}}\n", encoding="utf-8"
    )
    with pytest.raises(ParamsError, match=r"roi\.yaml: invalid parameters") as err:
        load_params("roi", RoiParams, directory=tmp_path)
    assert "quoted text" in str(err.value)
    (tmp_path / "roi.yaml").write_text("templates: {t: {}}\nassignment: [{template: nope}]\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="unknown template nope"):
        load_params("roi", RoiParams, directory=tmp_path, source=tmp_path)  # no data-source overlay


def test_unknown_metric_names_model_input_and_metric(world: dict) -> None:
    template = with_change(["inputs", "users", "metric"], "activ_users")
    with pytest.raises(
        ParamsError, match=r"model templates\.t, input users: metric 'activ_users' is not a usage metric"
    ):
        evaluate(world, make_params(template))


def test_overrides_merge_field_by_field_and_switch_source(world: dict) -> None:
    params = make_params(
        accounts={
            "A": {
                "extends": "t",
                "inputs": {"users": {"source": "customer-stated", "base": 20}, "value_per_user": {"base": 1200}},
            }
        }
    )
    models, res = evaluate(world, params)
    inputs = res.inputs[res.inputs["account_id"] == "A"].set_index("input")
    assert inputs.at["users", "source"] == "customer-stated" and inputs.at["users", "base"] == 20
    assert (inputs.at["value_per_user", "low"], inputs.at["value_per_user", "high"]) == (500, 1500)
    base = res.scenarios.set_index(["account_id", "scenario"]).loc[("A", "base")]
    assert base["benefit_annual"] == pytest.approx(20 * 1200 * 12)


# --- the project's params on the demo company -------------------------------------------------


def test_project_params_on_the_demo_company(demo_ds) -> None:
    params = load_params("roi", RoiParams, overrides={"monte_carlo": {"draws": 300}})
    models = compile_models(params, demo_ds.currency)
    usage = account_usage(demo_ds.events, demo_ds.subscriptions, load_params("usage_metrics", UsageParams))
    res = evaluate_portfolio(params, models, demo_ds.accounts, demo_ds.subscriptions, usage, as_of=demo_ds.as_of)
    checks = consistency_checks(res)
    assert all(checks.values()), checks
    assert (res.table["status"] != "no_model").all()  # every account with a contract gets a model
    assert (res.table["status"] == "modeled").mean() > 0.9
    assert set(res.assignment["model"]) >= {"report_automation_smb", "report_automation", "sales_enablement"}
    # The sales template adds a revenue driver; the others only reduce costs.
    sales = res.scenarios[res.scenarios["model"] == "sales_enablement"]
    assert (sales["revenue_increase_annual"] > 0).all()
    other = res.scenarios[res.scenarios["model"] == "report_automation_smb"]
    assert (other["revenue_increase_annual"] == 0).all()


def test_errors_are_project_errors() -> None:
    assert issubclass(FormulaError, CsPlaybookError) and issubclass(ParamsError, CsPlaybookError)


# --- one-pagers and charts ---------------------------------------------------------------------


def test_one_pager_is_escaped_printable_and_plain(world: dict) -> None:
    from cs_playbook.roi.onepager import fmt_amount, fmt_value, render_one_pagers

    template = copy.deepcopy(TEMPLATE)
    template["scenario"] = "<script>alert(1)</script> 作業時間を削減する"
    template["inputs"]["value_per_user"]["note"] = '<img src=x onerror="alert(2)">'
    world["accounts"].loc[0, "account_name"] = "<b onmouseover=alert(3)>Alpha</b>"
    _, res = evaluate(world, make_params(template))
    doc = render_one_pagers(res, as_of=AS_OF, currency="JPY")
    assert "<script" not in doc and "<img" not in doc and "<b onmouseover" not in doc
    assert "&lt;script&gt;" in doc and "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in doc
    assert doc.count('<section class="page') == 2  # contents + account A (C has no complete case)
    assert "page-break-after: always" in doc and "@page" in doc
    assert "成功シナリオ" in doc and "ロジックとファクト" in doc and "お客様提示" in doc and "実測（利用ログ）" in doc
    assert "379%" in doc  # base ROI 91,000 / 24,000
    assert "3か月目" in doc  # payback
    assert "users（10人） × value_per_user（1,000円/人/月）" in doc
    assert fmt_amount(123_456_789) == "1.23億円" and fmt_amount(34_500_000) == "3,450万円"
    assert fmt_amount(8_000) == "8,000円" and fmt_amount(-250_000) == "−25万円" and fmt_amount(1.5e6, "USD") == "$1.5M"
    assert fmt_value(0.7, "share") == "70%" and fmt_value(4500, "JPY/hour") == "4,500円/時間"
    assert fmt_value(1.5, "hour/user/week") == "1.5時間/人/週" and fmt_value(46, "week/year") == "46週/年"


def test_charts_state_the_numbers_behind_them(world: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cs_playbook.plots import roi as charts

    params = make_params()
    models, res = evaluate(world, params)
    flows = scenarios.account_cash_flows(
        res.inputs, models, res.terms, params, "A", scenario_values=res.scenario_values
    )
    assert charts.cumulative_cash_flow(flows).get_title().startswith("The base case pays back in month 3")
    top = res.tornado[res.tornado["account_id"] == "A"]
    assert "value_per_user" in charts.tornado_chart(top).get_title()
    draws = scenarios.simulate_account(res.inputs, models, res.terms, params, "A", draws=500)
    share = (draws["roi"] > 0).mean()
    assert f"{share * 100:.0f}% of 500 simulated cases" in charts.simulation_histogram(draws).get_title()
    assert charts.roi_vs_arr(res.table).get_title() == "Median ROI 379%; 0 of 1 accounts are below zero"
    assert charts.realized_vs_projected(res.table).get_title().startswith("0 accounts realize")
    assert "Median ROI 379%" in charts.roi_by_tier_bars(roi_by_tier(res.table)).get_title()
    plt.close("all")
    sentence = portfolio_sentence(portfolio_figures(res.table), "JPY")
    assert "**379%**" in sentence and "pays back in month 3" in sentence and "¥120.0K a year" in sentence
    nothing = portfolio_figures(res.table[res.table["status"] != "modeled"])
    assert portfolio_sentence(nothing, "JPY").startswith("No account has a complete ROI case")


def test_without_roi_models_the_page_says_so_and_never_shows_demo_figures(world: dict, tmp_path) -> None:
    from cs_playbook.roi.views import no_model_message

    project = load_params("roi", RoiParams, source=tmp_path)  # the project's params alone: no templates
    assert project.templates == {} and project.assignment == [] and project.default_template is None
    models, res = evaluate(world, project)
    assert models == {} and res.assignment["model"].isna().all()
    message = no_model_message(res)
    assert "No ROI model for these accounts" in message and "docs/roi.md" in message and "no ROI template" in message
    figures = summary_figures(res)
    assert figures["accounts_with_model"] == 0 and figures["roi_templates"] == 0
    assert headline(figures, "USD") == {
        "Accounts with an ROI case": "none: no ROI model for these accounts (docs/roi.md: adding an ROI model)"
    }
    assert all(consistency_checks(res).values())
    box = decision_figures(figures, None, currency="USD", lang="ja")  # the decision box says nothing it cannot know
    assert [f["value"] for f in box] == ["$0", "—", "—", "—", "0社（ARR $0）"]
    _, modeled = evaluate(world, make_params())
    assert no_model_message(modeled) is None


def test_jp_demo_roi_models_are_next_to_the_demo(tmp_path) -> None:
    import shutil
    from pathlib import Path

    import cs_playbook.demo

    src = tmp_path / "jp_source"
    shutil.copytree(Path(cs_playbook.demo.__file__).parent / "params" / "jp", src / "params")
    jp = load_params("roi", RoiParams, source=src)
    assert jp.default_template == "report_automation" and {"A00034", "A00031", "A00035"} <= set(jp.accounts)
    assert len(compile_models(jp, "JPY")) >= 5


# --- the decision box and the page in Japanese ------------------------------------------------------


def test_decision_box_quotes_the_base_case_against_last_quarter_and_names_whom_to_call(world: dict) -> None:
    from cs_playbook.roi.views import actions

    params = make_params(realization_alert=0.5, realization_min_months=3)
    models = compile_models(params, "JPY")
    low_usage = world["usage"].assign(active_users=1.0)  # A realizes 12 of 57.5 planned user-months: a renewal risk
    res = evaluate_portfolio(params, models, world["accounts"], world["subs"], low_usage, as_of=AS_OF)
    now = portfolio_figures(res.table)
    assert now["roi_conservative_median"] <= now["roi_base_median"] <= now["roi_optimistic_median"]
    before = {
        **now,
        "benefit_annual_base": now["benefit_annual_base"] - 1_000,
        "roi_base_median": now["roi_base_median"] - 0.5,
        "renewal_risk_accounts": 0,
    }
    figs = decision_figures(now, before, currency="JPY", lang="ja")
    assert [f["label"] for f in figs] == [
        "顧客価値（年間・基本シナリオ）",
        "ROI中央値（基本シナリオ）",
        "ROI中央値の幅（保守〜楽観）",
        "回収期間（中央値）",
        "価値実現が計画を大きく下回る顧客",
    ]
    assert figs[0]["change"] == "▲ +¥1,000" and figs[0]["direction"] == "good"
    assert figs[1]["change"] == "▲ +50.0pt" and figs[1]["direction"] == "good"
    assert figs[3]["value"] == "期間内に回収せず" and figs[3]["change"] is None  # low usage: no payback
    assert figs[4]["value"] == "1社（ARR 1万円）" and figs[4]["change"] == "▲ +1" and figs[4]["direction"] == "bad"
    first = decision_figures(now, None, currency="JPY", lang="en")  # no previous quarter: values, no change
    assert first[0]["label"] == "Customer value per year (base)" and {f["change"] for f in first} == {None}

    focus = focus_case(res)
    todo = actions(res.table, focus, as_of=AS_OF, lang="ja")
    assert list(todo.columns) == ["account_name", "csm", "arr", "deadline", "action"]
    assert todo["account_name"].tolist() == ["Alpha <b>株式会社</b>"]  # A once: its risk, not again as the focus
    assert todo["action"].iloc[0].startswith("実現価値が計画の21%")  # 12,000 / 57,500
    assert todo["deadline"].iloc[0] == AS_OF + pd.Timedelta(days=30)
    sooner = actions(res.table, focus, as_of=AS_OF, next_renewal=pd.Series({"A": pd.Timestamp("2026-11-10")}))
    assert sooner["deadline"].iloc[0] == pd.Timestamp("2026-11-10")  # the renewal comes before 30 days


def test_roi_page_texts_in_japanese(world: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cs_playbook.plots import roi as charts
    from cs_playbook.roi.portfolio import facts_overview
    from cs_playbook.roi.views import facts_table, models_table, no_model_message

    params = make_params()
    models, res = evaluate(world, params)
    figures = summary_figures(res)
    assert headline(figures, "JPY", lang="ja") == {
        "ROIケースのある顧客": "1社／2社",
        "ROI中央値（基本シナリオ）": "379%",
        "顧客価値（年間・基本）": "12万円",
        "ROIがプラスになる確率（平均）": f"{figures['p_roi_positive_mean'] * 100:.0f}%",
        "更新リスク：価値実現が計画を大きく下回る": "0社、ARR ¥0",
    }
    sentence = portfolio_sentence(portfolio_figures(res.table), "JPY", lang="ja")
    assert "**379%のリターン**" in sentence and "3か月目に回収" in sentence and "年間12万円" in sentence
    assert models_table(models, res.assignment, lang="ja")["contribution"].tolist() == ["Saved（コスト削減）"]
    assert models_table(models, res.assignment)["contribution"].tolist() == ["Saved (cost reduction)"]
    facts = facts_table(facts_overview(res.inputs), models)
    assert list(facts.columns) == ["model_label", "input_label", "accounts", "without_data", "p10", "median", "p90"]
    assert facts[["model_label", "accounts", "without_data"]].values.tolist() == [["Tiny", 2, 1]]  # C has no usage
    assert (
        focus_case(res)
        .sentence("JPY", lang="ja")
        .startswith("**Alpha &lt;b&gt;株式会社&lt;/b&gt;**（Tiny、ARR 1万円）")
    )
    assert charts.roi_vs_arr(res.table, lang="ja").get_title() == "ROI中央値 379%。1社中0社がマイナス"
    assert charts.roi_by_tier_bars(roi_by_tier(res.table), lang="ja").get_xlabel() == "ヘルスティア"
    flows = scenarios.account_cash_flows(
        res.inputs, models, res.terms, params, "A", scenario_values=res.scenario_values
    )
    ax = charts.cumulative_cash_flow(flows, lang="ja")
    assert ax.get_title().startswith("基本シナリオは3か月目に回収")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["保守", "基本", "楽観"]
    plt.close("all")
    empty = make_params(templates={}, default_template=None)
    _, none = evaluate(world, empty)
    assert no_model_message(none, lang="ja").startswith("**これらの顧客にはROIモデルがありません**")
