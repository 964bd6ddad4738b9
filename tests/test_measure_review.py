"""Measure review tables against hand counts: quality, single-measure strength, decile cohorts, groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cs_playbook.health.measure_review import (
    correlation_matrix,
    decile_rates,
    measure_groups,
    measure_quality,
    univariate_strength,
)


def test_quality_by_hand() -> None:
    df = pd.DataFrame({"tickets": [0, 0, 1, 2, 100, np.nan]})
    q = measure_quality(df, ["tickets"]).iloc[0]
    assert q["label"] == "Support tickets (90 days)"
    assert q["coverage"] == pytest.approx(5 / 6) and q["zero_share"] == pytest.approx(2 / 5)
    assert q["median"] == 1 and q["max"] == 100
    # quartiles 0 and 2, fences -6 and 8: only 100 is a far outlier
    assert q["outlier_share"] == pytest.approx(1 / 5)


def test_fat_tails_are_flagged(rng) -> None:
    df = pd.DataFrame({"arr": rng.lognormal(13, 1.5, 1000), "nps_score": rng.integers(0, 11, 1000).astype(float)})
    q = measure_quality(df, ["arr", "nps_score"]).set_index("measure")
    assert bool(q.loc["arr", "fat_tailed"]) and not bool(q.loc["nps_score", "fat_tailed"])


def test_strength_direction_and_missing_rates() -> None:
    df = pd.DataFrame(
        {
            "nps_score": [1, 2, 3, 8, 9, 10, np.nan, np.nan],
            "tickets": [5, 4, 3, 2, 1, 0, 1, 1],
            "churned": [1, 1, 0, 0, 0, 0, 1, 0],
        }
    )
    s = univariate_strength(df, ["nps_score", "tickets"], outcome="churned", event="churn").set_index("measure")
    # churners score 1, 2 below every non-churner but 3: AUC 0 for higher NPS -> lower values, more churn
    assert s.loc["nps_score", "auc"] == 0.0 and s.loc["nps_score", "separation"] == 1.0
    assert s.loc["nps_score", "direction"] == "lower values, more churn"
    assert s.loc["nps_score", "coverage"] == 0.75
    assert s.loc["nps_score", "rate_present"] == pytest.approx(2 / 6) and s.loc["nps_score", "rate_missing"] == 0.5
    assert s.loc["tickets", "direction"] == "higher values, more churn"


def test_decile_cohorts_by_hand() -> None:
    df = pd.DataFrame({"arr": np.arange(1.0, 21.0), "champion": [0.0, 1.0] * 10, "churned": [0.0] * 18 + [1.0, 1.0]})
    df.loc[0, "champion"] = np.nan
    d = decile_rates(df, ["arr", "champion"], outcome="churned")
    arr = d[d["measure"] == "arr"]
    assert arr["n"].tolist() == [2] * 10 and arr["rate"].tolist() == [0.0] * 9 + [1.0]
    assert arr["cohort"].tolist() == [str(i) for i in range(1, 11)]
    assert (arr["lo"].iloc[-1], arr["hi"].iloc[-1]) == (19.0, 20.0)
    champ = d[d["measure"] == "champion"]
    assert champ["cohort"].tolist() == ["n/a", "0", "1"] and champ["n"].tolist() == [1, 9, 10]
    assert champ["rate"].tolist() == pytest.approx([0.0, 1 / 9, 1 / 10])  # row 18 (champion 0) and 19 (1) churned


def test_groups_align_signs_with_the_outcome(rng) -> None:
    n = 2000
    x = rng.normal(size=n)
    df = pd.DataFrame(
        {
            "active_user_share": x,
            "events_per_seat": x + rng.normal(scale=0.3, size=n),
            "days_since_last_activity": -x + rng.normal(scale=0.3, size=n),  # falls as x rises
            "nps_score": rng.normal(size=n),
            "churned": (rng.random(n) < 1 / (1 + np.exp(1 + x))).astype(float),
        }
    )
    measures = ["active_user_share", "events_per_seat", "days_since_last_activity", "nps_score"]
    g = measure_groups(df, measures, outcome="churned", threshold=0.7)
    first = g[g["group"] == 1]
    assert set(first["measure"]) == {"active_user_share", "events_per_seat", "days_since_last_activity"}
    assert first["group_size"].iloc[0] == 3 and "Seat utilization" in first["members_label"].iloc[0]
    assert g.loc[g["measure"] == "nps_score", "group_size"].item() == 1
    corr = correlation_matrix(df.assign(monotone=np.exp(df["nps_score"])), ["nps_score", "monotone"])
    assert corr.loc["nps_score", "monotone"] == pytest.approx(1.0)
