"""Charts and table formats of the expansion targeting report: whitespace, propensity, drivers, plays, the outlook."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from cs_playbook.expansion.outlook import NEXT_QUARTER_SOURCE
from cs_playbook.plots import fmt_money, fmt_pct, money_axis, new_ax, pct_axis

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


def whitespace_bars(
    by_segment: pd.DataFrame,
    *,
    currency: str = "JPY",
    value: str = "counted_arr",
    what: str = "whitespace",
    labels: dict[str, str] | None = None,
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """ARR by segment, stacked by play; `by_segment` (whitespace.whitespace_by_segment) has segment, play and `value`."""
    ax = new_ax(ax, figsize=(9, 4.5))
    pivot = by_segment.pivot_table(index="segment", columns="play", values=value, aggfunc="sum", fill_value=0.0)
    pivot = pivot.loc[pivot.sum(axis=1).sort_values(ascending=False).index]
    pivot = pivot.loc[:, pivot.sum(axis=0) > 0]
    colors = [PLAY_COLORS.get(p, "#9e9e9e") for p in pivot.columns]
    pivot.columns = [(labels or {}).get(p, p.replace("_", " ")) for p in pivot.columns]
    pivot.plot(kind="bar", stacked=True, ax=ax, width=0.7, color=colors)
    money_axis(ax, currency)
    total = pivot.sum(axis=1)
    if len(total) and total.sum() > 0:
        ax.set_title(
            f"{total.index[0]} holds {fmt_pct(total.iloc[0] / total.sum(), digits=0)} of the "
            f"{fmt_money(total.sum(), currency)} {what}"
        )
    ax.set_xlabel("Segment")
    ax.set_ylabel(f"ARR ({currency})")
    ax.legend(title="Play", fontsize=8)
    plt.setp(ax.get_xticklabels(), rotation=0)
    return ax


def lift_bars(lift: pd.DataFrame, *, ax: plt.Axes | None = None, what: str = "expansion") -> plt.Axes:
    """Observed outcome rate per decile of predicted probability (decile 1 = highest), with the overall rate."""
    ax = new_ax(ax, figsize=(8, 4))
    sns.barplot(lift, x="decile", y="rate", color="#2e7d32", ax=ax)
    overall = lift["events"].sum() / lift["n"].sum() if lift["n"].sum() else np.nan
    ax.axhline(overall, color="grey", ls="--", lw=1, label=f"all accounts {fmt_pct(overall, digits=0)}")
    pct_axis(ax)
    top = lift.loc[lift["decile"] == lift["decile"].min()]
    if len(top):
        ax.set_title(f"Top tenth by propensity: {top['lift'].iloc[0]:.1f}x the average {what} rate (out of time)")
    ax.set_xlabel("Decile of predicted probability (1 = highest)")
    ax.set_ylabel(f"Accounts with {what} in the horizon (%)")
    ax.legend(fontsize=8)
    return ax


def calibration_plot(curve: pd.DataFrame, *, ece: float | None = None, ax: plt.Axes | None = None) -> plt.Axes:
    """Observed rate (with its interval) against mean predicted probability per bin, and the diagonal."""
    ax = new_ax(ax, figsize=(5.5, 5))
    hi = float(max(curve["mean_predicted"].max(), curve["observed_rate"].max(), 0.05)) * 1.1
    ax.plot([0, hi], [0, hi], color="grey", ls="--", lw=1, label="perfect calibration")
    err = np.clip(np.vstack([curve["observed_rate"] - curve["lo"], curve["hi"] - curve["observed_rate"]]), 0, None)
    ax.errorbar(curve["mean_predicted"], curve["observed_rate"], yerr=err, fmt="o-", color="#1565c0", label="bins")
    pct_axis(ax)
    pct_axis(ax, axis="x")
    gap = f": off by {fmt_pct(ece)} on average" if ece is not None and ece == ece else ""
    ax.set_title(f"Calibration{gap}")
    ax.set_xlabel("Mean predicted probability (%)")
    ax.set_ylabel("Observed rate (%)")
    ax.legend(fontsize=8)
    return ax


def driver_forest(drivers: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Odds ratio per standard deviation of each signal with its interval; documented drivers coloured by agreement.

    `drivers` has signal, odds_ratio, or_lo, or_hi, expected ('+', '-' or '') and agrees (bool or NaN).
    """
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
    ax.set_yticks(y, df["signal"])
    documented = df[df["expected"] != ""]
    agree = int(documented["agrees"].fillna(False).astype(bool).sum())
    ax.set_title(f"{agree} of {len(documented)} documented expansion drivers come out with the expected sign")
    ax.set_xlabel("Odds ratio of expansion per standard deviation (log scale; green = documented sign, red = not)")
    ax.set_ylabel("")
    return ax


