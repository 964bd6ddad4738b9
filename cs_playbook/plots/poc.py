"""Charts of the PoC tracking notebook: criterion paths with projection bands, portfolio, conversion, candidates.

Every number drawn comes from `poc`, `poc_tracking` or `poc_portfolio`; these helpers only lay it out.
"""

from __future__ import annotations

import textwrap

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from cs_playbook.plots import fmt_money, fmt_pct, money_axis, new_ax, pct_axis
from cs_playbook.poc.criteria import parse_metric
from cs_playbook.poc.tracking import format_value

__all__ = [
    "STATUS_COLORS",
    "criterion_path",
    "poc_small_multiples",
    "arr_at_stake_bars",
    "conversion_bars",
    "candidate_bars",
]

STATUS_COLORS = {
    "met": "#2e7d32",
    "on track": "#7cb342",
    "too early": "#90a4ae",
    "at risk": "#f9a825",
    "off track": "#c62828",
    "missed": "#c62828",
    "not met": "#8e2424",
    "no data": "#90a4ae",
    "no criteria": "#607d8b",
}


def _is_share(criterion: pd.Series) -> bool:
    return criterion["source"] == "events" and parse_metric(criterion["metric"])[0] == "active_user_share"


def criterion_path(
    series: pd.DataFrame,
    paths: pd.DataFrame,
    criterion: pd.Series,
    *,
    end_date: pd.Timestamp,
    as_of: pd.Timestamp,
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """One criterion's weekly values, its target line and the projection band to the end date.

    `series` and `paths` are this criterion's rows of `criterion_series` and `projection_paths`;
    `criterion` is its row of `track_criteria`.
    """
    ax = new_ax(ax, figsize=(5, 3.2))
    color = STATUS_COLORS.get(criterion["status"], "#607d8b")
    if not series.empty:
        ax.plot(series["period_end"], series["value"], marker="o", color="#37474f", lw=1.5, label="weekly value")
    if not paths.empty:
        ax.plot(paths["period_end"], paths["projected"], color=color, ls="--", lw=1.5, label="projection")
        ax.fill_between(paths["period_end"], paths["lower"], paths["upper"], color=color, alpha=0.18, label="interval")
    ax.axhline(criterion["target"], color="#c62828", lw=1, ls=":", label="target")
    ax.axvline(end_date, color="grey", lw=1)
    if as_of < end_date:
        ax.axvline(as_of, color="grey", lw=0.8, ls=":")
    if _is_share(criterion):
        pct_axis(ax)
    must = " (must-have)" if bool(criterion["must_have"]) else ""
    now = format_value(criterion["current"], criterion["metric"], criterion["source"])
    goal = format_value(criterion["target"], criterion["metric"], criterion["source"])
    desc = textwrap.shorten(str(criterion["description"]), width=34, placeholder="…")
    ax.set_title(
        f"{criterion['criterion_id']} {criterion['status']}{must}: {now} vs {criterion['comparator']} {goal}\n{desc}",
        fontsize=10,
        color=color,
    )
    ax.set_xlabel("Week ending (dotted: today, solid: end date)", fontsize=8)
    base, event_type = parse_metric(criterion["metric"])
    ax.set_ylabel(base.replace("_", " ") + (f"\n({event_type})" if event_type else ""), fontsize=8)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m/%d"))
    ax.tick_params(labelsize=8)
    return ax


def poc_small_multiples(
    poc: pd.Series,
    tracked: pd.DataFrame,
    series: pd.DataFrame,
    paths: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    axes: np.ndarray | None = None,
) -> np.ndarray:
    """One panel per criterion of one PoC (a row of `open_portfolio`), titled with its verdict.

    Returns the array of Axes.
    """
    crit = tracked[tracked["poc_id"] == poc["poc_id"]].reset_index(drop=True)
    n = max(len(crit), 1)
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
        axes = axes[0]
    else:
        fig = np.ravel(axes)[0].figure
    for ax, (_, c) in zip(np.ravel(axes), crit.iterrows(), strict=False):
        sel = (series["poc_id"] == poc["poc_id"]) & (series["criterion_id"] == c["criterion_id"])
        psel = (paths["poc_id"] == poc["poc_id"]) & (paths["criterion_id"] == c["criterion_id"])
        criterion_path(series[sel], paths[psel], c, end_date=poc["end_date"], as_of=as_of, ax=ax)
    days = int(poc["days_left"])
    when = f"{days} days left" if days >= 0 else f"ended {-days} days ago, no decision"
    fig.suptitle(
        f"{poc['poc_id']} {poc['name']} ({poc['account_name']}): {poc['verdict']}, {when}",
        color=STATUS_COLORS.get(poc["verdict"], "black"),
        fontsize=12,
    )
    fig.tight_layout()
    return np.ravel(axes)


def arr_at_stake_bars(portfolio: pd.DataFrame, *, currency: str = "JPY", ax: plt.Axes | None = None) -> plt.Axes:
    """ARR at stake per open PoC, colored by verdict, with the days left (an `open_portfolio` table)."""
    ax = new_ax(ax, figsize=(9, 0.5 * len(portfolio) + 1.5))
    df = portfolio.assign(label=portfolio["poc_id"] + " " + portfolio["account_name"].astype(str))
    sns.barplot(
        df,
        y="label",
        x="arr_at_stake",
        hue="verdict",
        palette={v: STATUS_COLORS.get(v, "grey") for v in df["verdict"].unique()},
        dodge=False,
        ax=ax,
    )
    for i, r in enumerate(df.itertuples(index=False)):
        left = f"{r.days_left} days left" if r.days_left >= 0 else f"{-r.days_left} days past the end"
        ax.text(r.arr_at_stake, i, f"  {fmt_money(r.arr_at_stake, currency)}, {left}", va="center", fontsize=9)
    money_axis(ax, currency, axis="x")
    ax.set_xlim(0, df["arr_at_stake"].max() * 1.6 if len(df) else 1)
    risky = df.loc[df["verdict"].isin(["at risk", "off track", "not met"]), "arr_at_stake"].sum()
    ax.set_title(
        f"{fmt_money(risky, currency)} of {fmt_money(df['arr_at_stake'].sum(), currency)} ARR at stake "
        "sits in PoCs at risk, off track or past their end"
    )
    ax.set_xlabel(f"ARR of the main contract if it converts ({currency})")
    ax.set_ylabel("")
    ax.legend(title="Verdict", loc="lower right", fontsize=8)
    return ax


def conversion_bars(conversion: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Conversion of decided PoCs with 95% intervals against the benchmark band (a `conversion_summary` table)."""
    ax = new_ax(ax, figsize=(8, 4))
    df = conversion[conversion["pocs"] > 0].reset_index(drop=True)
    lo, hi = float(conversion["benchmark_low"].iloc[0]), float(conversion["benchmark_high"].iloc[0])
    ax.axhspan(lo, hi, color="#2e7d32", alpha=0.12, label=f"benchmark {fmt_pct(lo, digits=0)}-{fmt_pct(hi, digits=0)}")
    colors = ["#455a64", "#2e7d32", "#c62828"][: len(df)]
    x = np.arange(len(df))
    ax.bar(x, df["conversion"], color=colors, width=0.6)
    err = np.vstack([df["conversion"] - df["ci_low"], df["ci_high"] - df["conversion"]])
    ax.errorbar(x, df["conversion"], yerr=err, fmt="none", ecolor="black", capsize=4, lw=1)
    for xi, r in zip(x, df.itertuples(index=False), strict=True):
        ax.text(xi, r.ci_high + 0.02, f"{fmt_pct(r.conversion, digits=0)} ({r.won}/{r.pocs})", ha="center", fontsize=9)
    ax.set_xticks(x, [f"{g}" for g in df["group"]])
    ax.set_ylim(0, 1.15)
    pct_axis(ax)
    rates = conversion.set_index("group")["conversion"]
    ax.set_title(
        f"{fmt_pct(rates.get('all'), digits=0)} of decided PoCs converted; "
        f"{fmt_pct(rates.get('criteria met'), digits=0)} when the criteria were met, "
        f"{fmt_pct(rates.get('criteria not met'), digits=0)} when not"
    )
    ax.set_ylabel("Converted to the main contract (%)")
    ax.set_xlabel("Decided PoCs (bars: 95% interval)")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def candidate_bars(ranking: pd.DataFrame, *, top: int = 12, ax: plt.Axes | None = None) -> plt.Axes:
    """The most promising teams for a planned PoC by likelihood of meeting its criteria (a `rank_candidates` table)."""
    df = ranking.head(top).copy()
    ax = new_ax(ax, figsize=(9, 0.42 * len(df) + 1.5))
    df["label"] = df["department"].astype(str) + " (" + df["account_name"].astype(str) + ")"
    df["where"] = np.where(df["this_account"], "this account", "similar account")
    sns.barplot(
        df,
        y="label",
        x="likelihood",
        hue="where",
        palette={"this account": "#1565c0", "similar account": "#90a4ae"},
        dodge=False,
        ax=ax,
    )
    pct_axis(ax, axis="x")
    ax.set_xlim(0, 1.05)
    if len(df):
        best = df.iloc[0]
        ax.set_title(
            f"Best candidate: {best['department']} ({best['account_name']}), "
            f"{fmt_pct(best['likelihood'], digits=0)} likely to meet the criteria at current usage"
        )
    ax.set_xlabel("Likelihood of meeting the proposed criteria from current usage (%)")
    ax.set_ylabel("")
    ax.legend(title=None, loc="lower right", fontsize=8)
    return ax
