"""The quarterly KPI overview's params and retention table: NRR, GRR and logo churn per quarter and trailing 12 months.

Builds on `data.revenue`; `kpi.summary` turns these into the page's figures.
"""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cs_playbook.data.activities import MEETING_TYPES
from cs_playbook.data.coverage import CoverageParams
from cs_playbook.data.revenue import net_revenue_retention
from cs_playbook.errors import CsPlaybookError

__all__ = ["KpiParams", "retention_table"]


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
