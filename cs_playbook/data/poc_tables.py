"""The data contract's rules across the PoC tables, and the event metrics a PoC criterion may name.

`check_poc_tables` runs in `io.load_dataset`, so a broken PoC rule is reported with every other
problem of the data; the PoC analysis (`cs_playbook.poc`) builds on the same metric definitions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_playbook.errors import Problem

__all__ = [
    "EVENT_METRICS",
    "SHARE_METRICS",
    "parse_metric",
    "is_event_metric",
    "metric_bounds",
    "split_scope",
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


# One cross-table rule: table, column, rule text, the frame, the rows breaking it, the columns shown as examples.
Rule = tuple[str, str, str, pd.DataFrame, pd.Series, list[str]]


def _pocs_rules(pocs: pd.DataFrame) -> list[Rule]:
    """decided_at set exactly when the outcome is won or lost; a scope names at least one site or team."""
    return [
        (
            "pocs",
            "decided_at",
            "decided_at must be empty while the outcome is open",
            pocs,
            (pocs["outcome"] == "open") & pocs["decided_at"].notna(),
            ["poc_id", "outcome", "decided_at"],
        ),
        (
            "pocs",
            "decided_at",
            "decided_at is required when the outcome is won or lost",
            pocs,
            pocs["outcome"].isin(["won", "lost"]) & pocs["decided_at"].isna(),
            ["poc_id", "outcome", "decided_at"],
        ),
        (
            "pocs",
            "scope",
            "scope names no site or team (separate several with ';')",
            pocs,
            pocs["scope"].notna() & pocs["scope"].map(lambda s: not split_scope(s)),
            ["poc_id", "scope"],
        ),
    ]


def _criteria_rules(crit: pd.DataFrame) -> list[Rule]:
    """A known event metric, a share target in 0-1, a count target not negative, not all weights 0."""
    events_rows = crit["source"] == "events"
    known = crit["metric"].map(lambda m: isinstance(m, str) and is_event_metric(m))
    base = crit["metric"].map(lambda m: parse_metric(m)[0] if isinstance(m, str) else None)
    is_share = events_rows & known & base.isin(list(SHARE_METRICS))
    total = crit.groupby("poc_id")["weight"].transform(lambda w: w.fillna(0).sum())
    return [
        (
            "poc_criteria",
            "metric",
            f"unknown event metric (known: {', '.join(EVENT_METRICS)}, each optionally :<event_type>; "
            "other metrics need source manual)",
            crit,
            events_rows & crit["metric"].notna() & ~known,
            ["poc_id", "criterion_id", "metric", "source"],
        ),
        (
            "poc_criteria",
            "target",
            "target of a share must be between 0 and 1 (write 60% as 0.6)",
            crit,
            is_share & ((crit["target"] < 0) | (crit["target"] > 1)),
            ["poc_id", "criterion_id", "metric", "target"],
        ),
        (
            "poc_criteria",
            "target",
            "target of a count must not be negative",
            crit,
            events_rows & known & ~is_share & (crit["target"] < 0),
            ["poc_id", "criterion_id", "metric", "target"],
        ),
        (
            "poc_criteria",
            "weight",
            "the weights of a PoC's criteria must not all be 0",
            crit,
            (total <= 0) & crit["weight"].notna(),
            ["poc_id", "criterion_id", "weight"],
        ),
    ]


def _scope_rules(pocs: pd.DataFrame, crit: pd.DataFrame, users: pd.DataFrame) -> list[Rule]:
    """Each site or team of a PoC with events criteria has users in the account's departments."""
    with_events = set(crit.loc[crit["source"] == "events", "poc_id"])
    depts = set(zip(users["account_id"].astype(str), users["department"].astype(str), strict=True))
    unknown_scope = pocs["poc_id"].isin(with_events) & pocs.apply(
        lambda r: any((str(r["account_id"]), d) not in depts for d in split_scope(r["scope"])), axis=1
    ).astype(bool)
    return [
        (
            "pocs",
            "scope",
            "scope names a site or team without users in users (department of the PoC's account), "
            "so its events criteria cannot be computed",
            pocs,
            unknown_scope,
            ["poc_id", "account_id", "scope"],
        )
    ]


def _measurement_rules(meas: pd.DataFrame, crit: pd.DataFrame, pocs: pd.DataFrame | None) -> list[Rule]:
    """Manual measurements belong to manual criteria and fall inside the PoC's window."""
    keyed = meas.merge(
        crit[["poc_id", "criterion_id", "source"]].drop_duplicates(["poc_id", "criterion_id"]),
        on=["poc_id", "criterion_id"],
        how="left",
    ).set_index(meas.index)
    rules: list[Rule] = [
        (
            "poc_measurements",
            "criterion_id",
            "measurement for a criterion computed from events (source events): remove it or make the criterion manual",
            meas,
            keyed["source"] == "events",
            ["poc_id", "criterion_id", "measured_at"],
        )
    ]
    if pocs is not None and {"start_date", "end_date"} <= set(pocs.columns):
        window = meas.merge(
            pocs[["poc_id", "start_date", "end_date"]].drop_duplicates("poc_id"), on="poc_id", how="left"
        ).set_index(meas.index)
        outside = (window["measured_at"] < window["start_date"]) | (window["measured_at"] > window["end_date"])
        rules.append(
            (
                "poc_measurements",
                "measured_at",
                "measured_at is outside the PoC window (start_date to end_date in pocs)",
                meas.assign(start_date=window["start_date"], end_date=window["end_date"]),
                outside,
                ["poc_id", "criterion_id", "measured_at", "start_date", "end_date"],
            )
        )
    return rules


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
    pocs, crit, meas, users = (tables.get(n) for n in ("pocs", "poc_criteria", "poc_measurements", "users"))
    rules: list[Rule] = []
    if pocs is not None and {"outcome", "decided_at", "scope"} <= set(pocs.columns):
        rules += _pocs_rules(pocs)
    if crit is not None and {"metric", "source", "target", "weight", "poc_id"} <= set(crit.columns):
        rules += _criteria_rules(crit)
        if pocs is not None and users is not None and {"account_id", "department"} <= set(users.columns):
            rules += _scope_rules(pocs, crit, users)
    if meas is not None and crit is not None and {"poc_id", "criterion_id", "measured_at"} <= set(meas.columns):
        rules += _measurement_rules(meas, crit, pocs)
    problems = []
    for table, column, rule, df, mask, cols in rules:
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            ex = _examples(df, mask, cols, line_offset)
            problems.append(Problem(table, column, rule, int(mask.sum()), ex, files.get(table)))
    return problems
