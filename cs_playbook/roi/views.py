"""What the ROI notebook shows: the tables of each section, their number formats, the sentences it quotes and the actions.

The notebook narrates these; each view is a plain filter or bundle of `RoiResults`, so what the
page shows is what the tests reach. Health tiers stay codes here: the notebook shows them with
`ctx.table` and exports them with `ctx.export`. Sentences are in `lang` (`cs_playbook/i18n/roi.yaml`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd

from cs_playbook.data.meaning import action_deadline
from cs_playbook.formatting import Formatter, fmt_money, md_text
from cs_playbook.i18n import messages
from cs_playbook.roi import scenarios
from cs_playbook.roi.model import CompiledModel, RoiParams
from cs_playbook.roi.portfolio import RoiResults, focus_account, model_overview

__all__ = [
    "SCENARIO_COLUMNS",
    "RANGE_COLUMNS",
    "REALIZED_COLUMNS",
    "MISSING_COLUMNS",
    "MONEY",
    "SHARES",
    "column_formats",
    "no_model_message",
    "modeled",
    "uncertain",
    "renewal_risks",
    "without_case",
    "FocusCase",
    "focus_case",
    "portfolio_sentence",
    "method_line",
    "models_table",
    "models_sentence",
    "facts_table",
    "facts_sentence",
    "range_sentence",
    "realized_sentence",
    "without_sentence",
    "actions",
]

SCENARIO_COLUMNS = [  # the simulated range (P10, P90, P(ROI > 0)) is in RANGE_COLUMNS: nine columns fit a page
    "account_name",
    "model_label",
    "arr",
    "benefit_annual",
    "roi_conservative",
    "roi_base",
    "roi_optimistic",
    "payback_month",
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
MONEY = (*_MONEY, "cost_reduction_annual", "revenue_increase_annual", "npv_base")  # money columns of the page's tables
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
SHARES = (*_SHARES, "irr_base", "roi_projected_at_signing")  # share columns of the page's tables (shown as %)


def no_model_message(res: RoiResults, *, lang: str = "en") -> str | None:
    """What the page says when no account with an active contract has an ROI model (None when some have one)."""
    if res.assignment["model"].notna().any():
        return None
    msg = messages(lang)
    why = msg.t("roi.no_model_why_templates" if not res.params.templates else "roi.no_model_why_rules")
    return msg.t("roi.no_model", why=why)


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
    return table[table["status"] == "modeled"].reset_index(drop=True)


def uncertain(table: pd.DataFrame, *, below: float = 0.5) -> pd.DataFrame:
    """Modeled accounts with less than a `below` chance of a positive return."""
    m = modeled(table)
    return m[m["p_roi_positive"] < below].reset_index(drop=True)


def renewal_risks(table: pd.DataFrame) -> pd.DataFrame:
    """Accounts whose realized value is far below the projection at signing (`renewal_risk`)."""
    return table[table["renewal_risk"].astype(bool)].reset_index(drop=True)


def without_case(table: pd.DataFrame) -> pd.DataFrame:
    """Accounts with an active contract but no complete ROI case (no model, or a measured input without data)."""
    return table[table["status"] != "modeled"].reset_index(drop=True)


@dataclass
class FocusCase:
    """The account shown in detail: its portfolio row, cash flows by scenario, simulated draws and tornado rows."""

    account_id: str
    row: pd.Series
    flows: pd.DataFrame
    draws: pd.DataFrame
    tornado: pd.DataFrame

    def sentence(self, currency: str, *, lang: str = "en") -> str:
        """The account's case in one paragraph (Markdown)."""
        r, fmt = self.row, Formatter(lang, currency)
        pct = partial(fmt.pct, digits=0)
        return messages(lang).t(
            "roi.focus.sentence",
            account=md_text(r["account_name"]),
            model=md_text(r["model_label"]),
            arr=fmt.money(r["arr"]),
            benefit=fmt.money(r["benefit_annual"]),
            conservative=pct(r["roi_conservative"]),
            base=pct(r["roi_base"]),
            optimistic=pct(r["roi_optimistic"]),
            p10=pct(r["roi_p10"]),
            p90=pct(r["roi_p90"]),
            top=md_text(self.tornado["label"].iloc[0]) if len(self.tornado) else fmt.pct(None),
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


def portfolio_sentence(figures: dict[str, float | int | None], currency: str, *, lang: str = "en") -> str:
    """The portfolio in two sentences an executive can quote (Markdown)."""
    msg, fmt = messages(lang), Formatter(lang, currency)
    if not figures["accounts_modeled"]:
        return msg.t("roi.scenarios.none")
    payback = figures["payback_month_median"]
    return msg.t(
        "roi.scenarios.sentence",
        roi=fmt.pct(figures["roi_base_median"], digits=0),
        share_positive=fmt.pct(figures["share_roi_base_positive"], digits=0),
        benefit=fmt.money(figures["benefit_annual_base"]),
        cost_reduction=fmt.money(figures["cost_reduction_annual_base"]),
        revenue_increase=fmt.money(figures["revenue_increase_annual_base"]),
        arr=fmt.money(figures["arr_modeled"]),
        payback=(
            msg.t("roi.scenarios.payback", months=f"{payback:.0f}")
            if payback is not None
            else msg.t("roi.scenarios.no_payback")
        ),
    )


def method_line(params: RoiParams, *, lang: str = "en") -> str:
    """The method in one paragraph: horizon, discount rate, billing and the simulation (for the appendix)."""
    msg, fmt = messages(lang), Formatter(lang)
    return msg.t(
        "roi.method_line",
        horizon=params.horizon_months,
        discount=fmt.pct(params.discount_rate, digits=0),
        billing=msg.t("roi.billing_annual" if params.subscription_billing == "annual" else "roi.billing_monthly"),
        draws=fmt.count(params.monte_carlo.draws),
        seed=params.monte_carlo.seed,
    )


def models_table(models: dict[str, CompiledModel], assignment: pd.DataFrame, *, lang: str = "en") -> pd.DataFrame:
    """`portfolio.model_overview` with each contribution's kind (cost reduction / revenue increase) in `lang`.

    Returns model_label, scenario, contribution, logic, measured, accounts (the model's id is left out).
    """
    msg = messages(lang)
    overview = model_overview(models, assignment)
    overview["contribution"] = [
        " / ".join(
            msg.t("roi.contribution", label=b.label, kind=msg.code(b.kind)) for b in models[name].spec.benefits.values()
        )
        for name in overview["model"]
    ]
    shown = overview.rename(columns={"label": "model_label"})
    return shown[["model_label", "scenario", "contribution", "logic", "measured", "accounts"]]


def facts_table(facts: pd.DataFrame, models: dict[str, CompiledModel]) -> pd.DataFrame:
    """`portfolio.facts_overview` as the page shows it: the model and input by label, accounts, without data, spread.

    Returns model_label, input_label, accounts, without_data, p10, median, p90.
    """
    labels = {name: m.spec.label or name for name, m in models.items()}
    shown = facts.rename(columns={"label": "input_label"}).assign(model_label=lambda d: d["model"].map(labels))
    cols = ["model_label", "input_label", "accounts", "without_data", "p10", "median", "p90"]
    return shown[cols].reset_index(drop=True)


def models_sentence(overview: pd.DataFrame, assignment: pd.DataFrame, *, lang: str = "en") -> str:
    """How many models are in use (`models_table`), the most common and how many accounts have their own (Markdown)."""
    return messages(lang).t(
        "roi.models.sentence",
        count=len(overview),
        label=md_text(overview["model_label"].iloc[0]),
        accounts=f"{int(overview['accounts'].iloc[0]):,}",
        own=int((assignment["assigned_by"] == "account").sum()),
    )


def facts_sentence(facts: pd.DataFrame, params: RoiParams, *, as_of: pd.Timestamp, lang: str = "en") -> str:
    """Which months the measured inputs use and how many account-inputs lack usage data (Markdown)."""
    msg, fmt = messages(lang), Formatter(lang)
    if facts.empty:
        return msg.t("roi.facts.none")
    return msg.t(
        "roi.facts.sentence",
        months=params.measured_window_months,
        as_of=fmt.date(as_of),
        missing=fmt.count(facts["without_data"].sum()),
    )


def range_sentence(figures: dict[str, Any], unsure: pd.DataFrame, *, currency: str, lang: str = "en") -> str:
    """The mean chance of a positive return and the accounts below an even chance (Markdown)."""
    fmt = Formatter(lang, currency)
    return messages(lang).t(
        "roi.range.sentence",
        p=fmt.pct(figures["p_roi_positive_mean"], digits=0),
        count=fmt.count(len(unsure)),
        arr=fmt.money(unsure["arr"].sum()),
    )


def realized_sentence(
    figures: dict[str, Any], risks: pd.DataFrame, params: RoiParams, *, currency: str, lang: str = "en"
) -> str:
    """The median value realization and the renewal risks it flags (Markdown)."""
    fmt = Formatter(lang, currency)
    return messages(lang).t(
        "roi.realized.sentence",
        median=fmt.pct(figures["value_realization_median"], digits=0),
        count=fmt.count(len(risks)),
        arr=fmt.money(risks["arr"].sum()),
        alert=fmt.pct(params.realization_alert, digits=0),
        months=params.realization_min_months,
    )


def without_sentence(missing: pd.DataFrame, *, currency: str, lang: str = "en") -> str:
    """How many accounts have no complete ROI case, or that all have one (Markdown)."""
    msg, fmt = messages(lang), Formatter(lang, currency)
    if missing.empty:
        return msg.t("roi.without.none")
    return msg.t("roi.without.sentence", count=fmt.count(len(missing)), arr=fmt.money(missing["arr"].sum()))


def actions(
    table: pd.DataFrame,
    focus: FocusCase | None,
    *,
    as_of: pd.Timestamp,
    next_renewal: pd.Series | None = None,
    lang: str = "en",
    risks: int = 3,
) -> pd.DataFrame:
    """The decision box's named actions: the largest renewal risks, the largest unsure case, the focus account.

    `next_renewal` (indexed by account_id) makes an action due by the renewal when it comes before
    `data.meaning.action_deadline`. Returns account_name, csm, arr, deadline, action (text in `lang`).
    """
    msg, fmt = messages(lang), Formatter(lang)
    pct = partial(fmt.pct, digits=0)
    risk = renewal_risks(table).sort_values("arr", ascending=False).head(risks)
    risk = risk.assign(action=[msg.t("roi.decision.action_risk", share=pct(v)) for v in risk["value_realization"]])
    unsure = uncertain(table)
    unsure = unsure[~unsure["account_id"].isin(risk["account_id"])].sort_values("arr", ascending=False).head(1)
    unsure = unsure.assign(
        action=[msg.t("roi.decision.action_uncertain", share=pct(v)) for v in unsure["p_roi_positive"]]
    )
    parts = [risk, unsure]
    if focus is not None and focus.account_id not in set(risk["account_id"]) | set(unsure["account_id"]):
        top = focus.tornado["label"].iloc[0] if len(focus.tornado) else focus.row["model_label"]
        row = table[table["account_id"] == focus.account_id]
        parts.append(row.assign(action=msg.t("roi.decision.action_focus", input=top)))
    out = pd.concat(parts, ignore_index=True)
    renew = out["account_id"].map(next_renewal) if next_renewal is not None else pd.Series(pd.NaT, index=out.index)
    out["deadline"] = action_deadline(as_of, renew)
    return out[["account_name", "csm", "arr", "deadline", "action"]]
