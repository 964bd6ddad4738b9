"""The ROI portfolio: every current customer's return beside its ARR and health, and the renewal risks.

Joins the per-account results of `roi.scenarios` and `roi.facts` into one row per account with an
active contract: modeled, incomplete (a measured input has no usage data) or without a model; ROI
against health tier and ARR; accounts whose realized value is far below what was projected at
signing. Health tiers are codes (good / normal / bad, `unknown` for an unscored account): labels
are applied only where a table is shown or exported. The figures, headline and checks of the
notebook are in `roi.summary`, its tables and sentences in `roi.views`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_playbook.data.revenue import monthly_mrr
from cs_playbook.modeling.scorecard import TIERS
from cs_playbook.roi import scenarios
from cs_playbook.roi.facts import bind_inputs, contract_terms, realized_to_date
from cs_playbook.roi.model import CompiledModel, RoiParams, assign_models

__all__ = [
    "UNKNOWN_TIER",
    "TIER_ORDER",
    "PORTFOLIO_COLUMNS",
    "RoiResults",
    "evaluate_portfolio",
    "portfolio",
    "roi_by_tier",
    "model_overview",
    "facts_overview",
    "focus_account",
]

UNKNOWN_TIER = "unknown"  # health tier code of an account the scorer did not score
TIER_ORDER = (*TIERS, UNKNOWN_TIER)  # good, normal, bad, unknown
PORTFOLIO_COLUMNS = [
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


def _scenario_columns(scenario_table: pd.DataFrame) -> pd.DataFrame:
    """Per account (index): the base case's benefits, npv_base, irr_base, payback_month and roi_<scenario>."""
    wide = scenario_table.pivot(index="account_id", columns="scenario", values="roi")
    wide.columns = [f"roi_{c}" for c in wide.columns.astype(str)]
    base = scenario_table[scenario_table["scenario"] == "base"].set_index("account_id")
    base = base[["benefit_annual", "cost_reduction_annual", "revenue_increase_annual", "npv", "irr", "payback_month"]]
    return base.rename(columns={"npv": "npv_base", "irr": "irr_base"}).join(wide, how="outer")


def _with_health(out: pd.DataFrame, health: pd.DataFrame | None) -> pd.DataFrame:
    """`out` with health_tier (code, `unknown` where unscored) and health_score (NaN where unscored)."""
    if health is not None and "health_tier" in health.columns:
        h = health[["account_id", "health_tier"] + (["health_score"] if "health_score" in health.columns else [])]
        out = out.merge(h, on="account_id", how="left")
    if "health_score" not in out.columns:
        out["health_score"] = np.nan
    if "health_tier" not in out.columns:
        out["health_tier"] = UNKNOWN_TIER
    out["health_tier"] = out["health_tier"].astype("object").fillna(UNKNOWN_TIER).astype(str)
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
    """One row per account with an active contract, largest ARR first (columns: `PORTFOLIO_COLUMNS`).

    `health` is a frame with account_id, health_tier (code) and optionally health_score (the
    quarter state's `risk`); without it, or for an account it does not score, the tier is
    `unknown`. renewal_risk: value_realization below `realization_alert` after at least
    `realization_min_months` months.
    """
    out = _status(assignment, inputs).merge(terms[["account_id", "arr"]], on="account_id", how="left")
    out = accounts[["account_id", "account_name", "segment", "csm"]].merge(out, on="account_id", how="right")
    out["model_label"] = out["model"].map(lambda m: models[m].spec.label if isinstance(m, str) and m in models else "")
    out = out.merge(_scenario_columns(scenario_table), left_on="account_id", right_index=True, how="left")
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
    out = _with_health(out, health)
    for c in PORTFOLIO_COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    return out[PORTFOLIO_COLUMNS].sort_values(["arr", "account_id"], ascending=[False, True]).reset_index(drop=True)


def roi_by_tier(table: pd.DataFrame) -> pd.DataFrame:
    """ROI and renewal risk per health tier code (good, normal, bad, unknown; in that order) over modeled accounts.

    Works on the codes only, so the labels of params cannot change the groups. Returns health_tier, accounts, modeled, arr, roi_base_median, p_roi_positive_mean,
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
    order = {t: i for i, t in enumerate(TIER_ORDER)}
    out = out.sort_values("health_tier", key=lambda s: s.map(order).fillna(len(TIER_ORDER)))
    cols = ["health_tier", "accounts", "modeled", "arr", "roi_base_median", "p_roi_positive_mean"]
    cols += ["value_realization_median", "renewal_risk_accounts", "renewal_risk_arr"]
    return out[cols].reset_index(drop=True)


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


def _empty(columns: list[str]) -> pd.DataFrame:
    """A frame with no rows and the given columns (account_id as text, the others as floats)."""
    return pd.DataFrame({c: pd.Series(dtype="object" if c == "account_id" else "float64") for c in columns})


def evaluate_portfolio(
    params: RoiParams,
    models: dict[str, CompiledModel],
    accounts: pd.DataFrame,
    subscriptions: pd.DataFrame,
    usage: pd.DataFrame | None,
    *,
    as_of: pd.Timestamp,
    health: pd.DataFrame | None = None,
    simulate: bool = True,
) -> RoiResults:
    """Assign models, bind the facts, and compute scenarios, sensitivity, Monte Carlo and realized ROI.

    `simulate=False` skips the Monte Carlo, the tornado and the scenario values (the slow parts) for a
    portfolio only summed up, as last quarter's figures are: p_roi_positive and the ROI percentiles are
    then NaN, simulation, tornado and scenario_values empty; every other column is the same.
    """
    assignment = assign_models(params, accounts, subscriptions, as_of=as_of)
    monthly = monthly_mrr(subscriptions, end=as_of)
    terms = contract_terms(monthly, subscriptions, as_of=as_of)
    inputs = bind_inputs(assignment, models, terms, usage, as_of=as_of, window_months=params.measured_window_months)
    scen = scenarios.scenarios(inputs, models, terms, params)
    sim = scenarios.monte_carlo(inputs, models, terms, params) if simulate else _empty(scenarios.MONTE_CARLO_COLUMNS)
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
        scenario_values=scenarios.scenario_inputs(inputs, models, terms, params)
        if simulate
        else _empty(scenarios.SCENARIO_VALUE_COLUMNS),
        scenarios=scen,
        tornado=scenarios.tornado(inputs, models, terms, params) if simulate else _empty(scenarios.TORNADO_COLUMNS),
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
