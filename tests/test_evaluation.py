"""Model-evaluation figures against hand computations and independent brute-force formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cs_playbook.errors import CsPlaybookError
from cs_playbook.modeling.evaluation import (
    auc_ci,
    backtest_summary,
    brier_score,
    calibration_curve,
    compare_auc,
    evaluate,
    expected_calibration_error,
    lift_table,
    quarter_folds,
    roc_auc,
    rolling_backtest,
    top_decile_lift,
)


def test_auc_by_hand_with_and_without_ties() -> None:
    # positives 0.35 (beats 0.1, loses to 0.4) and 0.8 (beats both): 3 of 4 pairs
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    # the positive at 0.5 ties both negatives (2 x 1/2), the one at 0.9 beats both: 3 / 4
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.9]) == 0.75
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))
    assert roc_auc([0, 1, np.nan], [0.1, 0.9, 0.5]) == 1.0  # a missing outcome is left out


def test_outcome_must_be_zero_or_one() -> None:
    with pytest.raises(CsPlaybookError, match="0 or 1"):
        roc_auc([0, 2], [0.1, 0.2])


def _brute_delong(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """AUC and DeLong's standard error from the explicit pairwise kernel (an independent formula)."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    var = v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)
    return psi.mean(), np.sqrt(var)


def test_delong_interval_matches_the_pairwise_formula(rng) -> None:
    y = (rng.random(300) < 0.3).astype(float)
    s = np.round(y * 0.8 + rng.normal(size=300), 1)  # rounded: ties present
    auc, se = _brute_delong(y, s)
    ci = auc_ci(y, s, level=0.95)
    assert ci["method"] == "delong"
    assert ci["auc"] == pytest.approx(auc) and ci["se"] == pytest.approx(se)
    assert ci["lo"] == pytest.approx(auc - 1.959963984540054 * se) and ci["hi"] == pytest.approx(
        auc + 1.959963984540054 * se
    )


def test_cluster_bootstrap_widens_the_interval_of_repeated_observations(rng) -> None:
    y = (rng.random(200) < 0.3).astype(float)
    s = y * 0.7 + rng.normal(size=200)
    # each account observed 6 times with the same outcome and nearly the same score
    yy, ss = np.repeat(y, 6), np.repeat(s, 6) + rng.normal(scale=0.01, size=1200)
    groups = np.repeat(np.arange(200), 6)
    naive = auc_ci(yy, ss, method="bootstrap", n_boot=400, seed=1)
    clustered = auc_ci(yy, ss, groups=groups, n_boot=400, seed=1)
    assert clustered["method"] == "bootstrap"
    assert clustered["auc"] == pytest.approx(naive["auc"])
    assert (clustered["hi"] - clustered["lo"]) > 1.8 * (naive["hi"] - naive["lo"])
    single = auc_ci(y, s, method="bootstrap", n_boot=400, seed=1)
    assert (clustered["hi"] - clustered["lo"]) == pytest.approx(single["hi"] - single["lo"], rel=0.35)


def test_paired_comparison_finds_the_better_score(rng) -> None:
    y = (rng.random(500) < 0.3).astype(float)
    good = y + rng.normal(scale=0.8, size=500)
    noise = rng.normal(size=500)
    for method in ("delong", "bootstrap"):
        c = compare_auc(y, good, noise, method=method, n_boot=300)
        assert c["diff"] == pytest.approx(c["auc_a"] - c["auc_b"])
        assert c["diff"] > 0.2 and c["lo"] > 0 and c["p_value"] < 0.01 and c["share_a_better"] > 0.99
    same = compare_auc(y, good, good)
    assert same["diff"] == 0


def test_brier_by_hand() -> None:
    # ((0.2 - 0)^2 + (0.6 - 1)^2) / 2 = (0.04 + 0.16) / 2
    assert brier_score([0, 1], [0.2, 0.6]) == pytest.approx(0.1)


