"""How well a risk score predicts a yes/no outcome: AUC with its uncertainty, calibration, lift, backtests.

Generic: every function takes arrays of outcomes (1 = it happened: churned, expanded, won) and
predicted probabilities or risk scores (higher = more likely), so the churn health score and any
propensity model are judged by the same code. Where observations are repeated per account (one
per month), pass the account ids as `groups`: confidence intervals then resample whole accounts
(a cluster bootstrap), because months of one account are not independent evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cs_playbook.errors import CsPlaybookError

__all__ = [
    "roc_auc",
    "auc_ci",
    "compare_auc",
    "brier_score",
    "calibration_curve",
    "expected_calibration_error",
    "lift_table",
    "top_decile_lift",
    "evaluate",
    "quarter_folds",
    "rolling_backtest",
    "backtest_summary",
]


def _clean(y: Any, *scores: Any) -> tuple[np.ndarray, ...]:
    """Float arrays of equal length, rows with a missing outcome or score dropped."""
    arrays = [np.asarray(y, dtype="float64")] + [np.asarray(s, dtype="float64") for s in scores]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise CsPlaybookError("outcome and score arrays differ in length")
    ok = np.all([~np.isnan(a) for a in arrays], axis=0) if n else np.zeros(0, dtype=bool)
    out = tuple(a[ok] for a in arrays)
    if len(out[0]) and not np.isin(out[0], (0.0, 1.0)).all():
        raise CsPlaybookError("outcome must be 0 or 1 (1 = the event happened)")
    return out


def _weighted_auc(codes: np.ndarray, y: np.ndarray, w: np.ndarray, n_levels: int) -> float:
    """AUC from score ranks (`codes` = index of each row's distinct score) with row weights; ties count 1/2."""
    pos = np.bincount(codes, weights=w * y, minlength=n_levels)
    neg = np.bincount(codes, weights=w * (1 - y), minlength=n_levels)
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos == 0 or total_neg == 0:
        return np.nan
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (total_pos * total_neg))


def roc_auc(y_true: Any, score: Any) -> float:
    """Area under the ROC curve: the chance a random positive scores above a random negative (ties 1/2)."""
    y, s = _clean(y_true, score)
    if len(y) == 0:
        return np.nan
    levels, codes = np.unique(s, return_inverse=True)
    return _weighted_auc(codes, y, np.ones(len(y)), len(levels))


def _delong_components(y: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's structural components V10 (per positive) and V01 (per negative)."""
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    both = stats.rankdata(np.concatenate([pos, neg]))
    r_pos, r_neg = stats.rankdata(pos), stats.rankdata(neg)
    v10 = (both[:m] - r_pos) / n
    v01 = 1.0 - (both[m:] - r_neg) / m
    return float(v10.mean()), v10, v01


def _cluster_weights(groups: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, Callable[[int], np.ndarray]]:
    """Group codes and a function drawing row weights (how often each row's group is resampled)."""
    codes, _ = pd.factorize(pd.Series(groups))
    n_groups = codes.max() + 1 if len(codes) else 0
    rng = np.random.default_rng(seed)

    def draw(_: int) -> np.ndarray:
        counts = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)
        return counts[codes].astype("float64")

    return codes, draw


