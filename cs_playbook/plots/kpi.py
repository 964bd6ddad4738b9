"""Charts of the quarterly KPI overview: retention trend, ARR waterfall, cohorts, coverage.

Titles, axes and legends come from the message catalog (`cs_playbook/i18n/kpi.yaml`, keys
"kpi.charts.<chart>.*") in `lang`; money is formatted by `formatting.Formatter` (億円 / 万円 in
Japanese). `title=` replaces a chart's title.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from cs_playbook.formatting import Formatter
from cs_playbook.i18n import messages
from cs_playbook.plots import new_ax, pct_axis

__all__ = [
    "retention_trend",
    "arr_waterfall",
    "cohort_heatmap",
    "arr_by_segment",
    "csm_load",
    "feature_adoption_bars",
    "notes_compliance_bars",
    "money_axis_in",
]

MOVEMENT_ORDER = ["new", "expansion", "reactivation", "contraction", "churn"]


def money_axis_in(ax: plt.Axes, fmt: Formatter, *, axis: str = "y") -> plt.Axes:
    """Format an axis as compact money in the report's language (2.5億円, ¥12.3M)."""
    formatter = mticker.FuncFormatter(lambda v, _: fmt.money(v, digits=2 if abs(v) >= 1e9 else 1))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)
    return ax


def retention_trend(
    nrr: pd.DataFrame,
    *,
    ax: plt.Axes | None = None,
    label: str = "quarter",
    lang: str = "en",
    title: str | None = None,
) -> plt.Axes:
    """NRR and GRR per period as lines with a 100% reference; `label` is "quarter" or "t12m" (trailing 12 months)."""
    msg, fmt = messages(lang), Formatter(lang)
    ax = new_ax(ax)
    tidy = nrr.melt(id_vars="period", value_vars=["nrr", "grr"], var_name="metric", value_name="value")
    tidy["metric"] = tidy["metric"].str.upper()
    sns.lineplot(tidy, x="period", y="value", hue="metric", marker="o", ax=ax)
    ax.axhline(1.0, color="grey", lw=1, ls="--")
    pct_axis(ax)
    last = nrr.iloc[-1]
    key = "kpi.charts.retention"
    which = msg.t(f"{key}.{label}") if msg.has(f"{key}.{label}") else label
    ax.set_title(
        title
        or msg.t(f"{key}.title", nrr=fmt.pct(last["nrr"]), grr=fmt.pct(last["grr"]), period=last["period"], label=which)
    )
    ax.set_xlabel(msg.t(f"{key}.xlabel"))
    ax.set_ylabel(msg.t(f"{key}.ylabel"))
    ax.legend(title=None)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    return ax


def arr_waterfall(
    summary_row: pd.Series,
    *,
    period: str,
    currency: str = "JPY",
    ax: plt.Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> plt.Axes:
    """Start ARR, each MRR movement (x12) and end ARR of one period (a movement_summary row)."""
    msg, fmt = messages(lang), Formatter(lang, currency)
    key = "kpi.charts.waterfall"
    ax = new_ax(ax, figsize=(9, 4.5))
    start = float(summary_row["start_mrr"]) * 12
    steps = [(msg.t(f"{key}.{m}"), float(summary_row[m]) * 12) for m in MOVEMENT_ORDER]
    end = float(summary_row["end_mrr"]) * 12
    labels = [msg.t(f"{key}.start")] + [s[0] for s in steps] + [msg.t(f"{key}.end")]
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
            xi, b + h, fmt.money(value, digits=2 if abs(value) >= 1e9 else 1), ha="center", va="bottom", fontsize=10
        )
    ax.set_xticks(x, labels)
    money_axis_in(ax, fmt)
    lo = min(bottoms[1:-1] + [start, end])
    ax.set_ylim(bottom=max(0.0, lo - 0.15 * (max(start, end) - lo + 1)))
    change = end - start
    ax.set_title(
        title
        or msg.t(
            f"{key}.title_up" if change >= 0 else f"{key}.title_down",
            change=fmt.money(abs(change)),
            pct=fmt.pct(change / start if start else np.nan, signed=True),
            period=period,
        )
    )
    ax.set_xlabel("")
    ax.set_ylabel(msg.t(f"{key}.ylabel_cut" if ax.get_ylim()[0] > 0 else f"{key}.ylabel", currency=currency))
    return ax


def cohort_heatmap(
    cohorts: pd.DataFrame,
    *,
    value: str = "arr_retention",
    ax: plt.Axes | None = None,
    max_periods: int = 12,
    lang: str = "en",
    title: str | None = None,
) -> plt.Axes:
    """Retention by start-quarter cohort (rows) and quarters since start (columns), cells annotated at 10 pt.

    Pass few cohorts (`kpi.summary.recent_cohorts`): with 8 x 8 cells the figures stay readable on a page.
    """
    msg, fmt = messages(lang), Formatter(lang)
    key = "kpi.charts.cohorts"
    grid = cohorts[cohorts["periods_since_start"] <= max_periods].pivot(
        index="cohort", columns="periods_since_start", values=value
    )
    ax = new_ax(ax, figsize=(11, max(4.0, 0.6 * len(grid) + 1.8)))
    sns.heatmap(
        grid,
        annot=len(grid.columns) <= 10,  # more columns than that and the figures would be too small to read
        fmt=".0%",
        cmap="RdYlGn",
        vmin=0.5,
        vmax=1.3,
        center=1.0,
        cbar_kws={"label": msg.t(f"{key}.cbar")},
        annot_kws={"fontsize": 11},
        ax=ax,
    )
    last_col = grid.columns.max() if len(grid.columns) else 0
    oldest = grid.iloc[0].dropna() if len(grid) else pd.Series(dtype=float)
    kept = fmt.pct(oldest.iloc[-1], digits=0) if len(oldest) else fmt.pct(None)
    if ax.collections and ax.collections[0].colorbar is not None:
        ax.collections[0].colorbar.ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
    ax.set_title(title or msg.t(f"{key}.title", kept=kept, periods=int(last_col)))
    ax.set_xlabel(msg.t(f"{key}.xlabel"))
    ax.set_ylabel(msg.t(f"{key}.ylabel"))
    ax.tick_params(axis="y", rotation=0)
    return ax


