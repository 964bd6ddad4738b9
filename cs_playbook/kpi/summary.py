"""The quarterly KPI overview's figures: summary.json, the headline quoted on index.html, the decision box and the checks.

Builds on `kpi.retention` (retention table), `data.revenue` (MRR movements), `data.coverage`,
`data.adoption` and `data.activities` (meeting notes); the notebook 00_kpi_overview narrates them.
Texts come from the message catalog (`cs_playbook/i18n/kpi.yaml`) in the report's language.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cs_playbook.data.activities import MeetingNotes
from cs_playbook.data.meaning import action_deadline
from cs_playbook.formatting import Formatter
from cs_playbook.i18n import messages
from cs_playbook.quarters import quarter_bounds

__all__ = [
    "quarter_figures",
    "previous_figures",
    "summary_figures",
    "headline",
    "decision_figures",
    "quarter_losses",
    "loss_actions",
    "recent_cohorts",
    "consistency_checks",
    "retention_sentence",
]


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
    figures["net_new_arr"] = float(movement_row["end_mrr"] - movement_row["start_mrr"]) * 12
    if len(retention) >= 2:
        figures["nrr_change_vs_previous_quarter"] = float(r["nrr"] - retention.iloc[-2]["nrr"])
    return figures


def previous_figures(retention: pd.DataFrame, movements_by_quarter: pd.DataFrame) -> dict[str, float] | None:
    """`quarter_figures` of the quarter before the last of `retention`, None when the data does not reach it.

    `movements_by_quarter` is `data.revenue.movement_summary(..., freq="Q")` indexed by period.
    """
    if len(retention) < 2 or retention["period"].iloc[-2] not in movements_by_quarter.index:
        return None
    previous = retention.iloc[:-1]
    return quarter_figures(previous, movements_by_quarter.loc[previous["period"].iloc[-1]])


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


def headline(figures: dict[str, Any], currency: str, *, lang: str = "en") -> dict[str, str]:
    """The figures quoted on index.html, formatted for executives in the report's language."""
    msg, fmt = messages(lang), Formatter(lang, currency)
    return {
        msg.t("kpi.headline.total_arr"): fmt.money(figures["total_arr_end"]),
        msg.t("kpi.headline.nrr"): fmt.pct(figures["nrr"]),
        msg.t("kpi.headline.grr"): fmt.pct(figures["grr"]),
        msg.t("kpi.headline.logo_churn"): fmt.pct(figures["logo_churn"]),
        msg.t("kpi.headline.nrr_t12m"): fmt.pct(figures["nrr_t12m"]),
        msg.t("kpi.headline.grr_t12m"): fmt.pct(figures["grr_t12m"]),
    }


def _direction(change: float | None, *, higher_is_better: bool = True) -> str | None:
    if change is None or change != change:
        return None
    if abs(change) < 1e-12:
        return "neutral"
    return "good" if (change > 0) == higher_is_better else "bad"


def decision_figures(
    current: dict[str, Any], previous: dict[str, Any] | None, *, currency: str, lang: str = "en"
) -> list[dict[str, str | None]]:
    """The decision box's five figures (NRR, GRR, ending ARR, net new ARR, churned ARR) with their change.

    Each change is against the previous quarter (`previous_figures`); None when there is none.
    Churned ARR is shown as a positive amount: a rise is bad.
    """
    msg, fmt = messages(lang), Formatter(lang, currency)
    rows = [  # key, value, kind of change, higher is better
        ("nrr", current["nrr"], "pct_points", True),
        ("grr", current["grr"], "pct_points", True),
        ("end_arr", current["total_arr_end"], "money", True),
        ("net_new_arr", current["net_new_arr"], "money", True),
        ("churned_arr", -current["churn_arr"], "money", False),
    ]
    before = {}
    if previous is not None:
        before = {
            "nrr": previous["nrr"],
            "grr": previous["grr"],
            "end_arr": previous["total_arr_end"],
            "net_new_arr": previous["net_new_arr"],
            "churned_arr": -previous["churn_arr"],
        }
    out = []
    for key, value, kind, better_up in rows:
        change = value - before[key] if key in before else None
        shown = fmt.pct(value) if kind == "pct_points" else fmt.money(value)
        out.append(
            {
                "label": msg.t(f"kpi.decision.{key}"),
                "value": shown,
                "change": fmt.delta(change, kind=kind) if change is not None else None,
                "direction": _direction(change, higher_is_better=better_up),
            }
        )
    return out


