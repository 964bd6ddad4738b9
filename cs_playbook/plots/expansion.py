"""Charts and table formats of the expansion targeting report: whitespace, propensity, drivers, plays, the outlook.

Titles, axes and legends come from the message catalog ("expansion.charts.<chart>.*" in
`cs_playbook/i18n/expansion.yaml`) in the language of `msg` (English by default); play names,
signals and segments are the catalog's codes. Titles state the finding: templates filled here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from cs_playbook.expansion.outlook import NEXT_QUARTER_SOURCE
from cs_playbook.expansion.summary import signal_label
from cs_playbook.formatting import Formatter
from cs_playbook.i18n import Messages, messages
from cs_playbook.plots import fmt_money, fmt_pct, new_ax, pct_axis

__all__ = [
    "PLAY_COLORS",
    "whitespace_bars",
    "lift_bars",
    "calibration_plot",
    "driver_forest",
    "capacity_curve",
    "outlook_fan",
    "table_formats",
]


PLAY_COLORS = {"seat_upsell": "#2e7d32", "new_department": "#f9a825", "cross_sell": "#1565c0", "usage_tier": "#8e24aa"}


def _msg(msg: Messages | None) -> Messages:
    """The catalog to word a chart in: the given one, else English."""
    return msg or messages("en")


def _money_axis(ax: plt.Axes, fmt: Formatter, *, axis: str = "y") -> None:
    """An axis of money in the report's language (億円 / 万円 in Japanese)."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(
        mticker.FuncFormatter(lambda v, _: fmt.money(v, digits=2 if abs(v) >= 1e9 and fmt.lang != "ja" else 1))
    )


def whitespace_bars(
    by_segment: pd.DataFrame,
    *,
    currency: str = "JPY",
    value: str = "counted_arr",
    what: str = "whitespace",
    labels: dict[str, str] | None = None,
    ax: plt.Axes | None = None,
    msg: Messages | None = None,
) -> plt.Axes:
    """ARR by segment, stacked by play; `by_segment` (whitespace.whitespace_by_segment) has segment, play and `value`.

    `what` is "whitespace" or "next_steps" (the words of the title); `labels` names the plays (default:
    the catalog's). The legend sits below the bars and the value axis leaves headroom, so no bar is
    covered or clipped.
    """
    msg = _msg(msg)
    fmt = Formatter(msg.lang, currency)
    ax = new_ax(ax, figsize=(9, 5))
    pivot = by_segment.pivot_table(index="segment", columns="play", values=value, aggfunc="sum", fill_value=0.0)
    pivot = pivot.loc[pivot.sum(axis=1).sort_values(ascending=False).index]
    pivot = pivot.loc[:, pivot.sum(axis=0) > 0]
    colors = [PLAY_COLORS.get(p, "#9e9e9e") for p in pivot.columns]
    pivot.columns = [(labels or {}).get(p, str(msg.code(p))) for p in pivot.columns]
    pivot.index = [str(msg.code(s)) for s in pivot.index]
    pivot.plot(kind="bar", stacked=True, ax=ax, width=0.7, color=colors, legend=False)
    _money_axis(ax, fmt)
    total = pivot.sum(axis=1)
    if len(total) and total.sum() > 0:
        ax.set_ylim(0, float(total.max()) * 1.12)
        words = msg.t(f"expansion.charts.whitespace.{'next_steps' if what != 'whitespace' else 'whitespace'}")
        ax.set_title(
            msg.t(
                "expansion.charts.whitespace.title",
                segment=total.index[0],
                share=fmt_pct(total.iloc[0] / total.sum(), digits=0),
                total=fmt.money(total.sum()),
                what=words,
            )
        )
    ax.set_xlabel(msg.t("expansion.charts.whitespace.xlabel"))
    ax.set_ylabel(msg.t("expansion.charts.whitespace.ylabel", currency=currency))
    handles, names = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            handles,
            names,
            title=msg.t("expansion.charts.whitespace.legend"),
            fontsize=9,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.14),
            ncol=min(len(handles), 4),
            frameon=False,
        )
    plt.setp(ax.get_xticklabels(), rotation=0)
    return ax


