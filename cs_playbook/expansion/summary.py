"""What the expansion notebook reports: headline figures and the checks that must hold.

Builds on `expansion.whitespace`, `expansion.model`, `expansion.plays` and `expansion.outlook`;
the notebook 04_expansion_targeting narrates these. The next quarter's GRR is the quarter state's
renewal GRR forecast (one answer for every page); the multi-quarter figures are the 4-quarter
cumulative outlook, a different question.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cs_playbook.data.coverage import UNASSIGNED
from cs_playbook.expansion.outcomes import ExpansionParams
from cs_playbook.expansion.outlook import NEXT_QUARTER_SOURCE
from cs_playbook.expansion.plays import CSQL_COLUMNS
from cs_playbook.formatting import fmt_money, fmt_pct

__all__ = ["summary_figures", "headline", "consistency_checks"]


def _next_quarter_grr(grr_forecast: dict[str, Any] | None) -> dict[str, Any] | None:
    """The next quarter's GRR as the report states it: the quarter state's renewal GRR forecast."""
    if not grr_forecast:
        return None
    keys = ("quarter", "expected_grr", "grr_low", "grr_high")
    return {**{k: grr_forecast[k] for k in keys}, "source": NEXT_QUARTER_SOURCE}


def summary_figures(
    cut: pd.DataFrame,
    leads: pd.DataFrame,
    ws_summary: pd.DataFrame,
    backtest: pd.DataFrame,
    drivers: pd.DataFrame,
    outlook: pd.DataFrame,
    actual: pd.DataFrame,
    grr_forecast: dict[str, Any] | None,
) -> dict[str, Any]:
    """The raw figures of summary.json: expected expansion ARR, the CSQL list, lift and AUC out of time, the outlooks.

    `outlook` is `outlook.align_next_quarter` output (its forecast quarter's GRR is the renewal
    forecast's); `grr_forecast` the quarter state's. grr_next_quarter is that forecast (the one
    answer to "next quarter's GRR"); outlook_4q_cumulative holds the simulated quarters and the
    cumulative NRR and GRR after them.
    """
    open_ = cut[~cut["guarded"]]
    pooled = backtest[(backtest["fold"] == "all")].set_index("model") if len(backtest) else pd.DataFrame()
    prop = pooled.loc["propensity"] if "propensity" in pooled.index else pd.Series(dtype="float64")
    base = pooled.loc["renewal timing only"] if "renewal timing only" in pooled.index else pd.Series(dtype="float64")
    last = outlook.iloc[-1] if len(outlook) else pd.Series(dtype="float64")
    documented = drivers[(drivers["expected"] != "") & drivers["in_model"].astype(bool)]
    a_last = actual.iloc[-1] if len(actual) else pd.Series(dtype="float64")
    return {
        "expected_expansion_arr": float(open_["expected_arr"].sum()),
        "expected_expansion_arr_within_capacity": float(open_.loc[open_["within_capacity"], "expected_arr"].sum()),
        "csql_leads": int(len(leads)),
        "csql_expected_arr": float(leads["expected_arr"].sum()),
        "whitespace_arr": float(ws_summary["total_whitespace_arr"].sum()),
        "accounts_with_whitespace": int((ws_summary["total_whitespace_arr"] > 0).sum()),
        "accounts_guarded": int(cut["guarded"].sum()),
        "expected_arr_guarded": float(cut.loc[cut["guarded"], "expected_arr"].sum()),
        "auc_out_of_time": prop.get("auc"),
        "auc_lo": prop.get("auc_lo"),
        "auc_hi": prop.get("auc_hi"),
        "top_decile_lift": prop.get("top_decile_lift"),
        "brier": prop.get("brier"),
        "ece": prop.get("ece"),
        "baseline_auc": base.get("auc"),
        "baseline_top_decile_lift": base.get("top_decile_lift"),
        "documented_drivers_in_model": int(len(documented)),
        "documented_drivers_agreeing": int(documented["agrees"].fillna(False).astype(bool).sum()),
        "grr_next_quarter": _next_quarter_grr(grr_forecast),
        "outlook_4q_cumulative": {
            "periods": list(outlook["period"]) if len(outlook) else [],
            "nrr_quarterly": [float(v) for v in outlook.get("nrr", [])],
            "grr_quarterly": [float(v) for v in outlook.get("grr", [])],
            "grr_quarterly_source": list(outlook.get("grr_source", [])),
            "nrr_cumulative": last.get("nrr_cum"),
            "nrr_cumulative_low": last.get("nrr_cum_low"),
            "nrr_cumulative_high": last.get("nrr_cum_high"),
            "grr_cumulative": last.get("grr_cum"),
            "grr_cumulative_low": last.get("grr_cum_low"),
            "grr_cumulative_high": last.get("grr_cum_high"),
        },
        "actual": {
            "periods": list(actual["period"]),
            "nrr_quarterly": [float(v) for v in actual["nrr"]],
            "grr_quarterly": [float(v) for v in actual["grr"]],
            "nrr_last_4q": a_last.get("nrr_t12m"),
            "grr_last_4q": a_last.get("grr_t12m"),
        },
    }


def headline(figures: dict[str, Any], currency: str) -> dict[str, str]:
    """The figures quoted on index.html, formatted for executives."""
    o = figures["outlook_4q_cumulative"]
    return {
        "Expected expansion ARR (next 2 quarters)": fmt_money(figures["expected_expansion_arr"], currency),
        "CSQL leads within CSM capacity": f"{figures['csql_leads']:,} ({fmt_money(figures['csql_expected_arr'], currency)})",
        "Top-decile lift (out of time)": f"{figures['top_decile_lift']:.1f}x"
        if figures["top_decile_lift"] is not None and figures["top_decile_lift"] == figures["top_decile_lift"]
        else "n/a",
        "NRR, 4-quarter cumulative outlook": f"{fmt_pct(o['nrr_cumulative'])} "
        f"({fmt_pct(o['nrr_cumulative_low'])}-{fmt_pct(o['nrr_cumulative_high'])})",
        "GRR, 4-quarter cumulative outlook": f"{fmt_pct(o['grr_cumulative'])} "
        f"({fmt_pct(o['grr_cumulative_low'])}-{fmt_pct(o['grr_cumulative_high'])})",
    }


def consistency_checks(
    headroom: pd.DataFrame,
    ws: pd.DataFrame,
    cut: pd.DataFrame,
    leads: pd.DataFrame,
    outlook: pd.DataFrame,
    params: ExpansionParams,
    *,
    figures: dict[str, Any],
    grr_forecast: dict[str, Any] | None,
) -> dict[str, bool]:
    """Rules that hold on any data; the notebook prints them and nbval compares the output.

    `figures` are `summary_figures`; `grr_forecast` the quarter state's. The next quarter's GRR
    the page reports (figures and the outlook's row of that quarter) must be the forecast's.
    """
    emp = headroom["employees"]
    known = emp.notna()
    seat = ws[ws["play"].isin(["seat_upsell", "new_department"])].merge(headroom, on="account_id")
    guarded = set(cut.loc[cut["guarded"], "account_id"])
    inside = cut[cut["within_capacity"]]
    per_owner = inside.groupby("owner").size()
    limit = pd.Series(
        [
            params.capacity.unassigned_plays if o == UNASSIGNED else params.capacity.plays_per_csm
            for o in per_owner.index
        ],
        index=per_owner.index,
    )
    probs = cut["probability"].dropna()
    return {
        "whitespace_within_employee_cap": bool(
            (headroom.loc[known, "seats_held"] + headroom.loc[known, "headroom"] <= emp[known]).all()
            and (seat["seats"] <= seat["headroom"]).all()
        ),
        "no_churn_risk_account_is_a_target": bool(not (cut["guarded"] & cut["within_capacity"]).any())
        and not guarded & set(leads["account_id"]),
        "csql_list_has_crm_columns": list(leads.columns[: len(CSQL_COLUMNS)]) == CSQL_COLUMNS,
        "plays_within_csm_capacity": bool((per_owner <= limit).all()),
        "probabilities_between_0_and_1": bool(((probs >= 0) & (probs <= 1)).all()),
        "outlook_grr_at_most_nrr_and_100pct": bool(
            ((outlook["grr_cum"] <= outlook["nrr_cum"] + 1e-12) & (outlook["grr_cum"] <= 1 + 1e-12)).all()
        ),
        "next_quarter_grr_is_the_renewal_forecast": _same_next_quarter_grr(outlook, figures, grr_forecast),
    }


def _same_next_quarter_grr(outlook: pd.DataFrame, figures: dict[str, Any], grr_forecast: dict[str, Any] | None) -> bool:
    """Whether every next-quarter GRR the page reports equals the quarter state's forecast (none without one)."""
    reported = figures.get("grr_next_quarter")
    if not grr_forecast:
        return reported is None
    expected = float(grr_forecast["expected_grr"])
    rows = outlook.loc[outlook["period"] == grr_forecast["quarter"], "grr"]
    return bool(
        reported is not None
        and reported["quarter"] == grr_forecast["quarter"]
        and float(reported["expected_grr"]) == expected
        and (rows.astype("float64") == expected).all()
    )
