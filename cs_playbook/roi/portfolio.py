"""The ROI portfolio: every current customer's return beside its ARR and health, and the renewal risks.

Joins the per-account results of `roi` and `roi_facts` into one row per account with an active
contract: modeled, incomplete (a measured input has no usage data) or without a model; ROI against
health tier and ARR; accounts whose realized value is far below what was projected at signing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_playbook.data.revenue import monthly_mrr
from cs_playbook.formatting import fmt_money, fmt_pct
from cs_playbook.roi import scenarios
from cs_playbook.roi.facts import bind_inputs, contract_terms, realized_to_date
from cs_playbook.roi.model import CompiledModel, RoiParams, assign_models

__all__ = [
    "TIERS",
    "RoiResults",
    "evaluate_portfolio",
    "portfolio",
    "roi_by_tier",
    "portfolio_figures",
    "headline",
    "consistency_checks",
    "model_overview",
    "facts_overview",
    "focus_account",
    "portfolio_sentence",
]

TIERS = ["GOOD", "NORMAL", "BAD", "unknown"]
UNKNOWN_TIER = "unknown"


def _status(assignment: pd.DataFrame, inputs: pd.DataFrame) -> pd.DataFrame:
    """account_id, status (modeled / incomplete / no_model), reason."""
    out = assignment[["account_id", "model", "reason"]].copy()
    missing = inputs[inputs["missing"].astype(bool)]
    desc = missing["label"].astype(str) + " (" + missing["metric"].astype(str) + ")"
    why = "no usage data for " + desc.groupby(missing["account_id"]).agg(", ".join)
    out["status"] = np.where(out["model"].isna(), "no_model", "modeled")
    inc = out["account_id"].isin(why.index) & out["model"].notna()
    out.loc[inc, "status"] = "incomplete"
    out.loc[inc, "reason"] = out.loc[inc, "account_id"].map(why)
    return out


def portfolio(
    assignment: pd.DataFrame,
    inputs: pd.DataFrame,
    scenario_table: pd.DataFrame,
    simulation: pd.DataFrame,
    projected: pd.DataFrame,
    realized: pd.DataFrame,
    terms: pd.DataFrame,
    accounts: pd.DataFrame,
    models: dict[str, CompiledModel],
    *,
    health: pd.DataFrame | None = None,
    realization_alert: float = 0.5,
    realization_min_months: int = 3,
) -> pd.DataFrame:
    """One row per account with an active contract, largest ARR first.

    `health` is a frame with account_id, health_tier and optionally health_score (e.g.
    health.current_risk); without it the tier is "unknown". Returns account_id, account_name,
    segment, csm, arr, model, model_label, status, reason, benefit_annual, cost_reduction_annual,
    revenue_increase_annual, roi_conservative, roi_base, roi_optimistic, npv_base, irr_base,
    payback_month, p_roi_positive, roi_p10, roi_p50, roi_p90, roi_projected_at_signing,
    roi_projected_to_date, roi_realized, value_realization, realized_months, renewal_risk,
    health_tier, health_score.
    """
    out = _status(assignment, inputs).merge(terms[["account_id", "arr"]], on="account_id", how="left")
    out = accounts[["account_id", "account_name", "segment", "csm"]].merge(out, on="account_id", how="right")
    out["model_label"] = out["model"].map(lambda m: models[m].spec.label if isinstance(m, str) and m in models else "")
    wide = scenario_table.pivot(index="account_id", columns="scenario", values="roi")
    wide.columns = [f"roi_{c}" for c in wide.columns.astype(str)]
    base = scenario_table[scenario_table["scenario"] == "base"].set_index("account_id")
    base = base[["benefit_annual", "cost_reduction_annual", "revenue_increase_annual", "npv", "irr", "payback_month"]]
    base = base.rename(columns={"npv": "npv_base", "irr": "irr_base"})
    out = out.merge(base, left_on="account_id", right_index=True, how="left")
    out = out.merge(wide, left_on="account_id", right_index=True, how="left")
    out = out.merge(
        simulation[["account_id", "p_roi_positive", "roi_p10", "roi_p50", "roi_p90"]], on="account_id", how="left"
    )
    out = out.merge(projected[["account_id", "roi_projected_at_signing"]], on="account_id", how="left")
    rz = realized[["account_id", "roi_projected_to_date", "roi_realized", "value_realization", "window_months"]]
    out = out.merge(rz.rename(columns={"window_months": "realized_months"}), on="account_id", how="left")
    out["realized_months"] = out["realized_months"].fillna(0).astype("int64")
    out["renewal_risk"] = (
        (out["value_realization"] < realization_alert) & (out["realized_months"] >= realization_min_months)
    ).fillna(False)
    if health is not None and "health_tier" in health.columns:
        h = health[["account_id", "health_tier"] + (["health_score"] if "health_score" in health.columns else [])]
        out = out.merge(h, on="account_id", how="left")
    if "health_score" not in out.columns:
        out["health_score"] = np.nan
    if "health_tier" not in out.columns:
        out["health_tier"] = UNKNOWN_TIER
    out["health_tier"] = out["health_tier"].astype("object").fillna(UNKNOWN_TIER).astype(str)
    cols = [
        "account_id",
        "account_name",
        "segment",
        "csm",
        "arr",
        "model",
        "model_label",
        "status",
        "reason",
        "benefit_annual",
        "cost_reduction_annual",
        "revenue_increase_annual",
        "roi_conservative",
        "roi_base",
        "roi_optimistic",
        "npv_base",
        "irr_base",
        "payback_month",
        "p_roi_positive",
        "roi_p10",
        "roi_p50",
        "roi_p90",
        "roi_projected_at_signing",
        "roi_projected_to_date",
        "roi_realized",
        "value_realization",
        "realized_months",
        "renewal_risk",
        "health_tier",
        "health_score",
    ]
    for c in cols:
        if c not in out.columns:
            out[c] = np.nan
    return out[cols].sort_values(["arr", "account_id"], ascending=[False, True]).reset_index(drop=True)


def roi_by_tier(table: pd.DataFrame) -> pd.DataFrame:
    """ROI and renewal risk per health tier (GOOD, NORMAL, BAD, unknown) over modeled accounts.

    Returns health_tier, accounts, modeled, arr, roi_base_median, p_roi_positive_mean,
    value_realization_median, renewal_risk_accounts, renewal_risk_arr.
    """
    t = table.copy()
    t["modeled"] = t["status"] == "modeled"
    t["risk_arr"] = np.where(t["renewal_risk"], t["arr"], 0.0)
    m = t[t["modeled"]]
    out = t.groupby("health_tier").agg(
        accounts=("account_id", "size"),
        modeled=("modeled", "sum"),
        arr=("arr", "sum"),
        renewal_risk_accounts=("renewal_risk", "sum"),
        renewal_risk_arr=("risk_arr", "sum"),
    )
    stats = m.groupby("health_tier").agg(
        roi_base_median=("roi_base", "median"),
        p_roi_positive_mean=("p_roi_positive", "mean"),
        value_realization_median=("value_realization", "median"),
    )
    out = out.join(stats).reset_index()
    order = {t: i for i, t in enumerate(TIERS)}
    out = out.sort_values("health_tier", key=lambda s: s.map(order).fillna(len(TIERS)))
    cols = ["health_tier", "accounts", "modeled", "arr", "roi_base_median", "p_roi_positive_mean"]
    cols += ["value_realization_median", "renewal_risk_accounts", "renewal_risk_arr"]
    return out[cols].reset_index(drop=True)


def portfolio_figures(table: pd.DataFrame) -> dict[str, float | int | None]:
    """Key portfolio figures for summary.json (raw numbers)."""
    m = table[table["status"] == "modeled"]

    def num(v: float) -> float | None:
        return None if pd.isna(v) else float(v)

    return {
        "accounts_with_contract": int(len(table)),
        "accounts_modeled": int(len(m)),
        "accounts_incomplete": int((table["status"] == "incomplete").sum()),
        "accounts_without_model": int((table["status"] == "no_model").sum()),
        "arr_modeled": float(m["arr"].sum()),
        "benefit_annual_base": float(m["benefit_annual"].sum()),
        "cost_reduction_annual_base": float(m["cost_reduction_annual"].sum()),
        "revenue_increase_annual_base": float(m["revenue_increase_annual"].sum()),
        "roi_base_median": num(m["roi_base"].median()),
        "share_roi_base_positive": num((m["roi_base"] > 0).mean()) if len(m) else None,
        "p_roi_positive_mean": num(m["p_roi_positive"].mean()),
        "payback_month_median": num(m["payback_month"].median()),
        "value_realization_median": num(m["value_realization"].median()),
        "renewal_risk_accounts": int(table["renewal_risk"].sum()),
        "renewal_risk_arr": float(table.loc[table["renewal_risk"], "arr"].sum()),
    }


def headline(figures: dict[str, float | int | None], currency: str) -> dict[str, str]:
    """The figures quoted on index.html, formatted for executives."""
    return {
        "Accounts with an ROI case": f"{figures['accounts_modeled']:,} of {figures['accounts_with_contract']:,}",
        "Median ROI (base case)": fmt_pct(figures["roi_base_median"], digits=0),
        "Customer value per year (base)": fmt_money(figures["benefit_annual_base"], currency),
        "Mean P(ROI > 0)": fmt_pct(figures["p_roi_positive_mean"], digits=0),
        "Renewal risk: value far below plan": (
            f"{figures['renewal_risk_accounts']:,} accounts, {fmt_money(figures['renewal_risk_arr'], currency)} ARR"
        ),
    }


def consistency_checks(
    table: pd.DataFrame, scenario_table: pd.DataFrame, simulation: pd.DataFrame, assignment: pd.DataFrame
) -> dict[str, bool]:
    """Identities that hold on any data; the notebook prints them and nbval compares the output."""
    npv = scenario_table.pivot(index="account_id", columns="scenario", values="npv")
    tol = 1e-6 * np.maximum(1.0, npv.abs().max(axis=1)) if len(npv) else 0
    ordered = (
        bool(((npv["conservative"] <= npv["base"] + tol) & (npv["base"] <= npv["optimistic"] + tol)).all())
        if len(npv)
        else True
    )
    sim = simulation
    return {
        "every_contracted_account_listed": bool(
            len(table) == len(assignment) and set(table["account_id"]) == set(assignment["account_id"])
        ),
        "scenarios_ordered_by_npv": ordered,
        "monte_carlo_percentiles_ordered": bool(
            ((sim["roi_p10"] <= sim["roi_p50"] + 1e-12) & (sim["roi_p50"] <= sim["roi_p90"] + 1e-12)).all()
        ),
        "probabilities_between_0_and_1": bool(sim["p_roi_positive"].between(0, 1).all()),
        "modeled_accounts_have_results": bool(table.loc[table["status"] == "modeled", "roi_base"].notna().all()),
    }


@dataclass
class RoiResults:
    """Everything the ROI notebook and the one-pagers show, computed once."""

    params: RoiParams
    models: dict[str, CompiledModel]
    assignment: pd.DataFrame
    terms: pd.DataFrame
    inputs: pd.DataFrame
    scenario_values: pd.DataFrame
    scenarios: pd.DataFrame
    tornado: pd.DataFrame
    simulation: pd.DataFrame
    projected: pd.DataFrame
    realized: pd.DataFrame
    table: pd.DataFrame


def evaluate_portfolio(
    params: RoiParams,
    models: dict[str, CompiledModel],
    accounts: pd.DataFrame,
    subscriptions: pd.DataFrame,
    usage: pd.DataFrame | None,
    *,
    as_of: pd.Timestamp,
    health: pd.DataFrame | None = None,
) -> RoiResults:
    """Assign models, bind the facts, and compute scenarios, sensitivity, Monte Carlo and realized ROI."""
    assignment = assign_models(params, accounts, subscriptions, as_of=as_of)
    monthly = monthly_mrr(subscriptions, end=as_of)
    terms = contract_terms(monthly, subscriptions, as_of=as_of)
    inputs = bind_inputs(assignment, models, terms, usage, as_of=as_of, window_months=params.measured_window_months)
    scen = scenarios.scenarios(inputs, models, terms, params)
    sim = scenarios.monte_carlo(inputs, models, terms, params)
    projected = scenarios.projected_at_signing(inputs, models, terms, params)
    realized = realized_to_date(inputs, models, terms, usage, monthly, as_of=as_of)
    table = portfolio(
        assignment,
        inputs,
        scen,
        sim,
        projected,
        realized,
        terms,
        accounts,
        models,
        health=health,
        realization_alert=params.realization_alert,
        realization_min_months=params.realization_min_months,
    )
    return RoiResults(
        params=params,
        models=models,
        assignment=assignment,
        terms=terms,
        inputs=inputs,
        scenario_values=scenarios.scenario_inputs(inputs, models, terms, params),
        scenarios=scen,
        tornado=scenarios.tornado(inputs, models, terms, params),
        simulation=sim,
        projected=projected,
        realized=realized,
        table=table,
    )


def model_overview(models: dict[str, CompiledModel], assignment: pd.DataFrame) -> pd.DataFrame:
    """The models in use: scenario, contribution numbers and their logic in words, sources, accounts.

    Returns model, label, scenario, contribution (benefit labels), logic (each benefit's formula
    with input labels), inputs, measured (labels of measured inputs), accounts.
    """
    counts = assignment["model"].value_counts()
    rows = []
    for name, m in models.items():
        if name not in counts.index:
            continue
        labels = {n: i.label or n for n, i in m.spec.inputs.items()} | {
            d: m.spec.derived[d].label or d for d in m.derived_order
        }
        logic = [f"{d.label or n} = {m.formulas[n].render(labels)}" for n, d in m.spec.derived.items()] + [
            f"{b.label} = {m.formulas[f'benefits.{k}'].render(labels)}" for k, b in m.spec.benefits.items()
        ]
        rows.append(
            {
                "model": name,
                "label": m.spec.label,
                "scenario": m.spec.scenario,
                "contribution": "; ".join(
                    f"{b.label} ({'cost reduction' if b.kind == 'cost_reduction' else 'revenue increase'})"
                    for b in m.spec.benefits.values()
                ),
                "logic": "\n".join(logic),
                "inputs": len(m.spec.inputs),
                "measured": ", ".join(m.spec.inputs[n].label or n for n in m.measured),
                "accounts": int(counts[name]),
            }
        )
    cols = ["model", "label", "scenario", "contribution", "logic", "inputs", "measured", "accounts"]
    return pd.DataFrame(rows, columns=cols).sort_values("accounts", ascending=False).reset_index(drop=True)


def facts_overview(inputs: pd.DataFrame) -> pd.DataFrame:
    """Measured inputs per model: the usage metric, how many accounts have data, and its spread.

    Returns model, input, label, metric, accounts, without_data, p10, median, p90 (of the base values).
    """
    m = inputs[inputs["source"] == "measured"]
    g = m.groupby(["model", "input", "label", "metric"], as_index=False)
    out = g.agg(
        accounts=("account_id", "size"),
        without_data=("missing", "sum"),
        p10=("base", lambda s: s.quantile(0.1)),
        median=("base", "median"),
        p90=("base", lambda s: s.quantile(0.9)),
    )
    return out.sort_values(["accounts", "model"], ascending=[False, True]).reset_index(drop=True)


def focus_account(table: pd.DataFrame, models: dict[str, CompiledModel]) -> str | None:
    """The account shown in detail: the largest ARR with its own model, else the largest modeled ARR."""
    modeled = table[table["status"] == "modeled"]
    own = modeled[modeled["model"] == modeled["account_id"]]
    pick = own if len(own) else modeled
    return None if pick.empty else str(pick.sort_values("arr", ascending=False)["account_id"].iloc[0])


def portfolio_sentence(figures: dict[str, float | int | None], currency: str) -> str:
    """The portfolio in two sentences an executive can quote (Markdown)."""
    if not figures["accounts_modeled"]:
        return "No account has a complete ROI case yet: see the accounts without one below."
    payback = figures["payback_month_median"]
    return (
        f"In the base case the median account gets **{fmt_pct(figures['roi_base_median'], digits=0)}** back on what it "
        f"spends, and {fmt_pct(figures['share_roi_base_positive'], digits=0)} of accounts get more than they pay. Across "
        f"modeled accounts the product is worth **{fmt_money(figures['benefit_annual_base'], currency)} a year** once "
        f"adopted ({fmt_money(figures['cost_reduction_annual_base'], currency)} in cost reduction, "
        f"{fmt_money(figures['revenue_increase_annual_base'], currency)} in gross profit from revenue increase) against "
        f"{fmt_money(figures['arr_modeled'], currency)} of ARR; "
        + (
            f"the median case pays back in month {payback:.0f}."
            if payback is not None
            else "the median case does not pay back."
        )
    )
