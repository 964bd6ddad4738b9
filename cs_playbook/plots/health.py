"""Charts of the health-score calibration: measure quality and deciles, correlation, weights, validation, tiers.

Every chart's title, axes and legend come from the message catalog ("health.charts.<chart>.*" in
`cs_playbook/i18n/health.yaml`) in the language of `msg` (English by default); measure labels, model
names and segments are shown as the catalog's codes. Titles state the finding, so they are templates
filled here with the chart's numbers.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from cs_playbook.formatting import Formatter
from cs_playbook.i18n import Messages, messages
from cs_playbook.modeling.scorecard import TIERS, TierLabels, TierThresholds
from cs_playbook.plots import fmt_pct, new_ax, pct_axis, tier_palette

__all__ = [
    "coverage_bars",
    "decile_grid",
    "correlation_heatmap",
    "weights_forest",
    "fold_auc",
    "calibration_plot",
    "lift_bars",
    "tier_churn_bars",
    "migration_heatmap",
    "score_histogram",
    "promotion_heatmap",
    "segment_auc",
]

MODEL_COLORS = {"calibrated": "#1565c0", "rules": "#9e9e9e", "term only": "#ef6c00"}


def _msg(msg: Messages | None) -> Messages:
    """The catalog to word a chart in: the given one, else English."""
    return msg or messages("en")


def _coded(values: pd.Series, msg: Messages) -> pd.Series:
    """Codes (measure labels, model names, segments) in the catalog's words."""
    return values.map(lambda v: msg.code(v))


def _labelled(frame: pd.DataFrame, labels: TierLabels) -> pd.DataFrame:
    """`frame` with its index and columns of tier codes shown as the labels of params (other names kept)."""
    return frame.rename(index=labels.label, columns=labels.label)


def coverage_bars(
    quality: pd.DataFrame, *, ax: plt.Axes | None = None, threshold: float = 0.5, msg: Messages | None = None
) -> plt.Axes:
    """Share of observations with a value, per measure (measure_review.measure_quality); thin ones in red."""
    msg = _msg(msg)
    df = quality.sort_values("coverage")
    ax = new_ax(ax, figsize=(9, max(4, 0.28 * len(df))))
    colors = ["#c62828" if c < threshold else "#1565c0" for c in df["coverage"]]
    ax.barh(_coded(df["label"], msg), df["coverage"], color=colors)
    pct_axis(ax, axis="x")
    ax.set_xlim(0, 1.02)
    thin = int((df["coverage"] < threshold).sum())
    full = int((df["coverage"] >= 0.9).sum())
    ax.set_title(
        msg.t("health.charts.coverage.title", full=full, n=len(df))
        + (msg.t("health.charts.coverage.thin", thin=thin, threshold=f"{threshold:.0%}") if thin else "")
    )
    ax.set_xlabel(msg.t("health.charts.coverage.xlabel"))
    ax.set_ylabel("")
    return ax


