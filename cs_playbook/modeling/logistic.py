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

Steps 1 and 2 live in `modeling.terms`; the result is a `Scorecard` (`modeling.scorecard`, importable
from here too), a pydantic model saved as YAML and loaded back for scoring.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.discrete.discrete_model import Logit
from statsmodels.genmod.families import Binomial
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    HessianInversionWarning,
    PerfectSeparationError,
    PerfectSeparationWarning,
)
from statsmodels.tools.tools import add_constant

from cs_playbook.errors import CsPlaybookError
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
from cs_playbook.modeling.terms import (
    cap_terms,
    correlation_groups,
    group_terms,
    prepare_inputs,
    prepare_measure,
    term_label,
)

__all__ = [
    "fit_logistic",
    "fit_one_variable",
    "prepare_measure",
    "correlation_groups",
    # the fitted artefact, defined in modeling.scorecard and importable from here
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


def _fit(
    y: np.ndarray, x: pd.DataFrame, method: str, strength: float, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Intercept + coefficients, interval bounds and p-values; raises on numerical failure."""
    xc = add_constant(x.to_numpy(dtype="float64"), has_constant="add")
    alpha = 1 - level
    if method == "none":
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            warnings.simplefilter("error", HessianInversionWarning)
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            # check_rank=False: the rank only sets df_model / df_resid, which no figure here uses (the QR
            # decomposition of the full design it costs was most of the fit's time)
            res = Logit(y, xc, check_rank=False).fit(disp=0, maxiter=200)
        params = np.asarray(res.params)
        if not res.mle_retvals.get("converged", True) or np.abs(params[1:]).max(initial=0) > 10:
            raise np.linalg.LinAlgError("perfect separation")
        ci = np.asarray(res.conf_int(alpha=alpha))
        return params, ci[:, 0], ci[:, 1], np.asarray(res.pvalues)
    penalty = np.r_[0.0, np.full(x.shape[1], strength)]
    if method == "l1":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = Logit(y, xc, check_rank=False).fit_regularized(method="l1", alpha=penalty, disp=0, trim_mode="size")
        ci = np.asarray(res.conf_int(alpha=alpha))
        return np.asarray(res.params), ci[:, 0], ci[:, 1], np.asarray(res.pvalues)
    # l2 (ridge): statsmodels' elastic net minimizes -loglike/n + alpha/2 |b|^2; intervals from the penalized Hessian
    n = len(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = GLM(y, xc, family=Binomial()).fit_regularized(alpha=penalty / n, L1_wt=0.0)
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


def _base_rate_only(base: dict[str, Any], notes: list[str], reason: str, points: float | None) -> Scorecard:
    """The fallback scorecard: no terms, it predicts the base rate and says why."""
    return Scorecard(
        intercept=base["anchor_log_odds"],
        fallback=reason,
        warnings=[*notes, reason],
        points_to_double_odds=points or 20.0,
        **base,
    )


def _fit_with_fallbacks(
    y: np.ndarray,
    terms: list[dict[str, Any]],
    index: pd.Index,
    *,
    method: str,
    strength: float,
    ci_level: float,
    drop_sign_flips: bool,
    outcome: str,
    labels: dict[str, str] | None,
    notes: list[str],
) -> tuple[str, pd.DataFrame, tuple[np.ndarray, ...]] | str:
    """Step 4: fit the terms, refitting with a ridge penalty on failure and without sign flips.

    Returns (method used, design matrix, (params, lo, hi, p-values)), or the reason when even the
    ridge fit fails. `terms` loses the sign-flipped terms in place.
    """
    while True:
        x = pd.DataFrame({t["name"]: t["values"] for t in terms}, index=index)
        try:
            params, lo, hi, pv = _fit(y, x, method, strength, ci_level)
        except FIT_ERRORS as err:
            if method == "l2":
                return f"The logistic fit failed even with a ridge penalty ({err}): base rate only."
            worst = x.columns[int(np.argmax(np.abs(x.corrwith(pd.Series(y, index=x.index)).fillna(0).to_numpy())))]
            notes.append(
                f"The unpenalized fit failed ({'perfect separation' if 'separation' in str(err) else err}; "
                f"strongest single measure: {term_label(worst, labels)}): refitted with a ridge (L2) penalty of "
                f"strength {strength:g}."
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
            return method, x, (params, lo, hi, pv)
        weakest = min(flips, key=lambda i: terms[i]["strength"])
        notes.append(
            f"{term_label(terms[weakest]['name'], labels)}: its fitted weight has the opposite sign to its own relation "
            f"with {outcome} (given the other measures it only corrects them), so it was left out and the model "
            "refitted."
        )
        terms.pop(weakest)


def _fitted_terms(terms: list[dict[str, Any]], fit: tuple[np.ndarray, ...], method: str) -> list[Term]:
    """The scorecard's terms with weights and intervals (L1 zeros dropped)."""
    params, lo, hi, pv = fit
    return [
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


def _scale_points(eta: np.ndarray) -> float:
    """Points to double the odds so that the 1st-99th percentile of log-odds spans about 90 points."""
    spread = float(np.subtract(*np.quantile(eta, [0.99, 0.01])))
    return float(max(1.0, round(90 * LN2 / spread))) if spread > 0 else 20.0


def _training_rows(
    frame: pd.DataFrame, outcome: str, measures: list[str], regularization: str, event_key: list[str] | None
) -> tuple[pd.DataFrame, np.ndarray, int]:
    """The rows with a known outcome, the outcome as 0/1 floats and the number of events; bad arguments raise."""
    if regularization not in ("none", "l1", "l2"):
        raise CsPlaybookError(f"regularization must be none, l1 or l2 (got {regularization!r})")
    missing = [m for m in measures if m not in frame.columns]
    if missing:
        raise CsPlaybookError(f"fit_logistic: measures not in the observations: {', '.join(missing)}")
    data = frame[frame[outcome].notna()]
    y = data[outcome].to_numpy(dtype="float64")
    n_events = int(data.loc[y == 1, event_key].drop_duplicates().shape[0]) if event_key else int(y.sum())
    return data, y, n_events


def _base_fields(
    y: np.ndarray, n_events: int, *, outcome: str, method: str, anchor: float, labels: dict[str, str] | None, name: str
) -> dict[str, Any]:
    """The scorecard fields known before fitting: outcome, base rate, anchor, labels, name and the training counts."""
    rate = float(np.clip(y.mean() if len(y) else 0.5, 1e-4, 1 - 1e-4))
    return {
        "outcome": outcome,
        "base_rate": rate,
        "anchor_score": anchor,
        "anchor_log_odds": math.log(rate / (1 - rate)),
        "labels": labels or {},
        "name": name,
        "fitting": {"rows": int(len(y)), "events": n_events, "event_rows": int(y.sum()), "method": method},
    }


def _too_few_events(y: np.ndarray, n_events: int, outcome: str, min_events: int) -> str | None:
    """Why no model can be fitted (no events, only events, fewer than `min_events`), or None."""
    if len(y) == 0 or y.sum() in (0, len(y)):
        return f"{outcome}: the observations hold {'no' if y.sum() == 0 else 'only'} events; no model can be fitted."
    if n_events < min_events:
        return f"Only {n_events} {outcome} events (at least {min_events} needed): the scorecard falls back to the base rate."
    return None


def _scorecard(
    base: dict[str, Any],
    specs: dict[str, MeasureScaling],
    terms: list[dict[str, Any]],
    result: tuple[str, pd.DataFrame, tuple[np.ndarray, ...]],
    notes: list[str],
    points: float | None,
) -> Scorecard:
    """Step 5: the fitted scorecard; without given points to double the odds, log-odds span about 90 points."""
    method, x, fit = result
    fitted_terms = _fitted_terms(terms, fit, method)
    used = {k for t in fitted_terms for k in t.inputs}
    params = fit[0]
    if points is None:
        points = _scale_points(params[0] + x.to_numpy() @ params[1:])
    base["fitting"]["method"] = method
    base["fitting"]["terms"] = len(fitted_terms)
    return Scorecard(
        intercept=float(params[0]),
        inputs=[s for k, s in specs.items() if k in used],
        terms=fitted_terms,
        points_to_double_odds=points,
        warnings=notes,
        **base,
    )


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
    data, y, n_events = _training_rows(frame, outcome, measures, regularization, event_key)
    notes: list[str] = []
    base = _base_fields(
        y, n_events, outcome=outcome, method=regularization, anchor=anchor_score, labels=labels, name=name
    )
    reason = _too_few_events(y, n_events, outcome, min_events)
    if reason:
        return _base_rate_only(base, notes, reason, points_to_double_odds)
    specs = prepare_inputs(
        data,
        measures,
        transforms=transforms,
        skew_threshold=skew_threshold,
        clip_quantiles=clip_quantiles,
        labels=labels,
        notes=notes,
    )
    if not specs:
        reason = "No measure varies in the training data: the scorecard falls back to the base rate."
        return _base_rate_only(base, notes, reason, points_to_double_odds)
    z = pd.DataFrame({k: s.standardize(data[s.measure]) for k, s in specs.items()}, index=data.index)
    terms = group_terms(z, y, specs, correlation_threshold=correlation_threshold, labels=labels, notes=notes)
    terms = cap_terms(terms, n_events, events_per_term, labels, notes)
    result = _fit_with_fallbacks(
        y,
        terms,
        data.index,
        method=regularization,
        strength=strength,
        ci_level=ci_level,
        drop_sign_flips=drop_sign_flips,
        outcome=outcome,
        labels=labels,
        notes=notes,
    )
    if isinstance(result, str):
        return _base_rate_only(base, notes, result, points_to_double_odds)
    return _scorecard(base, specs, terms, result, notes, points_to_double_odds)
