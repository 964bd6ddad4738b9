"""Charts of the PoC tracking notebook: criterion paths with projection bands, portfolio, conversion, candidates.

Every number drawn comes from `poc`, `poc_tracking` or `poc_portfolio`; these helpers only lay it out.
"""

from __future__ import annotations

import textwrap

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from cs_playbook.formatting import Formatter
from cs_playbook.i18n import Messages, messages
from cs_playbook.plots import new_ax, pct_axis
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


def _words(lang: str, currency: str = "JPY") -> tuple[Messages, Formatter]:
    """The catalog and the formatter of a chart's language."""
    return messages(lang), Formatter(lang, currency)


def criterion_path(
    series: pd.DataFrame,
    paths: pd.DataFrame,
    criterion: pd.Series,
    *,
    end_date: pd.Timestamp,
    as_of: pd.Timestamp,
    start_date: pd.Timestamp | None = None,
    lang: str = "en",
    legend: bool = True,
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """One criterion's weekly values, its target line and the projection band to the end date.

    `series` and `paths` are this criterion's rows of `criterion_series` and `projection_paths`;
    `criterion` is its row of `track_criteria`. The time axis runs from the PoC's start (or its first week) to
    a little after the end date, with at most five concise date ticks; today and the end date are lines named in
    the legend (not text on top of each other).
    """
    msg, fmt = _words(lang)
    ax = new_ax(ax, figsize=(5, 3.2))
    color = STATUS_COLORS.get(criterion["status"], "#607d8b")
    if not series.empty:
        ax.plot(
            series["period_end"], series["value"], marker="o", color="#37474f", lw=1.5, label=msg.t("poc.each.weekly")
        )
    if not paths.empty:
        ax.plot(
            paths["period_end"], paths["projected"], color=color, ls="--", lw=1.5, label=msg.t("poc.each.projection")
        )
        ax.fill_between(
            paths["period_end"], paths["lower"], paths["upper"], color=color, alpha=0.18, label=msg.t("poc.each.band")
        )
    ax.axhline(criterion["target"], color="#c62828", lw=1, ls=":", label=msg.t("poc.each.target"))
    ax.axvline(end_date, color="#37474f", lw=1.2, label=msg.t("poc.each.end", date=fmt.date(end_date)))
    if as_of < end_date:
        ax.axvline(as_of, color="#1565c0", lw=1, ls="--", label=msg.t("poc.each.today", date=fmt.date(as_of)))
    dates = [pd.Timestamp(d) for d in (start_date, end_date, as_of) if d is not None and pd.notna(d)]
    if not series.empty:
        dates.append(pd.Timestamp(series["period_end"].min()))
    left, right = min(dates), max(dates)
    pad = pd.Timedelta(days=max(3, (right - left).days // 12))
    ax.set_xlim(left - pad, right + pad)  # the PoC's own weeks, never a default range of years
    locator = mdates.AutoDateLocator(minticks=3, maxticks=5)
    ax.xaxis.set_major_locator(locator)
    if lang == "ja":
        concise = mdates.ConciseDateFormatter(
            locator,
            formats=["%Y年", "%-m月", "%-m/%-d", "%H:%M", "%H:%M", "%S.%f"],
            offset_formats=["", "%Y年", "%Y年%-m月", "%Y/%m/%d", "%Y/%m/%d", "%Y/%m/%d %H:%M"],
        )
    else:
        concise = mdates.ConciseDateFormatter(locator)
    ax.xaxis.set_major_formatter(concise)
    if _is_share(criterion):
        pct_axis(ax)
    must = msg.t("poc.each.must") if bool(criterion["must_have"]) else ""
    now = format_value(criterion["current"], criterion["metric"], criterion["source"])
    goal = format_value(criterion["target"], criterion["metric"], criterion["source"])
    desc = textwrap.shorten(str(criterion["description"]), width=34, placeholder="…")
    status = msg.code(criterion["status"]) if lang != "en" else criterion["status"]
    title = msg.t(
        "poc.each.panel_title",
        criterion=criterion["criterion_id"],
        status=status,
        must=must,
        now=now,
        comparator=criterion["comparator"],
        goal=goal,
    )
    ax.set_title(f"{title}\n{desc}", fontsize=10, color=color)
    ax.set_xlabel(msg.t("poc.each.xlabel"), fontsize=8)
    base, event_type = parse_metric(criterion["metric"])
    ax.set_ylabel(base.replace("_", " ") + (f"\n({event_type})" if event_type else ""), fontsize=8)
    ax.tick_params(labelsize=8)
    if legend:
        ax.legend(fontsize=7, loc="best")
    return ax


def poc_small_multiples(
    poc: pd.Series,
    tracked: pd.DataFrame,
    series: pd.DataFrame,
    paths: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    lang: str = "en",
    axes: np.ndarray | None = None,
) -> np.ndarray:
    """One panel per criterion of one PoC (a row of `open_portfolio`), titled with its verdict.

    The lines and bands are named once, in a legend under the panels. Returns the array of Axes.
    """
    msg, _ = _words(lang)
    crit = tracked[tracked["poc_id"] == poc["poc_id"]].reset_index(drop=True)
    n = max(len(crit), 1)
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 3.8), squeeze=False)
        axes = axes[0]
    else:
        fig = np.ravel(axes)[0].figure
    for ax, (_, c) in zip(np.ravel(axes), crit.iterrows(), strict=False):
        sel = (series["poc_id"] == poc["poc_id"]) & (series["criterion_id"] == c["criterion_id"])
        psel = (paths["poc_id"] == poc["poc_id"]) & (paths["criterion_id"] == c["criterion_id"])
        criterion_path(
            series[sel],
            paths[psel],
            c,
            end_date=poc["end_date"],
            as_of=as_of,
            start_date=poc.get("start_date"),
            lang=lang,
            legend=False,
            ax=ax,
        )
    days = int(poc["days_left"])
    verdict = msg.code(poc["verdict"]) if lang != "en" else poc["verdict"]
    names = {"poc_id": poc["poc_id"], "name": poc["name"], "account": poc["account_name"], "verdict": verdict}
    key = "poc.each.suptitle_left" if days >= 0 else "poc.each.suptitle_past"
    fig.suptitle(msg.t(key, days=abs(days), **names), color=STATUS_COLORS.get(poc["verdict"], "black"), fontsize=12)
    handles, labels = {}, []
    for ax in np.ravel(axes):
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if labels:
        fig.legend(
            [handles[lab] for lab in labels],
            labels,
            loc="lower center",
            ncol=min(len(labels), 6),
            fontsize=8,
            frameon=False,
        )
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    return np.ravel(axes)


def arr_at_stake_bars(
    portfolio: pd.DataFrame, *, currency: str = "JPY", lang: str = "en", ax: plt.Axes | None = None
) -> plt.Axes:
    """ARR at stake per open PoC, colored by verdict, with the days left (an `open_portfolio` table)."""
    msg, fmt = _words(lang, currency)
    ax = new_ax(ax, figsize=(9, 0.5 * len(portfolio) + 1.5))
    df = portfolio.assign(label=portfolio["poc_id"] + " " + portfolio["account_name"].astype(str))
    df["shown"] = [str(msg.code(v)) if lang != "en" else v for v in df["verdict"]]
    colors = {str(msg.code(v)) if lang != "en" else v: STATUS_COLORS.get(v, "grey") for v in df["verdict"].unique()}
    sns.barplot(df, y="label", x="arr_at_stake", hue="shown", palette=colors, dodge=False, ax=ax)
    for i, r in enumerate(df.itertuples(index=False)):
        left = (
            msg.t("poc.open.days_left", days=r.days_left)
            if r.days_left >= 0
            else msg.t("poc.open.days_past", days=-r.days_left)
        )
        ax.text(r.arr_at_stake, i, f"  {fmt.money(r.arr_at_stake)}{left}", va="center", fontsize=9)
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: fmt.money(v)))
    ax.set_xlim(0, df["arr_at_stake"].max() * 1.6 if len(df) else 1)
    risky = df.loc[df["verdict"].isin(["at risk", "off track", "not met"]), "arr_at_stake"].sum()
    ax.set_title(msg.t("poc.open.chart_title", risky=fmt.money(risky), total=fmt.money(df["arr_at_stake"].sum())))
    ax.set_xlabel(msg.t("poc.open.chart_x", currency=currency))
    ax.set_ylabel("")
    ax.legend(title=msg.t("poc.open.legend"), loc="lower right", fontsize=8)
    return ax