def auc_ci(
    y_true: Any,
    score: Any,
    *,
    level: float = 0.95,
    groups: Any = None,
    method: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, float | str]:
    """AUC with a confidence interval: DeLong's variance, or a bootstrap that resamples whole `groups`.

    `method` is "delong" or "bootstrap" (default: bootstrap when `groups` is given, else DeLong).
    Returns auc, lo, hi, se, level, method, n, events.
    """
    method = method or ("bootstrap" if groups is not None else "delong")
    g = np.asarray(groups) if groups is not None else None
    y, s = _clean(y_true, score)
    if g is not None:
        keep = ~np.isnan(np.asarray(y_true, dtype="float64")) & ~np.isnan(np.asarray(score, dtype="float64"))
        g = g[keep]
    out: dict[str, float | str] = {"level": level, "method": method, "n": int(len(y)), "events": int(y.sum())}
    if len(y) == 0 or y.sum() == 0 or y.sum() == len(y):
        return out | {"auc": np.nan, "lo": np.nan, "hi": np.nan, "se": np.nan}
    z = stats.norm.ppf(0.5 + level / 2)
    if method == "delong":
        auc, v10, v01 = _delong_components(y, s)
        se = (
            float(np.sqrt(v10.var(ddof=1) / len(v10) + v01.var(ddof=1) / len(v01)))
            if min(len(v10), len(v01)) > 1
            else np.nan
        )
        return out | {"auc": auc, "lo": max(0.0, auc - z * se), "hi": min(1.0, auc + z * se), "se": se}
    if method != "bootstrap":
        raise CsPlaybookError(f"auc_ci: method must be 'delong' or 'bootstrap' (got {method!r})")
    levels, codes = np.unique(s, return_inverse=True)
    auc = _weighted_auc(codes, y, np.ones(len(y)), len(levels))
    if g is None:
        g = np.arange(len(y))
    _, draw = _cluster_weights(g, n_boot, seed)
    boots = np.array([_weighted_auc(codes, y, draw(i), len(levels)) for i in range(n_boot)])
    boots = boots[~np.isnan(boots)]
    alpha = (1 - level) / 2
    return out | {
        "auc": auc,
        "lo": float(np.quantile(boots, alpha)),
        "hi": float(np.quantile(boots, 1 - alpha)),
        "se": float(boots.std(ddof=1)),
    }


def compare_auc(
    y_true: Any,
    score_a: Any,
    score_b: Any,
    *,
    level: float = 0.95,
    groups: Any = None,
    method: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, float | str]:
    """Paired comparison of two scores on the same observations: is A's AUC above B's, and how sure are we.

    DeLong's paired test, or a bootstrap resampling whole `groups` (default when groups are given).
    Returns auc_a, auc_b, diff (A - B), lo, hi (interval of the difference), p_value (two-sided,
    no difference), share_a_better (bootstrap: share of resamples where A beats B; DeLong: the
    normal approximation of it), method, n, events.
    """
    method = method or ("bootstrap" if groups is not None else "delong")
    y, a, b = _clean(y_true, score_a, score_b)
    keep = (
        ~np.isnan(np.asarray(y_true, dtype="float64"))
        & ~np.isnan(np.asarray(score_a, dtype="float64"))
        & ~np.isnan(np.asarray(score_b, dtype="float64"))
    )
    out: dict[str, float | str] = {"method": method, "level": level, "n": int(len(y)), "events": int(y.sum())}
    nan = {k: np.nan for k in ("auc_a", "auc_b", "diff", "lo", "hi", "p_value", "share_a_better")}
    if len(y) == 0 or y.sum() == 0 or y.sum() == len(y):
        return out | nan
    z = stats.norm.ppf(0.5 + level / 2)
    if method == "delong":
        auc_a, v10a, v01a = _delong_components(y, a)
        auc_b, v10b, v01b = _delong_components(y, b)
        s10 = np.cov(np.vstack([v10a, v10b]))
        s01 = np.cov(np.vstack([v01a, v01b]))
        cov = s10 / len(v10a) + s01 / len(v01a)
        var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
        diff = auc_a - auc_b
        se = np.sqrt(var) if var > 0 else np.nan
        zstat = diff / se if se and se > 0 else np.nan
        return out | {
            "auc_a": auc_a,
            "auc_b": auc_b,
            "diff": diff,
            "lo": diff - z * se,
            "hi": diff + z * se,
            "p_value": float(2 * stats.norm.sf(abs(zstat))) if not np.isnan(zstat) else np.nan,
            "share_a_better": float(stats.norm.cdf(zstat)) if not np.isnan(zstat) else np.nan,
        }
    if method != "bootstrap":
        raise CsPlaybookError(f"compare_auc: method must be 'delong' or 'bootstrap' (got {method!r})")
    la, ca = np.unique(a, return_inverse=True)
    lb, cb = np.unique(b, return_inverse=True)
    ones = np.ones(len(y))
    auc_a, auc_b = _weighted_auc(ca, y, ones, len(la)), _weighted_auc(cb, y, ones, len(lb))
    g = np.asarray(groups)[keep] if groups is not None else np.arange(len(y))
    _, draw = _cluster_weights(g, n_boot, seed)
    diffs = []
    for i in range(n_boot):
        w = draw(i)
        diffs.append(_weighted_auc(ca, y, w, len(la)) - _weighted_auc(cb, y, w, len(lb)))
    d = np.array(diffs)
    d = d[~np.isnan(d)]
    alpha = (1 - level) / 2
    better = float((d > 0).mean())
    return out | {
        "auc_a": auc_a,
        "auc_b": auc_b,
        "diff": auc_a - auc_b,
        "lo": float(np.quantile(d, alpha)),
        "hi": float(np.quantile(d, 1 - alpha)),
        "p_value": float(min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean()))),
        "share_a_better": better,
    }


