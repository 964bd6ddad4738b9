"""The generic logistic scorecard on synthetic data: recovered signs, transforms and groups; fallbacks for too
few events, separation and sign flips; regularized fits; YAML round trip; scaling."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cs_playbook.errors import CsPlaybookError, ParamsError
from cs_playbook.modeling.evaluation import roc_auc
from cs_playbook.modeling.logistic import fit_logistic, load_scorecard


def synthetic(rng: np.random.Generator, n: int = 4000) -> pd.DataFrame:
    x1 = rng.normal(size=n)
    x3 = rng.lognormal(mean=1.0, sigma=1.2, size=n)  # fat-tailed: log1p expected
    cat = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    eta = -1.5 + 1.0 * x1 - 0.6 * np.log1p(x3) + 0.5 * (cat == "b")
    return pd.DataFrame(
        {
            "account_id": np.arange(n).astype(str),
            "x1": x1,
            "x2": x1 + rng.normal(scale=0.2, size=n),  # moves with x1: averaged with it
            "x3": x3,
            "flat": 1.0,
            "plan": cat,
            "expanded": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float),
        }
    )


def test_fit_recovers_signs_transforms_and_groups(rng) -> None:
    df = synthetic(rng)
    sc = fit_logistic(df, outcome="expanded", measures=["x1", "x2", "x3", "flat", "plan"])
    assert sc.fallback is None and sc.outcome == "expanded"
    assert any("constant" in w and w.endswith(": flat.") for w in sc.warnings)
    assert any("x1 + x2" in w for w in sc.warnings)
    inputs = {i.key: i for i in sc.inputs}
    assert inputs["x3"].transform == "log1p" and inputs["x1"].transform == "none"
    w = sc.weights().set_index("input")
    assert w.loc["x1", "coef"] > 0 and w.loc["x2", "coef"] > 0 and w.loc["x3", "coef"] < 0
    # x3 enters as log1p, clipped and standardized: about -0.6 per unit of log1p(x3), i.e. -0.6 x its sd
    sd = inputs["x3"].sd
    assert w.loc["x3", "ci_lo"] < -0.6 * sd < w.loc["x3", "ci_hi"]
    assert w.loc["plan=b", "coef"] > 0.2 and abs(w.loc["plan=c", "coef"]) < 0.2
    assert roc_auc(df["expanded"], sc.probability(df)) > 0.7
    # contributions add up to the score's move from the intercept
    contrib = sc.contributions(df).sum(axis=1).to_numpy()
    assert np.allclose(contrib, -sc.points_per_log_odds() * (sc.log_odds(df) - sc.intercept))


def test_too_few_events_fall_back_to_the_base_rate(rng) -> None:
    df = synthetic(rng, n=300)
    df["expanded"] = 0.0
    df.loc[:7, "expanded"] = 1.0
    sc = fit_logistic(df, outcome="expanded", measures=["x1", "x3"], min_events=20)
    assert sc.fallback is not None and "8 expanded events" in sc.fallback
    assert np.allclose(sc.probability(df), 8 / 300) and np.allclose(sc.score(df), sc.anchor_score)
    none = fit_logistic(df.assign(expanded=0.0), outcome="expanded", measures=["x1"])
    assert "no events" in none.fallback


def test_perfect_separation_refits_with_a_ridge_penalty(rng) -> None:
    df = synthetic(rng, n=500)
    df["expanded"] = (df["x1"] > 0).astype(float)
    sc = fit_logistic(df, outcome="expanded", measures=["x1", "x3"], correlation_threshold=None)
    assert sc.fallback is None and sc.fitting["method"] == "l2"
    assert any("ridge" in w for w in sc.warnings)
    assert all(np.isfinite(t.coef) and t.ci_lo is not None for t in sc.terms)
    assert roc_auc(df["expanded"], sc.probability(df)) > 0.99


def test_a_measure_that_only_corrects_others_is_left_out(rng) -> None:
    n = 6000
    a = rng.normal(size=n)
    b = 0.6 * a + 0.8 * rng.normal(size=n)  # corr 0.6: relates to the outcome positively on its own ...
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1 + 1.0 * a - 0.3 * b)))).astype(float)  # ... but negatively given a
    df = pd.DataFrame({"a": a, "b": b, "y": y})
    kept = fit_logistic(df, outcome="y", measures=["a", "b"], drop_sign_flips=False, correlation_threshold=0.9)
    assert kept.weights().set_index("input").loc["b", "coef"] < 0 and roc_auc(y, b) > 0.5
    sc = fit_logistic(df, outcome="y", measures=["a", "b"], correlation_threshold=0.9)
    assert [i.key for i in sc.inputs] == ["a"] and any(w.startswith("b:") for w in sc.warnings)


def test_regularized_fits_have_intervals(rng) -> None:
    df = synthetic(rng, n=2000)
    for method in ("l1", "l2"):
        sc = fit_logistic(df, outcome="expanded", measures=["x1", "x3", "plan"], regularization=method, strength=5.0)
        assert sc.fitting["method"] == method and sc.terms
        assert all(t.ci_lo is not None and t.ci_lo <= t.coef <= t.ci_hi for t in sc.terms)
    with pytest.raises(CsPlaybookError, match="regularization"):
        fit_logistic(df, outcome="expanded", measures=["x1"], regularization="elastic")


def test_scorecard_survives_a_yaml_round_trip(rng, tmp_path: Path) -> None:
    df = synthetic(rng, n=2000)
    sc = fit_logistic(df, outcome="expanded", measures=["x1", "x2", "x3", "plan"])
    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    back = load_scorecard(path)
    assert np.allclose(back.score(df), sc.score(df)) and np.allclose(back.probability(df), sc.probability(df))
    # a missing measure column counts as average instead of failing
    assert np.isfinite(back.score(df.drop(columns=["x3"]))).all()
    path.write_text("outcome: churned\nintercept: nope\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="intercept"):
        load_scorecard(path)


def test_scaling_points_to_double_the_odds(rng) -> None:
    df = synthetic(rng, n=2000)
    sc = fit_logistic(df, outcome="expanded", measures=["x1"], points_to_double_odds=20, anchor_score=50)
    eta = np.array([sc.anchor_log_odds, sc.anchor_log_odds + math.log(2), sc.anchor_log_odds - 10])
    assert sc.score_from_log_odds(eta).tolist() == pytest.approx([50, 30, 100])  # double the odds: -20 points