def conversion_bars(conversion: pd.DataFrame, *, lang: str = "en", ax: plt.Axes | None = None) -> plt.Axes:
    """Conversion of decided PoCs with 95% intervals against the benchmark band (a `conversion_summary` table)."""
    msg, fmt = _words(lang)
    ax = new_ax(ax, figsize=(8, 4))
    df = conversion[conversion["pocs"] > 0].reset_index(drop=True)
    lo, hi = float(conversion["benchmark_low"].iloc[0]), float(conversion["benchmark_high"].iloc[0])
    ax.axhspan(
        lo,
        hi,
        color="#2e7d32",
        alpha=0.12,
        label=msg.t("poc.closed.benchmark", low=fmt.pct(lo, digits=0), high=fmt.pct(hi, digits=0)),
    )
    colors = ["#455a64", "#2e7d32", "#c62828"][: len(df)]
    x = np.arange(len(df))
    ax.bar(x, df["conversion"], color=colors, width=0.6)
    err = np.vstack([df["conversion"] - df["ci_low"], df["ci_high"] - df["conversion"]])
    ax.errorbar(x, df["conversion"], yerr=err, fmt="none", ecolor="black", capsize=4, lw=1)
    for xi, r in zip(x, df.itertuples(index=False), strict=True):
        ax.text(xi, r.ci_high + 0.02, f"{fmt.pct(r.conversion, digits=0)} ({r.won}/{r.pocs})", ha="center", fontsize=9)
    ax.set_xticks(x, [str(msg.code(g)) if lang != "en" else str(g) for g in df["group"]])
    ax.set_ylim(0, 1.15)
    pct_axis(ax)
    rates = conversion.set_index("group")["conversion"]
    ax.set_title(
        msg.t(
            "poc.closed.chart_title",
            all=fmt.pct(rates.get("all"), digits=0),
            met=fmt.pct(rates.get("criteria met"), digits=0),
            not_met=fmt.pct(rates.get("criteria not met"), digits=0),
        )
    )
    ax.set_ylabel(msg.t("poc.closed.chart_y"))
    ax.set_xlabel(msg.t("poc.closed.chart_x"))
    ax.legend(loc="upper right", fontsize=8)
    return ax