def decile_grid(
    deciles: pd.DataFrame, *, measures: list[str], base_rate: float, ncols: int = 3, msg: Messages | None = None
) -> np.ndarray:
    """Outcome rate by decile cohort for each measure (measure_review.decile_rates), one small chart each.

    Returns the array of Axes; the dashed line is the overall rate, the grey bar the missing cohort.
    """
    msg = _msg(msg)
    n = len(measures)
    nrows = int(np.ceil(n / ncols)) if n else 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, 2.9 * nrows), squeeze=False)
    for ax, m in zip(axes.flat, measures, strict=False):
        d = deciles[deciles["measure"] == m]
        x = [str(msg.code(c)) for c in d["cohort"]]
        colors = ["#bdbdbd" if b == 0 else "#1565c0" for b in d["bin"]]
        ax.bar(x, d["rate"], color=colors)
        ax.axhline(base_rate, color="#c62828", ls="--", lw=1)
        pct_axis(ax)
        label = msg.code(d["label"].iloc[0]) if len(d) else m
        lo, hi = d.loc[d["bin"] > 0, "rate"].iloc[[0, -1]] if (d["bin"] > 0).sum() >= 2 else (np.nan, np.nan)
        ax.set_title(f"{label}: {fmt_pct(lo, digits=0)} → {fmt_pct(hi, digits=0)}", fontsize=10)
        ax.set_xlabel(msg.t("health.charts.deciles.xlabel"), fontsize=8)
        ax.set_ylabel(msg.t("health.charts.deciles.ylabel"), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(msg.t("health.charts.deciles.title"), y=1.0)
    fig.tight_layout()
    return axes


def correlation_heatmap(
    corr: pd.DataFrame, groups: pd.DataFrame, *, ax: plt.Axes | None = None, msg: Messages | None = None
) -> plt.Axes:
    """Rank correlation between measures, ordered by group (measure_review.measure_groups)."""
    msg = _msg(msg)
    order = [m for m in groups.sort_values(["group", "measure"])["measure"] if m in corr.index]
    labels = dict(zip(groups["measure"], _coded(groups["label"], msg), strict=True))
    c = corr.loc[order, order]
    ax = new_ax(ax, figsize=(10, 8.5))
    sns.heatmap(
        c.rename(index=labels, columns=labels),
        cmap="RdBu_r",
        vmin=-1,
        vmax=1,
        center=0,
        square=True,
        cbar_kws={"label": msg.t("health.charts.correlation.cbar"), "shrink": 0.7},
        ax=ax,
    )
    multi = groups[groups["group_size"] > 1]["group"].nunique()
    ax.set_title(msg.t("health.charts.correlation.title", groups=multi))
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(labelsize=8)
    return ax


def weights_forest(weights: pd.DataFrame, *, ax: plt.Axes | None = None, msg: Messages | None = None) -> plt.Axes:
    """Score points per standard deviation of each measure with its interval (Scorecard.weights)."""
    msg = _msg(msg)
    df = weights.sort_values("points_per_sd").reset_index(drop=True)
    ax = new_ax(ax, figsize=(9, max(3.5, 0.35 * len(df))))
    y = np.arange(len(df))
    colors = np.where(df["points_per_sd"] >= 0, "#2e7d32", "#c62828")
    lo = (df["points_per_sd"] - df["points_lo"]).fillna(0).clip(lower=0)
    hi = (df["points_hi"] - df["points_per_sd"]).fillna(0).clip(lower=0)
    ax.errorbar(df["points_per_sd"], y, xerr=[lo, hi], fmt="none", ecolor="#616161", capsize=3)
    ax.scatter(df["points_per_sd"], y, c=colors, zorder=3)
    ax.axvline(0, color="grey", lw=1)
    names = _coded(df["label"] if "label" in df.columns else df["input"], msg)
    ax.set_yticks(y, names)
    ax.set_title(msg.t("health.charts.weights.title", up=names.iloc[-1], down=names.iloc[0]))
    ax.set_xlabel(msg.t("health.charts.weights.xlabel"))
    return ax


def _auc_intervals(frame: pd.DataFrame, by: str, ax: plt.Axes, msg: Messages) -> list[str]:
    """AUC points with interval bars per `by` value and model, models side by side; returns the `by` order."""
    groups = list(dict.fromkeys(frame[by]))
    models = list(dict.fromkeys(frame["model"]))
    width = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        d = frame[frame["model"] == model].set_index(by).reindex(groups)
        x = np.arange(len(groups)) + (i - (len(models) - 1) / 2) * width
        err = [(d["auc"] - d["auc_lo"]).clip(lower=0), (d["auc_hi"] - d["auc"]).clip(lower=0)]
        ax.errorbar(x, d["auc"], yerr=err, fmt="o", capsize=4, label=msg.code(model), color=MODEL_COLORS.get(model))
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_ylabel(msg.t("health.charts.fold_auc.ylabel"))
    ax.legend(title=None)
    return groups


def fold_auc(summary: pd.DataFrame, *, ax: plt.Axes | None = None, msg: Messages | None = None) -> plt.Axes:
    """AUC with its interval per out-of-time fold and model (evaluation.backtest_summary)."""
    msg = _msg(msg)
    ax = new_ax(ax, figsize=(9, 4))
    folds = _auc_intervals(summary, "fold", ax, msg)
    ax.set_xticks(np.arange(len(folds)), [msg.t("health.charts.fold_auc.all") if f == "all" else f for f in folds])
    allrow = summary[summary["fold"] == "all"].set_index("model")["auc"]
    head = ", ".join(f"{msg.code(m)} {allrow[m]:.2f}" for m in dict.fromkeys(summary["model"]) if m in allrow)
    ax.set_title(msg.t("health.charts.fold_auc.title", models=head))
    ax.set_xlabel(msg.t("health.charts.fold_auc.xlabel"))
    return ax


def calibration_plot(
    curves: pd.DataFrame, *, ece: dict[str, float], ax: plt.Axes | None = None, msg: Messages | None = None
) -> plt.Axes:
    """Predicted against observed churn per bin, per model (tidy evaluation.calibration_curve with a model column)."""
    msg = _msg(msg)
    ax = new_ax(ax, figsize=(6.5, 5.5))
    top = float(max(curves["mean_predicted"].max(), curves["observed_rate"].max(), 0.05)) * 1.1
    ax.plot([0, top], [0, top], color="grey", ls="--", lw=1, label=msg.t("health.charts.calibration.perfect"))
    for model, d in curves.groupby("model", sort=False):
        err = [(d["observed_rate"] - d["lo"]).clip(lower=0), (d["hi"] - d["observed_rate"]).clip(lower=0)]
        ax.errorbar(
            d["mean_predicted"],
            d["observed_rate"],
            yerr=err,
            fmt="o-",
            capsize=3,
            label=msg.code(model),
            color=MODEL_COLORS.get(model),
        )
    pct_axis(ax)
    pct_axis(ax, axis="x")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    models = ", ".join(f"{msg.code(m)} {fmt_pct(v, digits=1)}" for m, v in ece.items())
    ax.set_title(msg.t("health.charts.calibration.title", models=models))
    ax.set_xlabel(msg.t("health.charts.calibration.xlabel"))
    ax.set_ylabel(msg.t("health.charts.calibration.ylabel"))
    ax.legend(title=None)
    return ax


def lift_bars(lift: pd.DataFrame, *, ax: plt.Axes | None = None, msg: Messages | None = None) -> plt.Axes:
    """Churn rate per risk decile (1 = riskiest tenth) per model (tidy evaluation.lift_table with a model column)."""
    msg = _msg(msg)
    ax = new_ax(ax, figsize=(9, 4))
    shown = lift.assign(model=_coded(lift["model"], msg))
    palette = {msg.code(m): c for m, c in MODEL_COLORS.items()}
    sns.barplot(shown, x="decile", y="rate", hue="model", palette=palette, ax=ax)
    pct_axis(ax)
    top = lift[lift["decile"] == 1].set_index("model")["lift"]
    ax.set_title(msg.t("health.charts.lift.title", models=", ".join(f"{msg.code(m)} {v:.1f}x" for m, v in top.items())))
    ax.set_xlabel(msg.t("health.charts.lift.xlabel"))
    ax.set_ylabel(msg.t("health.charts.lift.ylabel"))
    ax.legend(title=None)
    return ax


def tier_churn_bars(
    table: pd.DataFrame, *, labels: TierLabels, ax: plt.Axes | None = None, msg: Messages | None = None
) -> plt.Axes:
    """Churn rate per tier for each model (review.tier_table with group "model", tier codes), tiers as labels."""
    msg = _msg(msg)
    ax = new_ax(ax, figsize=(9, 4))
    df = table.assign(tier=labels.apply(table["tier"].astype("string")).astype(str), model=_coded(table["model"], msg))
    sns.barplot(
        df, x="model", y="churn_rate", hue="tier", hue_order=labels.order(), palette=tier_palette(labels), ax=ax
    )
    for cont in ax.containers:
        ax.bar_label(cont, labels=[fmt_pct(v.get_height(), digits=0) for v in cont], fontsize=8)
    pct_axis(ax)
    first = table["model"].iloc[0]
    part = table[table["model"] == first]
    cal = pd.Series(part["churn_rate"].to_numpy(), index=part["tier"].astype(str).to_numpy())
    ratio = cal.get("bad", np.nan) / cal.get("good", np.nan) if cal.get("good", 0) else np.nan
    ax.set_title(
        msg.t(
            "health.charts.tier_churn.title",
            model=msg.code(first),
            bad=labels.bad,
            good=labels.good,
            ratio=f"{ratio:.1f}",
        )
        if ratio == ratio
        else msg.t("health.charts.tier_churn.plain")
    )
    ax.set_xlabel("")
    ax.set_ylabel(msg.t("health.charts.tier_churn.ylabel"))
    ax.legend(title=msg.t("health.charts.tier_churn.legend"))
    return ax


def migration_heatmap(
    matrix: pd.DataFrame,
    *,
    before: str,
    after: str,
    labels: TierLabels,
    ax: plt.Axes | None = None,
    msg: Messages | None = None,
) -> plt.Axes:
    """Accounts by tier at `before` (rows) and `after` (columns) (review.migration_matrix, codes), tiers as labels.

    `before` and `after` are the dates as the page shows them; rows and columns that are not tiers (new
    customers, those gone) are shown as the catalog's codes.
    """
    msg = _msg(msg)
    ax = new_ax(ax, figsize=(7.5, 4.5))
    tiers = [t for t in matrix.index if t in matrix.columns]
    moved = int(matrix.loc[tiers, tiers].to_numpy().sum() - np.trace(matrix.loc[tiers, tiers].to_numpy()))
    shown = _labelled(matrix, labels).rename(index=msg.code, columns=msg.code)
    shown.index.name, shown.columns.name = None, None
    sns.heatmap(shown, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set_title(msg.t("health.charts.migration.title", moved=moved, before=before, after=after))
    ax.set_xlabel(msg.t("health.charts.migration.xlabel", after=after))
    ax.set_ylabel(msg.t("health.charts.migration.ylabel", before=before))
    return ax


def score_histogram(
    accounts: pd.DataFrame,
    *,
    thresholds: TierThresholds,
    labels: TierLabels,
    ax: plt.Axes | None = None,
    msg: Messages | None = None,
) -> plt.Axes:
    """Today's scores by tier (health_score, health_tier codes), with the tier thresholds of the scorer in use."""
    msg = _msg(msg)
    ax = new_ax(ax, figsize=(9, 4))
    df = accounts.assign(health_tier=labels.apply(accounts["health_tier"].astype("string")).astype(str))
    sns.histplot(
        df,
        x="health_score",
        hue="health_tier",
        hue_order=labels.order(),
        palette=tier_palette(labels),
        bins=np.arange(0, 102.5, 2.5),
        multiple="stack",
        ax=ax,
    )
    for t in (thresholds.bad_below, thresholds.good_from):
        ax.axvline(t, color="black", ls="--", lw=1)
    legend = ax.get_legend()
    if legend is not None:
        legend.set_title(msg.t("health.charts.histogram.legend"))
    counts = accounts["health_tier"].astype(str).value_counts()
    each = [msg.t("health.charts.histogram.count", count=f"{counts.get(t, 0):,}", label=labels.label(t)) for t in TIERS]
    ax.set_title(
        msg.t("health.charts.histogram.title", counts="、".join(each) if msg.lang == "ja" else ", ".join(each))
    )
    ax.set_xlabel(msg.t("health.charts.histogram.xlabel"))
    ax.set_ylabel(msg.t("health.charts.histogram.ylabel"))
    return ax


def promotion_heatmap(
    matrix: pd.DataFrame,
    arr_matrix: pd.DataFrame,
    *,
    in_use: str,
    candidate: str,
    currency: str,
    labels: TierLabels,
    ax: plt.Axes | None = None,
    msg: Messages | None = None,
) -> plt.Axes:
    """Today's accounts by tier in use (rows) and candidate tier (columns), with their ARR (review.promotion_impact)."""
    msg = _msg(msg)
    fmt = Formatter(msg.lang, currency)
    ax = new_ax(ax, figsize=(7.5, 4.5))
    annot = matrix.astype(int).astype(str) + "\n" + arr_matrix.map(fmt.money)
    shown = _labelled(matrix, labels)
    shown.index.name, shown.columns.name = None, None
    sns.heatmap(shown, annot=annot.to_numpy(), fmt="", cmap="Blues", cbar=False, ax=ax)
    moved = int(matrix.to_numpy().sum() - np.trace(matrix.to_numpy()))
    arr_moved = float(arr_matrix.to_numpy().sum() - np.trace(arr_matrix.to_numpy()))
    ax.set_title(
        msg.t("health.charts.promotion.title", candidate=candidate, moved=f"{moved:,}", arr=fmt.money(arr_moved))
    )
    ax.set_xlabel(msg.t("health.charts.promotion.xlabel", candidate=candidate))
    ax.set_ylabel(msg.t("health.charts.promotion.ylabel", in_use=in_use))
    return ax


def segment_auc(figures: pd.DataFrame, *, ax: plt.Axes | None = None, msg: Messages | None = None) -> plt.Axes:
    """Out-of-time AUC per segment and model with intervals (health_review.segment_figures)."""
    msg = _msg(msg)
    ax = new_ax(ax, figsize=(9, 4))
    segs = _auc_intervals(figures, "segment", ax, msg)
    n = figures.groupby("segment", sort=False)["n"].first().reindex(segs)
    ticks = [
        msg.t("health.charts.segment_auc.tick", segment=msg.code(s), n=f"{int(k):,}")
        for s, k in zip(segs, n, strict=True)
    ]
    ax.set_xticks(np.arange(len(segs)), ticks)
    ax.set_title(msg.t("health.charts.segment_auc.title"))
    ax.set_xlabel(msg.t("health.charts.segment_auc.xlabel"))
    return ax
