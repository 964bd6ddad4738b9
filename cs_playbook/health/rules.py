"""Today's health score: the hand-weighted rules scorecard, as commercial CS tools define it.

Each measure earns 0-100 points from the first band its value falls in (min <= value < max), the
score is the weight-averaged points (0-100), and tiers are fixed thresholds (params/health_score.yaml,
`rules_scorecard`). It is the baseline the calibrated score must beat; `health.scorer.rules_scorer` turns it
into a churn probability with a one-variable logistic fit on observed history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from cs_playbook.data.measures import MEASURES
from cs_playbook.modeling.scorecard import TierThresholds
from cs_playbook.params import StrictModel

__all__ = [
    "Band",
    "RuleMeasure",
    "RulesScorecard",
    "rules_points",
    "rules_score",
    "rules_contributions",
    "rules_tiers",
    "bands_text",
    "rules_table",
]


class Band(StrictModel):
    """Points for values in [min, max) (either bound may be left out)."""

    min: float | None = None
    max: float | None = None
    points: float = Field(ge=0, le=100)


class RuleMeasure(StrictModel):
    """One measure of the rules scorecard: its weight and how its values earn points."""

    measure: str
    label: str = ""
    weight: float = Field(gt=0)
    bands: list[Band] = Field(min_length=1)
    missing_points: float = Field(50, ge=0, le=100)

    @field_validator("measure")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in MEASURES or v == "segment":
            raise ValueError(
                f"unknown measure {v!r}; numeric measures: {', '.join(m for m in MEASURES if m != 'segment')}"
            )
        return v


class RulesScorecard(StrictModel):
    """The hand-weighted scorecard in use today: weighted points out of 100, tier thresholds."""

    name: str = "rules"
    measures: list[RuleMeasure] = Field(min_length=1)
    good_from: float = Field(70, ge=0, le=100)
    bad_below: float = Field(40, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> RulesScorecard:
        if self.bad_below > self.good_from:
            raise ValueError("bad_below must not be above good_from")
        return self


def rules_points(measures: pd.DataFrame, rules: RulesScorecard) -> pd.DataFrame:
    """Points (0-100) each measure earns under the rules: the first band the value falls in, else missing_points."""
    out = {}
    for rm in rules.measures:
        v = (
            measures[rm.measure].to_numpy(dtype="float64")
            if rm.measure in measures.columns
            else np.full(len(measures), np.nan)
        )
        pts = np.full(len(v), np.nan)
        for band in rm.bands:
            inside = ~np.isnan(v) & np.isnan(pts)
            if band.min is not None:
                inside &= v >= band.min
            if band.max is not None:
                inside &= v < band.max
            pts[inside] = band.points
        out[rm.measure] = np.where(np.isnan(pts), rm.missing_points, pts)
    return pd.DataFrame(out, index=measures.index)


def rules_score(measures: pd.DataFrame, rules: RulesScorecard) -> np.ndarray:
    """The rules scorecard's 0-100 health score: weighted average of the measures' points."""
    pts = rules_points(measures, rules)
    w = np.array([rm.weight for rm in rules.measures])
    return pts.to_numpy() @ w / w.sum()


def rules_contributions(measures: pd.DataFrame, rules: RulesScorecard) -> pd.DataFrame:
    """Score points each measure loses against full marks (<= 0) under the rules, per row."""
    pts = rules_points(measures, rules)
    total = sum(rm.weight for rm in rules.measures)
    return pd.DataFrame(
        {rm.measure: rm.weight / total * (pts[rm.measure] - 100) for rm in rules.measures}, index=measures.index
    )


def rules_tiers(rules: RulesScorecard) -> TierThresholds:
    """The rules scorecard's tier thresholds."""
    return TierThresholds(good_from=rules.good_from, bad_below=rules.bad_below, rule="rules scorecard thresholds")


def bands_text(measure: RuleMeasure) -> str:
    """A measure's bands in words, e.g. '>= 0.6: 100; 0.4 to 0.6: 75; < 0.2: 0'."""
    parts = []
    for b in measure.bands:
        lo = f"{b.min:g}" if b.min is not None else ""
        hi = f"{b.max:g}" if b.max is not None else ""
        rng = f"{lo} to {hi}" if lo and hi else (f">= {lo}" if lo else (f"< {hi}" if hi else "any value"))
        parts.append(f"{rng}: {b.points:g}")
    return "; ".join(parts)


def rules_table(rules: RulesScorecard) -> pd.DataFrame:
    """The rules scorecard as a table for the page: measure (label), weight, points by value, missing (points)."""
    return pd.DataFrame(
        [
            {
                "measure": rm.label or rm.measure,
                "weight": rm.weight,
                "points by value": bands_text(rm),
                "missing": rm.missing_points,
            }
            for rm in rules.measures
        ],
        columns=["measure", "weight", "points by value", "missing"],
    )
