"""The health scorer in use: one interface for the rules and the fitted scorecard, one resolver, promotion.

Every page that shows an account's health score, tier or churn probability gets it from the scorer
that `scorer_in_use` picks, once per quarter (`cs_playbook.state`):

- `RulesScorer`: today's hand-weighted scorecard of params/health_score.yaml; its churn probability
  comes from a one-variable logistic fit of the observed churn on the rules score.
- `FittedScorer`: a calibrated scorecard (`modeling.scorecard.Scorecard`), once promoted with
  `cs-playbook promote-scorecard` into params/health_scorecard.yaml.

Both give `score` (0-100, higher = healthier), `probability`, `tier` (codes good / normal / bad:
labels are applied only when a page or an export is rendered) and `contributions` (score points
per measure). `scorer_record` / `scorer_from_record` keep a scorer as plain data, so the quarter
state written by the runner restores exactly the scorer it was computed with.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cs_playbook.data.measure_catalog import measure_label
from cs_playbook.errors import CsPlaybookError
from cs_playbook.health.rules import RulesScorecard, rules_contributions, rules_score
from cs_playbook.modeling.logistic import fit_one_variable
from cs_playbook.modeling.scorecard import TIERS, Scorecard, TierThresholds, assign_tiers, load_scorecard
from cs_playbook.params import params_dir

__all__ = [
    "TIERS",
    "PROMOTED_FILE",
    "HealthScorer",
    "RulesScorer",
    "FittedScorer",
    "rules_scorer",
    "scorer_in_use",
    "score_accounts",
    "top_drivers",
    "scorer_record",
    "scorer_from_record",
    "promoted_scorecard",
    "promote_scorecard",
]

PROMOTED_FILE = "health_scorecard.yaml"


class HealthScorer:
    """What every health scorer offers: score, churn probability, tier code and score contributions."""

    name: str
    kind: str
    thresholds: TierThresholds

    def score(self, measures: pd.DataFrame) -> np.ndarray:  # pragma: no cover - interface
        """0-100 health score of each row of account measures (higher = healthier)."""
        raise NotImplementedError

    def probability(self, measures: pd.DataFrame) -> np.ndarray:  # pragma: no cover - interface
        """Churn probability of each row of account measures."""
        raise NotImplementedError

    def contributions(self, measures: pd.DataFrame) -> pd.DataFrame:  # pragma: no cover - interface
        """Score points each measure adds or takes away, per row (columns are measures)."""
        raise NotImplementedError

    def tier(self, measures: pd.DataFrame) -> np.ndarray:
        """Tier code (good / normal / bad) of each row."""
        return assign_tiers(self.score(measures), self.thresholds)


@dataclass(frozen=True)
class RulesScorer(HealthScorer):
    """The rules scorecard, with its score turned into a probability by logistic(intercept + slope x score)."""

    rules: RulesScorecard
    intercept: float
    slope: float
    kind: str = "rules"

    @property
    def name(self) -> str:  # type: ignore[override]
        """The rules scorecard's name (params/health_score.yaml `rules_scorecard.name`)."""
        return self.rules.name

    @property
    def thresholds(self) -> TierThresholds:  # type: ignore[override]
        """The fixed thresholds of the rules scorecard."""
        return TierThresholds(
            good_from=self.rules.good_from, bad_below=self.rules.bad_below, rule="rules scorecard thresholds"
        )

    def score(self, measures: pd.DataFrame) -> np.ndarray:
        """Weighted points out of 100 (`health.rules.rules_score`)."""
        return np.asarray(rules_score(measures, self.rules), dtype="float64")

    def probability(self, measures: pd.DataFrame) -> np.ndarray:
        """Churn probability from the one-variable calibration of the rules score."""
        return 1 / (1 + np.exp(-(self.intercept + self.slope * self.score(measures))))

    def contributions(self, measures: pd.DataFrame) -> pd.DataFrame:
        """Points each measure loses against full marks (<= 0)."""
        return rules_contributions(measures, self.rules)