def candidate_bars(ranking: pd.DataFrame, *, top: int = 12, lang: str = "en", ax: plt.Axes | None = None) -> plt.Axes:
    """The most promising teams for a planned PoC by likelihood of meeting its criteria (a `rank_candidates` table)."""
    msg, fmt = _words(lang)
    df = ranking.head(top).copy()
    ax = new_ax(ax, figsize=(9, 0.42 * len(df) + 1.5))
    df["label"] = df["department"].astype(str) + " (" + df["account_name"].astype(str) + ")"
    this, similar = msg.t("poc.planned.this_account"), msg.t("poc.planned.similar_account")
    df["where"] = np.where(df["this_account"], this, similar)
    sns.barplot(
        df, y="label", x="likelihood", hue="where", palette={this: "#1565c0", similar: "#90a4ae"}, dodge=False, ax=ax
    )
    pct_axis(ax, axis="x")
    ax.set_xlim(0, 1.05)
    if len(df):
        best = df.iloc[0]
        ax.set_title(
            msg.t(
                "poc.planned.chart_title",
                team=best["department"],
                account=best["account_name"],
                likelihood=fmt.pct(best["likelihood"], digits=0),
            )
        )
    ax.set_xlabel(msg.t("poc.planned.chart_x"))
    ax.set_ylabel("")
    ax.legend(title=None, loc="lower right", fontsize=8)
    return ax
