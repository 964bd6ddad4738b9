"""The scorecard as an artefact: how each measure is standardized, the weights, the 0-100 scaling and the tiers.

A `Scorecard` is what `scorecard.fit_logistic` returns and what the calibration notebook saves as YAML:
it scores new observations (`score`, `probability`, `log_odds`), explains them (`contributions`:
points each measure adds or takes away) and lists its weights with intervals (`weights`). The score is
anchor - points_to_double_odds / ln 2 x (log-odds - log-odds at the base rate), clipped to 0-100:
higher means lower odds of the outcome (healthier, for churn).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, model_validator

from cs_playbook.errors import ParamsError
from cs_playbook.params import StrictModel, error_lines, read_yaml

__all__ = [
    "LN2",
    "TIERS",
    "TierLabels",
    "TierThresholds",
    "MeasureScaling",
    "Term",
    "Scorecard",
    "assign_tiers",
    "load_scorecard",
]

LN2 = math.log(2.0)


# Tier codes, best first: the data every table and export carries. Words for them (GOOD, 良好, ...)
# come from `TierLabels` and are applied only when a page or an export is rendered.
TIERS: tuple[str, str, str] = ("good", "normal", "bad")


class TierLabels(StrictModel):
    """Words shown for the three tier codes (e.g. 良好 / 普通 / 要注意); presentation only."""

    good: str = Field("GOOD", min_length=1)
    normal: str = Field("NORMAL", min_length=1)
    bad: str = Field("BAD", min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> TierLabels:
        if len({self.good, self.normal, self.bad}) < 3:
            raise ValueError("the three tier labels must differ")
        return self

    def label(self, code: str) -> str:
        """The word for one tier code; anything else (an unscored account) is returned as it is."""
        return {"good": self.good, "normal": self.normal, "bad": self.bad}.get(code, code)

    def order(self) -> list[str]:
        """The labels, best tier first."""
        return [self.good, self.normal, self.bad]

    def apply(self, codes: Any) -> Any:
        """Tier codes (a Series, array or list) as their labels, for a page or an export."""
        if isinstance(codes, pd.Series):
            return codes.map(self.label).astype("string")
        return [self.label(c) for c in codes]


class TierThresholds(StrictModel):
    """Score bands: good from `good_from`, bad below `bad_below`, normal in between."""

    good_from: float = Field(ge=0, le=100)
    bad_below: float = Field(ge=0, le=100)
    rule: str = ""  # how the thresholds were chosen, for the record

    @model_validator(mode="before")
    @classmethod
    def _drop_labels(cls, data: Any) -> Any:
        # Scorecards saved before tier codes carried their labels here; labels now live in params only.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in ("good", "normal", "bad")}
        return data


class MeasureScaling(StrictModel):
    """How one input column is turned into a standardized value: transform, clip, fill, standardize."""

    measure: str
    category: str | None = None  # for a text measure: 1 when the value equals this, else 0
    transform: Literal["none", "log1p"] = "none"
    clip_lo: float | None = None
    clip_hi: float | None = None
    fill: float = 0.0  # value used for missing (training median, after transform and clipping)
    mean: float = 0.0
    sd: float = Field(1.0, gt=0)

    @property
    def key(self) -> str:
        """Column name of the standardized input: the measure, or measure=category."""
        return self.measure if self.category is None else f"{self.measure}={self.category}"

    def standardize(self, values: pd.Series) -> np.ndarray:
        """Standardized values of the raw measure column."""
        if self.category is not None:
            v = (values.astype("string") == self.category).fillna(False).to_numpy(dtype="float64")
        else:
            v = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
            if self.transform == "log1p":
                v = np.log1p(np.maximum(v, -0.99))
            v = np.clip(
                v,
                self.clip_lo if self.clip_lo is not None else -np.inf,
                self.clip_hi if self.clip_hi is not None else np.inf,
            )
            v = np.where(np.isnan(v), self.fill, v)
        return (v - self.mean) / self.sd


class Term(StrictModel):
    """One fitted weight: a measure, or a group of measures averaged (signs aligned by `directions`)."""

    name: str
    inputs: list[str]  # MeasureScaling keys
    directions: list[int]  # +1 / -1 per input: aligned with the outcome inside a group
    mean: float = 0.0
    sd: float = Field(1.0, gt=0)
    coef: float
    ci_lo: float | None = None
    ci_hi: float | None = None
    p_value: float | None = None


class Scorecard(StrictModel):
    """A fitted logistic scorecard: inputs, terms and weights, 0-100 scaling, tiers, and its record."""

    kind: Literal["logistic_scorecard"] = "logistic_scorecard"
    name: str = "calibrated"
    outcome: str
    intercept: float
    inputs: list[MeasureScaling] = Field(default_factory=list)
    terms: list[Term] = Field(default_factory=list)
    base_rate: float = Field(gt=0, lt=1)
    points_to_double_odds: float = Field(20.0, gt=0)
    anchor_score: float = 50.0
    anchor_log_odds: float = 0.0
    tiers: TierThresholds | None = None
    labels: dict[str, str] = Field(default_factory=dict)  # measure -> readable name
    fitting: dict[str, Any] = Field(default_factory=dict)  # window, rows, events, method
    validation: dict[str, Any] = Field(default_factory=dict)
    fallback: str | None = None  # why the fit fell back to the base rate alone, if it did
    warnings: list[str] = Field(default_factory=list)

    @property
    def measures(self) -> list[str]:
        """Raw measure columns the scorecard needs."""
        return list(dict.fromkeys(i.measure for i in self.inputs))

    def standardized(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Each input standardized (columns named by input key); a missing measure column counts as average."""
        cols = {}
        for spec in self.inputs:
            values = frame[spec.measure] if spec.measure in frame.columns else pd.Series(np.nan, index=frame.index)
            cols[spec.key] = spec.standardize(values)
        return pd.DataFrame(cols, index=frame.index)

    def _terms(self, z: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for t in self.terms:
            avg = sum(d * z[k].to_numpy() for k, d in zip(t.inputs, t.directions, strict=True)) / len(t.inputs)
            out[t.name] = (avg - t.mean) / t.sd
        return pd.DataFrame(out, index=z.index)

    def log_odds(self, frame: pd.DataFrame) -> np.ndarray:
        """Log-odds of the outcome for each row."""
        tv = self._terms(self.standardized(frame))
        eta = np.full(len(frame), self.intercept, dtype="float64")
        for t in self.terms:
            eta += t.coef * tv[t.name].to_numpy()
        return eta

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of the outcome for each row."""
        return 1.0 / (1.0 + np.exp(-self.log_odds(frame)))

    def points_per_log_odds(self) -> float:
        """Score points per unit of log-odds (points_to_double_odds / ln 2)."""
        return self.points_to_double_odds / LN2

    def score_from_log_odds(self, eta: np.ndarray) -> np.ndarray:
        """0-100 score, higher = lower odds of the outcome."""
        return np.clip(
            self.anchor_score - self.points_per_log_odds() * (np.asarray(eta) - self.anchor_log_odds), 0, 100
        )

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """0-100 score of each row (higher = healthier for a churn outcome)."""
        return self.score_from_log_odds(self.log_odds(frame))

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score points each measure adds (+) or takes away (-) relative to an average account, per row.

        Columns are the raw measures; a text measure's columns are summed into one.
        """
        z = self.standardized(frame)
        ppl = self.points_per_log_odds()
        measure_of = {i.key: i.measure for i in self.inputs}
        points = {m: np.zeros(len(frame)) for m in self.measures}
        for t in self.terms:
            for k, d in zip(t.inputs, t.directions, strict=True):
                points[measure_of[k]] -= ppl * t.coef * d * z[k].to_numpy() / (len(t.inputs) * t.sd)
        return pd.DataFrame(points, index=frame.index)

    def weights(self) -> pd.DataFrame:
        """Effective weight of each input per standard deviation (log-odds), with its interval and term.

        Returns input, measure, term, coef, ci_lo, ci_hi, odds_ratio, points_per_sd (score points
        an increase of one sd adds; negative when it raises the outcome's odds) with its interval
        points_lo, points_hi, and p_value.
        """
        rows = []
        specs = {i.key: i for i in self.inputs}
        for t in self.terms:
            for k, d in zip(t.inputs, t.directions, strict=True):
                f = d / (len(t.inputs) * t.sd)
                lo, hi = (t.ci_lo * f, t.ci_hi * f) if t.ci_lo is not None and t.ci_hi is not None else (None, None)
                if lo is not None and lo > hi:
                    lo, hi = hi, lo
                rows.append(
                    {
                        "input": k,
                        "measure": specs[k].measure,
                        "term": t.name,
                        "coef": t.coef * f,
                        "ci_lo": lo,
                        "ci_hi": hi,
                        "odds_ratio": math.exp(t.coef * f),
                        "points_per_sd": -self.points_per_log_odds() * t.coef * f,
                        "points_lo": -self.points_per_log_odds() * hi if hi is not None else None,
                        "points_hi": -self.points_per_log_odds() * lo if lo is not None else None,
                        "p_value": t.p_value,
                    }
                )
        cols = [
            "input",
            "measure",
            "term",
            "coef",
            "ci_lo",
            "ci_hi",
            "odds_ratio",
            "points_per_sd",
            "points_lo",
            "points_hi",
            "p_value",
        ]
        return pd.DataFrame(rows, columns=cols)


def assign_tiers(score: Any, tiers: TierThresholds) -> np.ndarray:
    """Tier code of each score: good from good_from, bad below bad_below, else normal."""
    s = np.asarray(score, dtype="float64")
    return np.where(s >= tiers.good_from, "good", np.where(s < tiers.bad_below, "bad", "normal")).astype(object)


def load_scorecard(path: str | Path) -> Scorecard:
    """A scorecard YAML (written by the calibration notebook); errors name the file and key."""
    path = Path(path)
    data = read_yaml(path)
    try:
        return Scorecard.model_validate(data)
    except ValidationError as err:
        raise ParamsError(f"{path}: not a valid scorecard\n" + "\n".join(error_lines(err))) from err