@dataclass(frozen=True)
class FittedScorer(HealthScorer):
    """A calibrated (fitted) scorecard with tier thresholds."""

    scorecard: Scorecard
    kind: str = "fitted"

    @property
    def name(self) -> str:  # type: ignore[override]
        """The scorecard's name, e.g. 'calibrated 2026Q3'."""
        return self.scorecard.name

    @property
    def thresholds(self) -> TierThresholds:  # type: ignore[override]
        """The thresholds chosen at calibration (everything NORMAL when it had none)."""
        return self.scorecard.tiers or TierThresholds(
            good_from=100, bad_below=0, rule="no thresholds: every account NORMAL"
        )

    def score(self, measures: pd.DataFrame) -> np.ndarray:
        """The scorecard's 0-100 score."""
        return self.scorecard.score(measures)

    def probability(self, measures: pd.DataFrame) -> np.ndarray:
        """The scorecard's churn probability."""
        return self.scorecard.probability(measures)

    def contributions(self, measures: pd.DataFrame) -> pd.DataFrame:
        """Points each measure adds (+) or takes away (-) against an average account."""
        return self.scorecard.contributions(measures)


def rules_scorer(rules: RulesScorecard, history: pd.DataFrame) -> RulesScorer:
    """The rules scorer with its probability calibrated on `history` (observations with a known churn outcome).

    `history` is `health.calibration.build_observations` output; rows without an observed outcome are left out.
    """
    known = history[history["churned"].notna()]
    a, b = fit_one_variable(rules_score(known, rules), known["churned"])
    return RulesScorer(rules=rules, intercept=float(a), slope=float(b))


def scorer_in_use(
    rules: RulesScorecard, *, promoted: Scorecard | None, history: pd.DataFrame | None = None
) -> HealthScorer:
    """The one decision of which scorecard scores the accounts: the promoted scorecard, else the rules scorecard.

    `history` (observations with outcomes, known at the scoring date) calibrates the rules score's
    probability; it is needed only when nothing is promoted.
    """
    if promoted is not None:
        return FittedScorer(promoted)
    if history is None:
        raise CsPlaybookError("The rules scorecard needs the observed history to calibrate its churn probability.")
    return rules_scorer(rules, history)


def top_drivers(contributions: pd.DataFrame, measures: pd.DataFrame, *, k: int = 3) -> pd.DataFrame:
    """The k measures that move each row's score most (largest points, either way), with value and points.

    Returns driver_1, driver_1_value, driver_1_points, ... driver_k_points, index of `contributions`.
    """
    pts = contributions.fillna(0.0)
    order = np.argsort(-pts.abs().to_numpy(), axis=1, kind="stable")[:, :k]
    names = np.array(pts.columns)
    values = measures.reindex(columns=names).to_numpy(dtype=object)
    rows = np.arange(len(pts))
    out = {}
    for i in range(min(k, pts.shape[1])):
        out[f"driver_{i + 1}"] = [measure_label(c) for c in names[order[:, i]]]
        out[f"driver_{i + 1}_value"] = pd.to_numeric(pd.Series(values[rows, order[:, i]]), errors="coerce").to_numpy()
        out[f"driver_{i + 1}_points"] = np.round(pts.to_numpy()[rows, order[:, i]], 1)
    return pd.DataFrame(out, index=contributions.index)


