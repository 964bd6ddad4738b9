"""PoC success criteria: the metrics they may use, the params, and the contract rules across the PoC tables.

A PoC (pocs) has agreed success criteria (poc_criteria). A criterion with source `events` is
computed from raw events for the users of the PoC's scope (`poc_usage`); a `manual` one is
measured by hand (poc_measurements). `check_poc_tables` holds the rules that span these
tables and runs in `io.load_dataset`, so bad input is reported with every other problem.
Projections and verdicts are in `poc_tracking`, the portfolio and candidate ranking in
`poc_portfolio`.
"""

from __future__ import annotations

import string
from typing import Any, Literal

import pandas as pd
from pydantic import Field, field_validator, model_validator

from cs_playbook.data.poc_tables import (
    EVENT_METRICS,
    check_poc_tables,
    is_event_metric,
    metric_bounds,
    parse_metric,
    split_scope,
)
from cs_playbook.params import StrictModel

__all__ = [
    "EVENT_METRICS",
    "ACTION_KEYS",
    "CriterionProposal",
    "PlannedPoc",
    "StatusRules",
    "CandidateRules",
    "PocParams",
    "parse_metric",
    "is_event_metric",
    "metric_bounds",
    "split_scope",
    "pocs_as_of",
    "check_poc_tables",
]

# Keys of params/poc.yaml `actions`, each a sentence template for the next action of a PoC.
ACTION_KEYS = {
    "no_criteria",
    "met",
    "met_overdue",
    "overdue",
    "no_data",
    "on_track",
    "slipping",
    "manual",
    "pace_late",
    "pace_flat",
    *EVENT_METRICS,
}
PLACEHOLDERS = {
    "description",
    "current",
    "target",
    "probability",
    "end_date",
    "days_left",
    "event_type",
    "inactive_users",
    "scope_users",
    "reach_date",
    "weeks_late",
    "score",
    "arr",
    "must_haves_missed",
}


# ---------------------------------------------------------------------------------------------
# Params


class CriterionProposal(StrictModel):
    """A criterion proposed for a planned PoC (an event metric, so current usage can score it)."""

    criterion_id: str
    description: str
    metric: str
    comparator: Literal[">=", "<="] = ">="
    target: float
    must_have: bool = False
    weight: float = Field(1.0, ge=0)

    @field_validator("metric")
    @classmethod
    def _event_metric(cls, v: str) -> str:
        if not is_event_metric(v):
            raise ValueError(f"metric must be one of {', '.join(EVENT_METRICS)} (optionally :<event_type>)")
        return v.strip()

    @model_validator(mode="after")
    def _share_target(self) -> CriterionProposal:
        lo, hi = metric_bounds(self.metric)
        if not lo <= self.target <= hi:
            raise ValueError(f"target {self.target:g} of {self.metric} must be between {lo:g} and {hi:g}")
        return self


class PlannedPoc(StrictModel):
    """A PoC being planned: the account, where it could run, and the proposed criteria."""

    name: str
    account_id: str
    departments: list[str] | Literal["all"] = "all"
    similar_accounts: int = Field(10, ge=0)
    criteria: list[CriterionProposal] = Field(min_length=1)

    @field_validator("account_id", mode="before")
    @classmethod
    def _id_as_text(cls, v: object) -> str:
        return str(v).strip()


class StatusRules(StrictModel):
    """How a criterion's status and a PoC's verdict are decided."""

    min_points: int = Field(3, ge=3)
    trend_points: int = Field(6, ge=3)
    trend_min_points: int = Field(4, ge=3)
    current_points: int = Field(2, ge=1)
    interval: float = Field(0.8, gt=0.5, lt=1)
    on_track_probability: float = Field(0.7, gt=0, lt=1)
    at_risk_probability: float = Field(0.3, gt=0, lt=1)
    keep_met_probability: float = Field(0.5, gt=0, lt=1)
    pass_score: float = Field(0.7, ge=0, le=1)
    off_track_score: float = Field(0.4, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> StatusRules:
        if self.at_risk_probability >= self.on_track_probability:
            raise ValueError("at_risk_probability must be below on_track_probability")
        if self.off_track_score > self.pass_score:
            raise ValueError("off_track_score must not be above pass_score")
        if not self.min_points <= self.trend_min_points <= self.trend_points:
            raise ValueError("need min_points <= trend_min_points <= trend_points")
        return self


class CandidateRules(StrictModel):
    """How candidate sites or teams for a planned PoC are scored from current usage."""

    lookback_weeks: int = Field(8, ge=2, le=52)
    match_on: list[Literal["segment", "industry", "region"]] = Field(default_factory=lambda: ["segment", "industry"])
    min_users: int = Field(3, ge=1)


class PocParams(StrictModel):
    """params/poc.yaml. PoCs are judged at the report's as-of date (the quarter's last day, or the data's while open)."""

    status: StatusRules = Field(default_factory=StatusRules)
    benchmark_conversion: tuple[float, float] = (0.7, 0.8)
    candidates: CandidateRules = Field(default_factory=CandidateRules)
    planned: list[PlannedPoc] = Field(default_factory=list)
    actions: dict[str, str]

    @model_validator(mode="before")
    @classmethod
    def _no_evaluate_at(cls, data: Any) -> Any:
        if isinstance(data, dict) and "evaluate_at" in data:
            raise ValueError(
                "evaluate_at was removed: every page of the report, PoCs included, is judged at the report's as-of "
                "date (the quarter's last day, or the data's as-of date while the quarter is still open); choose "
                "the quarter to choose the date, and delete evaluate_at"
            )
        return data

    @field_validator("actions")
    @classmethod
    def _templates(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - ACTION_KEYS)
        missing = sorted(ACTION_KEYS - set(v))
        if unknown or missing:
            raise ValueError(
                f"unknown keys {unknown}, missing keys {missing} (needed: {', '.join(sorted(ACTION_KEYS))})"
            )
        for key, text in v.items():
            try:
                fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
            except ValueError as err:
                raise ValueError(f"{key}: {err}") from err
            if fields - PLACEHOLDERS:
                raise ValueError(
                    f"{key}: unknown placeholder {sorted(fields - PLACEHOLDERS)} (allowed: {', '.join(sorted(PLACEHOLDERS))})"
                )
        return v

    @model_validator(mode="after")
    def _benchmark(self) -> PocParams:
        lo, hi = self.benchmark_conversion
        if not 0 <= lo <= hi <= 1:
            raise ValueError("benchmark_conversion must be [low, high] shares with 0 <= low <= high <= 1")
        return self


# ---------------------------------------------------------------------------------------------
# Cross-table rules


def pocs_as_of(pocs: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """PoCs as they stood on `as_of`: those started by then, undecided ones (decided later) open again."""
    out = pocs[pocs["start_date"] <= as_of].copy()
    later = out["decided_at"].notna() & (out["decided_at"] > as_of)
    out.loc[later, "outcome"] = "open"
    out.loc[later, "decided_at"] = pd.NaT
    return out
