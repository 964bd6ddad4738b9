"""Charts of renewal management: renewals by week, schedule progress, BANTC, priorities, churn review, GRR forecast.

Each helper draws a table computed by `renewals`, `churn_prevention` or `churn_review`, so the
numbers behind every chart are tested there.
"""

from __future__ import annotations

import html

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns
from pandas.io.formats.style import Styler

from cs_playbook.formatting import Formatter
from cs_playbook.i18n import Messages, messages
from cs_playbook.plots import fmt_money, new_ax, pct_axis
from cs_playbook.renewals.summary import tenure_band_name

__all__ = [
    "renewals_by_week",
    "schedule_progress_bars",
    "bantc_bars",
    "priority_bars",
    "churn_bars",
    "churn_trend_lines",
    "grr_forecast_chart",
    "churn_breakdown_grid",
    "styled_table",
]

CHURN_GROUPS = ("reason", "segment", "cohort", "tenure_band")  # the churn review's groups, catalog review.group_<by>
MONEY_COLUMNS = ("arr", "arr_renewing", "arr_renewing_at_risk", "churned_arr", "start_arr", "end_arr")
DATE_COLUMNS = (
    "renewal_date",
    "decision_deadline",
    "department_contact",
    "schedule_start",
    "schedule_end",
    "next_due",
    "bantc_assessed_at",
    "act_by",
    "churned_at",
)

STATUS_COLORS = {
    "done": "#2e7d32",
    "done_late": "#9ccc65",
    "open": "#90a4ae",
    "overdue": "#c62828",
    "not_started": "#e0e0e0",
}
ANSWER_COLORS = {"ok": "#2e7d32", "unknown": "#f9a825", "risk": "#c62828", "none": "#bdbdbd"}
MODE_COLORS = {"handling": "#c62828", "prevention": "#1565c0"}


def _words(lang: str, currency: str) -> tuple[Messages, Formatter]:
    """The catalog and the formatter of a chart's language."""
    return messages(lang), Formatter(lang, currency)


def _money_axis(ax: plt.Axes, fmt: Formatter, *, axis: str = "y") -> None:
    """An axis of money in the chart's language (3,450万円 / ¥34.5M)."""
    formatter = mticker.FuncFormatter(lambda v, _: fmt.money(v, digits=2 if abs(v) >= 1e9 else 1))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)


def _legend_codes(ax: plt.Axes, msg: Messages, *, title: str | None = None, **kwargs: object) -> None:
    """The legend with its code entries (done, overdue, handling...) in the chart's language."""
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [str(msg.code(lab)) for lab in labels], title=title, **kwargs)


def renewals_by_week(
    weekly: pd.DataFrame, *, currency: str = "JPY", lang: str = "en", ax: plt.Axes | None = None
) -> plt.Axes:
    """ARR renewing per week, stacked: expected to renew and at risk (from renewals.arr_by_week)."""
    msg, fmt = _words(lang, currency)
    ax = new_ax(ax, figsize=(11, 4.5))
    wide = weekly.pivot_table(index="week", columns="outcome", values="arr", aggfunc="sum", fill_value=0.0)
    wide = wide.reindex(columns=["expected to renew", "at risk"], fill_value=0.0)
    x = np.arange(len(wide))
    ax.bar(x, wide["expected to renew"], color="#90a4ae", label=msg.t("renewals.calendar.legend_expected"))
    ax.bar(
        x,
        wide["at risk"],
        bottom=wide["expected to renew"],
        color="#c62828",
        label=msg.t("renewals.calendar.legend_risk"),
    )
    step = max(1, int(np.ceil(len(wide) / 12)))  # at most a dozen week labels
    ax.set_xticks(x[::step], [fmt.date(w)[5:] for w in wide.index[::step]], fontsize=8)
    _money_axis(ax, fmt)
    total, risk = wide.to_numpy().sum(), wide["at risk"].sum()
    ax.set_title(
        msg.t(
            "renewals.calendar.chart_title",
            total=fmt.money(total),
            weeks=len(wide),
            risk=fmt.money(risk),
            share=fmt.pct(risk / total if total else np.nan),
        )
    )
    ax.set_xlabel(msg.t("renewals.calendar.chart_x"))
    ax.set_ylabel(msg.t("renewals.calendar.chart_y", currency=currency))
    ax.legend(fontsize=9)
    return ax


