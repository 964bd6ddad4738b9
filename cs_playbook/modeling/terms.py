"""From measures to model terms: the scaling of each measure, text levels, groups of correlated measures.

Steps 1 and 2 of `logistic.fit_logistic`, usable alone (the measure review charts the same
scalings and groups): fat-tailed measures get log1p, all are clipped to the training 1st-99th
percentiles and standardized; text measures become 0/1 columns against their most frequent
value; measures that move together become one term, their sign-aligned average.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from cs_playbook.errors import CsPlaybookError
from cs_playbook.modeling.evaluation import roc_auc
from cs_playbook.modeling.scorecard import MeasureScaling

__all__ = ["prepare_measure", "correlation_groups", "term_label", "prepare_inputs", "group_terms", "cap_terms"]


def prepare_measure(
    values: pd.Series,
    *,
    transform: str = "auto",
    skew_threshold: float = 2.0,
    clip_quantiles: tuple[float, float] = (0.01, 0.99),
) -> MeasureScaling | None:
    """The scaling of one numeric measure learnt from training values; None when it has no variation.

    transform "auto" takes log1p when values are >= -1 (counts, amounts, relative changes) and the
    skewness is above `skew_threshold`.
    """
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    ok = v[~np.isnan(v)]
    if len(ok) < 2 or np.ptp(ok) == 0:
        return None
    if transform == "auto":
        transform = "log1p" if ok.min() >= -1 and stats.skew(ok) > skew_threshold else "none"
    if transform not in ("none", "log1p"):
        raise CsPlaybookError(f"transform of {values.name!r} must be auto, none or log1p (got {transform!r})")
    t = np.log1p(np.maximum(ok, -0.99)) if transform == "log1p" else ok
    lo, hi = np.quantile(t, clip_quantiles)
    t = np.clip(t, lo, hi)
    fill = float(np.median(t))
    full = np.where(np.isnan(v), fill, np.clip(np.log1p(np.maximum(v, -0.99)) if transform == "log1p" else v, lo, hi))
    sd = float(full.std())
    if not np.isfinite(sd) or sd < 1e-9:
        return None
    return MeasureScaling(
        measure=str(values.name),
        transform=transform,
        clip_lo=float(lo),
        clip_hi=float(hi),
        fill=fill,
        mean=float(full.mean()),
        sd=sd,
    )


def correlation_groups(z: pd.DataFrame, directions: dict[str, int], *, threshold: float) -> list[list[str]]:
    """Columns whose outcome-aligned correlation exceeds `threshold`, grouped (average linkage); singletons too."""
    cols = list(z.columns)
    if len(cols) < 2 or threshold >= 1:
        return [[c] for c in cols]
    aligned = z * pd.Series({c: directions.get(c, 1) for c in cols})
    corr = aligned.corr().fillna(0.0).to_numpy()
    dist = np.clip(1 - corr, 0, 2)
    np.fill_diagonal(dist, 0)
    link = hierarchy.linkage(squareform(dist, checks=False), method="average")
    labels = hierarchy.fcluster(link, t=1 - threshold, criterion="distance")
    groups: dict[int, list[str]] = {}
    for c, lab in zip(cols, labels, strict=True):
        groups.setdefault(int(lab), []).append(c)
    return list(groups.values())


def term_label(key: str, labels: dict[str, str] | None) -> str:
    """A measure, measure=category or group name in the words of `labels`."""
    if key.startswith("group: "):
        return " + ".join(term_label(k, labels) for k in key.removeprefix("group: ").split(" + "))
    measure, _, category = key.partition("=")
    return (labels or {}).get(measure, measure) + (f" ({category})" if category else "")


def _categorical_specs(col: pd.Series, m: str) -> tuple[dict[str, MeasureScaling], bool]:
    """0/1 columns of a text measure against its most frequent value (levels under 1% left out); True if constant."""
    specs = {}
    levels = col.astype("string").value_counts()
    for level in levels.index[1:]:
        if levels[level] >= 0.01 * len(col):
            spec = MeasureScaling(measure=m, category=str(level))
            v = spec.standardize(col)
            if v.std() > 1e-9:
                specs[spec.key] = spec.model_copy(update={"mean": float(v.mean()), "sd": float(v.std())})
    return specs, len(levels) < 2


def prepare_inputs(
    data: pd.DataFrame,
    measures: list[str],
    *,
    transforms: dict[str, str] | None,
    skew_threshold: float,
    clip_quantiles: tuple[float, float],
    labels: dict[str, str] | None,
    notes: list[str],
) -> dict[str, MeasureScaling]:
    """Step 1: the scaling of every usable measure (key -> scaling); empty and constant ones noted and left out."""
    specs: dict[str, MeasureScaling] = {}
    empty, constant = [], []
    for m in measures:
        col = data[m]
        if col.isna().all():
            empty.append(term_label(m, labels))
            continue
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            levels, is_constant = _categorical_specs(col, m)
            specs.update(levels)
            if is_constant:
                constant.append(term_label(m, labels))
            continue
        spec = prepare_measure(
            col.astype("float64"),
            transform=(transforms or {}).get(m, "auto"),
            skew_threshold=skew_threshold,
            clip_quantiles=clip_quantiles,
        )
        if spec is None:
            constant.append(term_label(m, labels))
            continue
        specs[spec.key] = spec
    if empty:
        notes.append(f"No values in the training data, left out: {', '.join(empty)}.")
    if constant:
        notes.append(f"The same value for every observation (constant), left out: {', '.join(constant)}.")
    return specs


def group_terms(
    z: pd.DataFrame,
    y: np.ndarray,
    specs: dict[str, MeasureScaling],
    *,
    correlation_threshold: float | None,
    labels: dict[str, str] | None,
    notes: list[str],
) -> list[dict[str, Any]]:
    """Step 2: one candidate term per group of correlated numeric measures (their sign-aligned average) or level."""
    strength_of = {k: roc_auc(y, z[k]) for k in z.columns}
    direction = {k: (1 if (a if not np.isnan(a) else 0.5) >= 0.5 else -1) for k, a in strength_of.items()}
    numeric = [k for k in z.columns if specs[k].category is None]
    groups = (
        correlation_groups(z[numeric], direction, threshold=correlation_threshold)
        if correlation_threshold
        else [[k] for k in numeric]
    )
    groups += [[k] for k in z.columns if specs[k].category is not None]
    terms = []
    for members in groups:
        dirs = [direction[k] for k in members] if len(members) > 1 else [1]
        avg = sum(d * z[k].to_numpy() for k, d in zip(members, dirs, strict=True)) / len(members)
        title = members[0] if len(members) == 1 else "group: " + " + ".join(members)
        sd = float(avg.std())
        if sd < 1e-9:
            continue
        terms.append(
            {
                "name": title,
                "inputs": members,
                "directions": dirs,
                "mean": float(avg.mean()),
                "sd": sd,
                "values": (avg - avg.mean()) / sd,
            }
        )
    for t in terms:
        a = roc_auc(y, t["values"])
        t["strength"] = abs((a if not np.isnan(a) else 0.5) - 0.5)
        t["expected_sign"] = 1 if len(t["inputs"]) > 1 else direction[t["inputs"][0]]
        t["categorical"] = specs[t["inputs"][0]].category is not None
    if any(len(t["inputs"]) > 1 for t in terms):
        grouped = [term_label(t["name"], labels) for t in terms if len(t["inputs"]) > 1]
        notes.append(f"Correlated measures averaged into one term each: {'; '.join(grouped)}.")
    return terms


def cap_terms(
    terms: list[dict[str, Any]], n_events: int, events_per_term: float, labels: dict[str, str] | None, notes: list[str]
) -> list[dict[str, Any]]:
    """Step 3: at most one term per `events_per_term` events, the strongest kept."""
    cap = max(1, int(n_events // events_per_term))
    if len(terms) <= cap:
        return terms
    terms.sort(key=lambda t: -t["strength"])
    dropped = [term_label(t["name"], labels) for t in terms[cap:]]
    notes.append(
        f"{n_events} events allow about {cap} terms ({events_per_term:g} events per term): kept the strongest, "
        f"left out {', '.join(dropped)}."
    )
    return terms[:cap]
