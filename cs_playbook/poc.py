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
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from cs_playbook.errors import Problem
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

# Metrics computed from events for a scope's users over each week; each may name an event type
# after a colon (active_user_share:create_report = share of scope users who created a report).
EVENT_METRICS = {
    "active_user_share": "share of the scope's users with at least one event (of the type) in the week",
    "active_users": "users of the scope with at least one event (of the type) in the week",
    "events": "events (of the type) by the scope's users in the week",
    "events_per_active_user": "events (of the type) per active user of the scope in the week (0 when nobody was active)",
}
SHARE_METRICS = {"active_user_share"}

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


def parse_metric(metric: str) -> tuple[str, str | None]:
    """('events_per_active_user', 'create_report') from 'events_per_active_user:create_report'."""
    base, _, event_type = str(metric).strip().partition(":")
    return base.strip(), (event_type.strip() or None)


def is_event_metric(metric: str) -> bool:
    """Whether the metric can be computed from events (a known name, with a non-empty type if any)."""
    base, event_type = parse_metric(metric)
    return base in EVENT_METRICS and (":" not in str(metric) or event_type is not None)


def metric_bounds(metric: str, source: str = "events") -> tuple[float, float]:
    """The range a metric's values can take: shares 0-1, counts >= 0, manual measures unbounded."""
    if source != "events":
        return -np.inf, np.inf
    base, _ = parse_metric(metric)
    return (0.0, 1.0) if base in SHARE_METRICS else (0.0, np.inf)


def split_scope(scope: str | None) -> list[str]:
    """The sites or teams of a PoC's scope ('営業部;人事部' -> ['営業部', '人事部'])."""
    if scope is None or (isinstance(scope, float) and np.isnan(scope)):
        return []
    return [s.strip() for s in str(scope).split(";") if s.strip()]


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
    """params/poc.yaml."""

    evaluate_at: Literal["data_as_of", "quarter_end"] = "data_as_of"
    status: StatusRules = Field(default_factory=StatusRules)
    benchmark_conversion: tuple[float, float] = (0.7, 0.8)
    candidates: CandidateRules = Field(default_factory=CandidateRules)
    planned: list[PlannedPoc] = Field(default_factory=list)
    actions: dict[str, str]

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


def _examples(df: pd.DataFrame, mask: pd.Series, columns: list[str], line_offset: int | None) -> tuple[str, ...]:
    """Up to five offending rows as 'line N: col=value, ...' (the CSV header is line 1)."""
    out = []
    for idx, row in df.loc[mask, columns].head(5).iterrows():
        where = f"line {int(idx) + line_offset}" if line_offset is not None else f"row {idx}"
        values = []
        for c in columns:
            v = row[c]
            if isinstance(v, pd.Timestamp):
                values.append(f"{c}={v:%Y-%m-%d}")
            elif v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
                values.append(f"{c}=<empty>")
            else:
                values.append(f"{c}={v!r}" if isinstance(v, str) else f"{c}={v}")
        out.append(f"{where}: {', '.join(values)}")
    return tuple(out)


