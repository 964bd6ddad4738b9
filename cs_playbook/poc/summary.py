"""The PoC tracking notebook's summary: the raw figures of summary.json, the headline of index.html and the checks.

Every figure comes from one `PocTracking` (`poc.report.track_pocs`) judged at the report's as-of
date, so the page, the exports and the index quote the same numbers.
"""

from __future__ import annotations

import pandas as pd

from cs_playbook.formatting import fmt_money, fmt_pct
from cs_playbook.poc.criteria import PocParams
from cs_playbook.poc.report import PocTracking

__all__ = ["AT_RISK", "summary_figures", "headline", "headline_without_pocs", "consistency_checks"]

AT_RISK = ("at risk", "off track", "not met")  # verdicts counted as at risk


def summary_figures(result: PocTracking, params: PocParams) -> dict[str, object]:
    """The raw figures for summary.json: open PoCs, at risk, ARR at stake and conversion."""
    port, conv = result.portfolio, result.conversion.set_index("group")
    risky = port[port["verdict"].isin(AT_RISK)]
    med = result.decision_times.set_index("outcome").loc["all", "median_days"]
    return {
        "as_of": result.as_of,
        "open_pocs": int(len(port)),
        "at_risk": int(len(risky)),
        "off_track": int((port["verdict"] == "off track").sum()),
        "ready_to_sign": int((port["verdict"] == "met").sum()),
        "arr_at_stake": float(port["arr_at_stake"].sum()),
        "arr_at_risk": float(risky["arr_at_stake"].sum()),
        "verdicts": port["verdict"].value_counts().to_dict(),
        "closed_pocs": int(conv.loc["all", "pocs"]),
        "conversion_rate": float(conv.loc["all", "conversion"]),
        "conversion_when_criteria_met": float(conv.loc["criteria met", "conversion"]),
        "conversion_when_criteria_not_met": float(conv.loc["criteria not met", "conversion"]),
        "benchmark_conversion": list(params.benchmark_conversion),
        "median_days_end_to_decision": None if pd.isna(med) else float(med),
    }


def headline(figures: dict[str, object], currency: str) -> dict[str, str]:
    """The figures quoted on index.html."""
    lo, hi = figures["benchmark_conversion"]
    return {
        "Open PoCs": f"{figures['open_pocs']} ({fmt_money(figures['arr_at_stake'], currency)} ARR at stake)",
        "At risk or off track": f"{figures['at_risk']} ({fmt_money(figures['arr_at_risk'], currency)} ARR)",
        "Conversion (decided PoCs)": (
            f"{fmt_pct(figures['conversion_rate'], digits=0)} of {figures['closed_pocs']} "
            f"(benchmark {fmt_pct(lo, digits=0)}-{fmt_pct(hi, digits=0)})"
        ),
        "Conversion when criteria met / not": (
            f"{fmt_pct(figures['conversion_when_criteria_met'], digits=0)} / "
            f"{fmt_pct(figures['conversion_when_criteria_not_met'], digits=0)}"
        ),
    }


def headline_without_pocs() -> dict[str, str]:
    """The index card's line when the data has no PoC tables: say so instead of an empty card."""
    return {"Open PoCs": "none: the data has no PoC tables (pocs, poc_criteria)"}


def consistency_checks(result: PocTracking) -> dict[str, bool]:
    """Rules that hold on any data; the notebook prints them and nbval compares the output."""
    t, v = result.tracked, result.verdicts
    p = t["p_meet"].dropna() if "p_meet" in t else pd.Series(dtype="float64")
    has_band = t.dropna(subset=["lower", "upper"]) if "lower" in t else t.iloc[:0]
    met = t[t["status"] == "met"] if "status" in t else t.iloc[:0]
    met_ok = all((c.current >= c.target) if c.comparator == ">=" else (c.current <= c.target) for c in met.itertuples())
    must = t[t["must_have"].astype(bool)] if "must_have" in t else t.iloc[:0]
    passed = set(v.loc[v["verdict"] == "met", "poc_id"])
    must_ok = bool((must.loc[must["poc_id"].isin(passed), "status"] == "met").all())
    conv = result.conversion.set_index("group")
    return {
        "probabilities_between_0_and_1": bool(((p >= 0) & (p <= 1)).all()),
        "interval_contains_projection": bool(
            (
                (has_band["lower"] <= has_band["projected"] + 1e-9)
                & (has_band["projected"] <= has_band["upper"] + 1e-9)
            ).all()
        ),
        "met_criteria_meet_their_target": bool(met_ok),
        "met_verdict_has_every_must_have_met": must_ok,
        "every_open_poc_has_a_next_action": bool(result.portfolio["next_action"].fillna("").str.len().gt(0).all()),
        "conversion_groups_add_up": bool(
            conv.loc["criteria met", "pocs"] + conv.loc["criteria not met", "pocs"] == conv.loc["all", "pocs"]
            and conv.loc["criteria met", "won"] + conv.loc["criteria not met", "won"] == conv.loc["all", "won"]
        ),
        "scores_between_0_and_1": bool(v["score"].dropna().between(0, 1).all()),
    }
