"""Today's rules scorecard: bands, weights and points lost by hand; params errors name the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cs_playbook.config import PARAMS_DIR
from cs_playbook.errors import ParamsError
from cs_playbook.health.calibration import HealthParams
from cs_playbook.health.rules import RulesScorecard, rules_contributions, rules_points, rules_score
from cs_playbook.params import load_params


def test_rules_scorecard_by_hand() -> None:
    rules = RulesScorecard.model_validate(
        {
            "measures": [
                {
                    "measure": "active_user_share",
                    "weight": 3,
                    "bands": [
                        {"min": 0.5, "points": 100},
                        {"min": 0.2, "max": 0.5, "points": 50},
                        {"max": 0.2, "points": 0},
                    ],
                },
                {
                    "measure": "nps_score",
                    "weight": 1,
                    "bands": [{"min": 9, "points": 100}, {"max": 9, "points": 20}],
                    "missing_points": 60,
                },
            ]
        }
    )
    m = pd.DataFrame({"active_user_share": [0.7, 0.3, 0.1, np.nan], "nps_score": [10, np.nan, 3, 9]})
    pts = rules_points(m, rules)
    assert pts["active_user_share"].tolist() == [100, 50, 0, 50]  # missing: default 50 points
    assert pts["nps_score"].tolist() == [100, 60, 20, 100]
    # (3 x 100 + 1 x 100) / 4, (3 x 50 + 60) / 4, (0 + 20) / 4, (150 + 100) / 4
    assert rules_score(m, rules).tolist() == [100.0, 52.5, 5.0, 62.5]
    lost = rules_contributions(m, rules)
    assert lost.loc[2].tolist() == [-75.0, -20.0]  # 3/4 x (0 - 100), 1/4 x (20 - 100)


def test_rules_scorecard_rejects_unknown_measures_naming_the_key(tmp_path: Path) -> None:
    text = (PARAMS_DIR / "health_score.yaml").read_text(encoding="utf-8")
    (tmp_path / "health_score.yaml").write_text(text.replace("measure: nps_score", "measure: nps"), encoding="utf-8")
    with pytest.raises(ParamsError, match=r"rules_scorecard\.measures\.\d+\.measure.*unknown measure 'nps'"):
        load_params("health_score", HealthParams, directory=tmp_path)
