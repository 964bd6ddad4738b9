"""What the expansion notebook reports: headline figures, the decision box, the named actions and the checks.

Builds on `expansion.whitespace`, `expansion.model`, `expansion.plays` and `expansion.outlook`;
the notebook 04_expansion_targeting narrates these. The next quarter's GRR is the quarter state's
renewal GRR forecast (one answer for every page); the multi-quarter figures are the 4-quarter
cumulative outlook, a different question. Texts are in the report's language (`cs_playbook/i18n/expansion.yaml`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cs_playbook.data.coverage import UNASSIGNED
from cs_playbook.data.meaning import action_deadline
from cs_playbook.expansion.outcomes import PLAYS, ExpansionParams
from cs_playbook.expansion.outlook import NEXT_QUARTER_SOURCE
from cs_playbook.expansion.plays import CSQL_COLUMNS
from cs_playbook.formatting import MISSING, Formatter
from cs_playbook.i18n import Messages, messages

__all__ = [
    "in_language",
    "summary_figures",
    "headline",
    "decision_figures",
    "lead_actions",
    "signal_label",
    "driver_rows",
    "backtest_rows",
    "consistency_checks",
]


def in_language(params: ExpansionParams, lang: str) -> ExpansionParams:
    """`params` whose words for CSMs are in the report's language: the reasons, and the play names.

    Play names are the catalog's (`codes.<play>`), so they follow the report's language: they replace
    `plays.labels` of params (a data folder's params may name the plays in another language).
    """
    msg = messages(lang)
    labels = {**params.plays.labels, **{p: str(msg.code(p)) for p in PLAYS}}
    plays = params.plays.model_copy(update={"labels": labels})
    return params.model_copy(update={"reason_language": lang, "plays": plays})


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


def headline(figures: dict[str, Any], currency: str, *, lang: str = "en") -> dict[str, str]:
    """The figures quoted on index.html, formatted for executives in `lang`."""
    msg, fmt = messages(lang), Formatter(lang, currency)
    o = figures["outlook_4q_cumulative"]
    lift = figures["top_decile_lift"]
    return {
        msg.t("expansion.headline.expected_arr"): fmt.money(figures["expected_expansion_arr"]),
        msg.t("expansion.headline.leads"): msg.t(
            "expansion.headline.leads_value",
            count=fmt.count(figures["csql_leads"]),
            arr=fmt.money(figures["csql_expected_arr"]),
        ),
        msg.t("expansion.headline.lift"): f"{lift:.1f}x" if lift is not None and lift == lift else fmt.pct(None),
        msg.t("expansion.headline.nrr"): f"{fmt.pct(o['nrr_cumulative'])} "
        f"({fmt.pct(o['nrr_cumulative_low'])}-{fmt.pct(o['nrr_cumulative_high'])})",
        msg.t("expansion.headline.grr"): f"{fmt.pct(o['grr_cumulative'])} "
        f"({fmt.pct(o['grr_cumulative_low'])}-{fmt.pct(o['grr_cumulative_high'])})",
    }


def decision_figures(
    leads: pd.DataFrame,
    cut: pd.DataFrame,
    *,
    guarded_before: int | None,
    params: ExpansionParams,
    currency: str,
    lang: str = "en",
) -> list[dict[str, str | None]]:
    """The decision box: expected ARR of the CSQL leads, their number, the top play, customers held back for churn risk.

    `leads` is `plays.csql_list`, `cut` `plays.rank_targets` (play codes, guarded, within_capacity,
    expected_arr). `guarded_before` is how many customers the same guard held back at the end of the
    previous quarter (None without one): the change of the last figure. Each figure: label, value,
    change, direction (ctx.decision's form).
    """
    msg, fmt = messages(lang), Formatter(lang, currency)
    inside = cut[cut["within_capacity"]]
    by_play = inside.groupby("play")["expected_arr"].agg(["size", "sum"]).sort_values("sum", ascending=False)
    if len(by_play):
        play = by_play.index[0]
        top = msg.t(
            "expansion.decision.top_play_value",
            play=params.play_label(play),
            count=fmt.count(by_play["size"].iloc[0]),
            arr=fmt.money(by_play["sum"].iloc[0]),
        )
    else:
        top = msg.t("expansion.decision.no_leads")
    guarded = int(cut["guarded"].sum())
    change = guarded - guarded_before if guarded_before is not None else None
    direction = None if change is None else "neutral" if change == 0 else ("bad" if change > 0 else "good")
    return [
        {
            "label": msg.t("expansion.decision.leads_arr"),
            "value": fmt.money(float(leads["expected_arr"].sum())),
            "change": None,
            "direction": None,
        },
        {
            "label": msg.t("expansion.decision.leads"),
            "value": msg.t("expansion.decision.leads_value", count=fmt.count(len(leads))),
            "change": None,
            "direction": None,
        },
        {"label": msg.t("expansion.decision.top_play"), "value": top, "change": None, "direction": None},
        {
            "label": msg.t("expansion.decision.guarded"),
            "value": msg.t("expansion.decision.guarded_value", count=fmt.count(guarded)),
            "change": fmt.delta(change, kind="count") if change is not None else None,
            "direction": direction,
        },
    ]


def lead_actions(
    leads: pd.DataFrame, *, as_of: pd.Timestamp, top: int = 5, params: ExpansionParams, lang: str = "en"
) -> pd.DataFrame:
    """The decision box's named actions: the `top` CSQL leads with their CSM, play, expected ARR, deadline and action.

    `leads` is `plays.csql_list` (best first; play as "<label>: <product>", product). Returns
    account_name, owner (the pool named as such), expected_arr, probability, deadline, action (text in `lang`).
    """
    msg = messages(lang)
    head = leads.head(top)
    owner = head["owner"].astype("string").str.strip()
    pool = owner.isna() | (owner == "") | (owner == UNASSIGNED)
    play = head["play"].astype(str).str.split(": ", n=1).str[0]
    return pd.DataFrame(
        {
            "account_name": head["account_name"].fillna(head["account_id"]).to_numpy(),
            "owner": owner.where(~pool, msg.t("expansion.decision.no_owner")).to_numpy(),
            "expected_arr": head["expected_arr"].astype("float64").to_numpy(),
            "probability": head["probability"].astype("float64").to_numpy(),
            "deadline": action_deadline(as_of, pd.Series(pd.NaT, index=head.index)).to_numpy(),
            "action": [
                msg.t("expansion.decision.action", play=pl, product=pr)
                for pl, pr in zip(play, head["product"].astype(str), strict=True)
            ],
        }
    )


def signal_label(signal: str, msg: Messages) -> str:
    """A model signal in words: "champion" -> チャンピオン, "segment=smb" -> セグメント (SMB)."""
    name, _, value = str(signal).partition("=")
    return f"{msg.code(name)} ({msg.code(value)})" if value else str(msg.code(name))


def _fixed(values: pd.Series, spec: str) -> list[str]:
    return [MISSING if v is None or v != v else format(float(v), spec) for v in values]


def driver_rows(drivers: pd.DataFrame, msg: Messages) -> pd.DataFrame:
    """`model.driver_table` rows for a page table: signals in words, coefficients and odds ratios as plain numbers.

    Returns signal, coef, ci_lo, ci_hi, odds_ratio, or_lo, or_hi (text, 2 decimals), p_value, expected, agrees.
    """
    out = drivers.drop(columns=[c for c in ("in_model", "term") if c in drivers.columns]).copy()
    out["signal"] = [signal_label(s, msg) for s in out["signal"]]
    for col in ("coef", "ci_lo", "ci_hi"):
        out[col] = _fixed(out[col], "+.2f")
    for col in ("odds_ratio", "or_lo", "or_hi"):
        out[col] = _fixed(out[col], ".2f")
    return out.reset_index(drop=True)


def backtest_rows(backtest: pd.DataFrame, msg: Messages) -> pd.DataFrame:
    """`model.backtest_propensity`'s summary for a page table: the pooled row's fold ("all") named in words."""
    out = backtest.copy()
    out["fold"] = [msg.t("expansion.propensity.all") if f == "all" else f for f in out["fold"]]
    return out.reset_index(drop=True)


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
