"""The ROI notebook's summary: the raw figures of summary.json, the headline of index.html, the decision box and the checks.

Every figure comes from one `RoiResults` (`roi.portfolio.evaluate_portfolio`), so the page, the
one-pagers and the index quote the same numbers. Figures by health tier are keyed by tier code
(good / normal / bad / unknown), never by the labels of params.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cs_playbook.formatting import MISSING, Formatter
from cs_playbook.i18n import messages
from cs_playbook.roi.model import CompiledModel, RoiParams
from cs_playbook.roi.portfolio import RoiResults, evaluate_portfolio, roi_by_tier

__all__ = [
    "portfolio_figures",
    "previous_figures",
    "summary_figures",
    "headline",
    "decision_figures",
    "consistency_checks",
]


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
        "roi_conservative_median": _num(m["roi_conservative"].median()),
        "roi_optimistic_median": _num(m["roi_optimistic"].median()),
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


def previous_figures(
    params: RoiParams,
    models: dict[str, CompiledModel],
    accounts: pd.DataFrame,
    subscriptions: pd.DataFrame,
    previous: Any | None,
) -> dict[str, float | int | None] | None:
    """`portfolio_figures` of the previous quarter, None without one.

    `previous` is the previous quarter's state (`QuarterState.previous`: its as_of, usage and
    risk): the same models are evaluated on the contracts and usage known at its as-of date.
    Only the decision box compares with it, so the Monte Carlo is not run: p_roi_positive_mean is None.
    """
    if previous is None:
        return None
    res = evaluate_portfolio(
        params,
        models,
        accounts,
        subscriptions,
        previous.usage,
        as_of=previous.as_of,
        health=previous.risk,
        simulate=False,
    )
    return portfolio_figures(res.table)


def headline(figures: dict[str, Any], currency: str, *, lang: str = "en") -> dict[str, str]:
    """The figures quoted on index.html, formatted for executives ("no ROI model" when no account has one)."""
    msg, fmt = messages(lang), Formatter(lang, currency)
    if not figures.get("accounts_with_model", 1):
        return {msg.t("roi.headline.accounts"): msg.t("roi.headline.none")}
    return {
        msg.t("roi.headline.accounts"): msg.t(
            "roi.headline.accounts_value",
            modeled=fmt.count(figures["accounts_modeled"]),
            total=fmt.count(figures["accounts_with_contract"]),
        ),
        msg.t("roi.headline.roi_median"): fmt.pct(figures["roi_base_median"], digits=0),
        msg.t("roi.headline.benefit"): fmt.money(figures["benefit_annual_base"]),
        msg.t("roi.headline.p_positive"): fmt.pct(figures["p_roi_positive_mean"], digits=0),
        msg.t("roi.headline.risk"): msg.t(
            "roi.headline.risk_value",
            count=fmt.count(figures["renewal_risk_accounts"]),
            arr=fmt.money(figures["renewal_risk_arr"]),
        ),
    }


def _change(now: float | None, before: dict[str, Any] | None, key: str) -> float | None:
    if before is None or now is None or before.get(key) is None:
        return None
    return float(now) - float(before[key])


def _direction(change: float | None, *, higher_is_better: bool = True) -> str | None:
    if change is None:
        return None
    if abs(change) < 1e-12:
        return "neutral"
    return "good" if (change > 0) == higher_is_better else "bad"


def decision_figures(
    current: dict[str, Any], previous: dict[str, Any] | None, *, currency: str, lang: str = "en"
) -> list[dict[str, str | None]]:
    """The decision box's figures: value per year and median ROI of the base case, its range, payback, renewal risk.

    Each with its change against `previous` (`previous_figures`), None when there is no previous quarter.
    """
    msg, fmt = messages(lang), Formatter(lang, currency)
    key = "roi.decision"

    def figure(label: str, value: str, change: float | None, kind: str, better_up: bool = True) -> dict:
        shown = fmt.delta(change, kind=kind) if change is not None else None
        return {
            "label": msg.t(f"{key}.{label}"),
            "value": value,
            "change": shown,
            "direction": _direction(change, higher_is_better=better_up),
        }

    payback, modeled = current["payback_month_median"], bool(current["accounts_modeled"])
    if payback is not None:
        payback_text = msg.t(f"{key}.payback_value", months=f"{payback:.0f}")
    else:  # no case pays back in the median, or there is no case at all
        payback_text = msg.t(f"{key}.payback_never") if modeled else MISSING
    low, high = current["roi_conservative_median"], current["roi_optimistic_median"]
    return [
        figure(
            "benefit",
            fmt.money(current["benefit_annual_base"]),
            _change(current["benefit_annual_base"], previous, "benefit_annual_base"),
            "money",
        ),
        figure(
            "roi_median",
            fmt.pct(current["roi_base_median"], digits=0),
            _change(current["roi_base_median"], previous, "roi_base_median"),
            "pct_points",
        ),
        figure(
            "roi_range",
            msg.t(f"{key}.range_value", low=fmt.pct(low, digits=0), high=fmt.pct(high, digits=0))
            if modeled
            else MISSING,
            None,
            "pct_points",
        ),
        figure(
            "payback",
            payback_text,
            _change(payback, previous, "payback_month_median"),
            "count",
            better_up=False,
        ),
        figure(
            "risk",
            msg.t(
                f"{key}.risk_value",
                count=fmt.count(current["renewal_risk_accounts"]),
                arr=fmt.money(current["renewal_risk_arr"]),
            ),
            _change(current["renewal_risk_accounts"], previous, "renewal_risk_accounts"),
            "count",
            better_up=False,
        ),
    ]


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
