"""The quarterly KPI overview's figures: summary.json, the headline quoted on index.html and the checks.

Builds on `kpi.retention` (retention table), `data.revenue` (MRR movements), `data.coverage`,
`data.adoption` and `data.activities` (meeting notes); the notebook 00_kpi_overview narrates them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cs_playbook.data.activities import MeetingNotes
from cs_playbook.formatting import fmt_money, fmt_pct

__all__ = ["quarter_figures", "summary_figures", "headline", "consistency_checks"]


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


def summary_figures(
    retention: pd.DataFrame,
    movement_row: pd.Series,
    *,
    coverage: dict[str, int],
    by_segment: pd.DataFrame,
    notes: MeetingNotes | None = None,
    feature_adoption: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The figures of summary.json: retention and ARR movements, coverage, notes hygiene, adoption, ARR by segment.

    `coverage` from data.coverage.coverage_figures; the notes figures come from the same `MeetingNotes`
    the page's chart draws, so both quote the same number of meetings without notes.
    """
    figures: dict[str, Any] = {**quarter_figures(retention, movement_row), **coverage}
    if notes is not None:
        total = notes.compliance.loc[notes.compliance["csm"] == "All"].iloc[0]
        figures["notes_compliance"] = float(total["compliance"])
        figures["meetings_without_notes"] = notes.meetings_without_notes
    else:
        figures["notes_compliance"] = figures["meetings_without_notes"] = None
    figures["feature_adoption"] = (
        dict(zip(feature_adoption["feature"], feature_adoption["account_adoption"], strict=True))
        if feature_adoption is not None
        else None
    )
    figures["arr_by_segment"] = dict(zip(by_segment["segment"], by_segment["arr"], strict=True))
    return figures


def headline(figures: dict[str, Any], currency: str) -> dict[str, str]:
    """The figures quoted on index.html, formatted for executives."""
    return {
        "Total ARR": fmt_money(figures["total_arr_end"], currency),
        "NRR (quarter)": fmt_pct(figures["nrr"]),
        "GRR (quarter)": fmt_pct(figures["grr"]),
        "Logo churn (quarter)": fmt_pct(figures["logo_churn"]),
        "NRR (trailing 12 months)": fmt_pct(figures["nrr_t12m"]),
        "GRR (trailing 12 months)": fmt_pct(figures["grr_t12m"]),
    }


def consistency_checks(
    retention: pd.DataFrame,
    movement_row: pd.Series,
    *,
    notes: MeetingNotes | None = None,
    figures: dict[str, Any] | None = None,
) -> dict[str, bool]:
    """Identities that hold on any data; the notebook prints them and nbval compares the output.

    With `notes` and `figures`, also that the chart's meetings without notes (compliance 'All') are
    the missing list and the figure of summary.json.
    """
    r = retention.iloc[-1]
    bridge = movement_row["start_mrr"] + sum(
        movement_row[m] for m in ("new", "expansion", "contraction", "churn", "reactivation")
    )
    retained = r["start_arr"] + r["expansion_arr"] - r["contraction_arr"] - r["churned_arr"]
    checks = {
        "arr_bridge_closes": bool(
            abs(bridge - movement_row["end_mrr"]) < 1e-6 * max(1.0, abs(movement_row["end_mrr"]))
        ),
        "cohort_arr_identity": bool(abs(retained - r["end_arr"]) < 1e-6 * max(1.0, r["end_arr"])),
        "grr_at_most_100pct": bool((retention["grr"] <= 1 + 1e-12).all()),
        "grr_at_most_nrr": bool((retention["grr"] <= retention["nrr"] + 1e-12).all()),
    }
    if notes is not None and figures is not None:
        chart = int(notes.compliance.loc[notes.compliance["csm"] == "All", "without_notes"].iloc[0])
        checks["meetings_without_notes_agree"] = chart == len(notes.missing) == figures["meetings_without_notes"]
    return checks