def arr_by_segment(
    by_segment: pd.DataFrame,
    *,
    currency: str = "JPY",
    ax: plt.Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> plt.Axes:
    """ARR per segment as bars labelled with ARR share and account count; segment codes shown in `lang`."""
    msg, fmt = messages(lang), Formatter(lang, currency)
    key = "kpi.charts.segments"
    ax = new_ax(ax, figsize=(9, 4.5))
    df = by_segment.sort_values("arr", ascending=False).assign(segment=lambda d: d["segment"].map(msg.code))
    sns.barplot(df, x="segment", y="arr", hue="segment", legend=False, ax=ax)
    for i, row in enumerate(df.itertuples()):
        bar = msg.t(f"{key}.bar", share=fmt.pct(row.share, digits=0), accounts=fmt.count(row.accounts))
        ax.text(i, row.arr, bar, ha="center", va="bottom", fontsize=10)
    money_axis_in(ax, fmt)
    top = df.iloc[0]
    ax.set_title(
        title
        or msg.t(
            f"{key}.title",
            segment=top["segment"],
            share=fmt.pct(top["share"], digits=0),
            account_share=fmt.pct(top["accounts"] / df["accounts"].sum(), digits=0),
        )
    )
    ax.set_xlabel(msg.t(f"{key}.xlabel"))
    ax.set_ylabel(msg.t(f"{key}.ylabel", currency=currency))
    ax.margins(y=0.25)
    return ax


def csm_load(
    coverage: pd.DataFrame,
    *,
    ax: plt.Axes | None = None,
    unassigned: str = "(unassigned)",
    lang: str = "en",
    title: str | None = None,
) -> plt.Axes:
    """Each named CSM's load against capacity, stacked by touch model; 100% is full capacity.

    Accounts without a CSM (the tech-touch pool) are not a person's load: they are left out
    of the bars and counted in the title.
    """
    msg = messages(lang)
    key = "kpi.charts.csm_load"
    ax = new_ax(ax, figsize=(10, 4.5))
    pool = int(coverage.loc[coverage["csm"] == unassigned, "accounts"].sum())
    coverage = coverage[coverage["csm"] != unassigned].assign(touch_model=lambda d: d["touch_model"].map(msg.code))
    pivot = coverage.pivot_table(index="csm", columns="touch_model", values="load", aggfunc="sum", fill_value=0)
    pivot = pivot.loc[pivot.sum(axis=1).sort_values(ascending=False).index]
    pivot.plot(kind="bar", stacked=True, ax=ax, width=0.8)
    ax.axhline(1.0, color="#c62828", ls="--", lw=1, label=msg.t(f"{key}.capacity"))
    pct_axis(ax)
    over = int((pivot.sum(axis=1) > 1).sum())
    head = msg.t(f"{key}.title_over" if over else f"{key}.title_ok", over=over, total=len(pivot))
    ax.set_title(title or head + (msg.t(f"{key}.pool", pool=f"{pool:,}") if pool else ""))
    ax.set_xlabel(msg.t(f"{key}.xlabel"))
    ax.set_ylabel(msg.t(f"{key}.ylabel"))
    ax.legend(title=msg.t(f"{key}.legend"), fontsize=9)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    return ax


def feature_adoption_bars(
    adoption: pd.DataFrame, *, ax: plt.Axes | None = None, lang: str = "en", title: str | None = None
) -> plt.Axes:
    """Account adoption rate per released feature in its first days, newest last."""
    msg, fmt = messages(lang), Formatter(lang)
    key = "kpi.charts.adoption"
    ax = new_ax(ax, figsize=(9, 4))
    df = adoption.dropna(subset=["account_adoption"])
    sns.barplot(df, y="feature", x="account_adoption", hue="feature", legend=False, ax=ax, orient="h")
    pct_axis(ax, axis="x")
    if len(df):
        best = df.loc[df["account_adoption"].idxmax()]
        ax.set_title(
            title or msg.t(f"{key}.title", feature=best["feature"], share=fmt.pct(best["account_adoption"], digits=0))
        )
    ax.set_xlabel(msg.t(f"{key}.xlabel"))
    ax.set_ylabel(msg.t(f"{key}.ylabel"))
    return ax


def notes_compliance_bars(
    compliance: pd.DataFrame, *, ax: plt.Axes | None = None, lang: str = "en", title: str | None = None
) -> plt.Axes:
    """Share of meetings with notes logged, per CSM."""
    msg, fmt = messages(lang), Formatter(lang)
    key = "kpi.charts.notes"
    ax = new_ax(ax, figsize=(9, 4))
    df = compliance[compliance["csm"] != "All"].sort_values("compliance")
    sns.barplot(df, x="csm", y="compliance", hue="csm", legend=False, ax=ax)
    pct_axis(ax)
    total = compliance[compliance["csm"] == "All"].iloc[0]
    ax.set_title(
        title
        or msg.t(
            f"{key}.title",
            missing=f"{int(total['without_notes']):,}",
            compliance=fmt.pct(total["compliance"], digits=0),
        )
    )
    ax.set_xlabel(msg.t(f"{key}.xlabel"))
    ax.set_ylabel(msg.t(f"{key}.ylabel"))
    ax.set_ylim(0, 1.05)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    return ax