def lift_bars(lift: pd.DataFrame, *, ax: plt.Axes | None = None, msg: Messages | None = None) -> plt.Axes:
    """Observed expansion rate per decile of predicted probability (decile 1 = highest), with the overall rate."""
    msg = _msg(msg)
    ax = new_ax(ax, figsize=(8, 4))
    sns.barplot(lift, x="decile", y="rate", color="#2e7d32", ax=ax)
    overall = lift["events"].sum() / lift["n"].sum() if lift["n"].sum() else np.nan
    label = msg.t("expansion.charts.lift.overall", rate=fmt_pct(overall, digits=0))
    ax.axhline(overall, color="grey", ls="--", lw=1, label=label)
    pct_axis(ax)
    top = lift.loc[lift["decile"] == lift["decile"].min()]
    if len(top):
        ax.set_title(msg.t("expansion.charts.lift.title", lift=f"{top['lift'].iloc[0]:.1f}"))
    ax.set_xlabel(msg.t("expansion.charts.lift.xlabel"))
    ax.set_ylabel(msg.t("expansion.charts.lift.ylabel"))
    ax.legend(fontsize=8)
    return ax


def calibration_plot(
    curve: pd.DataFrame, *, ece: float | None = None, ax: plt.Axes | None = None, msg: Messages | None = None
) -> plt.Axes:
    """Observed rate (with its interval) against mean predicted probability per bin, and the diagonal."""
    msg = _msg(msg)
    ax = new_ax(ax, figsize=(5.5, 5))
    hi = float(max(curve["mean_predicted"].max(), curve["observed_rate"].max(), 0.05)) * 1.1
    ax.plot([0, hi], [0, hi], color="grey", ls="--", lw=1, label=msg.t("expansion.charts.calibration.perfect"))
    err = np.clip(np.vstack([curve["observed_rate"] - curve["lo"], curve["hi"] - curve["observed_rate"]]), 0, None)
    bins = msg.t("expansion.charts.calibration.bins")
    ax.errorbar(curve["mean_predicted"], curve["observed_rate"], yerr=err, fmt="o-", color="#1565c0", label=bins)
    pct_axis(ax)
    pct_axis(ax, axis="x")
    known = ece is not None and ece == ece
    ax.set_title(
        msg.t("expansion.charts.calibration.title", ece=fmt_pct(ece))
        if known
        else msg.t("expansion.charts.calibration.plain")
    )
    ax.set_xlabel(msg.t("expansion.charts.calibration.xlabel"))
    ax.set_ylabel(msg.t("expansion.charts.calibration.ylabel"))
    ax.legend(fontsize=8)
    return ax