def test_calibration_curve_and_ece_by_hand() -> None:
    y, p = [0, 1, 1, 1], [0.1, 0.2, 0.7, 0.9]
    curve = calibration_curve(y, p, bins=2)
    assert curve["n"].tolist() == [2, 2]
    assert curve["mean_predicted"].tolist() == pytest.approx([0.15, 0.8])
    assert curve["observed_rate"].tolist() == [0.5, 1.0]
    # Wilson 95% interval of 1 in 2: centre (0.5 + z^2/4) / (1 + z^2/2) = 0.5, half-width 0.5 z sqrt(0.25/2 + z^2/16)/(1 + z^2/2)
    z = 1.959963984540054
    half = z * np.sqrt(0.25 / 2 + z**2 / 16) / (1 + z**2 / 2)
    assert curve.loc[0, "lo"] == pytest.approx(0.5 - half) and curve.loc[0, "hi"] == pytest.approx(0.5 + half)
    # |0.15 - 0.5| and |0.8 - 1.0|, each bin half the rows
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(0.5 * 0.35 + 0.5 * 0.2)
    uniform = calibration_curve(y, p, bins=2, strategy="uniform")  # [0, 0.5) and [0.5, 1]
    assert uniform["n"].tolist() == [2, 2]


def test_lift_by_hand() -> None:
    risk = np.arange(20, dtype=float)  # the two riskiest rows are 18 and 19
    y = np.zeros(20)
    y[[19, 18, 0, 5]] = 1  # base rate 4 / 20 = 0.2
    table = lift_table(y, risk)
    assert table["decile"].tolist() == list(range(1, 11))
    assert table.loc[0, "rate"] == 1.0 and table.loc[0, "lift"] == pytest.approx(5.0)
    assert table.loc[0, "cum_capture"] == pytest.approx(0.5)
    assert table["cum_capture"].iloc[-1] == pytest.approx(1.0)
    assert top_decile_lift(y, risk) == pytest.approx(5.0)


def test_evaluate_gathers_every_figure(rng) -> None:
    y = (rng.random(400) < 0.2).astype(float)
    p = np.clip(0.1 + 0.3 * y + rng.normal(scale=0.1, size=400), 0.01, 0.99)
    f = evaluate(y, p)
    assert set(f) == {
        "n",
        "events",
        "base_rate",
        "auc",
        "auc_lo",
        "auc_hi",
        "brier",
        "brier_skill",
        "ece",
        "top_decile_lift",
    }
    assert f["n"] == 400 and f["auc_lo"] < f["auc"] < f["auc_hi"]
    assert f["brier_skill"] == pytest.approx(1 - f["brier"] / (f["base_rate"] * (1 - f["base_rate"])))


def _frame() -> pd.DataFrame:
    dates = pd.date_range("2024-01-01", "2025-12-01", freq="MS")
    rows = [(f"A{i}", d, d + pd.DateOffset(months=3), float((i + d.month) % 4 == 0)) for d in dates for i in range(12)]
    return pd.DataFrame(rows, columns=["account_id", "obs_date", "window_end", "expanded"])


def test_quarter_folds() -> None:
    folds = quarter_folds(_frame()["obs_date"], last_quarter="2025Q3", n=2)
    assert folds == [
        ("2025Q2", pd.Timestamp("2025-04-01"), pd.Timestamp("2025-06-30")),
        ("2025Q3", pd.Timestamp("2025-07-01"), pd.Timestamp("2025-09-30")),
    ]


def test_backtest_trains_only_on_outcomes_known_before_each_fold() -> None:
    frame = _frame()
    frame.loc[frame["obs_date"] >= "2025-11-01", "expanded"] = np.nan  # not yet known
    seen: list[pd.Timestamp] = []

    def fit(train: pd.DataFrame) -> float:
        seen.append(train["window_end"].max())
        return float(train["expanded"].mean())

    def predict(rate: float, test: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"p": np.full(len(test), rate)})

    folds = quarter_folds(frame["obs_date"], last_quarter="2025Q4", n=2)
    preds = rolling_backtest(frame, fit=fit, predict=predict, folds=folds, outcome="expanded")
    assert set(preds["fold"]) == {"2025Q3", "2025Q4"}
    assert preds["expanded"].notna().all()
    assert preds.loc[preds["fold"] == "2025Q4", "obs_date"].max() == pd.Timestamp("2025-10-01")
    # each fold's model saw only outcomes known before the fold began
    assert seen == [pd.Timestamp("2025-06-01"), pd.Timestamp("2025-09-01")]
    summary = backtest_summary(preds, outcome="expanded", models={"rate": "p"}, n_boot=50)
    assert summary["fold"].tolist() == ["2025Q3", "2025Q4", "all"]
    assert summary["auc"].tolist()[:2] == [0.5, 0.5]  # a constant prediction ranks nobody
    assert summary["n"].iloc[2] == len(preds)
