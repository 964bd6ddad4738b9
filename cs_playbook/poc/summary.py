"""The PoC tracking notebook's summary: the raw figures of summary.json, the headline of index.html and the checks.

Every figure comes from one `PocTracking` (`poc.report.track_pocs`) judged at the report's as-of
date, so the page, the exports and the index quote the same numbers.
"""

from __future__ import annotations

import pandas as pd

from cs_playbook.formatting import Formatter
from cs_playbook.i18n import Messages, messages
from cs_playbook.poc.criteria import PocParams
from cs_playbook.poc.report import PocTracking

__all__ = [
    "AT_RISK",
    "ON_TRACK",
    "summary_figures",
    "headline",
    "headline_without_pocs",
    "consistency_checks",
    "decision_counts",
    "decision_figures",
    "at_risk_actions",
]

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


def headline(figures: dict[str, object], currency: str, *, lang: str = "en") -> dict[str, str]:
    """The figures quoted on index.html, in the report's language."""
    msg, fmt = messages(lang), Formatter(lang, currency)
    lo, hi = figures["benchmark_conversion"]
    return {
        msg.t("poc.headline.open"): msg.t(
            "poc.headline.open_value", count=figures["open_pocs"], arr=fmt.money(figures["arr_at_stake"])
        ),
        msg.t("poc.headline.at_risk"): msg.t(
            "poc.headline.at_risk_value", count=figures["at_risk"], arr=fmt.money(figures["arr_at_risk"])
        ),
        msg.t("poc.headline.conversion"): msg.t(
            "poc.headline.conversion_value",
            rate=fmt.pct(figures["conversion_rate"], digits=0),
            count=figures["closed_pocs"],
            low=fmt.pct(lo, digits=0),
            high=fmt.pct(hi, digits=0),
        ),
        msg.t("poc.headline.by_criteria"): (
            f"{fmt.pct(figures['conversion_when_criteria_met'], digits=0)} / "
            f"{fmt.pct(figures['conversion_when_criteria_not_met'], digits=0)}"
        ),
    }


def headline_without_pocs(*, lang: str = "en") -> dict[str, str]:
    """The index card's line when the data has no PoC tables: say so instead of an empty card."""
    msg = messages(lang)
    return {msg.t("poc.headline.open"): msg.t("poc.headline.none")}


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


# --- What the page shows first: the decision box, in the report's language -------------------------------------

ON_TRACK = ("met", "on track")  # verdicts counted as on track


def decision_counts(result: PocTracking, *, quarter_start: pd.Timestamp) -> dict[str, float]:
    """The decision box's raw figures at one as-of date: open PoCs on track and at risk (with their ARR at stake),
    PoCs decided since `quarter_start` (won, lost) and the conversion of every decided PoC so far."""
    port, hist = result.portfolio, result.history
    risky = port[port["verdict"].isin(AT_RISK)]
    decided = hist[pd.to_datetime(hist["decided_at"]) >= pd.Timestamp(quarter_start)] if len(hist) else hist
    conv = result.conversion.set_index("group")
    return {
        "on_track": int(port["verdict"].isin(ON_TRACK).sum()),
        "at_risk": int(len(risky)),
        "arr_at_risk": float(risky["arr_at_stake"].sum()),
        "won": int(decided["won"].sum()) if len(decided) else 0,
        "lost": int((~decided["won"].astype(bool)).sum()) if len(decided) else 0,
        "conversion_rate": float(conv.loc["all", "conversion"]) if int(conv.loc["all", "pocs"]) else float("nan"),
    }


def _change(now: float, before: float | None, fmt: Formatter, msg: Messages, *, kind: str, up_is: str) -> dict:
    """The change against the previous quarter and its direction (up_is: good or bad)."""
    if before is None or pd.isna(now) or pd.isna(before):
        return {"change": None, "direction": None}
    delta = float(now) - float(before)
    direction = "neutral" if abs(delta) < 1e-12 else (up_is if delta > 0 else {"good": "bad", "bad": "good"}[up_is])
    return {"change": msg.t("common.vs_previous", delta=fmt.delta(delta, kind)), "direction": direction}


def decision_figures(
    now: dict[str, float], previous: dict[str, float] | None, fmt: Formatter, msg: Messages
) -> list[dict[str, str | None]]:
    """The page's headline figures (`decision_counts` now and a quarter ago) with their change."""
    prev = previous or {}
    return [
        {
            "label": msg.t("poc.decision.on_track"),
            "value": msg.t("poc.decision.count", count=fmt.count(now["on_track"])),
            **_change(now["on_track"], prev.get("on_track"), fmt, msg, kind="count", up_is="good"),
        },
        {
            "label": msg.t("poc.decision.at_risk"),
            "value": msg.t(
                "poc.decision.count_arr", count=fmt.count(now["at_risk"]), arr=fmt.money(now["arr_at_risk"])
            ),
            **_change(now["at_risk"], prev.get("at_risk"), fmt, msg, kind="count", up_is="bad"),
        },
        {
            "label": msg.t("poc.decision.decided"),
            "value": msg.t("poc.decision.won_lost", won=fmt.count(now["won"]), lost=fmt.count(now["lost"])),
            **_change(now["won"], prev.get("won"), fmt, msg, kind="count", up_is="good"),
        },
        {
            "label": msg.t("poc.decision.conversion"),
            "value": fmt.pct(now["conversion_rate"], digits=0),
            **_change(now["conversion_rate"], prev.get("conversion_rate"), fmt, msg, kind="pct_points", up_is="good"),
        },
    ]


def at_risk_actions(result: PocTracking, msg: Messages) -> pd.DataFrame:
    """The open PoCs at risk, most urgent first: poc_id, account_name, csm, end_date, verdict, criterion.

    criterion is the description of the criterion the next action is about (the one most behind). Columns keep
    their snake_case names and codes; the page translates them.
    """
    cols = ["poc_id", "account_name", "csm", "end_date", "verdict", "criterion"]
    port = result.portfolio
    risky = port[port["verdict"].isin(AT_RISK)]
    if risky.empty:
        return pd.DataFrame(columns=cols)
    desc = result.tracked.set_index(["poc_id", "criterion_id"])["description"] if len(result.tracked) else None
    criterion = [
        desc.get((p, c), c) if desc is not None and isinstance(c, str) and c else msg.t("poc.decision.no_criterion")
        for p, c in zip(risky["poc_id"], risky["focus_criterion"], strict=True)
    ]
    return risky.assign(criterion=criterion)[cols].reset_index(drop=True)
