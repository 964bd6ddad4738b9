"""A logistic scorecard: fit an outcome on standardized measures, then score accounts 0-100 with tiers.

Generic, not churn-specific: `fit_logistic(frame, outcome="churned", measures=[...])` fits any
yes/no outcome (churn, expansion, PoC won) with statsmodels. The steps, each reported:

1. Transform: fat-tailed measures (skewness above a threshold) get log1p, all are clipped to the
   training 1st-99th percentiles (outliers), missing values get the training median (a missing
   measure counts as average), then standardized (mean 0, sd 1). Text measures become 0/1 columns
   against their most frequent value.
2. Group: measures that move together (|correlation| above a threshold, signs aligned to their
   relation with the outcome) become one term, their average, so the fitted weights are stable.
3. Fit: logistic regression with confidence intervals; L1 or L2 regularization on request.
   Too few events, a constant measure, collinear measures or perfect separation give a warning
   and a fallback (fewer terms, a ridge fit, or the base rate alone), never a crash.
4. Scale: score = anchor - points_to_double_odds / ln 2 x (log-odds - log-odds at the base rate),
   clipped to 0-100 (higher = healthier): every `points_to_double_odds` points halve the odds.

The result is a `Scorecard` (`scorecard_model`, importable from here too), a pydantic model saved as
YAML and loaded back for scoring.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    HessianInversionWarning,
    PerfectSeparationError,
    PerfectSeparationWarning,
)

from cs_playbook.errors import CsPlaybookError
from cs_playbook.modeling.evaluation import roc_auc
from cs_playbook.modeling.scorecard import (
    LN2,
    MeasureScaling,
    Scorecard,
    Term,
    TierLabels,
    TierThresholds,
    assign_tiers,
    load_scorecard,
)

__all__ = [
    "fit_logistic",
    "fit_one_variable",
    "prepare_measure",
    "correlation_groups",
    # the fitted artefact, defined in scorecard_model and importable from here
    "Scorecard",
    "MeasureScaling",
    "Term",
    "TierLabels",
    "TierThresholds",
    "assign_tiers",
    "load_scorecard",
]

# What a logistic fit raises on degenerate data (collinear, separated, not converging).
FIT_ERRORS = (
    np.linalg.LinAlgError,
    ConvergenceWarning,
    HessianInversionWarning,
    PerfectSeparationWarning,
    PerfectSeparationError,
    ValueError,
)


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


def _fit(
    y: np.ndarray, x: pd.DataFrame, method: str, strength: float, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Intercept + coefficients, interval bounds and p-values; raises on numerical failure."""
    xc = sm.add_constant(x.to_numpy(dtype="float64"), has_constant="add")
    alpha = 1 - level
    if method == "none":
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            warnings.simplefilter("error", HessianInversionWarning)
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            res = sm.Logit(y, xc).fit(disp=0, maxiter=200)
        params = np.asarray(res.params)
        if not res.mle_retvals.get("converged", True) or np.abs(params[1:]).max(initial=0) > 10:
            raise np.linalg.LinAlgError("perfect separation")
        ci = np.asarray(res.conf_int(alpha=alpha))
        return params, ci[:, 0], ci[:, 1], np.asarray(res.pvalues)
    penalty = np.r_[0.0, np.full(x.shape[1], strength)]
    if method == "l1":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.Logit(y, xc).fit_regularized(method="l1", alpha=penalty, disp=0, trim_mode="size")
        ci = np.asarray(res.conf_int(alpha=alpha))
        return np.asarray(res.params), ci[:, 0], ci[:, 1], np.asarray(res.pvalues)
    # l2 (ridge): statsmodels' elastic net minimizes -loglike/n + alpha/2 |b|^2; intervals from the penalized Hessian
    n = len(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.GLM(y, xc, family=sm.families.Binomial()).fit_regularized(alpha=penalty / n, L1_wt=0.0)
    params = np.asarray(res.params)
    p = 1 / (1 + np.exp(-(xc @ params)))
    hess = (xc * (p * (1 - p))[:, None]).T @ xc + np.diag(penalty)
    se = np.sqrt(np.diag(np.linalg.pinv(hess)))
    z = stats.norm.ppf(1 - alpha / 2)
    pv = 2 * stats.norm.sf(np.abs(params / np.where(se > 0, se, np.nan)))
    return params, params - z * se, params + z * se, pv


def fit_one_variable(score: Any, outcome: Any) -> tuple[float, float]:
    """Intercept and slope of a one-variable logistic calibration of a score (probability = sigmoid(a + b score))."""
    s = np.asarray(score, dtype="float64")
    y = np.asarray(outcome, dtype="float64")
    ok = ~np.isnan(s) & ~np.isnan(y)
    s, y = s[ok], y[ok]
    if len(y) == 0 or y.sum() == 0 or y.sum() == len(y):
        rate = float(np.clip(y.mean() if len(y) else 0.5, 1e-4, 1 - 1e-4))
        return math.log(rate / (1 - rate)), 0.0
    mu, sd = s.mean(), s.std() or 1.0
    x = pd.DataFrame({"s": (s - mu) / sd})
    try:
        params, *_ = _fit(y, x, "none", 0.0, 0.95)
    except FIT_ERRORS:
        params, *_ = _fit(y, x, "l2", 1.0, 0.95)
    slope = params[1] / sd
    return float(params[0] - slope * mu), float(slope)


def fit_logistic(
    frame: pd.DataFrame,
    *,
    outcome: str,
    measures: list[str],
    transforms: dict[str, str] | None = None,
    skew_threshold: float = 2.0,
    clip_quantiles: tuple[float, float] = (0.01, 0.99),
    correlation_threshold: float | None = 0.7,
    regularization: str = "none",
    strength: float = 1.0,
    min_events: int = 20,
    events_per_term: float = 10.0,
    event_key: list[str] | None = None,
    drop_sign_flips: bool = True,
    ci_level: float = 0.95,
    points_to_double_odds: float | None = None,
    anchor_score: float = 50.0,
    labels: dict[str, str] | None = None,
    name: str = "calibrated",
) -> Scorecard:
    """Fit `outcome` (0/1; rows where it is missing are left out) on `measures` and return the scorecard.

    Any outcome works (churn, expansion, ...). `event_key` names the columns that identify one
    event when observations repeat (e.g. account_id and window_end for monthly observations of one
    renewal): the events-per-term rule then counts events, not rows. The scorecard's `warnings`
    list every fallback taken; `fallback` is set when no measure could be fitted (it then predicts
    the base rate). Text measures (e.g. segment) become 0/1 columns and are exempt from sign checks.
    """
    if regularization not in ("none", "l1", "l2"):
        raise CsPlaybookError(f"regularization must be none, l1 or l2 (got {regularization!r})")
    missing = [m for m in measures if m not in frame.columns]
    if missing:
        raise CsPlaybookError(f"fit_logistic: measures not in the observations: {', '.join(missing)}")
    data = frame[frame[outcome].notna()]
    y = data[outcome].to_numpy(dtype="float64")
    notes: list[str] = []
    n_events = int(data.loc[y == 1, event_key].drop_duplicates().shape[0]) if event_key else int(y.sum())
    rate = float(np.clip(y.mean() if len(y) else 0.5, 1e-4, 1 - 1e-4))
    base = {
        "outcome": outcome,
        "base_rate": rate,
        "anchor_score": anchor_score,
        "anchor_log_odds": math.log(rate / (1 - rate)),
        "labels": labels or {},
        "name": name,
        "fitting": {"rows": int(len(y)), "events": n_events, "event_rows": int(y.sum()), "method": regularization},
    }

    def base_rate_only(reason: str) -> Scorecard:
        return Scorecard(
            intercept=base["anchor_log_odds"],
            fallback=reason,
            warnings=[*notes, reason],
            points_to_double_odds=points_to_double_odds or 20.0,
            **base,
        )

    if len(y) == 0 or y.sum() in (0, len(y)):
        return base_rate_only(
            f"{outcome}: the observations hold {'no' if y.sum() == 0 else 'only'} events; no model can be fitted."
        )
    if n_events < min_events:
        return base_rate_only(
            f"Only {n_events} {outcome} events (at least {min_events} needed): the scorecard falls back to the base rate."
        )

    def readable(key: str) -> str:
        """A measure, measure=category or group name in the words of `labels`."""
        if key.startswith("group: "):
            return " + ".join(readable(k) for k in key.removeprefix("group: ").split(" + "))
        measure, _, category = key.partition("=")
        return (labels or {}).get(measure, measure) + (f" ({category})" if category else "")

    # 1. inputs
    specs: dict[str, MeasureScaling] = {}
    empty, constant = [], []
    for m in measures:
        col = data[m]
        if col.isna().all():
            empty.append(readable(m))
            continue
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            levels = col.astype("string").value_counts()
            for level in levels.index[1:]:
                if levels[level] >= 0.01 * len(col):
                    spec = MeasureScaling(measure=m, category=str(level))
                    v = spec.standardize(col)
                    if v.std() > 1e-9:
                        specs[spec.key] = spec.model_copy(update={"mean": float(v.mean()), "sd": float(v.std())})
            if len(levels) < 2:
                constant.append(readable(m))
            continue
        spec = prepare_measure(
            col.astype("float64"),
            transform=(transforms or {}).get(m, "auto"),
            skew_threshold=skew_threshold,
            clip_quantiles=clip_quantiles,
        )
        if spec is None:
            constant.append(readable(m))
            continue
        specs[spec.key] = spec
    if empty:
        notes.append(f"No values in the training data, left out: {', '.join(empty)}.")
    if constant:
        notes.append(f"The same value for every observation (constant), left out: {', '.join(constant)}.")
    if not specs:
        return base_rate_only("No measure varies in the training data: the scorecard falls back to the base rate.")
    z = pd.DataFrame({k: s.standardize(data[s.measure]) for k, s in specs.items()}, index=data.index)
    strength_of = {k: roc_auc(y, z[k]) for k in z.columns}
    direction = {k: (1 if (a if not np.isnan(a) else 0.5) >= 0.5 else -1) for k, a in strength_of.items()}

    # 2. groups of correlated numeric measures
    numeric = [k for k in z.columns if specs[k].category is None]
    groups = (
        correlation_groups(z[numeric], direction, threshold=correlation_threshold)
        if correlation_threshold
        else [[k] for k in numeric]
    )
    groups += [[k] for k in z.columns if specs[k].category is not None]

    def term_of(members: list[str]) -> tuple[str, list[int], np.ndarray]:
        dirs = [direction[k] for k in members] if len(members) > 1 else [1]
        avg = sum(d * z[k].to_numpy() for k, d in zip(members, dirs, strict=True)) / len(members)
        title = members[0] if len(members) == 1 else "group: " + " + ".join(members)
        return title, dirs, avg

    terms = []
    for members in groups:
        title, dirs, avg = term_of(members)
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
        grouped = [readable(t["name"]) for t in terms if len(t["inputs"]) > 1]
        notes.append(f"Correlated measures averaged into one term each: {'; '.join(grouped)}.")

    # 3. events per term
    cap = max(1, int(n_events // events_per_term))
    if len(terms) > cap:
        terms.sort(key=lambda t: -t["strength"])
        dropped = [readable(t["name"]) for t in terms[cap:]]
        terms = terms[:cap]
        notes.append(
            f"{n_events} events allow about {cap} terms ({events_per_term:g} events per term): kept the strongest, "
            f"left out {', '.join(dropped)}."
        )

    # 4. fit, dropping sign flips, with fallbacks
    method = regularization
    while True:
        x = pd.DataFrame({t["name"]: t["values"] for t in terms}, index=data.index)
        try:
            params, lo, hi, pv = _fit(y, x, method, strength, ci_level)
        except FIT_ERRORS as err:
            if method == "l2":
                return base_rate_only(f"The logistic fit failed even with a ridge penalty ({err}): base rate only.")
            worst = x.columns[int(np.argmax(np.abs(x.corrwith(pd.Series(y, index=x.index)).fillna(0).to_numpy())))]
            notes.append(
                f"The unpenalized fit failed ({'perfect separation' if 'separation' in str(err) else err}; "
                f"strongest single measure: {readable(worst)}): refitted with a ridge (L2) penalty of strength {strength:g}."
            )
            method = "l2"
            continue
        flips = [
            i
            for i, t in enumerate(terms)
            if drop_sign_flips
            and not t["categorical"]
            and np.sign(params[i + 1]) * t["expected_sign"] < 0
            and len(terms) > 1
        ]
        if not flips:
            break
        weakest = min(flips, key=lambda i: terms[i]["strength"])
        notes.append(
            f"{readable(terms[weakest]['name'])}: its fitted weight has the opposite sign to its own relation with "
            f"{outcome} (given the other measures it only corrects them), so it was left out and the model refitted."
        )
        terms.pop(weakest)

    fitted_terms = [
        Term(
            name=t["name"],
            inputs=t["inputs"],
            directions=t["directions"],
            mean=t["mean"],
            sd=t["sd"],
            coef=float(params[i + 1]),
            ci_lo=float(lo[i + 1]) if np.isfinite(lo[i + 1]) else None,
            ci_hi=float(hi[i + 1]) if np.isfinite(hi[i + 1]) else None,
            p_value=float(pv[i + 1]) if np.isfinite(pv[i + 1]) else None,
        )
        for i, t in enumerate(terms)
        if not (method == "l1" and params[i + 1] == 0)
    ]
    used = {k for t in fitted_terms for k in t.inputs}
    eta = params[0] + x.to_numpy() @ params[1:]
    if points_to_double_odds is None:
        spread = float(np.subtract(*np.quantile(eta, [0.99, 0.01])))
        points_to_double_odds = float(max(1.0, round(90 * LN2 / spread))) if spread > 0 else 20.0
    base["fitting"]["method"] = method
    base["fitting"]["terms"] = len(fitted_terms)
    return Scorecard(
        intercept=float(params[0]),
        inputs=[s for k, s in specs.items() if k in used],
        terms=fitted_terms,
        points_to_double_odds=points_to_double_odds,
        warnings=notes,
        **base,
    )
