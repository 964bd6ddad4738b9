"""As-of look-ups on dated tables: how many rows an account had before a date, and its latest row before it.

What the health measures ask of tickets, activities, surveys and other dated tables for many observations
(account, date) at once. Each table is prepared once (`timeline`: integer account codes and sorted keys)
and answered by binary search, never by a join per window or date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Timeline",
    "account_codes",
    "timeline",
    "only",
    "count_before",
    "count_in_window",
    "latest_row",
    "take",
    "latest_before",
]


def account_codes(ids: pd.Series, accounts: pd.Index) -> np.ndarray:
    """Position of each id (as text) in `accounts` (unique ids), -1 when missing or absent; one lookup per distinct id."""
    at, distinct = pd.factorize(ids.astype("string"))
    return np.append(accounts.get_indexer(distinct), -1)[at]


@dataclass(frozen=True)
class Timeline:
    """The rows of one table dated by one column, ordered for as-of look-ups by the observations' accounts.

    `keys` (sorted) is the account's code times `width` plus the rank of the row's time among the
    table's distinct `times`, so one binary search finds an account's rows strictly before a date;
    `rows` is each key's position in the table (rows of one account and time keep the table's order).
    Rows without a time or of an account not observed are left out.
    """

    times: np.ndarray
    width: int
    keys: np.ndarray
    rows: np.ndarray


def timeline(table: pd.DataFrame, time_col: str, accounts: pd.Index) -> Timeline:
    """`table` keyed by the codes of `accounts` (the observations' distinct account_ids) and by `time_col`."""
    code = account_codes(table["account_id"], accounts)
    t = table[time_col].astype("datetime64[ns]").to_numpy()
    rows = np.flatnonzero((code >= 0) & ~np.isnat(t))
    rank, times = pd.factorize(t[rows], sort=True)
    width = len(times) + 1
    keys = code[rows].astype("int64") * width + rank
    if len(keys) > 1 and not (keys[1:] >= keys[:-1]).all():
        order = np.argsort(keys, kind="stable")
        keys, rows = keys[order], rows[order]
    return Timeline(np.asarray(times, dtype="datetime64[ns]"), width, keys, rows)


def only(line: Timeline, mask: np.ndarray) -> Timeline:
    """The timeline of the table rows where `mask` (one flag per table row) is true."""
    keep = mask[line.rows]
    return Timeline(line.times, line.width, line.keys[keep], line.rows[keep])


def _before(codes: np.ndarray, line: Timeline, dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each observation, the key range of its account's rows with time < its date: [first, end)."""
    if np.isnat(dates).any():
        raise ValueError("an observation has no obs_date (NaT)")
    base = codes.astype("int64") * line.width
    first = np.searchsorted(line.keys, base, side="left")
    end = np.searchsorted(line.keys, base + np.searchsorted(line.times, dates, side="left"), side="left")
    return first, np.where(codes >= 0, end, first)


def count_before(codes: np.ndarray, line: Timeline, dates: np.ndarray) -> np.ndarray:
    """Rows of the timeline of each observation's account with time < the observation's date in `dates`."""
    first, end = _before(codes, line, dates)
    return (end - first).astype("float64")


def count_in_window(obs: pd.DataFrame, line: Timeline, window_days: int) -> np.ndarray:
    """Rows of the timeline per observation with obs_date - window_days <= time < obs_date."""
    codes, dates = obs["_code"].to_numpy(), obs["obs_date"].to_numpy()
    start = dates - np.timedelta64(int(window_days), "D")
    return count_before(codes, line, dates) - count_before(codes, line, start)


def latest_row(obs: pd.DataFrame, line: Timeline) -> np.ndarray:
    """Table position of each observation's account's latest row with time < obs_date (-1 when none)."""
    first, end = _before(obs["_code"].to_numpy(), line, obs["obs_date"].to_numpy())
    found = end > first
    rows = np.full(len(found), -1)
    rows[found] = line.rows[end[found] - 1]
    return rows


def take(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """values[rows], missing (NaN or NaT) where rows is -1."""
    out = values[np.maximum(rows, 0)] if len(values) else np.empty(len(rows), dtype=values.dtype)
    out[rows < 0] = np.datetime64("NaT") if out.dtype.kind == "M" else np.nan
    return out


def latest_before(
    obs: pd.DataFrame,
    accounts: pd.Index,
    table: pd.DataFrame,
    time_col: str,
    columns: list[str],
    max_age_days: int | None,
) -> pd.DataFrame:
    """For each observation (in order), `columns` (as float) of the account's latest row with time_col < obs_date.

    Also its age in days (`_age`: obs_date - the row's day); rows older than max_age_days count as none.
    """
    rows = latest_row(obs, timeline(table, time_col, accounts))
    t = take(table[time_col].astype("datetime64[ns]").to_numpy(), rows)
    age = (obs["obs_date"].to_numpy() - t.astype("datetime64[D]")) / np.timedelta64(1, "D")
    fresh = ~(age > max_age_days) if max_age_days is not None else np.ones(len(age), dtype=bool)
    out = {c: np.where(fresh, take(table[c].astype("float64").to_numpy(), rows), np.nan) for c in columns}
    return pd.DataFrame(out | {"_age": np.where(fresh, age, np.nan)})
