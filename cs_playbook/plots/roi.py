"""Charts of the ROI notebook: cumulative cash flow, tornado, simulated range, portfolio views.

Titles, axes and legends come from the message catalog (`cs_playbook/i18n/roi.yaml`, keys
"roi.charts.<chart>.*") in `lang`; money is formatted by `formatting.Formatter`. `title=` replaces
a chart's title.
"""

from __future__ import annotations

from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from cs_playbook.formatting import Formatter
from cs_playbook.i18n import messages
from cs_playbook.modeling.scorecard import TierLabels
from cs_playbook.plots import new_ax, pct_axis, tier_palette
from cs_playbook.plots.kpi import money_axis_in

__all__ = [
    "SCENARIO_COLORS",
    "cumulative_cash_flow",
    "tornado_chart",
    "simulation_histogram",
    "roi_vs_arr",
    "realized_vs_projected",
    "roi_by_tier_bars",
]

SCENARIO_COLORS = {"conservative": "#c62828", "base": "#1565c0", "optimistic": "#2e7d32"}
UNKNOWN_COLOR = "#90a4ae"  # accounts without a health score (tier code `unknown`)


def _tier_hue(codes: pd.Series, labels: TierLabels) -> tuple[pd.Series, list[str], dict[str, str]]:
    """Tier codes as the labels of params, the labels present in order (best first, unknown last), their colours."""
    palette = {**tier_palette(labels), labels.label("unknown"): UNKNOWN_COLOR}
    shown = labels.apply(codes.astype("string"))
    present = set(shown.dropna())
    return shown, [t for t in palette if t in present], palette


