"""Charts of the ROI notebook: cumulative cash flow, tornado, simulated range, portfolio views."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from cs_playbook.modeling.scorecard import TierLabels
from cs_playbook.plots import fmt_money, fmt_pct, money_axis, new_ax, pct_axis, tier_palette

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


def cumulative_cash_flow(flows: pd.DataFrame, *, currency: str = "JPY", ax: plt.Axes | None = None) -> plt.Axes:
    """Cumulative net cash flow by month per scenario (roi.account_cash_flows); payback where it crosses zero."""
    ax = new_ax(ax, figsize=(9, 4.5))
    sns.lineplot(flows, x="month", y="cumulative", hue="scenario", palette=SCENARIO_COLORS, ax=ax)
    ax.axhline(0, color="grey", lw=1, ls="--")
    money_axis(ax, currency)
    base = flows[flows["scenario"] == "base"]
    cum = base["cumulative"].to_numpy()
    below = np.nonzero(cum < 0)[0]
    if len(below) == 0:
        title = "The base case is ahead from signing"
    elif below[-1] + 1 < len(cum):
        title = f"The base case pays back in month {int(base['month'].iloc[below[-1] + 1])}"
    else:
        title = "The base case does not pay back within the horizon"
    ax.set_title(f"{title}; net {fmt_money(cum[-1], currency)} after {int(base['month'].max())} months")
    ax.set_xlabel("Months since signing")
    ax.set_ylabel(f"Cumulative net cash flow ({currency})")
    ax.legend(title="Scenario")
    return ax


def tornado_chart(rows: pd.DataFrame, *, currency: str = "JPY", top: int = 8, ax: plt.Axes | None = None) -> plt.Axes:
    """Each input's swing on NPV (roi.tornado rows of one account): bars from its low to its high value."""
    ax = new_ax(ax, figsize=(9, 0.5 * min(top, len(rows)) + 1.5))
    df = rows.sort_values("swing", ascending=False).head(top).iloc[::-1]
    base = float(df["npv_base"].iloc[0]) if len(df) else 0.0
    y = np.arange(len(df))
    ax.barh(y, df["npv_low"] - base, left=base, color="#ef9a9a", label="input at its low value")
    ax.barh(y, df["npv_high"] - base, left=base, color="#90caf9", label="input at its high value")
    ax.axvline(base, color="#37474f", lw=1)
    ax.set_yticks(y, df["label"])
    money_axis(ax, currency, axis="x")
    if len(df):
        ax.set_title(f"NPV swings most with {df['label'].iloc[-1]} ({fmt_money(df['swing'].iloc[-1], currency)})")
    ax.set_xlabel(f"NPV over the horizon ({currency})")
    ax.set_ylabel("")
    ax.legend(fontsize=8, loc="lower right")
    return ax


def simulation_histogram(draws: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Distribution of simulated ROI (roi.simulate_account) with P10, P50 and P90 marked."""
    ax = new_ax(ax, figsize=(9, 4))
    roi = draws["roi"].to_numpy()
    sns.histplot(x=roi, bins=60, color="#1565c0", ax=ax)
    q = np.percentile(roi, [10, 50, 90])
    for v, name in zip(q, ("P10", "P50", "P90"), strict=True):
        ax.axvline(v, color="#37474f", ls="--" if name != "P50" else "-", lw=1)
        ax.text(v, ax.get_ylim()[1] * 0.95, f" {name} {fmt_pct(v, digits=0)}", fontsize=8, va="top")
    ax.axvline(0, color="#c62828", lw=1)
    pct_axis(ax, axis="x")
    ax.set_title(f"ROI is above zero in {fmt_pct((roi > 0).mean(), digits=0)} of {len(roi):,} simulated cases")
    ax.set_xlabel("ROI over the horizon (%)")
    ax.set_ylabel("Simulated cases")
    return ax


def roi_vs_arr(
    table: pd.DataFrame, *, labels: TierLabels | None = None, ax: plt.Axes | None = None, currency: str = "JPY"
) -> plt.Axes:
    """Base-case ROI against ARR per modeled account (roi.portfolio.portfolio), coloured by health tier (labels)."""
    ax = new_ax(ax, figsize=(9, 5))
    df = table[table["status"] == "modeled"].copy()
    df["health_tier"], tiers, palette = _tier_hue(df["health_tier"], labels or TierLabels())
    sns.scatterplot(
        df, x="arr", y="roi_base", hue="health_tier", hue_order=tiers, palette=palette, s=18, alpha=0.7, ax=ax
    )
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.axhline(0, color="#c62828", lw=1)
    money_axis(ax, currency, axis="x")
    pct_axis(ax)
    below = int((df["roi_base"] < 0).sum())
    ax.set_title(
        f"Median ROI {fmt_pct(df['roi_base'].median(), digits=0)}; {below:,} of {len(df):,} accounts are below zero"
    )
    ax.set_xlabel(f"ARR ({currency}, log scale)")
    ax.set_ylabel("ROI, base case (%, symlog scale)")
    ax.legend(title="Health tier", fontsize=8)
    return ax


def realized_vs_projected(table: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Realized ROI to date against the ROI projected for the same months; renewal risks in red."""
    ax = new_ax(ax, figsize=(7, 6))
    df = table.dropna(subset=["roi_realized", "roi_projected_to_date"])
    colors = np.where(df["renewal_risk"], "#c62828", "#90a4ae")
    ax.scatter(df["roi_projected_to_date"], df["roi_realized"], c=colors, s=14, alpha=0.7)
    both = df[["roi_projected_to_date", "roi_realized"]].to_numpy()
    lo, hi = (min(both.min(), -1.0), max(both.max(), 1.0)) if len(df) else (-1.0, 1.0)
    ax.plot([lo, hi], [lo, hi], color="#37474f", lw=1, ls="--", label="realized = projected")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_yscale("symlog", linthresh=1.0)
    pct_axis(ax)
    pct_axis(ax, axis="x")
    risk = int(df["renewal_risk"].sum())
    ax.set_title(f"{risk:,} accounts realize far less value than projected at signing (red)")
    ax.set_xlabel("ROI projected at signing for the same months (%)")
    ax.set_ylabel("ROI realized to date (%)")
    return ax


def roi_by_tier_bars(
    by_tier: pd.DataFrame, *, labels: TierLabels | None = None, ax: plt.Axes | None = None
) -> plt.Axes:
    """Median base-case ROI per health tier (roi.portfolio.roi_by_tier, codes) shown with the tier labels."""
    ax = new_ax(ax, figsize=(7, 4))
    df = by_tier.dropna(subset=["roi_base_median"]).reset_index(drop=True)
    if df.empty:
        ax.set_title("No account has a complete ROI case")
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
        ax.text(i, row.roi_base_median, f"{int(row.modeled):,} accounts", ha="center", va="top" if below else "bottom")
    pct_axis(ax, digits=0)
    if len(df) > 1:
        best = df.loc[df["roi_base_median"].idxmax()]
        worst = df.loc[df["roi_base_median"].idxmin()]
        ax.set_title(
            f"{best['health_tier']} accounts show a median ROI of {fmt_pct(best['roi_base_median'], digits=0)}, "
            f"{worst['health_tier']} {fmt_pct(worst['roi_base_median'], digits=0)}"
        )
    elif len(df):
        ax.set_title(f"Median ROI {fmt_pct(df['roi_base_median'].iloc[0], digits=0)} (health tiers not available)")
    ax.set_xlabel("Health tier")
    ax.set_ylabel("Median ROI, base case (%)")
    ax.margins(y=0.15)
    return ax
