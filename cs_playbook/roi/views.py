"""What the ROI notebook shows: the tables of each section, their number formats and the sentences it quotes.

The notebook narrates these; each view is a plain filter or bundle of `RoiResults`, so what the
page shows is what the tests reach. Health tiers stay codes here: the notebook shows them with
`ctx.tiers` and exports them with `ctx.export`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd

from cs_playbook.formatting import fmt_money, fmt_pct, md_text
from cs_playbook.roi import scenarios
from cs_playbook.roi.portfolio import RoiResults, focus_account

__all__ = [
    "SCENARIO_COLUMNS",
    "RANGE_COLUMNS",
    "REALIZED_COLUMNS",
    "MISSING_COLUMNS",
    "column_formats",
    "no_model_message",
    "modeled",
    "uncertain",
    "renewal_risks",
    "without_case",
    "FocusCase",
    "focus_case",
    "portfolio_sentence",
]

SCENARIO_COLUMNS = [
    "account_name",
    "segment",
    "model_label",
    "arr",
    "benefit_annual",
    "roi_conservative",
    "roi_base",
    "roi_optimistic",
    "payback_month",
    "p_roi_positive",
    "roi_p10",
    "roi_p90",
    "health_tier",
]
RANGE_COLUMNS = ["account_name", "csm", "arr", "roi_p10", "roi_p50", "roi_p90", "p_roi_positive", "health_tier"]
REALIZED_COLUMNS = [
    "account_name",
    "csm",
    "arr",
    "health_tier",
    "realized_months",
    "value_realization",
    "roi_realized",
    "roi_projected_to_date",
]
MISSING_COLUMNS = ["account_name", "segment", "csm", "arr", "status", "reason"]
_MONEY = ("arr", "benefit_annual", "renewal_risk_arr")
_SHARES = (
    "roi_conservative",
    "roi_base",
    "roi_optimistic",
    "p_roi_positive",
    "roi_p10",
    "roi_p50",
    "roi_p90",
    "value_realization",
    "roi_realized",
    "roi_projected_to_date",
    "roi_base_median",
    "p_roi_positive_mean",
    "value_realization_median",
)


def no_model_message(res: RoiResults) -> str | None:
    """What the page says when no account with an active contract has an ROI model (None when some have one)."""
    if res.assignment["model"].notna().any():
        return None
    why = (
        "params/roi.yaml defines no ROI template"
        if not res.params.templates
        else "no assignment rule, default_template or per-account model of params/roi.yaml matches them"
    )
    return (
        f"**No ROI model for these accounts**: {why}, so the ROI scenarios, ranges, realized value and one-pagers "
        "are skipped. An ROI model is specific to what your customers use the product for: write one template per use "
        "case in params/roi.yaml (the success scenario, the business number it moves, the inputs with their unit and "
        "source, the benefit and cost formulas), then assign it to accounts by segment, department or product "
        "(`assignment`, `default_template`) or give an account its own model (`accounts`). See docs/roi.md, "
        '"Adding an ROI model"; the demo company\'s models in cs_playbook/demo/params/jp/roi.yaml are a worked example.'
    )


def column_formats(currency: str) -> dict[str, Any]:
    """Styler formats of the ROI tables' columns: money compact in `currency`, shares as whole percentages."""
    money = partial(fmt_money, currency=currency)
    return {
        **dict.fromkeys(_MONEY, money),
        **dict.fromkeys(_SHARES, "{:.0%}"),
        "payback_month": "{:.0f}",
        "p10": "{:,.1f}",
        "median": "{:,.1f}",
        "p90": "{:,.1f}",
    }


def modeled(table: pd.DataFrame) -> pd.DataFrame:
    """The accounts with a complete ROI case, largest ARR first."""
    return table[table["status"] == "modeled"]


def uncertain(table: pd.DataFrame, *, below: float = 0.5) -> pd.DataFrame:
    """Modeled accounts with less than a `below` chance of a positive return."""
    m = modeled(table)
    return m[m["p_roi_positive"] < below]


def renewal_risks(table: pd.DataFrame) -> pd.DataFrame:
    """Accounts whose realized value is far below the projection at signing (`renewal_risk`)."""
    return table[table["renewal_risk"].astype(bool)]


def without_case(table: pd.DataFrame) -> pd.DataFrame:
    """Accounts with an active contract but no complete ROI case (no model, or a measured input without data)."""
    return table[table["status"] != "modeled"]


@dataclass
class FocusCase:
    """The account shown in detail: its portfolio row, cash flows by scenario, simulated draws and tornado rows."""

    account_id: str
    row: pd.Series
    flows: pd.DataFrame
    draws: pd.DataFrame
    tornado: pd.DataFrame

    def sentence(self, currency: str) -> str:
        """The account's case in one paragraph (Markdown)."""
        r = self.row
        top = md_text(self.tornado["label"].iloc[0]) if len(self.tornado) else "n/a"
        return (
            f"**{md_text(r['account_name'])}** ({md_text(r['model_label'])}, ARR {fmt_money(r['arr'], currency)}): worth "
            f"**{fmt_money(r['benefit_annual'], currency)} a year** once adopted; ROI "
            f"{fmt_pct(r['roi_conservative'], digits=0)} / **{fmt_pct(r['roi_base'], digits=0)}** / "
            f"{fmt_pct(r['roi_optimistic'], digits=0)} (conservative / base / optimistic), and in 80% of simulated "
            f"cases between {fmt_pct(r['roi_p10'], digits=0)} and {fmt_pct(r['roi_p90'], digits=0)}. The figure that "
            f"moves it most is **{top}**: confirm it with the customer first."
        )


def focus_case(res: RoiResults) -> FocusCase | None:
    """The detail of `roi.portfolio.focus_account`, or None when no account has a complete case."""
    acc = focus_account(res.table, res.models)
    if acc is None:
        return None
    top = res.tornado[res.tornado["account_id"] == acc]  # largest swing first
    return FocusCase(
        account_id=acc,
        row=res.table.set_index("account_id").loc[acc],
        flows=scenarios.account_cash_flows(
            res.inputs, res.models, res.terms, res.params, acc, scenario_values=res.scenario_values
        ),
        draws=scenarios.simulate_account(res.inputs, res.models, res.terms, res.params, acc),
        tornado=top.reset_index(drop=True),
    )


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
