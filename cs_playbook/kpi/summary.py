"""The quarterly KPI overview: retention (quarter and trailing 12 months) and its headline figures.

Builds on `revenue`; the notebook 00_kpi_overview narrates these tables.
"""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cs_playbook.data.activities import MEETING_TYPES
from cs_playbook.data.coverage import CoverageParams
from cs_playbook.data.revenue import net_revenue_retention
from cs_playbook.errors import CsPlaybookError
from cs_playbook.formatting import fmt_money, fmt_pct

__all__ = ["KpiParams", "retention_table", "quarter_figures", "headline", "consistency_checks"]


class KpiParams(BaseModel):
    """params/kpi.yaml."""

    model_config = ConfigDict(extra="forbid")
    trend_quarters: int = Field(8, ge=2, le=40)
    touch_model: CoverageParams
    adoption_window_days: int = Field(90, ge=7)
    notes_grace_days: int = Field(2, ge=0)
    meeting_types: list[str] = Field(default_factory=lambda: list(MEETING_TYPES))


def retention_table(monthly: pd.DataFrame, *, quarter: str, trend_quarters: int = 8) -> pd.DataFrame:
    """NRR, GRR and logo churn per quarter and trailing 12 months, up to `quarter`.

    Returns period, start_arr, end_arr, expansion_arr, contraction_arr, churned_arr, nrr, grr,
    logo_churn, accounts_start, accounts_churned, and the same retention figures over the
    trailing 12 months as nrr_t12m, grr_t12m, logo_churn_t12m (NaN while history is short).
    """
    q = net_revenue_retention(monthly, freq="Q")
    t = net_revenue_retention(monthly, freq="Q", window_months=12)
    cols = [
        "period",
        "start_arr",
        "end_arr",
        "expansion_arr",
        "contraction_arr",
        "churned_arr",
        "nrr",
        "grr",
        "logo_churn",
        "accounts_start",
        "accounts_churned",
    ]
    out = q[cols].merge(
        t[["period", "nrr", "grr", "logo_churn"]].rename(
            columns={"nrr": "nrr_t12m", "grr": "grr_t12m", "logo_churn": "logo_churn_t12m"}
        ),
        on="period",
        how="left",
    )
    out = out[out["period"] <= quarter]
    if out.empty or out["period"].iloc[-1] != quarter:
        raise CsPlaybookError(
            f"Quarter {quarter} has no retention figures: the data does not cover the quarter before it."
        )
    return out.tail(trend_quarters).reset_index(drop=True)


def quarter_figures(retention: pd.DataFrame, movement_row: pd.Series) -> dict[str, float]:
    """Key figures of the last quarter of `retention` and its MRR movements (in ARR, x12)."""
    r = retention.iloc[-1]
    figures = {
        k: float(r[k])
        for k in ("nrr", "grr", "logo_churn", "nrr_t12m", "grr_t12m", "logo_churn_t12m", "start_arr", "end_arr")
    }
    figures["accounts_start"] = int(r["accounts_start"])
    figures["accounts_churned"] = int(r["accounts_churned"])
    for m in ("new", "expansion", "contraction", "churn", "reactivation"):
        figures[f"{m}_arr"] = float(movement_row[m]) * 12
    figures["total_arr_end"] = float(movement_row["end_mrr"]) * 12
    if len(retention) >= 2:
        figures["nrr_change_vs_previous_quarter"] = float(r["nrr"] - retention.iloc[-2]["nrr"])
    return figures


def headline(figures: dict[str, float], currency: str) -> dict[str, str]:
    """The figures quoted on index.html, formatted for executives."""
    out = {
        "Total ARR": fmt_money(figures["total_arr_end"], currency),
        "NRR (quarter)": fmt_pct(figures["nrr"]),
        "GRR (quarter)": fmt_pct(figures["grr"]),
        "Logo churn (quarter)": fmt_pct(figures["logo_churn"]),
        "NRR (trailing 12 months)": fmt_pct(figures["nrr_t12m"]),
        "GRR (trailing 12 months)": fmt_pct(figures["grr_t12m"]),
    }
    return out


def consistency_checks(retention: pd.DataFrame, movement_row: pd.Series) -> dict[str, bool]:
    """Identities that hold on any data; the notebook prints them and nbval compares the output."""
    r = retention.iloc[-1]
    bridge = movement_row["start_mrr"] + sum(
        movement_row[m] for m in ("new", "expansion", "contraction", "churn", "reactivation")
    )
    retained = r["start_arr"] + r["expansion_arr"] - r["contraction_arr"] - r["churned_arr"]
    return {
        "arr_bridge_closes": bool(
            abs(bridge - movement_row["end_mrr"]) < 1e-6 * max(1.0, abs(movement_row["end_mrr"]))
        ),
        "cohort_arr_identity": bool(abs(retained - r["end_arr"]) < 1e-6 * max(1.0, r["end_arr"])),
        "grr_at_most_100pct": bool((retention["grr"] <= 1 + 1e-12).all()),
        "grr_at_most_nrr": bool((retention["grr"] <= retention["nrr"] + 1e-12).all()),
    }