def brier_score(y_true: Any, probability: Any) -> float:
    """Mean squared error of predicted probabilities (0 is perfect; the base rate alone scores p(1-p))."""
    y, p = _clean(y_true, probability)
    return float(np.mean((p - y) ** 2)) if len(y) else np.nan


def _bins(p: np.ndarray, bins: int, strategy: str) -> np.ndarray:
    """Bin index of each probability: equal-count (quantile) or equal-width (uniform) bins."""
    if strategy == "quantile":
        order = np.argsort(p, kind="stable")
        idx = np.empty(len(p), dtype="int64")
        idx[order] = np.arange(len(p)) * bins // max(len(p), 1)
        return idx
    if strategy == "uniform":
        return np.clip((p * bins).astype("int64"), 0, bins - 1)
    raise CsPlaybookError(f"strategy must be 'quantile' or 'uniform' (got {strategy!r})")


def calibration_curve(y_true: Any, probability: Any, *, bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """Predicted against observed rate per bin of predicted probability.

    Returns bin (0 = lowest predictions), n, mean_predicted, observed_rate, lo, hi (95% Wilson
    interval of the observed rate); empty bins are left out.
    """
    y, p = _clean(y_true, probability)
    cols = ["bin", "n", "mean_predicted", "observed_rate", "lo", "hi"]
    if len(y) == 0:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame({"bin": _bins(p, bins, strategy), "y": y, "p": p})
    out = df.groupby("bin", as_index=False).agg(n=("y", "size"), events=("y", "sum"), mean_predicted=("p", "mean"))
    out["observed_rate"] = out["events"] / out["n"]
    z = 1.959963984540054
    n, r = out["n"], out["observed_rate"]
    centre = (r + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(r * (1 - r) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    out["lo"], out["hi"] = centre - half, centre + half
    return out[cols]


def expected_calibration_error(y_true: Any, probability: Any, *, bins: int = 10, strategy: str = "quantile") -> float:
    """Mean gap between predicted and observed rate over bins, weighted by bin size (0 = perfectly calibrated)."""
    curve = calibration_curve(y_true, probability, bins=bins, strategy=strategy)
    if curve.empty:
        return np.nan
    return float((curve["n"] * (curve["mean_predicted"] - curve["observed_rate"]).abs()).sum() / curve["n"].sum())


def lift_table(y_true: Any, risk: Any, *, groups: int = 10) -> pd.DataFrame:
    """Outcome rate per equal-size group of risk, highest risk first (decile 1 = riskiest tenth).

    Returns decile, n, events, rate, lift (rate / overall rate), cum_capture (share of all events
    in this and riskier deciles).
    """
    y, r = _clean(y_true, risk)
    cols = ["decile", "n", "events", "rate", "lift", "cum_capture"]
    if len(y) == 0:
        return pd.DataFrame(columns=cols)
    d = groups - _bins(r, groups, "quantile")
    df = pd.DataFrame({"decile": d, "y": y})
    out = df.groupby("decile", as_index=False).agg(n=("y", "size"), events=("y", "sum"))
    out["rate"] = out["events"] / out["n"]
    base = y.mean()
    out["lift"] = out["rate"] / base if base > 0 else np.nan
    out["cum_capture"] = out["events"].cumsum() / y.sum() if y.sum() > 0 else np.nan
    return out[cols]


def top_decile_lift(y_true: Any, risk: Any) -> float:
    """Outcome rate among the riskiest 10% divided by the overall rate (1 = no better than random)."""
    table = lift_table(y_true, risk, groups=10)
    return float(table["lift"].iloc[0]) if len(table) else np.nan


def evaluate(
    y_true: Any, probability: Any, *, groups: Any = None, n_boot: int = 1000, seed: int = 0, bins: int = 10
) -> dict[str, float]:
    """Every figure of one model on one set: n, events, base_rate, auc (lo, hi), brier, brier_skill, ece, top_decile_lift."""
    y, p = _clean(y_true, probability)
    ci = auc_ci(y_true, probability, groups=groups, n_boot=n_boot, seed=seed)
    base = float(y.mean()) if len(y) else np.nan
    brier = brier_score(y, p)
    ref = base * (1 - base) if len(y) else np.nan
    return {
        "n": int(len(y)),
        "events": int(y.sum()),
        "base_rate": base,
        "auc": ci["auc"],
        "auc_lo": ci["lo"],
        "auc_hi": ci["hi"],
        "brier": brier,
        "brier_skill": 1 - brier / ref if ref and ref > 0 else np.nan,
        "ece": expected_calibration_error(y, p, bins=bins),
        "top_decile_lift": top_decile_lift(y, p),
    }


def quarter_folds(dates: pd.Series, *, last_quarter: str, n: int) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """The last `n` calendar quarters up to `last_quarter` that hold any of `dates`: (label, first day, last day)."""
    q = pd.PeriodIndex(pd.to_datetime(dates), freq="Q")
    last = pd.Period(last_quarter, freq="Q")
    present = sorted({p for p in q.unique() if p <= last})[-n:]
    return [(f"{p.year}Q{p.quarter}", p.start_time.normalize(), p.end_time.normalize()) for p in present]


def rolling_backtest(
    frame: pd.DataFrame,
    *,
    fit: Callable[[pd.DataFrame], Any],
    predict: Callable[[Any, pd.DataFrame], pd.DataFrame],
    folds: Sequence[tuple[str, pd.Timestamp, pd.Timestamp]],
    outcome: str,
    date_col: str = "obs_date",
    known_col: str = "window_end",
) -> pd.DataFrame:
    """Out-of-time backtest: each fold's observations are predicted by a model fitted only on earlier outcomes.

    For each fold (label, start, end) the training rows are those whose outcome was known before
    the fold started (`known_col` < start; rows with a missing outcome are never used) and the test
    rows are the observations dated in [start, end] with a known outcome. `fit(train)` returns a
    model (or None to skip the fold); `predict(model, test)` returns a frame of prediction columns
    aligned with `test`. Returns the test rows with a `fold` column and the prediction columns.
    """
    known = frame[outcome].notna()
    pieces = []
    for label, start, end in folds:
        train = frame[known & (frame[known_col] < start)]
        test = frame[known & (frame[date_col] >= start) & (frame[date_col] <= end)]
        if train.empty or test.empty:
            continue
        model = fit(train)
        if model is None:
            continue
        preds = predict(model, test)
        piece = test.copy()
        for col in preds.columns:
            piece[col] = np.asarray(preds[col])
        piece.insert(0, "fold", label)
        pieces.append(piece)
    if not pieces:
        return frame.iloc[:0].assign(fold=pd.Series(dtype="string"))
    return pd.concat(pieces, ignore_index=True)


def backtest_summary(
    predictions: pd.DataFrame,
    *,
    outcome: str,
    models: dict[str, str],
    group_col: str | None = None,
    n_boot: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """Figures of each model per fold and pooled over all folds ("all").

    `models` maps a model label to its probability column. Returns fold, model and the columns of
    `evaluate` (n, events, base_rate, auc, auc_lo, auc_hi, brier, brier_skill, ece, top_decile_lift).
    """
    rows = []
    parts = [(f, g) for f, g in predictions.groupby("fold", sort=True)] + [("all", predictions)]
    for fold, part in parts:
        for label, col in models.items():
            groups = part[group_col].to_numpy() if group_col else None
            figures = evaluate(part[outcome], part[col], groups=groups, n_boot=n_boot, seed=seed)
            rows.append({"fold": fold, "model": label, **figures})
    return pd.DataFrame(rows)