def score_accounts(measures: pd.DataFrame, scorer: HealthScorer, *, drivers: int = 3) -> pd.DataFrame:
    """Each row's health score, tier code, churn probability and top drivers under `scorer`.

    `measures` holds account_id and the measures (`data.measures.account_measures`). Returns
    account_id, health_score (0-100, one decimal), health_tier (good / normal / bad),
    churn_probability, driver_1 .. driver_k (with _value and _points), scorecard; index of `measures`.
    """
    score = scorer.score(measures)
    out = pd.DataFrame({"account_id": measures["account_id"].astype("string")}, index=measures.index)
    out["health_score"] = np.round(score, 1)
    out["health_tier"] = pd.Series(assign_tiers(score, scorer.thresholds), index=measures.index, dtype="string")
    out["churn_probability"] = scorer.probability(measures)
    if drivers:
        out = out.join(top_drivers(scorer.contributions(measures), measures, k=drivers))
    out["scorecard"] = scorer.name
    return out


def scorer_record(scorer: HealthScorer) -> dict[str, Any]:
    """The scorer as plain data (YAML/JSON), enough to score again exactly as it did."""
    if isinstance(scorer, RulesScorer):
        return {
            "kind": "rules",
            "rules": scorer.rules.model_dump(mode="json"),
            "intercept": scorer.intercept,
            "slope": scorer.slope,
        }
    if isinstance(scorer, FittedScorer):
        return {"kind": "fitted", "scorecard": scorer.scorecard.model_dump(mode="json")}
    raise TypeError(f"not a health scorer: {type(scorer).__name__}")


def scorer_from_record(record: dict[str, Any]) -> HealthScorer:
    """The scorer `scorer_record` wrote."""
    if record.get("kind") == "rules":
        return RulesScorer(
            rules=RulesScorecard.model_validate(record["rules"]),
            intercept=float(record["intercept"]),
            slope=float(record["slope"]),
        )
    if record.get("kind") == "fitted":
        return FittedScorer(Scorecard.model_validate(record["scorecard"]))
    raise CsPlaybookError(f"Unknown health scorer record kind {record.get('kind')!r}: expected rules or fitted.")


def promoted_scorecard(params_dir_: str | Path | None = None) -> Scorecard | None:
    """The promoted scorecard of the params folder, or None when the rules scorecard is in use."""
    path = params_dir(params_dir_) / PROMOTED_FILE
    return load_scorecard(path) if path.exists() else None


def promote_scorecard(source: str | Path, params_dir_: str | Path | None = None, *, force: bool = False) -> Path:
    """Copy a reviewed scorecard YAML into the params folder, so the next runs score with it.

    The file is validated first; a scorecard whose out-of-time validation says not to promote it
    (`validation.guard_rails.do_not_promote`: no better than the score in use, an AUC interval that
    includes chance, ...) is refused unless `force`. It is written through a temporary file and
    renamed, so a failed promotion leaves the previous scorecard in place. Returns the path written.
    """
    sc = load_scorecard(source)
    rails = (sc.validation or {}).get("guard_rails") or {}
    if rails.get("do_not_promote") and not force:
        reasons = "; ".join(str(r) for r in rails.get("reasons") or []) or "its validation says not to promote it"
        raise CsPlaybookError(
            f"{Path(source).name}: not promoted: {reasons}. Review the health report; to promote it anyway, "
            "add --force."
        )
    if sc.fallback is not None or not sc.terms:
        raise CsPlaybookError(
            f"{Path(source).name}: this scorecard has no fitted measures ({sc.fallback}); it cannot be promoted."
        )
    if sc.tiers is None:
        raise CsPlaybookError(f"{Path(source).name}: this scorecard has no tier thresholds; it cannot be promoted.")
    target = params_dir(params_dir_) / PROMOTED_FILE
    header = (
        f"# Promoted health scorecard (from {Path(source).name}).\n"
        "# Every page of the quarterly report scores with it while this file exists (cs_playbook.health.scorer);\n"
        "# delete it (or run `cs-playbook promote-scorecard --revert`) to go back to the rules scorecard\n"
        "# of health_score.yaml. Generated: edit by re-running the calibration, not by hand.\n"
    )
    body = yaml.safe_dump(sc.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        Path(tmp).write_text(header + body, encoding="utf-8")
        os.chmod(tmp, 0o644)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