def pocs_as_of(pocs: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """PoCs as they stood on `as_of`: those started by then, undecided ones (decided later) open again."""
    out = pocs[pocs["start_date"] <= as_of].copy()
    later = out["decided_at"].notna() & (out["decided_at"] > as_of)
    out.loc[later, "outcome"] = "open"
    out.loc[later, "decided_at"] = pd.NaT
    return out


def check_poc_tables(
    tables: dict[str, pd.DataFrame], files: dict[str, str] | None = None, *, line_offset: int | None = 2
) -> list[Problem]:
    """Rules spanning pocs, poc_criteria, poc_measurements and users, each broken rule one Problem.

    Checks: an events criterion names a known event metric; a share target lies in 0-1 and a
    count target is not negative; a PoC's weights are not all 0; decided_at is set exactly
    when the outcome is won or lost; a scope names at least one site or team, each found among
    the account's users when the PoC has events criteria; manual measurements belong to manual
    criteria and fall inside the PoC's window (start_date to end_date).
    """
    files = files or {}
    problems: list[Problem] = []
    pocs, crit, meas, users = (tables.get(n) for n in ("pocs", "poc_criteria", "poc_measurements", "users"))

    def add(table: str, column: str, rule: str, df: pd.DataFrame, mask: pd.Series, cols: list[str]) -> None:
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            ex = _examples(df, mask, cols, line_offset)
            problems.append(Problem(table, column, rule, int(mask.sum()), ex, files.get(table)))

    if pocs is not None and {"outcome", "decided_at", "scope"} <= set(pocs.columns):
        add(
            "pocs",
            "decided_at",
            "decided_at must be empty while the outcome is open",
            pocs,
            (pocs["outcome"] == "open") & pocs["decided_at"].notna(),
            ["poc_id", "outcome", "decided_at"],
        )
        add(
            "pocs",
            "decided_at",
            "decided_at is required when the outcome is won or lost",
            pocs,
            pocs["outcome"].isin(["won", "lost"]) & pocs["decided_at"].isna(),
            ["poc_id", "outcome", "decided_at"],
        )
        add(
            "pocs",
            "scope",
            "scope names no site or team (separate several with ';')",
            pocs,
            pocs["scope"].notna() & pocs["scope"].map(lambda s: not split_scope(s)),
            ["poc_id", "scope"],
        )

    if crit is not None and {"metric", "source", "target", "weight", "poc_id"} <= set(crit.columns):
        events_rows = crit["source"] == "events"
        known = crit["metric"].map(lambda m: isinstance(m, str) and is_event_metric(m))
        add(
            "poc_criteria",
            "metric",
            f"unknown event metric (known: {', '.join(EVENT_METRICS)}, each optionally :<event_type>; "
            "other metrics need source manual)",
            crit,
            events_rows & crit["metric"].notna() & ~known,
            ["poc_id", "criterion_id", "metric", "source"],
        )
        base = crit["metric"].map(lambda m: parse_metric(m)[0] if isinstance(m, str) else None)
        is_share = events_rows & known & base.isin(list(SHARE_METRICS))
        add(
            "poc_criteria",
            "target",
            "target of a share must be between 0 and 1 (write 60% as 0.6)",
            crit,
            is_share & ((crit["target"] < 0) | (crit["target"] > 1)),
            ["poc_id", "criterion_id", "metric", "target"],
        )
        add(
            "poc_criteria",
            "target",
            "target of a count must not be negative",
            crit,
            events_rows & known & ~is_share & (crit["target"] < 0),
            ["poc_id", "criterion_id", "metric", "target"],
        )
        total = crit.groupby("poc_id")["weight"].transform(lambda w: w.fillna(0).sum())
        add(
            "poc_criteria",
            "weight",
            "the weights of a PoC's criteria must not all be 0",
            crit,
            (total <= 0) & crit["weight"].notna(),
            ["poc_id", "criterion_id", "weight"],
        )
        if pocs is not None and users is not None and {"account_id", "department"} <= set(users.columns):
            with_events = set(crit.loc[events_rows, "poc_id"])
            depts = set(zip(users["account_id"].astype(str), users["department"].astype(str), strict=True))
            unknown_scope = pocs["poc_id"].isin(with_events) & pocs.apply(
                lambda r: any((str(r["account_id"]), d) not in depts for d in split_scope(r["scope"])), axis=1
            ).astype(bool)
            add(
                "pocs",
                "scope",
                "scope names a site or team without users in users (department of the PoC's account), "
                "so its events criteria cannot be computed",
                pocs,
                unknown_scope,
                ["poc_id", "account_id", "scope"],
            )

    if meas is not None and crit is not None and {"poc_id", "criterion_id", "measured_at"} <= set(meas.columns):
        keyed = meas.merge(
            crit[["poc_id", "criterion_id", "source"]].drop_duplicates(["poc_id", "criterion_id"]),
            on=["poc_id", "criterion_id"],
            how="left",
        ).set_index(meas.index)
        add(
            "poc_measurements",
            "criterion_id",
            "measurement for a criterion computed from events (source events): remove it or make the criterion manual",
            meas,
            keyed["source"] == "events",
            ["poc_id", "criterion_id", "measured_at"],
        )
        if pocs is not None and {"start_date", "end_date"} <= set(pocs.columns):
            window = meas.merge(
                pocs[["poc_id", "start_date", "end_date"]].drop_duplicates("poc_id"), on="poc_id", how="left"
            ).set_index(meas.index)
            outside = (window["measured_at"] < window["start_date"]) | (window["measured_at"] > window["end_date"])
            shown = meas.assign(start_date=window["start_date"], end_date=window["end_date"])
            add(
                "poc_measurements",
                "measured_at",
                "measured_at is outside the PoC window (start_date to end_date in pocs)",
                shown,
                outside,
                ["poc_id", "criterion_id", "measured_at", "start_date", "end_date"],
            )
    return problems
