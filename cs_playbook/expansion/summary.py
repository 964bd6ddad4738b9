"""What the expansion notebook reports: summary tables, headline figures and the checks that must hold.

Builds on `expansion`, `expansion_model`, `expansion_plays` and `nrr_outlook`; the notebook
04_expansion_targeting narrates these.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cs_playbook.data.coverage import UNASSIGNED
from cs_playbook.expansion.outcomes import PLAYS, ExpansionParams
from cs_playbook.expansion.plays import CSQL_COLUMNS
from cs_playbook.formatting import fmt_money, fmt_pct

__all__ = ["whitespace_by_segment", "outcome_rates", "summary_figures", "headline", "consistency_checks"]


def whitespace_by_segment(ws: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Whitespace and next-step ARR per segment and play.

    Returns segment, play, accounts (with the play), whitespace_arr, counted_arr (the
    whitespace counted once: new departments draw on the employee cap that seat upsell
    already counts, so they add 0) and play_arr. counted_arr sums to the total of
    `whitespace.whitespace_summary`.
    """
    df = ws.merge(accounts[["account_id", "segment"]], on="account_id", how="left")
    df["counted_arr"] = df["whitespace_arr"].where(df["play"] != "new_department", 0.0)
    seat = df[df["play"] == "seat_upsell"].set_index("account_id")["whitespace_arr"]
    dept = df["play"] == "new_department"
    extra = (df.loc[dept, "whitespace_arr"] - df.loc[dept, "account_id"].map(seat).fillna(0.0)).clip(lower=0)
    df.loc[dept, "counted_arr"] = extra
    out = df.groupby(["segment", "play"], as_index=False).agg(
        accounts=("account_id", "nunique"),
        whitespace_arr=("whitespace_arr", "sum"),
        counted_arr=("counted_arr", "sum"),
        play_arr=("play_arr", "sum"),
    )
    return out.sort_values(["segment", "play"]).reset_index(drop=True)


def outcome_rates(panel: pd.DataFrame) -> pd.DataFrame:
    """How customers expanded in the past: the share of observations with each kind of expansion in the horizon.

    Only observations with a known outcome. Returns kind (expanded, then each play, contracted,
    churned), observations, rate, median_share (median ARR added, or lost, as a share of the
    starting ARR, among the observations with that outcome).
    """
    known = panel[panel["expanded"].notna()]
    rows = []
    for kind in ["expanded", *PLAYS, "contracted", "churned"]:
        col = known[kind]
        hit = known[col == 1]
        amount = "contraction_arr" if kind == "contracted" else ("arr_start" if kind == "churned" else "expansion_arr")
        share = (hit[amount] / hit["arr_start"]).median() if len(hit) else np.nan
        rows.append(
            {"kind": kind, "observations": int(col.notna().sum()), "rate": float(col.mean()), "median_share": share}
        )
    return pd.DataFrame(rows)


def summary_figures(
    cut: pd.DataFrame,
    leads: pd.DataFrame,
    ws_summary: pd.DataFrame,
    backtest: pd.DataFrame,
    drivers: pd.DataFrame,
    outlook: pd.DataFrame,
    actual: pd.DataFrame,
) -> dict[str, Any]:
    """The raw figures of summary.json: expected expansion ARR, the CSQL list, lift and AUC out of time, the outlook."""
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
        "outlook": {
            "periods": list(outlook["period"]) if len(outlook) else [],
            "nrr_quarterly": [float(v) for v in outlook.get("nrr", [])],
            "grr_quarterly": [float(v) for v in outlook.get("grr", [])],
            "nrr_next_4q": last.get("nrr_cum"),
            "nrr_next_4q_low": last.get("nrr_cum_low"),
            "nrr_next_4q_high": last.get("nrr_cum_high"),
            "grr_next_4q": last.get("grr_cum"),
            "grr_next_4q_low": last.get("grr_cum_low"),
            "grr_next_4q_high": last.get("grr_cum_high"),
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
    o = figures["outlook"]
    return {
        "Expected expansion ARR (next 2 quarters)": fmt_money(figures["expected_expansion_arr"], currency),
        "CSQL leads within CSM capacity": f"{figures['csql_leads']:,} ({fmt_money(figures['csql_expected_arr'], currency)})",
        "Top-decile lift (out of time)": f"{figures['top_decile_lift']:.1f}x"
        if figures["top_decile_lift"] is not None and figures["top_decile_lift"] == figures["top_decile_lift"]
        else "n/a",
        "NRR outlook (next 4 quarters)": f"{fmt_pct(o['nrr_next_4q'])} ({fmt_pct(o['nrr_next_4q_low'])}-{fmt_pct(o['nrr_next_4q_high'])})",
        "GRR outlook (next 4 quarters)": f"{fmt_pct(o['grr_next_4q'])} ({fmt_pct(o['grr_next_4q_low'])}-{fmt_pct(o['grr_next_4q_high'])})",
    }


def consistency_checks(
    headroom: pd.DataFrame,
    ws: pd.DataFrame,
    cut: pd.DataFrame,
    leads: pd.DataFrame,
    outlook: pd.DataFrame,
    params: ExpansionParams,
) -> dict[str, bool]:
    """Rules that hold on any data; the notebook prints them and nbval compares the output."""
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
    }
