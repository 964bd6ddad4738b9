"""Data meaning checked at load: the end_date convention, the contracts' coverage (as_of) and placeholder owners.

The contract's types and rules (`data.contract`) say whether a value is well formed; these checks
say whether the data means what the params say it means:

- `end_date_problems`: renewal chains (lines of one account, department and product, one after the
  other) tell which `end_date` convention an export uses: inclusive lines end the day before the
  next line starts, exclusive ones on the day it starts. Without renewals, month-aligned lines tell
  it (starting on the 1st and ending on the 1st = exclusive, ending on a month's last day = inclusive).
- `to_inclusive`: an exclusive export converted to the inclusive convention every analysis uses.
- `contracts_coverage` / `choose_as_of`: the last day the contracts are known to cover, and the
  data's as-of date (the last day covered by the events and the contracts both).
- `normalise_owners`: placeholder CSM values ("unassigned", "-", "none", ...) become missing.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from cs_playbook.errors import Problem

__all__ = [
    "PLACEHOLDER_OWNERS",
    "MIN_RENEWALS",
    "renewal_gaps",
    "end_date_problems",
    "to_inclusive",
    "contracts_coverage",
    "choose_as_of",
    "normalise_owners",
]

# Owner values that mean "nobody": compared trimmed and case-insensitively.
PLACEHOLDER_OWNERS = frozenset({"", "-", "--", "unassigned", "none", "n/a", "na", "null", "未割当", "未設定", "なし"})
MIN_RENEWALS = 3  # renewal chains needed before their gaps decide the convention
MIN_LINES = 5  # dated lines needed before month alignment decides it
MAJORITY = 0.5  # share of renewals that must contradict the declared convention
ALIGNED = 0.8  # share of lines on the 1st / on a month end that counts as month-aligned
SETTING = "end_date_convention"


def renewal_gaps(subscriptions: pd.DataFrame) -> pd.DataFrame:
    """One row per line followed by another of the same account, department and product.

    Columns: subscription_id, end_date, next_id, next_start, gap_days (next start - end date, in days).
    """
    keys = ["account_id", "_dept", "product"]
    s = subscriptions.assign(_dept=subscriptions["department"].astype("string").fillna("").str.strip())
    s = s.sort_values([*keys, "start_date", "end_date"], kind="stable")
    grouped = s.groupby(keys, sort=False, dropna=False)
    out = pd.DataFrame(
        {
            "subscription_id": s["subscription_id"],
            "end_date": s["end_date"],
            "next_id": grouped["subscription_id"].shift(-1),
            "next_start": grouped["start_date"].shift(-1),
        }
    )
    out = out[out["next_start"].notna() & out["end_date"].notna()]
    out["gap_days"] = (out["next_start"] - out["end_date"]).dt.days.astype("int64")
    return out.reset_index(drop=True)


def _pair_examples(pairs: pd.DataFrame) -> tuple[str, ...]:
    return tuple(
        f"subscription_id={r.subscription_id} ends {r.end_date:%Y-%m-%d}; {r.next_id} (same account, department, "
        f"product) starts {r.next_start:%Y-%m-%d}"
        for r in pairs.head(3).itertuples(index=False)
    )


def _line_examples(lines: pd.DataFrame) -> tuple[str, ...]:
    return tuple(
        f"subscription_id={r.subscription_id}: start_date={r.start_date:%Y-%m-%d}, end_date={r.end_date:%Y-%m-%d}"
        for r in lines.head(3).itertuples(index=False)
    )


def _problem(rule: str, n: int, examples: tuple[str, ...], file: str | None) -> Problem:
    return Problem("subscriptions", "end_date", rule, n, examples, file)


def _chain_problem(pairs: pd.DataFrame, convention: str, file: str | None) -> Problem | None:
    """The renewal chains contradict the declared convention, or None."""
    touching, adjacent = pairs[pairs["gap_days"] == 0], pairs[pairs["gap_days"] == 1]
    n = len(touching) + len(adjacent)
    if convention == "inclusive" and len(touching) > MAJORITY * n:
        rule = (
            f"end dates look exclusive: {len(touching)} of {n} renewals start on the day the previous line ends "
            f"(inclusive end dates end the day before). Set {SETTING}: exclusive in params/data.yaml"
        )
        return _problem(rule, len(touching), _pair_examples(touching), file)
    if convention == "exclusive" and len(adjacent) > MAJORITY * n:
        rule = (
            f"end dates look inclusive: {len(adjacent)} of {n} renewals start the day after the previous line ends "
            f"(exclusive end dates end on the day the next starts). Set {SETTING}: inclusive in params/data.yaml"
        )
        return _problem(rule, len(adjacent), _pair_examples(adjacent), file)
    return None


def _month_problem(subscriptions: pd.DataFrame, convention: str, file: str | None) -> Problem | None:
    """Month-aligned lines contradict the declared convention (used when there are too few renewals), or None."""
    dated = subscriptions[subscriptions["end_date"].notna() & subscriptions["start_date"].notna()]
    if len(dated) < MIN_LINES or (dated["start_date"].dt.day == 1).mean() < ALIGNED:
        return None
    on_first = dated[dated["end_date"].dt.day == 1]
    on_last = dated[dated["end_date"].dt.is_month_end]
    if convention == "inclusive" and len(on_first) >= ALIGNED * len(dated):
        rule = (
            f"end dates look exclusive: {len(on_first)} of {len(dated)} lines start and end on the 1st of a month "
            f"(inclusive lines end on a month's last day). Set {SETTING}: exclusive in params/data.yaml"
        )
        return _problem(rule, len(on_first), _line_examples(on_first), file)
    if convention == "exclusive" and len(on_last) >= ALIGNED * len(dated):
        rule = (
            f"end dates look inclusive: {len(on_last)} of {len(dated)} lines start on the 1st and end on a month's "
            f"last day (exclusive lines end on the 1st). Set {SETTING}: inclusive in params/data.yaml"
        )
        return _problem(rule, len(on_last), _line_examples(on_last), file)
    return None


def end_date_problems(subscriptions: pd.DataFrame, convention: str, file: str | None = None) -> list[Problem]:
    """A problem when the data's end dates follow the other convention than `convention` (raw, before conversion)."""
    if subscriptions.empty:
        return []
    pairs = renewal_gaps(subscriptions)
    if int(pairs["gap_days"].isin([0, 1]).sum()) >= MIN_RENEWALS:
        found = _chain_problem(pairs, convention, file)
    else:
        found = _month_problem(subscriptions, convention, file)
    return [found] if found else []


