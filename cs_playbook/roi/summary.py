"""The ROI notebook's summary: the raw figures of summary.json, the headline of index.html and the checks.

Every figure comes from one `RoiResults` (`roi.portfolio.evaluate_portfolio`), so the page, the
one-pagers and the index quote the same numbers. Figures by health tier are keyed by tier code
(good / normal / bad / unknown), never by the labels of params.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cs_playbook.formatting import fmt_money, fmt_pct
from cs_playbook.roi.portfolio import RoiResults, roi_by_tier

__all__ = ["portfolio_figures", "summary_figures", "headline", "consistency_checks"]


def _num(v: float) -> float | None:
    return None if pd.isna(v) else float(v)


def portfolio_figures(table: pd.DataFrame) -> dict[str, float | int | None]:
    """Key figures of a portfolio table (`roi.portfolio.portfolio`), as raw numbers."""
    m = table[table["status"] == "modeled"]
    return {
        "accounts_with_contract": int(len(table)),
        "accounts_modeled": int(len(m)),
        "accounts_incomplete": int((table["status"] == "incomplete").sum()),
        "accounts_without_model": int((table["status"] == "no_model").sum()),
        "arr_modeled": float(m["arr"].sum()),
        "benefit_annual_base": float(m["benefit_annual"].sum()),
        "cost_reduction_annual_base": float(m["cost_reduction_annual"].sum()),
        "revenue_increase_annual_base": float(m["revenue_increase_annual"].sum()),
        "roi_base_median": _num(m["roi_base"].median()),
        "share_roi_base_positive": _num((m["roi_base"] > 0).mean()) if len(m) else None,
        "p_roi_positive_mean": _num(m["p_roi_positive"].mean()),
        "payback_month_median": _num(m["payback_month"].median()),
        "value_realization_median": _num(m["value_realization"].median()),
        "renewal_risk_accounts": int(table["renewal_risk"].sum()),
        "renewal_risk_arr": float(table.loc[table["renewal_risk"], "arr"].sum()),
    }


def summary_figures(res: RoiResults) -> dict[str, Any]:
    """The raw figures for summary.json: the portfolio's, the method's settings, and ROI and risk by tier code."""
    by_tier = roi_by_tier(res.table)
    p = res.params
    return {
        **portfolio_figures(res.table),
        "horizon_months": p.horizon_months,
        "discount_rate": p.discount_rate,
        "monte_carlo_draws": p.monte_carlo.draws,
        "monte_carlo_seed": p.monte_carlo.seed,
        "accounts_by_model": {str(k): int(v) for k, v in res.assignment["model"].value_counts().items()},
        "accounts_with_model": int(res.assignment["model"].notna().sum()),
        "roi_templates": len(p.templates),
        "roi_base_median_by_tier": {
            str(t): _num(v) for t, v in zip(by_tier["health_tier"], by_tier["roi_base_median"], strict=True)
        },
        "renewal_risk_accounts_by_tier": {
            str(t): int(v) for t, v in zip(by_tier["health_tier"], by_tier["renewal_risk_accounts"], strict=True)
        },
    }


def headline(figures: dict[str, Any], currency: str) -> dict[str, str]:
    """The figures quoted on index.html, formatted for executives ("no ROI model" when no account has one)."""
    if not figures.get("accounts_with_model", 1):
        return {"Accounts with an ROI case": "none: no ROI model for these accounts (docs/roi.md: adding an ROI model)"}
    return {
        "Accounts with an ROI case": f"{figures['accounts_modeled']:,} of {figures['accounts_with_contract']:,}",
        "Median ROI (base case)": fmt_pct(figures["roi_base_median"], digits=0),
        "Customer value per year (base)": fmt_money(figures["benefit_annual_base"], currency),
        "Mean P(ROI > 0)": fmt_pct(figures["p_roi_positive_mean"], digits=0),
        "Renewal risk: value far below plan": (
            f"{figures['renewal_risk_accounts']:,} accounts, {fmt_money(figures['renewal_risk_arr'], currency)} ARR"
        ),
    }


def _scenarios_ordered(scenario_table: pd.DataFrame) -> bool:
    """Conservative <= base <= optimistic NPV for every account (up to rounding)."""
    npv = scenario_table.pivot(index="account_id", columns="scenario", values="npv")
    if not len(npv):
        return True
    tol = 1e-6 * np.maximum(1.0, npv.abs().max(axis=1))
    return bool(((npv["conservative"] <= npv["base"] + tol) & (npv["base"] <= npv["optimistic"] + tol)).all())


def consistency_checks(res: RoiResults) -> dict[str, bool]:
    """Identities that hold on any data; the notebook prints them and nbval compares the output."""
    table, sim, assignment = res.table, res.simulation, res.assignment
    return {
        "every_contracted_account_listed": bool(
            len(table) == len(assignment) and set(table["account_id"]) == set(assignment["account_id"])
        ),
        "scenarios_ordered_by_npv": _scenarios_ordered(res.scenarios),
        "monte_carlo_percentiles_ordered": bool(
            ((sim["roi_p10"] <= sim["roi_p50"] + 1e-12) & (sim["roi_p50"] <= sim["roi_p90"] + 1e-12)).all()
        ),
        "probabilities_between_0_and_1": bool(sim["p_roi_positive"].between(0, 1).all()),
        "modeled_accounts_have_results": bool(table.loc[table["status"] == "modeled", "roi_base"].notna().all()),
    }