def driver_forest(drivers: pd.DataFrame, *, ax: plt.Axes | None = None, msg: Messages | None = None) -> plt.Axes:
    """Odds ratio per standard deviation of each signal with its interval; documented drivers coloured by agreement.

    `drivers` has signal, odds_ratio, or_lo, or_hi, expected ('+', '-' or '') and agrees (bool or NaN).
    """
    msg = _msg(msg)
    df = drivers.sort_values("odds_ratio").reset_index(drop=True)
    ax = new_ax(ax, figsize=(8, max(3.0, 0.35 * len(df) + 1)))
    colors = np.where(
        df["expected"].eq(""), "#9e9e9e", np.where(df["agrees"].fillna(False).astype(bool), "#2e7d32", "#c62828")
    )
    y = np.arange(len(df))
    ax.hlines(y, df["or_lo"], df["or_hi"], color=colors, lw=2)
    ax.scatter(df["odds_ratio"], y, color=colors, zorder=3)
    ax.axvline(1.0, color="grey", ls="--", lw=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(mticker.FixedLocator([0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8]))
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set_yticks(y, [signal_label(s, msg) for s in df["signal"]])
    documented = df[df["expected"] != ""]
    agree = int(documented["agrees"].fillna(False).astype(bool).sum())
    ax.set_title(msg.t("expansion.charts.drivers.title", agree=agree, documented=len(documented)))
    ax.set_xlabel(msg.t("expansion.charts.drivers.xlabel"))
    ax.set_ylabel("")
    return ax


def capacity_curve(
    cut: pd.DataFrame, *, currency: str = "JPY", ax: plt.Axes | None = None, msg: Messages | None = None
) -> plt.Axes:
    """Cumulative expected expansion ARR of the ranked, unguarded plays, and how much CSM capacity covers."""
    msg = _msg(msg)
    fmt = Formatter(msg.lang, currency)
    ax = new_ax(ax, figsize=(9, 4.5))
    df = cut[~cut["guarded"] & (cut["expected_arr"] > 0)].sort_values("expected_arr", ascending=False)
    cum = df["expected_arr"].cumsum().to_numpy()
    x = np.arange(1, len(df) + 1)
    ax.plot(x, cum, color="#1565c0", label=msg.t("expansion.charts.capacity.all"))
    inside = df["within_capacity"].to_numpy()
    ax.scatter(x[inside], cum[inside], s=8, color="#2e7d32", label=msg.t("expansion.charts.capacity.inside"), zorder=3)
    _money_axis(ax, fmt)
    total = cum[-1] if len(cum) else 0.0
    covered = float(df.loc[df["within_capacity"], "expected_arr"].sum())
    ax.set_title(
        msg.t(
            "expansion.charts.capacity.title",
            covered=fmt.money(covered),
            total=fmt.money(total),
            share=fmt_pct(covered / total if total else np.nan, digits=0),
            plays=int(inside.sum()),
        )
    )
    ax.set_xlabel(msg.t("expansion.charts.capacity.xlabel"))
    ax.set_ylabel(msg.t("expansion.charts.capacity.ylabel", currency=currency))
    ax.legend(fontsize=8)
    return ax


def table_formats(
    columns: Iterable[str], currency: str, *, formats: dict[str, str | Callable] | None = None
) -> dict[str, str | Callable]:
    """Styler formats for a page table: compact money for every *_arr column, then the given `formats`."""
    money = partial(fmt_money, currency=currency)
    return {c: money for c in columns if str(c).endswith("_arr")} | (formats or {})


def outlook_fan(
    actual: pd.DataFrame, outlook: pd.DataFrame, *, ax: plt.Axes | None = None, msg: Messages | None = None
) -> plt.Axes:
    """Quarterly NRR and GRR: the last quarters' actuals and the outlook with its interval.

    `actual` has period, nrr, grr; `outlook` has period, nrr, nrr_low, nrr_high, grr, grr_low,
    grr_high and optionally grr_source (`expansion.outlook.align_next_quarter`): the quarter whose
    GRR is the renewal GRR forecast is marked and labelled as such.
    """
    msg = _msg(msg)
    ax = new_ax(ax, figsize=(10, 4.5))
    periods = list(actual["period"]) + list(outlook["period"])
    pos = {p: i for i, p in enumerate(periods)}
    for metric, color in (("nrr", "#1565c0"), ("grr", "#c62828")):
        xa = [pos[p] for p in actual["period"]]
        xo = [pos[p] for p in outlook["period"]]
        ax.plot(
            xa, actual[metric], "o-", color=color, label=msg.t("expansion.charts.outlook.actual", metric=metric.upper())
        )
        ax.plot(
            xo,
            outlook[metric],
            "o--",
            color=color,
            label=msg.t("expansion.charts.outlook.outlook", metric=metric.upper()),
        )
        ax.fill_between(xo, outlook[f"{metric}_low"], outlook[f"{metric}_high"], color=color, alpha=0.15)
    if "grr_source" in outlook.columns:
        fc = outlook[outlook["grr_source"] == NEXT_QUARTER_SOURCE]
        for _, row in fc.iterrows():
            ax.errorbar(
                pos[row["period"]],
                row["grr"],
                yerr=[[row["grr"] - row["grr_low"]], [row["grr_high"] - row["grr"]]],
                fmt="D",
                color="#c62828",
                capsize=4,
                label=msg.t("expansion.charts.outlook.forecast", period=row["period"], value=fmt_pct(row["grr"])),
            )
    ax.axhline(1.0, color="grey", lw=1, ls=":")
    ax.set_xticks(range(len(periods)), periods)
    pct_axis(ax)
    a = actual["nrr"].mean() if len(actual) else np.nan
    o = outlook["nrr"].mean() if len(outlook) else np.nan
    ax.set_title(msg.t("expansion.charts.outlook.title", actual=fmt_pct(a), outlook=fmt_pct(o)))
    ax.set_xlabel(msg.t("expansion.charts.outlook.xlabel"))
    ax.set_ylabel(msg.t("expansion.charts.outlook.ylabel"))
    ax.legend(fontsize=8, ncol=2)
    return ax
