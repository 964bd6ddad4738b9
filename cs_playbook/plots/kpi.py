"""Charts of the quarterly KPI overview: retention trend, ARR waterfall, cohorts, coverage."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from cs_playbook.plots import fmt_money, fmt_pct, money_axis, new_ax, pct_axis
from cs_playbook.plots.renewals import styled_table  # the same page-table formatting on both pages

__all__ = [
    "retention_trend",
    "arr_waterfall",
    "cohort_heatmap",
    "arr_by_segment",
    "csm_load",
    "feature_adoption_bars",
    "notes_compliance_bars",
    "styled_table",
]

MOVEMENT_ORDER = ["new", "expansion", "reactivation", "contraction", "churn"]
MOVEMENT_LABELS = {
    "new": "New",
    "expansion": "Expansion",
    "reactivation": "Reactivation",
    "contraction": "Contraction",
    "churn": "Churn",
}


def retention_trend(nrr: pd.DataFrame, *, ax: plt.Axes | None = None, label: str = "quarter") -> plt.Axes:
    """NRR and GRR per period as lines with a 100% reference; `nrr` from net_revenue_retention."""
    ax = new_ax(ax)
    tidy = nrr.melt(id_vars="period", value_vars=["nrr", "grr"], var_name="metric", value_name="value")
    tidy["metric"] = tidy["metric"].str.upper()
    sns.lineplot(tidy, x="period", y="value", hue="metric", marker="o", ax=ax)
    ax.axhline(1.0, color="grey", lw=1, ls="--")
    pct_axis(ax)
    last = nrr.iloc[-1]
    ax.set_title(f"NRR {fmt_pct(last['nrr'])}, GRR {fmt_pct(last['grr'])} in {last['period']} ({label})")
    ax.set_xlabel("Period")
    ax.set_ylabel("Retention of starting ARR (%)")
    ax.legend(title=None)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    return ax


def arr_waterfall(
    summary_row: pd.Series, *, period: str, currency: str = "JPY", ax: plt.Axes | None = None
) -> plt.Axes:
    """Start ARR, each MRR movement (x12) and end ARR of one period (a movement_summary row)."""
    ax = new_ax(ax, figsize=(9, 4.5))
    start = float(summary_row["start_mrr"]) * 12
    steps = [(MOVEMENT_LABELS[m], float(summary_row[m]) * 12) for m in MOVEMENT_ORDER]
    end = float(summary_row["end_mrr"]) * 12
    labels = ["Start ARR"] + [s[0] for s in steps] + ["End ARR"]
    bottoms, heights, colors = [0.0], [start], ["#607d8b"]
    level = start
    for _, v in steps:
        bottoms.append(level if v >= 0 else level + v)
        heights.append(abs(v))
        colors.append("#2e7d32" if v >= 0 else "#c62828")
        level += v
    bottoms.append(0.0)
    heights.append(end)
    colors.append("#37474f")
    x = np.arange(len(labels))
    ax.bar(x, heights, bottom=bottoms, color=colors)
    for xi, (b, h) in enumerate(zip(bottoms, heights, strict=True)):
        value = h if xi in (0, len(labels) - 1) else steps[xi - 1][1]
        ax.text(
            xi,
            b + h,
            fmt_money(value, currency, digits=2 if abs(value) >= 1e9 else 1),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    ax.set_xticks(x, labels)
    money_axis(ax, currency)
    lo = min(bottoms[1:-1] + [start, end])
    ax.set_ylim(bottom=max(0.0, lo - 0.15 * (max(start, end) - lo + 1)))
    change = end - start
    ax.set_title(
        f"ARR {'grew' if change >= 0 else 'fell'} {fmt_money(abs(change), currency)} "
        f"({fmt_pct(change / start if start else np.nan, signed=True)}) in {period}"
    )
    ax.set_xlabel("")
    ax.set_ylabel(f"ARR ({currency}; axis does not start at 0)" if ax.get_ylim()[0] > 0 else f"ARR ({currency})")
    return ax


def cohort_heatmap(
    cohorts: pd.DataFrame, *, value: str = "arr_retention", ax: plt.Axes | None = None, max_periods: int = 12
) -> plt.Axes:
    """Retention by start-quarter cohort (rows) and quarters since start (columns)."""
    ax = new_ax(ax, figsize=(10, 5.5))
    grid = cohorts[cohorts["periods_since_start"] <= max_periods].pivot(
        index="cohort", columns="periods_since_start", values=value
    )
    sns.heatmap(
        grid,
        annot=True,
        fmt=".0%",
        cmap="RdYlGn",
        vmin=0.5,
        vmax=1.3,
        center=1.0,
        cbar_kws={"label": "Share of the cohort's starting ARR" if value == "arr_retention" else "Share of accounts"},
        annot_kws={"fontsize": 7},
        ax=ax,
    )
    what = "ARR" if value == "arr_retention" else "Logo"
    last_col = grid.columns.max() if len(grid.columns) else 0
    oldest = grid.iloc[0].dropna()
    ax.set_title(
        f"{what} retention by start cohort: the oldest cohort keeps "
        f"{fmt_pct(oldest.iloc[-1]) if len(oldest) else 'n/a'} after {int(last_col)} quarters"
    )
    ax.set_xlabel("Quarters since the cohort's first quarter")
    ax.set_ylabel("Start quarter (cohort)")
    return ax


def arr_by_segment(by_segment: pd.DataFrame, *, currency: str = "JPY", ax: plt.Axes | None = None) -> plt.Axes:
    """ARR per segment as bars labelled with ARR share and account count."""
    ax = new_ax(ax, figsize=(8, 4))
    df = by_segment.sort_values("arr", ascending=False)
    sns.barplot(df, x="segment", y="arr", hue="segment", legend=False, ax=ax)
    for i, row in enumerate(df.itertuples()):
        ax.text(
            i,
            row.arr,
            f"{fmt_pct(row.share, digits=0)} of ARR\n{row.accounts:,} accounts",
            ha="center",
            va="bottom",
            fontsize=9,
        )
    money_axis(ax, currency)
    top = df.iloc[0]
    ax.set_title(
        f"{top['segment']} holds {fmt_pct(top['share'], digits=0)} of ARR with "
        f"{fmt_pct(top['accounts'] / df['accounts'].sum(), digits=0)} of accounts"
    )
    ax.set_xlabel("Segment")
    ax.set_ylabel(f"ARR ({currency})")
    ax.margins(y=0.2)
    return ax


def csm_load(coverage: pd.DataFrame, *, ax: plt.Axes | None = None, unassigned: str = "(unassigned)") -> plt.Axes:
    """Each named CSM's load against capacity, stacked by touch model; 100% is full capacity.

    Accounts without a CSM (the tech-touch pool) are not a person's load: they are left out
    of the bars and counted in the title.
    """
    ax = new_ax(ax, figsize=(10, 4.5))
    pool = int(coverage.loc[coverage["csm"] == unassigned, "accounts"].sum())
    coverage = coverage[coverage["csm"] != unassigned]
    pivot = coverage.pivot_table(index="csm", columns="touch_model", values="load", aggfunc="sum", fill_value=0)
    pivot = pivot.loc[pivot.sum(axis=1).sort_values(ascending=False).index]
    pivot.plot(kind="bar", stacked=True, ax=ax, width=0.8)
    ax.axhline(1.0, color="#c62828", ls="--", lw=1, label="capacity")
    pct_axis(ax)
    over = int((pivot.sum(axis=1) > 1).sum())
    head = (
        f"{over} of {len(pivot)} CSMs are over capacity under the touch model"
        if over
        else f"All {len(pivot)} CSMs are within capacity under the touch model"
    )
    ax.set_title(head + (f"; {pool:,} accounts have no CSM" if pool else ""))
    ax.set_xlabel("CSM")
    ax.set_ylabel("Load (accounts / capacity, %)")
    ax.legend(title="Touch model", fontsize=8)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    return ax


def feature_adoption_bars(adoption: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Account adoption rate per released feature in its first days, newest last."""
    ax = new_ax(ax, figsize=(9, 4))
    df = adoption.dropna(subset=["account_adoption"])
    sns.barplot(df, y="feature", x="account_adoption", hue="feature", legend=False, ax=ax, orient="h")
    pct_axis(ax, axis="x")
    if len(df):
        best = df.loc[df["account_adoption"].idxmax()]
        ax.set_title(
            f"{best['feature']} is the best-adopted new feature: {fmt_pct(best['account_adoption'], digits=0)} of active accounts"
        )
    ax.set_xlabel("Active accounts using the feature in its first window (%)")
    ax.set_ylabel("Feature")
    return ax


def notes_compliance_bars(compliance: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Share of meetings with notes logged, per CSM."""
    ax = new_ax(ax, figsize=(9, 4))
    df = compliance[compliance["csm"] != "All"].sort_values("compliance")
    sns.barplot(df, x="csm", y="compliance", hue="csm", legend=False, ax=ax)
    pct_axis(ax)
    total = compliance[compliance["csm"] == "All"].iloc[0]
    ax.set_title(
        f"{int(total['without_notes'])} meetings had no notes logged "
        f"({fmt_pct(total['compliance'], digits=0)} compliance)"
    )
    ax.set_xlabel("CSM")
    ax.set_ylabel("Meetings with notes (%)")
    ax.set_ylim(0, 1.05)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    return ax
