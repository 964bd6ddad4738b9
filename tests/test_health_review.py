"""Tier tables, migration, drivers, the review list and the headline against hand counts; the CSM export and
the charts on the small demo company."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from cs_playbook.health import (
    calibration,  # noqa: E402
    review,  # noqa: E402
)
from cs_playbook.modeling.evaluation import calibration_curve, lift_table  # noqa: E402
from cs_playbook.params import load_params  # noqa: E402
from cs_playbook.plots import health as charts  # noqa: E402

ORDER = ["GOOD", "NORMAL", "BAD"]


@pytest.fixture(scope="module")
def hp() -> calibration.HealthParams:
    return load_params("health_score", calibration.HealthParams)


def test_tier_table_by_hand() -> None:
    df = pd.DataFrame(
        {
            "account_id": ["a", "a", "b", "c", "d"],
            "tier": ["BAD", "BAD", "BAD", "GOOD", "GOOD"],
            "churned": [1.0, 1.0, 0.0, 0.0, np.nan],  # d's outcome is unknown: left out
            "arr": [100.0, 100.0, 50.0, 400.0, 999.0],
            "arr_lost": [100.0, 100.0, 10.0, 0.0, np.nan],
        }
    )
    t = review.tier_table(df, tier_col="tier", order=ORDER).set_index("tier")
    assert t.loc["BAD", "observations"] == 3 and t.loc["BAD", "accounts"] == 2
    assert t.loc["BAD", "churn_rate"] == pytest.approx(2 / 3) and t.loc["BAD", "share"] == 0.75
    assert t.loc["BAD", "arr_lost_share"] == pytest.approx(210 / 250)
    assert t.loc["GOOD", "churn_rate"] == 0 and list(t.index) == ["GOOD", "BAD"]


def test_current_tiers_and_migration_by_hand() -> None:
    scored = pd.DataFrame(
        {
            "account_id": ["A", "B", "D"],
            "health_tier": ["BAD", "BAD", "GOOD"],
            "arr": [100.0, 300.0, 600.0],
            "churn_probability": [0.5, 0.2, 0.01],
        }
    )
    scored["arr_at_risk"] = scored["arr"] * scored["churn_probability"]
    cur = review.current_tiers(scored, order=ORDER).set_index("tier")
    assert cur.loc["BAD", "arr_at_risk"] == pytest.approx(50 + 60) and cur.loc["BAD", "arr_share"] == pytest.approx(0.4)
    before = pd.DataFrame({"account_id": ["A", "B", "C"], "health_tier": ["GOOD", "BAD", "NORMAL"]})
    m = review.migration_matrix(before, scored[["account_id", "health_tier"]], order=ORDER)
    assert m.loc["GOOD", "BAD"] == 1 and m.loc["BAD", "BAD"] == 1
    assert m.loc["NORMAL", review.GONE] == 1 and m.loc[review.NEW, "GOOD"] == 1
    assert int(m.to_numpy().sum()) == 4


def test_top_drivers_by_size_either_way() -> None:
    contrib = pd.DataFrame({"nps_score": [-8.0, 1.0], "champion": [2.0, -0.5], "tickets": [3.0, 0.0]})
    measures = pd.DataFrame({"nps_score": [3.0, 9.0], "champion": [1.0, 0.0], "tickets": [7.0, 0.0]})
    d = review.top_drivers(contrib, measures)
    assert d.loc[0, ["driver_1", "driver_2", "driver_3"]].tolist() == [
        "Latest NPS",
        "Support tickets (90 days)",
        "Champion",
    ]
    assert d.loc[0, "driver_1_points"] == -8.0 and d.loc[0, "driver_1_value"] == 3.0
    assert d.loc[1, "driver_1"] == "Latest NPS" and d.loc[1, "driver_2_points"] == -0.5


def test_disagreements_by_hand(hp) -> None:
    ids = ["good_risky", "good_quiet", "bad_healthy", "bad_mixed"]
    now = pd.DataFrame(
        {
            "account_id": ids,
            "nps_score": [4.0, 8.0, 10.0, 10.0],  # a detractor among the GOOD
            "champion": [1.0, 1.0, 1.0, 1.0],
            "champion_lost": [0.0, 0.0, 0.0, 1.0],  # a lost champion is a risk signal
            "exec_access": [1.0, 0.0, 1.0, 1.0],
            "days_to_renewal": [200.0, 30.0, 300.0, 300.0],
            "renewal_steps": [0.0, 2.0, 0.0, 0.0],
            "has_csm": [1.0, 1.0, 1.0, 1.0],
            **{
                f"bantc_{d}_risk": [0.0, 0.0, 0.0, 0.0]
                for d in ("budget", "authority", "need", "timeframe", "competitor")
            },
            "bantc_risk_count": [0.0, 0.0, 0.0, 0.0],
        }
    )
    scored = pd.DataFrame(
        {
            "account_id": ids,
            "account_name": ids,
            "csm": "x",
            "health_score": [80.0, 75.0, 20.0, 25.0],
            "health_tier": ["GOOD", "GOOD", "BAD", "BAD"],
            "arr": [1.0, 2.0, 3.0, 4.0],
        }
    )
    r = review.disagreements(scored, now, hp).set_index("account_id")
    assert list(r.index) == ["bad_healthy", "good_risky"]
    assert r.loc["good_risky", "signals"] == "NPS detractor"
    assert r.loc["bad_healthy", "signals"] == "NPS promoter; champion engaged; executive access; BANTC all clear"


def test_comparison_sentence_says_how_sure() -> None:
    better = {"auc_a": 0.8, "auc_b": 0.75, "diff": 0.05, "lo": 0.01, "hi": 0.09, "share_a_better": 0.99}
    assert review.comparison_sentence(better).startswith("The calibrated score predicts churn better")
    assert "99% of the resamples" in review.comparison_sentence(better)
    unclear = better | {"lo": -0.01}
    assert review.comparison_sentence(unclear).startswith("No clear difference")
    assert "not enough" in review.comparison_sentence({"diff": np.nan})


def test_observation_summary_by_hand() -> None:
    obs = pd.DataFrame(
        {
            "account_id": ["a", "b", "a", "b"],
            "obs_date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-04-01", "2025-04-01"]),
            "churned": [1.0, 0.0, np.nan, np.nan],
        }
    )
    s = review.observation_summary(obs, fit_before=pd.Timestamp("2025-04-01")).set_index("quarter")
    assert s.loc["2025Q1", "churn_rate"] == 0.5 and bool(s.loc["2025Q1", "used_for_fit"])
    assert s.loc["2025Q2", "outcome_known"] == 0 and not s.loc["2025Q2", "used_for_fit"]


def test_csm_export_and_checks_on_the_demo(demo_ds, hp) -> None:
    day = pd.Timestamp("2026-09-30")
    now = calibration.measures_on(demo_ds, hp, day=day)
    history = calibration.build_observations(demo_ds, hp, cutoff=day)
    prob = calibration.rules_probability(history, hp.rules_scorecard)
    scored = review.scored_accounts(now, demo_ds.accounts, hp, scorecard=None, rules_calibration=prob)
    assert len(scored) == len(now) and scored["account_name"].notna().all()
    assert np.allclose(scored["arr_at_risk"], scored["churn_probability"] * scored["arr"])
    assert scored["arr_at_risk"].is_monotonic_decreasing
    assert (scored[["driver_1_points", "driver_2_points", "driver_3_points"]] <= 0).all().all()  # points lost
    assert set(scored["scorecard"]) == {"rules"}
    sc = calibration.calibrate(history, hp, fit_before=pd.Timestamp("2026-07-01"), current=now)
    migration = review.migration_matrix(
        scored[["account_id", "health_tier"]], scored[["account_id", "health_tier"]], order=ORDER
    )
    checks = review.consistency_checks(
        scored, active_accounts=len(now), migration=migration, scorecard=sc, fit_before=pd.Timestamp("2026-07-01")
    )
    assert all(checks.values()), checks


def test_charts_draw_the_numbers_they_are_given(rng) -> None:
    y = (rng.random(400) < 0.2).astype(float)
    p = np.clip(0.1 + 0.3 * y + rng.normal(scale=0.1, size=400), 0.01, 0.99)
    curves = calibration_curve(y, p).assign(model="calibrated")
    ax = charts.calibration_plot(curves, ece={"calibrated": 0.012})
    assert "calibrated 1.2%" in ax.get_title()
    lifts = lift_table(y, p).assign(model="calibrated")
    ax = charts.lift_bars(lifts)
    assert f"{lifts['lift'].iloc[0]:.1f}x" in ax.get_title()
    summary = pd.DataFrame(
        {
            "fold": ["2026Q1", "all"],
            "model": ["calibrated", "calibrated"],
            "auc": [0.8, 0.78],
            "auc_lo": [0.7, 0.7],
            "auc_hi": [0.9, 0.85],
        }
    )
    assert "calibrated 0.78" in charts.fold_auc(summary).get_title()
    table = pd.DataFrame({"model": ["calibrated"] * 3, "tier": ORDER, "churn_rate": [0.02, 0.1, 0.3]})
    assert "15.0x" in charts.tier_churn_bars(table, order=ORDER).get_title()
    m = pd.DataFrame([[5, 1], [2, 7]], index=["GOOD", "BAD"], columns=["GOOD", "BAD"])
    assert charts.migration_heatmap(m, before="Q2", after="Q3").get_title().startswith("3 accounts changed tier")
    scored = pd.DataFrame({"health_score": [10.0, 50.0, 90.0], "health_tier": ["BAD", "NORMAL", "GOOD"]})
    assert (
        charts.score_histogram(scored, good_from=70, bad_below=40, order=ORDER).get_title()
        == "1 GOOD, 1 NORMAL, 1 BAD accounts today"
    )
    plt.close("all")