def cumulative_cash_flow(
    flows: pd.DataFrame,
    *,
    currency: str = "JPY",
    ax: plt.Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> plt.Axes:
    """Cumulative net cash flow by month per scenario (roi.account_cash_flows); payback where it crosses zero."""
    msg, fmt = messages(lang), Formatter(lang, currency)
    key = "roi.charts.cash_flow"
    ax = new_ax(ax, figsize=(9, 4.5))
    names = {s: msg.t(f"roi.charts.scenario.{s}") for s in SCENARIO_COLORS}
    shown = flows.assign(scenario=flows["scenario"].map(names))
    palette = {names[s]: c for s, c in SCENARIO_COLORS.items()}
    sns.lineplot(shown, x="month", y="cumulative", hue="scenario", palette=palette, ax=ax)
    ax.axhline(0, color="grey", lw=1, ls="--")
    money_axis_in(ax, fmt)
    base = flows[flows["scenario"] == "base"]
    cum = base["cumulative"].to_numpy()
    below = np.nonzero(cum < 0)[0]
    if len(below) == 0:
        head = msg.t(f"{key}.ahead")
    elif below[-1] + 1 < len(cum):
        head = msg.t(f"{key}.payback", month=int(base["month"].iloc[below[-1] + 1]))
    else:
        head = msg.t(f"{key}.never")
    ax.set_title(title or msg.t(f"{key}.title", head=head, net=fmt.money(cum[-1]), months=int(base["month"].max())))
    ax.set_xlabel(msg.t(f"{key}.xlabel"))
    ax.set_ylabel(msg.t(f"{key}.ylabel", currency=currency))
    ax.legend(title=msg.t("roi.charts.scenario.legend"))
    return ax


def tornado_chart(
    rows: pd.DataFrame,
    *,
    currency: str = "JPY",
    top: int = 8,
    ax: plt.Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> plt.Axes:
    """Each input's swing on NPV (roi.tornado rows of one account): bars from its low to its high value."""
    msg, fmt = messages(lang), Formatter(lang, currency)
    key = "roi.charts.tornado"
    ax = new_ax(ax, figsize=(9, 0.5 * min(top, len(rows)) + 1.5))
    df = rows.sort_values("swing", ascending=False).head(top).iloc[::-1]
    base = float(df["npv_base"].iloc[0]) if len(df) else 0.0
    y = np.arange(len(df))
    ax.barh(y, df["npv_low"] - base, left=base, color="#ef9a9a", label=msg.t(f"{key}.low"))
    ax.barh(y, df["npv_high"] - base, left=base, color="#90caf9", label=msg.t(f"{key}.high"))
    ax.axvline(base, color="#37474f", lw=1)
    ax.set_yticks(y, df["label"])
    money_axis_in(ax, fmt, axis="x")
    if len(df):
        ax.set_title(title or msg.t(f"{key}.title", input=df["label"].iloc[-1], swing=fmt.money(df["swing"].iloc[-1])))
    ax.set_xlabel(msg.t(f"{key}.xlabel", currency=currency))
    ax.set_ylabel("")
    ax.legend(fontsize=9, loc="lower right")
    return ax


def simulation_histogram(
    draws: pd.DataFrame, *, ax: plt.Axes | None = None, lang: str = "en", title: str | None = None
) -> plt.Axes:
    """Distribution of simulated ROI (roi.simulate_account) with P10, P50 and P90 marked."""
    msg, fmt = messages(lang), Formatter(lang)
    key = "roi.charts.histogram"
    ax = new_ax(ax, figsize=(9, 4))
    roi = draws["roi"].to_numpy()
    sns.histplot(x=roi, bins=60, color="#1565c0", ax=ax)
    q = np.percentile(roi, [10, 50, 90])
    for v, name in zip(q, ("P10", "P50", "P90"), strict=True):
        ax.axvline(v, color="#37474f", ls="--" if name != "P50" else "-", lw=1)
        ax.text(v, ax.get_ylim()[1] * 0.95, f" {name} {fmt.pct(v, digits=0)}", fontsize=10, va="top")
    ax.axvline(0, color="#c62828", lw=1)
    pct_axis(ax, axis="x")
    ax.set_title(title or msg.t(f"{key}.title", share=fmt.pct((roi > 0).mean(), digits=0), draws=f"{len(roi):,}"))
    ax.set_xlabel(msg.t(f"{key}.xlabel"))
    ax.set_ylabel(msg.t(f"{key}.ylabel"))
    return ax


def roi_vs_arr(
    table: pd.DataFrame,
    *,
    labels: TierLabels | None = None,
    ax: plt.Axes | None = None,
    currency: str = "JPY",
    lang: str = "en",
    title: str | None = None,
) -> plt.Axes:
    """Base-case ROI against ARR per modeled account (roi.portfolio.portfolio), coloured by health tier (labels)."""
    msg, fmt = messages(lang), Formatter(lang, currency)
    key = "roi.charts.roi_vs_arr"
    ax = new_ax(ax, figsize=(9, 5))
    df = table[table["status"] == "modeled"].copy()
    df["health_tier"], tiers, palette = _tier_hue(df["health_tier"], labels or TierLabels())
    sns.scatterplot(
        df, x="arr", y="roi_base", hue="health_tier", hue_order=tiers, palette=palette, s=18, alpha=0.7, ax=ax
    )
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.axhline(0, color="#c62828", lw=1)
    money_axis_in(ax, fmt, axis="x")
    pct_axis(ax)
    below = int((df["roi_base"] < 0).sum())
    ax.set_title(
        title
        or msg.t(
            f"{key}.title", median=fmt.pct(df["roi_base"].median(), digits=0), below=f"{below:,}", total=f"{len(df):,}"
        )
    )
    ax.set_xlabel(msg.t(f"{key}.xlabel", currency=currency))
    ax.set_ylabel(msg.t(f"{key}.ylabel"))
    ax.legend(title=msg.t(f"{key}.legend"), fontsize=9)
    return ax


def realized_vs_projected(
    table: pd.DataFrame, *, ax: plt.Axes | None = None, lang: str = "en", title: str | None = None
) -> plt.Axes:
    """Realized ROI to date against the ROI projected for the same months; renewal risks in red."""
    msg = messages(lang)
    key = "roi.charts.realized"
    ax = new_ax(ax, figsize=(7, 6))
    df = table.dropna(subset=["roi_realized", "roi_projected_to_date"])
    colors = np.where(df["renewal_risk"], "#c62828", "#90a4ae")
    ax.scatter(df["roi_projected_to_date"], df["roi_realized"], c=colors, s=14, alpha=0.7)
    both = df[["roi_projected_to_date", "roi_realized"]].to_numpy()
    lo, hi = (min(both.min(), -1.0), max(both.max(), 1.0)) if len(df) else (-1.0, 1.0)
    ax.plot([lo, hi], [lo, hi], color="#37474f", lw=1, ls="--", label=msg.t(f"{key}.diagonal"))
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_yscale("symlog", linthresh=1.0)
    pct_axis(ax)
    pct_axis(ax, axis="x")
    risk = int(df["renewal_risk"].sum())
    ax.set_title(title or msg.t(f"{key}.title", count=f"{risk:,}"))
    ax.set_xlabel(msg.t(f"{key}.xlabel"))
    ax.set_ylabel(msg.t(f"{key}.ylabel"))
    return ax


def roi_by_tier_bars(
    by_tier: pd.DataFrame,
    *,
    labels: TierLabels | None = None,
    ax: plt.Axes | None = None,
    lang: str = "en",
    title: str | None = None,
) -> plt.Axes:
    """Median base-case ROI per health tier (roi.portfolio.roi_by_tier, codes) shown with the tier labels."""
    msg, fmt = messages(lang), Formatter(lang)
    key = "roi.charts.by_tier"
    ax = new_ax(ax, figsize=(7, 4))
    df = by_tier.dropna(subset=["roi_base_median"]).reset_index(drop=True)
    if df.empty:
        ax.set_title(title or msg.t(f"{key}.none"))
        return ax
    df["health_tier"], _, palette = _tier_hue(df["health_tier"], labels or TierLabels())
    order = list(df["health_tier"])  # roi_by_tier's order: best tier first, unknown last
    sns.barplot(
        df,
        x="health_tier",
        y="roi_base_median",
        hue="health_tier",
        order=order,
        hue_order=order,
        palette=palette,
        legend=False,
        ax=ax,
    )
    for i, row in enumerate(df.itertuples()):
        below = row.roi_base_median < 0
        bar = msg.t(f"{key}.bar", count=f"{int(row.modeled):,}")
        ax.text(i, row.roi_base_median, bar, ha="center", va="top" if below else "bottom")
    pct_axis(ax, digits=0)
    pct = partial(fmt.pct, digits=0)
    if len(df) > 1:
        best = df.loc[df["roi_base_median"].idxmax()]
        worst = df.loc[df["roi_base_median"].idxmin()]
        text = msg.t(
            f"{key}.title",
            best=best["health_tier"],
            best_roi=pct(best["roi_base_median"]),
            worst=worst["health_tier"],
            worst_roi=pct(worst["roi_base_median"]),
        )
        ax.set_title(title or text)
    elif len(df):
        ax.set_title(title or msg.t(f"{key}.single", roi=pct(df["roi_base_median"].iloc[0])))
    ax.set_xlabel(msg.t(f"{key}.xlabel"))
    ax.set_ylabel(msg.t(f"{key}.ylabel"))
    ax.margins(y=0.15)
    return ax