def quarter_losses(movements: pd.DataFrame, accounts: pd.DataFrame, *, quarter: str, n: int = 5) -> pd.DataFrame:
    """The `n` accounts that lost the most ARR to churn or contraction in `quarter`, largest loss first.

    `movements` from `data.revenue.mrr_movements`, `accounts` with account_id, account_name, csm.
    Returns account_id, account_name, csm, movement (churn when the account has no ARR at the
    quarter's end, else contraction), arr_change (ARR lost, negative) and arr_now (ARR at the quarter's end).
    """
    start, end = quarter_bounds(quarter)
    cols = ["account_id", "account_name", "csm", "movement", "arr_change", "arr_now"]
    in_q = movements[(movements["month"] >= start) & (movements["month"] <= end)]
    lost = in_q[in_q["movement"].isin(["churn", "contraction"])].groupby("account_id")["delta"].sum() * 12
    if lost.empty:
        return pd.DataFrame(columns=cols)
    last = in_q[in_q["month"] == in_q["month"].max()].set_index("account_id")["mrr"] * 12
    out = lost.rename("arr_change").reset_index()
    out["arr_now"] = out["account_id"].map(last).fillna(0.0).to_numpy()
    out["movement"] = ["churn" if now <= 0 else "contraction" for now in out["arr_now"]]
    out = out.merge(accounts[["account_id", "account_name", "csm"]], on="account_id", how="left")
    return out.sort_values(["arr_change", "account_id"]).head(n)[cols].reset_index(drop=True)


def loss_actions(
    losses: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    next_renewal: pd.Series | None = None,
    currency: str = "JPY",
    lang: str = "en",
) -> pd.DataFrame:
    """The decision box's named actions for `quarter_losses`: who, what changed, by when, what to do.

    `next_renewal` (indexed by account_id, e.g. the quarter state's accounts) sets an earlier deadline.
    Returns account_name, csm, movement (code), arr_change (the loss with its arrow, text in `lang`),
    arr_now, deadline and action (text in `lang`); the page formats the rest (`Context.table_frame`).
    """
    msg, fmt = messages(lang), Formatter(lang, currency)
    renew = (
        losses["account_id"].map(next_renewal) if next_renewal is not None else pd.Series(pd.NaT, index=losses.index)
    )
    return pd.DataFrame(
        {
            "account_name": losses["account_name"].fillna(losses["account_id"]),
            "csm": losses["csm"],
            "movement": losses["movement"],
            "arr_change": [fmt.delta(v, kind="money") for v in losses["arr_change"]],
            "arr_now": losses["arr_now"].astype(float),
            "deadline": action_deadline(as_of, renew),
            "action": [msg.t(f"kpi.decision.action_{m}") for m in losses["movement"]],
        }
    )


def recent_cohorts(cohorts: pd.DataFrame, *, quarter: str, n: int = 8) -> pd.DataFrame:
    """The rows of `data.revenue.cohort_retention` for the last `n` start quarters up to `quarter`, up to `n - 1` quarters on.

    Fewer, larger cells keep the heatmap readable (text of at least 10 px on a 1280 px page).
    """
    started = sorted(c for c in cohorts["cohort"].unique() if c <= quarter)[-n:]
    keep = cohorts["cohort"].isin(started) & (cohorts["periods_since_start"] <= n - 1)
    return cohorts[keep].reset_index(drop=True)


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


def retention_sentence(figures: dict[str, Any], *, quarter: str, lang: str = "en") -> str:
    """The quarter's and the trailing 12 months' retention in two sentences (Markdown)."""
    fmt = Formatter(lang)
    return messages(lang).t(
        "kpi.retention.sentence",
        quarter=quarter,
        nrr=fmt.pct(figures["nrr"]),
        grr=fmt.pct(figures["grr"]),
        accounts_start=fmt.count(figures["accounts_start"]),
        accounts_churned=fmt.count(figures["accounts_churned"]),
        logo_churn=fmt.pct(figures["logo_churn"]),
        nrr_t12m=fmt.pct(figures["nrr_t12m"]),
        grr_t12m=fmt.pct(figures["grr_t12m"]),
    )