def schedule_progress_bars(progress: pd.DataFrame, *, lang: str = "en", ax: plt.Axes | None = None) -> plt.Axes:
    """Renewals per schedule step and status, stacked (from renewals.schedule_progress).

    `progress` may carry a `step` column (the step's name in the report's language); else its `label` is shown.
    """
    msg = messages(lang)
    ax = new_ax(ax, figsize=(10, 4))
    name = "step" if "step" in progress.columns else "label"
    wide = progress.pivot_table(index=["order", name], columns="status", values="renewals", fill_value=0)
    wide = wide.reindex(columns=[s for s in STATUS_COLORS if s in wide.columns]).droplevel("order")
    wide.plot(kind="barh", stacked=True, color=[STATUS_COLORS[c] for c in wide.columns], ax=ax, width=0.7)
    ax.invert_yaxis()
    overdue = wide["overdue"] if "overdue" in wide.columns else pd.Series(0, index=wide.index)
    worst = overdue.idxmax() if overdue.sum() else None
    ax.set_title(
        msg.t("renewals.schedule.chart_title_overdue", count=int(overdue.sum()), worst=worst)
        if worst
        else msg.t("renewals.schedule.chart_title_none")
    )
    ax.set_xlabel(msg.t("renewals.schedule.chart_x"))
    ax.set_ylabel("")
    _legend_codes(
        ax, msg, title=msg.t("renewals.schedule.legend"), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    return ax


def bantc_bars(answers: pd.DataFrame, *, lang: str = "en", ax: plt.Axes | None = None) -> plt.Axes:
    """Share of upcoming renewals by BANTC answer per dimension (from renewals.bantc_answers)."""
    msg, fmt = _words(lang, "JPY")
    ax = new_ax(ax, figsize=(9, 3.8))
    wide = answers.pivot_table(index="dimension", columns="answer", values="share", fill_value=0.0, sort=False)
    wide = wide.reindex(columns=[a for a in ANSWER_COLORS if a in wide.columns])
    wide.index = [str(msg.code(d)) for d in wide.index]
    wide.plot(kind="barh", stacked=True, color=[ANSWER_COLORS[c] for c in wide.columns], ax=ax, width=0.7)
    ax.invert_yaxis()
    pct_axis(ax, axis="x")
    risk = wide["risk"] if "risk" in wide.columns else pd.Series(0.0, index=wide.index)
    ax.set_title(msg.t("renewals.bantc.chart_title", dimension=risk.idxmax(), share=fmt.pct(risk.max(), digits=0)))
    ax.set_xlabel(msg.t("renewals.bantc.chart_x"))
    ax.set_ylabel("")
    _legend_codes(
        ax, msg, title=msg.t("renewals.bantc.legend"), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    return ax


def priority_bars(
    priorities: pd.DataFrame, *, top: int = 15, currency: str = "JPY", lang: str = "en", ax: plt.Axes | None = None
) -> plt.Axes:
    """The top accounts by priority score (ARR at risk weighted by fit), coloured by mode."""
    msg, fmt = _words(lang, currency)
    ax = new_ax(ax, figsize=(10, 0.35 * min(top, len(priorities)) + 1.5))
    df = priorities.head(top).copy()
    df["label"] = df["account_name"].astype(str) + " (" + df["act_when"].map(lambda v: str(msg.code(v))) + ")"
    sns.barplot(df, y="label", x="priority_score", hue="mode", palette=MODE_COLORS, dodge=False, ax=ax, orient="h")
    _money_axis(ax, fmt, axis="x")
    share = df["priority_score"].sum() / priorities["priority_score"].sum() if len(priorities) else np.nan
    ax.set_title(
        msg.t(
            "renewals.priorities.chart_title",
            top=len(df),
            share=fmt.pct(share, digits=0),
            handling=int((df["mode"] == "handling").sum()),
        )
    )
    ax.set_xlabel(msg.t("renewals.priorities.chart_x", currency=currency))
    ax.set_ylabel("")
    _legend_codes(ax, msg, title=msg.t("renewals.priorities.legend"), fontsize=8)
    return ax


def churn_bars(
    breakdown: pd.DataFrame,
    *,
    by: str,
    what: str,
    order: list[str] | None = None,
    currency: str = "JPY",
    lang: str = "en",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Churned ARR per group with account counts (from churn_review.churn_breakdown).

    `what` names the group in the title; `order` lists the groups top to bottom (default: largest ARR first).
    Group values that are codes or tenure bands are shown in the chart's language.
    """
    msg, fmt = _words(lang, currency)
    ax = new_ax(ax, figsize=(8, 0.45 * len(breakdown) + 1.5))
    df = breakdown.copy()
    df[by] = df[by].astype(str)
    if order is not None:
        df = df.set_index(by).reindex([o for o in order if o in set(df[by])]).reset_index()
    df[by] = [tenure_band_name(v, msg) if by == "tenure_band" else str(msg.code(v)) for v in df[by]]
    sns.barplot(df, y=by, x="churned_arr", color="#c62828", ax=ax, orient="h")
    for i, row in enumerate(df.itertuples()):
        ax.text(row.churned_arr, i, msg.t("renewals.review.bars_count", count=row.accounts), va="center", fontsize=8)
    _money_axis(ax, fmt, axis="x")
    ax.margins(x=0.2)
    if len(df):
        top = df.loc[df["churned_arr"].idxmax()]
        ax.set_title(
            msg.t(
                "renewals.review.bars_title",
                group=what,
                top=top[by],
                arr=fmt.money(top["churned_arr"]),
                share=fmt.pct(top["arr_share"], digits=0),
            )
        )
    ax.set_xlabel(msg.t("renewals.review.bars_x", currency=currency))
    ax.set_ylabel(what)
    return ax


def churn_trend_lines(trend: pd.DataFrame, *, lang: str = "en", ax: plt.Axes | None = None) -> plt.Axes:
    """Logo churn and ARR churn per quarter (from churn_review.churn_trend)."""
    msg, fmt = _words(lang, "JPY")
    ax = new_ax(ax, figsize=(9, 4))
    tidy = trend.melt(id_vars="period", value_vars=["logo_churn", "arr_churn"], var_name="metric", value_name="value")
    names = {"logo_churn": msg.t("renewals.review.trend_logo"), "arr_churn": msg.t("renewals.review.trend_arr")}
    tidy["metric"] = tidy["metric"].map(names)
    sns.lineplot(tidy, x="period", y="value", hue="metric", marker="o", ax=ax)
    pct_axis(ax, digits=1)
    last = trend.iloc[-1]
    ax.set_title(
        msg.t(
            "renewals.review.trend_title",
            period=last["period"],
            logo=fmt.pct(last["logo_churn"]),
            arr=fmt.pct(last["arr_churn"]),
        )
    )
    ax.set_xlabel(msg.t("renewals.review.trend_x"))
    ax.set_ylabel(msg.t("renewals.review.trend_y"))
    ax.set_ylim(bottom=0)
    ax.legend(title=None)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    return ax


def grr_forecast_chart(
    trend: pd.DataFrame,
    forecast: dict[str, float],
    *,
    quarter: str,
    backtest: dict[str, float] | None = None,
    backtest_quarter: str | None = None,
    lang: str = "en",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Actual GRR per quarter, the forecast quarter's expected GRR with its interval, and the back-test."""
    msg, fmt = _words(lang, "JPY")
    ax = new_ax(ax, figsize=(9, 4))
    x = np.arange(len(trend))
    ax.plot(x, trend["grr"], marker="o", color="#37474f", label=msg.t("renewals.grr.chart_actual"))
    xf = len(trend)
    err = [[forecast["expected_grr"] - forecast["grr_low"]], [forecast["grr_high"] - forecast["expected_grr"]]]
    label = msg.t("renewals.grr.chart_forecast", interval=fmt.pct(forecast["interval"], digits=0))
    ax.errorbar([xf], [forecast["expected_grr"]], yerr=err, fmt="D", color="#1565c0", capsize=6, label=label)
    if backtest is not None and backtest_quarter in set(trend["period"]):
        xb = int(np.flatnonzero(trend["period"].to_numpy() == backtest_quarter)[0])
        err_b = [[backtest["expected_grr"] - backtest["grr_low"]], [backtest["grr_high"] - backtest["expected_grr"]]]
        ax.errorbar(
            [xb + 0.15],
            [backtest["expected_grr"]],
            yerr=err_b,
            fmt="D",
            color="#90caf9",
            capsize=4,
            label=msg.t("renewals.grr.chart_backtest"),
        )
    ax.set_xticks([*x, xf], [*trend["period"], quarter], rotation=45, ha="right")
    pct_axis(ax, digits=1)
    ax.set_title(
        msg.t(
            "renewals.grr.chart_title",
            quarter=quarter,
            grr=fmt.pct(forecast["expected_grr"]),
            low=fmt.pct(forecast["grr_low"]),
            high=fmt.pct(forecast["grr_high"]),
        )
    )
    ax.set_xlabel(msg.t("renewals.grr.chart_x"))
    ax.set_ylabel(msg.t("renewals.grr.chart_y"))
    ax.legend(fontsize=8, loc="lower left")
    return ax


def churn_breakdown_grid(
    breakdowns: dict[str, pd.DataFrame],
    *,
    orders: dict[str, list[str] | None],
    currency: str = "JPY",
    lang: str = "en",
) -> plt.Figure:
    """Churned ARR by reason, segment, start year and tenure in a 2 x 2 grid (breakdowns: by -> churn_breakdown)."""
    msg = messages(lang)
    fig, axes = plt.subplots(2, 2, figsize=(15, 9))
    for ax, by in zip(axes.flat, CHURN_GROUPS, strict=True):
        what = msg.t(f"renewals.review.group_{by}")
        churn_bars(breakdowns[by], by=by, what=what, order=orders.get(by), currency=currency, lang=lang, ax=ax)
    fig.tight_layout()
    return fig


def _date(value: object) -> str:
    return "" if pd.isna(value) else f"{pd.Timestamp(value):%Y/%m/%d}"


def styled_table(
    df: pd.DataFrame, *, caption: str, currency: str = "JPY", formats: dict[str, str] | None = None
) -> Styler:
    """A page table: money columns (ARR) compact in `currency`, date columns as 2026/11/20, the rest as `formats` say."""
    money = {c: (lambda v, cur=currency: fmt_money(v, cur)) for c in df.columns if c in MONEY_COLUMNS}
    dates = {c: _date for c in df.columns if c in DATE_COLUMNS or pd.api.types.is_datetime64_any_dtype(df[c])}
    fmt = {**money, **dates, **{k: v for k, v in (formats or {}).items() if k in df.columns}}
    return df.style.format(fmt, na_rep="none", escape="html").set_caption(html.escape(caption)).hide(axis="index")