def to_inclusive(subscriptions: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Exclusive end dates as inclusive (end_date - 1 day); lines covering no day (end = start) are dropped.

    Returns the converted table and the number of lines dropped.
    """
    out = subscriptions.copy()
    out["end_date"] = out["end_date"] - pd.Timedelta(days=1)
    empty = out["end_date"].notna() & (out["end_date"] < out["start_date"])
    return out[~empty].reset_index(drop=True), int(empty.sum())


def contracts_coverage(subscriptions: pd.DataFrame, until: pd.Timestamp | None = None) -> tuple[pd.Timestamp, bool]:
    """The last day the contracts are known to cover, and whether they are taken as current to `until`.

    An export holds every line started by its date, so the latest start_date is a lower bound of it.
    When `until` (the events' last day) comes later by no more than the longest pause between two
    start dates over the year before, the pause is ordinary and the contracts cover `until`.
    """
    starts = pd.Series(subscriptions["start_date"].dropna().dt.normalize().unique()).sort_values()
    if starts.empty:
        return (until, True) if until is not None else (pd.NaT, False)
    latest = pd.Timestamp(starts.iloc[-1])
    if until is None or until <= latest:
        return latest, False
    recent = starts[starts >= latest - pd.Timedelta(days=365)]
    usual = int(recent.diff().dt.days.max()) if len(recent) > 1 else 0
    if (until - latest).days <= usual:
        return until, True
    return latest, False


def choose_as_of(
    subscriptions: pd.DataFrame, events_last: pd.Timestamp | None, declared: date | None
) -> tuple[pd.Timestamp, pd.Timestamp, str]:
    """(as_of, contracts' coverage, why): the declared date, else the last day covered by the events and contracts."""
    events_last = None if events_last is None or pd.isna(events_last) else pd.Timestamp(events_last).normalize()
    covered, stretched = contracts_coverage(subscriptions, events_last)
    if declared:
        as_of = pd.Timestamp(declared).normalize()
        return as_of, covered, f"as_of {as_of:%Y-%m-%d} is set in params/data.yaml"
    latest = pd.Timestamp(subscriptions["start_date"].max()).normalize()
    if events_last is None:
        return covered, covered, f"as_of {covered:%Y-%m-%d}: the contracts' latest start_date (no events in the data)"
    if stretched:
        why = (
            f"as_of {events_last:%Y-%m-%d}: the events' last day; the contracts' latest start_date "
            f"({latest:%Y-%m-%d}) is within their usual pause between new lines, so they are taken as current"
        )
        return events_last, covered, why
    if events_last > covered:
        why = (
            f"as_of {covered:%Y-%m-%d}: the contracts' latest start_date; the events run to {events_last:%Y-%m-%d}, "
            "but contracts exported earlier would count every renewal after their export as churn"
        )
        return covered, covered, why
    return events_last, covered, f"as_of {events_last:%Y-%m-%d}: the events' last day (contracts start up to then)"


def normalise_owners(accounts: pd.DataFrame, column: str = "csm") -> tuple[pd.DataFrame, int]:
    """Placeholder owner values ("unassigned", "-", "none", "n/a", ...) as missing; returns the table and how many."""
    if column not in accounts.columns:
        return accounts, 0
    values = accounts[column].astype("string")
    placeholder = values.str.strip().str.lower().isin(PLACEHOLDER_OWNERS) & values.notna()
    out = accounts.copy()
    out[column] = values.str.strip().mask(placeholder)
    return out, int(placeholder.sum())