def capacity_curve(cut: pd.DataFrame, *, currency: str = "JPY", ax: plt.Axes | None = None) -> plt.Axes:
    """Cumulative expected expansion ARR of the ranked, unguarded plays, and how much CSM capacity covers."""
    ax = new_ax(ax, figsize=(9, 4.5))
    df = cut[~cut["guarded"] & (cut["expected_arr"] > 0)].sort_values("expected_arr", ascending=False)
    cum = df["expected_arr"].cumsum().to_numpy()
    x = np.arange(1, len(df) + 1)
    ax.plot(x, cum, color="#1565c0", label="all qualified plays, best first")
    inside = df["within_capacity"].to_numpy()
    ax.scatter(x[inside], cum[inside], s=8, color="#2e7d32", label="within CSM capacity", zorder=3)
    money_axis(ax, currency)
    total = cum[-1] if len(cum) else 0.0
    covered = float(df.loc[df["within_capacity"], "expected_arr"].sum())
    ax.set_title(
        f"CSM capacity covers {fmt_money(covered, currency)} of {fmt_money(total, currency)} expected expansion ARR "
        f"({fmt_pct(covered / total if total else np.nan, digits=0)}) with {int(inside.sum())} plays"
    )
    ax.set_xlabel("Plays ranked by expected ARR")
    ax.set_ylabel(f"Cumulative expected ARR ({currency})")
    ax.legend(fontsize=8)
    return ax


def table_formats(
    columns: Iterable[str], currency: str, *, formats: dict[str, str | Callable] | None = None
) -> dict[str, str | Callable]:
    """Styler formats for a page table: compact money for every *_arr column, then the given `formats`."""
    money = partial(fmt_money, currency=currency)
    return {c: money for c in columns if str(c).endswith("_arr")} | (formats or {})


def outlook_fan(actual: pd.DataFrame, outlook: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Quarterly NRR and GRR: the last quarters' actuals and the outlook with its interval.

    `actual` has period, nrr, grr; `outlook` has period, nrr, nrr_low, nrr_high, grr, grr_low,
    grr_high and optionally grr_source (`expansion.outlook.align_next_quarter`): the quarter whose
    GRR is the renewal GRR forecast is marked and labelled as such.
    """
    ax = new_ax(ax, figsize=(10, 4.5))
    periods = list(actual["period"]) + list(outlook["period"])
    pos = {p: i for i, p in enumerate(periods)}
    for metric, color in (("nrr", "#1565c0"), ("grr", "#c62828")):
        xa = [pos[p] for p in actual["period"]]
        xo = [pos[p] for p in outlook["period"]]
        ax.plot(xa, actual[metric], "o-", color=color, label=f"{metric.upper()} actual")
        ax.plot(xo, outlook[metric], "o--", color=color, label=f"{metric.upper()} outlook")
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
                label=f"GRR {row['period']}: {row['grr_source']} {fmt_pct(row['grr'])}",
            )
    ax.axhline(1.0, color="grey", lw=1, ls=":")
    ax.set_xticks(range(len(periods)), periods)
    pct_axis(ax)
    a = actual["nrr"].mean() if len(actual) else np.nan
    o = outlook["nrr"].mean() if len(outlook) else np.nan
    ax.set_title(f"Quarterly NRR: {fmt_pct(a)} on average over the last quarters, {fmt_pct(o)} expected next")
    ax.set_xlabel("Quarter")
    ax.set_ylabel("Retention of the quarter's starting ARR (%)")
    ax.legend(fontsize=8, ncol=2)
    return ax
