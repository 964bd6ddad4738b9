"""Review measures before fitting a score: quality (coverage, outliers), relation with an outcome, correlation.

Generic: works on any observations table (measures.account_measures plus a 0/1 outcome column),
for churn as for expansion. The health notebook shows these tables so an analyst sees which
measures are usable, which move with the outcome (rate by decile cohort) and which move together.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cs_playbook.data.measure_catalog import measure_label
from cs_playbook.modeling.evaluation import roc_auc
from cs_playbook.modeling.logistic import correlation_groups, prepare_measure

__all__ = ["measure_quality", "univariate_strength", "decile_rates", "correlation_matrix", "measure_groups"]


def _numeric(frame: pd.DataFrame, measures: list[str]) -> list[str]:
    return [m for m in measures if m in frame.columns and pd.api.types.is_numeric_dtype(frame[m])]


def measure_quality(frame: pd.DataFrame, measures: list[str]) -> pd.DataFrame:
    """Coverage and distribution of each numeric measure, with the share of far outliers.

    Returns measure, label, coverage (share of rows with a value), zero_share, p01, median, p99,
    max, skew, outlier_share (values beyond 3 inter-quartile ranges from the quartiles), fat_tailed
    (skewness above 2: gets a log transform in the fit).
    """
    rows = []
    for m in _numeric(frame, measures):
        v = frame[m].to_numpy(dtype="float64")
        ok = v[~np.isnan(v)]
        row = {"measure": m, "label": measure_label(m), "coverage": len(ok) / len(v) if len(v) else np.nan}
        if len(ok):
            q1, q3 = np.quantile(ok, [0.25, 0.75])
            iqr = q3 - q1
            far = (ok < q1 - 3 * iqr) | (ok > q3 + 3 * iqr) if iqr > 0 else np.zeros(len(ok), dtype=bool)
            skew = float(stats.skew(ok)) if np.ptp(ok) > 0 else 0.0
            row |= {
                "zero_share": float((ok == 0).mean()),
                "p01": float(np.quantile(ok, 0.01)),
                "median": float(np.median(ok)),
                "p99": float(np.quantile(ok, 0.99)),
                "max": float(ok.max()),
                "skew": skew,
                "outlier_share": float(far.mean()),
                "fat_tailed": bool(skew > 2 and ok.min() >= -1),
            }
        rows.append(row)
    cols = [
        "measure",
        "label",
        "coverage",
        "zero_share",
        "p01",
        "median",
        "p99",
        "max",
        "skew",
        "outlier_share",
        "fat_tailed",
    ]
    return pd.DataFrame(rows).reindex(columns=cols)


def univariate_strength(
    frame: pd.DataFrame, measures: list[str], *, outcome: str, event: str | None = None
) -> pd.DataFrame:
    """How each measure alone separates the outcome, strongest first.

    Returns measure, label, coverage, auc (rows with a value; 0.5 = no relation, below 0.5 when
    lower values go with the outcome), separation (max(auc, 1 - auc)), strength (|auc - 0.5| x 2,
    from 0 to 1), direction ("higher values, more <event>" or "lower values, more <event>"; event
    defaults to the outcome column's name), rate_present and rate_missing (outcome rate with and
    without a value).
    """
    event = event or outcome
    known = frame[frame[outcome].notna()]
    y = known[outcome].to_numpy(dtype="float64")
    rows = []
    for m in _numeric(known, measures):
        v = known[m].to_numpy(dtype="float64")
        has = ~np.isnan(v)
        auc = roc_auc(y[has], v[has]) if has.any() else np.nan
        rows.append(
            {
                "measure": m,
                "label": measure_label(m),
                "coverage": float(has.mean()) if len(has) else np.nan,
                "auc": auc,
                "separation": max(auc, 1 - auc) if not np.isnan(auc) else np.nan,
                "strength": abs(auc - 0.5) * 2 if not np.isnan(auc) else np.nan,
                "direction": f"{'higher' if auc >= 0.5 else 'lower'} values, more {event}",
                "rate_present": float(y[has].mean()) if has.any() else np.nan,
                "rate_missing": float(y[~has].mean()) if (~has).any() else np.nan,
            }
        )
    out = pd.DataFrame(rows)
    return out.sort_values("strength", ascending=False, na_position="last").reset_index(drop=True) if len(out) else out


def decile_rates(frame: pd.DataFrame, measures: list[str], *, outcome: str, bins: int = 10) -> pd.DataFrame:
    """Outcome rate per decile cohort of each measure: the relation an analyst can see.

    Rows with a missing value form their own cohort (bin 0, cohort "n/a"). A measure with few
    distinct values gets one cohort per value (cohort = the value). Returns measure, label, bin,
    cohort, lo, hi, n, events, rate, all rows of one measure in order of value.
    """
    known = frame[frame[outcome].notna()]
    pieces = []
    for m in _numeric(known, measures):
        v = known[m].astype("float64")
        y = known[outcome].astype("float64")
        has = v.notna()
        discrete = v[has].nunique() <= bins
        if discrete:
            codes = v[has].rank(method="dense").astype("int64")
        else:
            codes = pd.qcut(v[has].rank(method="first"), bins, labels=False).astype("int64") + 1
        df = pd.DataFrame({"bin": codes, "v": v[has], "y": y[has]})
        g = df.groupby("bin").agg(lo=("v", "min"), hi=("v", "max"), n=("y", "size"), events=("y", "sum")).reset_index()
        if (~has).any():
            miss = pd.DataFrame(
                {"bin": [0], "lo": [np.nan], "hi": [np.nan], "n": [int((~has).sum())], "events": [float(y[~has].sum())]}
            )
            g = pd.concat([miss, g], ignore_index=True)
        g["rate"] = g["events"] / g["n"]
        g["cohort"] = [
            "n/a" if b == 0 else (f"{lo:g}" if discrete else str(int(b)))
            for b, lo in zip(g["bin"], g["lo"], strict=True)
        ]
        g.insert(0, "label", measure_label(m))
        g.insert(0, "measure", m)
        pieces.append(g)
    cols = ["measure", "label", "bin", "cohort", "lo", "hi", "n", "events", "rate"]
    return pd.concat(pieces, ignore_index=True)[cols] if pieces else pd.DataFrame(columns=cols)


def correlation_matrix(frame: pd.DataFrame, measures: list[str]) -> pd.DataFrame:
    """Spearman rank correlation between numeric measures (pairwise complete rows), indexed by measure."""
    cols = _numeric(frame, measures)
    return frame[cols].astype("float64").corr(method="spearman")


def measure_groups(frame: pd.DataFrame, measures: list[str], *, outcome: str, threshold: float) -> pd.DataFrame:
    """Groups of measures that move together, as the fit forms them (transformed, aligned with the outcome).

    Returns measure, label, group (1, 2, ... by group size), group_size, members (the group's
    measures joined by " + ") and members_label (their readable names).
    """
    known = frame[frame[outcome].notna()]
    y = known[outcome].to_numpy(dtype="float64")
    z, direction = {}, {}
    for m in _numeric(known, measures):
        spec = prepare_measure(known[m].astype("float64"))
        if spec is None:
            continue
        z[m] = spec.standardize(known[m])
        auc = roc_auc(y, z[m])
        direction[m] = 1 if np.isnan(auc) or auc >= 0.5 else -1
    if not z:
        return pd.DataFrame(columns=["measure", "label", "group", "group_size", "members", "members_label"])
    groups = correlation_groups(pd.DataFrame(z, index=known.index), direction, threshold=threshold)
    groups = sorted(groups, key=lambda g: (-len(g), g[0]))
    rows = [
        {
            "measure": m,
            "label": measure_label(m),
            "group": i + 1,
            "group_size": len(g),
            "members": " + ".join(g),
            "members_label": " + ".join(measure_label(x) for x in g),
        }
        for i, g in enumerate(groups)
        for m in g
    ]
    return pd.DataFrame(rows)
