"""Usage metrics per account and month (or week), computed inside the database engine.

The definitions are Ibis expressions built from params/usage_metrics.yaml, so the same
metrics compile to DuckDB here and to a warehouse or Spark elsewhere. Only the small
aggregated table (accounts x periods) comes back to pandas, where seats (from contracts)
and the change against earlier periods are added.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from cs_playbook import __version__
from cs_playbook.config import PROJ_ROOT, resolve_path
from cs_playbook.data.io import Dataset
from cs_playbook.errors import ParamsError
from cs_playbook.params import DataParams, UsageMetric, UsageParams, load_params

__all__ = [
    "metric_expressions",
    "aggregate_usage",
    "seats_by_period",
    "account_usage",
    "dataset_usage",
    "usage_cache_key",
    "event_days",
    "dataset_event_days",
    "CACHE_DIR",
]

GRAINS = {"month": "M", "week": "W"}
CACHE_DIR = PROJ_ROOT / ".cache" / "usage"  # the engine's aggregates, <key>.parquet (see `dataset_usage`)
CACHE_FORMAT = 1  # part of the key: bump when the aggregates' layout or meaning changes
CACHE_KEEP = 12  # cached aggregates kept (the latest used); older ones are deleted
log = logging.getLogger(__name__)


def _type_column(event_type: str) -> str:
    """events_<type> column name for an event type (lower snake case)."""
    return "events_" + re.sub(r"[^0-9a-z]+", "_", event_type.lower()).strip("_")


def metric_expressions(
    events: ibis.Table, params: UsageParams, event_types: list[str] | None = None
) -> dict[str, ibis.Expr]:
    """Aggregate expressions for every non-ratio metric (plus per-type counts), by name."""
    exprs: dict[str, ibis.Expr] = {}
    day = events.event_time.date()
    for m in params.metrics:
        if m.kind == "ratio":
            continue
        where = events.event_type.isin(m.event_types) if m.event_types else None
        if m.kind == "count":
            exprs[m.name] = events.count(where=where)
        elif m.kind == "distinct_users":
            exprs[m.name] = events.user_id.nunique(where=where)
        elif m.kind == "distinct_days":
            exprs[m.name] = day.nunique(where=where)
        elif m.kind == "distinct_event_types":
            exprs[m.name] = events.event_type.nunique(where=where)
    for et in event_types or []:
        exprs.setdefault(_type_column(et), events.count(where=events.event_type == et))
    return exprs


def _check_ratios(params: UsageParams) -> None:
    """Every ratio names two known metrics (or seats); raise ParamsError naming the metric otherwise."""
    names = {m.name for m in params.metrics}
    for m in params.metrics:
        if m.kind != "ratio":
            continue
        for role, ref in (("numerator", m.numerator), ("denominator", m.denominator)):
            if not ref or (ref not in names and not (role == "denominator" and ref == "seats")):
                raise ParamsError(
                    f"params/usage_metrics.yaml: metric {m.name}: {role} {ref!r} is not a metric "
                    f"(known: {', '.join(sorted(names))}{', seats' if role == 'denominator' else ''})"
                )
            if ref == m.name:
                raise ParamsError(f"params/usage_metrics.yaml: metric {m.name} refers to itself")


def aggregate_usage(events: ibis.Table, params: UsageParams, *, grain: str = "month") -> pd.DataFrame:
    """Raw metric counts per account and period, run in the engine.

    Returns columns account_id, period_start and one column per non-ratio metric (and
    events_<type> per event type when `per_event_type_counts`).
    """
    if grain not in GRAINS:
        raise ParamsError(f"grain must be one of {', '.join(GRAINS)} (got {grain!r})")
    _check_ratios(params)
    types = None
    if params.per_event_type_counts:
        types = sorted(events.select("event_type").distinct().to_pandas()["event_type"].dropna().tolist())

    def counts(part: ibis.Table) -> pd.DataFrame:
        period = part.event_time.truncate(GRAINS[grain]).name("period_start")
        return part.group_by([part.account_id, period]).aggregate(**metric_expressions(part, params, types)).to_pandas()

    bounds = events.aggregate(first=events.event_time.min(), last=events.event_time.max()).to_pandas().iloc[0]
    chunks = _chunks(bounds["first"], bounds["last"], grain)
    frames = [counts(events.filter((events.event_time >= s) & (events.event_time < e))) for s, e in chunks]
    frames = frames or [counts(events)]  # no dated event: the empty table with its columns
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    df["period_start"] = pd.to_datetime(df["period_start"]).astype("datetime64[ns]")
    for col in df.columns[2:]:
        df[col] = df[col].fillna(0).astype("int64")
    return df.sort_values(["account_id", "period_start"]).reset_index(drop=True)


CHUNK_PERIODS = {"month": 3, "week": 13}  # periods aggregated per engine query (a quarter of events at a time)


def _chunks(first: object, last: object, grain: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """[start, end) ranges of whole periods covering first..last, CHUNK_PERIODS periods each.

    Periods never straddle a chunk, so each period's distinct counts come out whole, and the engine holds
    only a quarter's distinct users and days at a time: memory stays flat however long the history.
    """
    if pd.isna(first) or pd.isna(last):
        return []
    last, start = pd.Timestamp(last), _period_bounds(pd.Timestamp(first), grain)[0]
    step = pd.DateOffset(months=CHUNK_PERIODS[grain]) if grain == "month" else pd.Timedelta(weeks=CHUNK_PERIODS[grain])
    out = []
    while start <= last:
        out.append((start, start + step))
        start = start + step
    return out


def seats_by_period(subscriptions: pd.DataFrame, periods: pd.DatetimeIndex, *, grain: str = "month") -> pd.DataFrame:
    """Seats held per account at each period's end (lines active on its last day).

    Seats are summed over departments within a product, and the account holds the largest of those
    product totals: seat-based add-ons (Analytics on the same 50 users) are not extra seats. Without
    a `product` column every line counts as one product. Returns columns account_id, period_start, seats.
    """
    subs = subscriptions.dropna(subset=["seats"])
    if subs.empty or len(periods) == 0:
        return pd.DataFrame(
            {
                "account_id": pd.Series(dtype="str"),
                "period_start": pd.Series(dtype="datetime64[ns]"),
                "seats": pd.Series(dtype="float64"),
            }
        )
    ends = periods + (pd.offsets.MonthEnd(0) if grain == "month" else pd.Timedelta(days=6))
    start = subs["start_date"].to_numpy()[:, None]
    end = subs["end_date"].fillna(pd.Timestamp.max.normalize()).to_numpy()[:, None]
    active = (start <= ends.to_numpy()[None, :]) & (end >= ends.to_numpy()[None, :])
    line_idx, period_idx = np.nonzero(active)
    products = subs["product"].astype("str").to_numpy() if "product" in subs.columns else np.full(len(subs), "")
    held = pd.DataFrame(
        {
            "account_id": subs["account_id"].to_numpy()[line_idx],
            "period_start": periods.to_numpy()[period_idx],
            "product": products[line_idx],
            "seats": subs["seats"].to_numpy(dtype="float64")[line_idx],
        }
    )
    per_product = held.groupby(["account_id", "period_start", "product"], as_index=False)["seats"].sum()
    return per_product.groupby(["account_id", "period_start"], as_index=False)["seats"].max()


def _complete_grid(df: pd.DataFrame, grain: str) -> pd.DataFrame:
    """Every account x period from the account's first to the overall last period (no gaps)."""
    freq = "MS" if grain == "month" else "W-MON"
    firsts = df.groupby("account_id")["period_start"].min()
    periods = pd.date_range(firsts.min(), df["period_start"].max(), freq=freq).to_numpy()
    start = np.searchsorted(periods, firsts.to_numpy())
    n = len(periods) - start
    offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)  # 0..n_i-1 within each account
    grid = pd.DataFrame(
        {
            "account_id": np.repeat(firsts.index.to_numpy(), n),
            "period_start": periods[np.repeat(start, n) + offsets],
        }
    )
    grid["account_id"] = grid["account_id"].astype(df["account_id"].dtype)
    grid["period_start"] = grid["period_start"].astype(df["period_start"].dtype)
    return grid.merge(df, on=["account_id", "period_start"], how="left")


def account_usage(
    events: ibis.Table,
    subscriptions: pd.DataFrame,
    params: UsageParams,
    *,
    grain: str = "month",
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Usage metrics per account and period: the metrics of params, seats, ratios and changes.

    Returns account_id, period_start, every metric of params (ratios included), seats, the
    events_<type> counts, and <metric>_chg_<k> = metric / metric k periods before - 1 for k
    in `change_windows` (NaN where the earlier value is 0 or missing). Periods without events
    are kept as zero usage from an account's first active period on. `dataset_usage` gives the same
    table with the engine's scan cached on disk.
    """
    if start is not None:
        events = events.filter(events.event_time >= start)
    if end is not None:
        events = events.filter(events.event_time < end + pd.Timedelta(days=1))
    return usage_from_counts(aggregate_usage(events, params, grain=grain), subscriptions, params, grain=grain)


def usage_from_counts(
    counts: pd.DataFrame, subscriptions: pd.DataFrame, params: UsageParams, *, grain: str
) -> pd.DataFrame:
    """`account_usage` from the engine's counts (`aggregate_usage`): periods completed, seats, ratios, changes."""
    if counts.empty:
        return counts
    df = _complete_grid(counts, grain)
    value_cols = [c for c in counts.columns if c not in ("account_id", "period_start")]
    df[value_cols] = df[value_cols].fillna(0).astype("int64")
    periods = pd.DatetimeIndex(sorted(df["period_start"].unique()))
    df = df.merge(seats_by_period(subscriptions, periods, grain=grain), on=["account_id", "period_start"], how="left")
    for m in params.metrics:
        if m.kind == "ratio":
            den = df[m.denominator].astype("float64")
            df[m.name] = df[m.numerator].astype("float64") / den.where(den > 0)
    metric_names = [m.name for m in params.metrics]
    df = df.sort_values(["account_id", "period_start"]).reset_index(drop=True)
    grouped = df.groupby("account_id", sort=False)
    for k in params.change_windows:
        for name in metric_names:
            before = grouped[name].shift(k).astype("float64")
            df[f"{name}_chg_{k}"] = df[name].astype("float64") / before.where(before > 0) - 1
    ordered = ["account_id", "period_start", *metric_names, "seats"]
    rest = [c for c in df.columns if c not in ordered]
    return df[ordered + rest]


def _file_stamp(path: Path) -> str:
    """name:size:mtime of a file: a changed, added or removed file changes every key built from it."""
    st = path.stat()
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


def _events_files(ds: Dataset) -> list[Path]:
    """The files the dataset's events come from: the DuckDB source file, or the events file(s)."""
    source = resolve_path(ds.source) if ds.source else None
    if source is not None and source.is_file():
        return [source]
    if not ds.files.get("events"):
        return []
    path = resolve_path(ds.files["events"])
    if path.is_dir():
        return sorted(f for f in path.rglob("*") if f.is_file())
    return [path] if path.is_file() else []


def _events_key(ds: Dataset, what: str, params_dir: str | Path | None) -> str:
    """Key of what is read from the events: package version, source, business time zone, `what`, the files' stamps."""
    timezone = load_params("data", DataParams, directory=params_dir, source=ds.source).business_timezone
    h = hashlib.sha256(f"{__version__}|{CACHE_FORMAT}|{ds.source}|{timezone}|{what}".encode())
    for f in _events_files(ds):
        h.update(_file_stamp(f).encode())
    return h.hexdigest()[:20]


def usage_cache_key(
    ds: Dataset,
    params: UsageParams,
    *,
    grain: str = "month",
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    params_dir: str | Path | None = None,
) -> str:
    """Key of the cached aggregates: the event files (name, size, mtime), how they are read, the metrics, grain, range."""
    metrics = params.model_dump_json(include={"metrics", "per_event_type_counts"})
    return _events_key(ds, f"{metrics}|{grain}|{start}|{end}", params_dir)


def _aligned(start: pd.Timestamp | None, end: pd.Timestamp | None, grain: str) -> bool:
    """Whether start is a period's first day and end a period's last day (or absent): whole periods only."""
    first = {"month": lambda d: d.day == 1, "week": lambda d: d.weekday() == 0}[grain]
    ok_start = start is None or (start == start.normalize() and first(start))
    ok_end = end is None or (end == end.normalize() and first(end + pd.Timedelta(days=1)))
    return ok_start and ok_end


def _cached(path: Path, compute) -> pd.DataFrame:
    """The frame stored at `path`, else computed and stored (unique temporary name, atomic rename), old ones pruned."""
    if path.exists():
        try:
            out = pd.read_parquet(path)
            os.utime(path)  # the latest used is kept longest
            log.info("usage aggregates read from the cache (%s)", path.name)
            return out
        except (OSError, ValueError):
            pass  # a damaged file: computed again below
    out = compute()
    tmp = path.parent / f".{path.stem}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        out.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        stale = sorted(path.parent.glob("*.parquet"), key=lambda f: f.stat().st_mtime, reverse=True)[CACHE_KEEP:]
        for f in stale:
            f.unlink(missing_ok=True)
    except OSError:
        tmp.unlink(missing_ok=True)  # a read-only disk or a full one: no cache, the result stands
    return out


def _cached_counts(
    ds: Dataset,
    params: UsageParams,
    *,
    grain: str,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    params_dir: str | Path | None,
    cache_dir: Path,
) -> pd.DataFrame:
    """`aggregate_usage` of the dataset's events in [start, end], from the cache when the event files are unchanged.

    Whole periods are cut from the whole history's aggregates (one scan serves every quarter's end);
    a range that splits a period is aggregated, and cached, on its own.
    """
    key = usage_cache_key(ds, params, grain=grain, params_dir=params_dir)
    whole = _cached(cache_dir / f"{key}.parquet", lambda: aggregate_usage(ds.events, params, grain=grain))
    parts = []
    for part_start, part_end in _split_periods(start, end, grain):
        if _aligned(part_start, part_end, grain):  # whole periods: cut from the whole history's aggregates
            keep = pd.Series(True, index=whole.index)
            keep &= whole["period_start"] >= part_start if part_start is not None else True
            keep &= whole["period_start"] <= part_end if part_end is not None else True
            parts.append(whole[keep])
            continue
        key = usage_cache_key(ds, params, grain=grain, start=part_start, end=part_end, params_dir=params_dir)
        events = ds.events
        if part_start is not None:
            events = events.filter(events.event_time >= part_start)
        if part_end is not None:
            events = events.filter(events.event_time < part_end + pd.Timedelta(days=1))
        parts.append(_cached(cache_dir / f"{key}.parquet", lambda e=events: aggregate_usage(e, params, grain=grain)))
    counts = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    columns = [c for c in whole.columns if c in counts.columns]  # the whole history's order: metrics, then types
    counts = counts[columns].sort_values(["account_id", "period_start"]).reset_index(drop=True)
    value_cols = list(columns[2:])
    counts[value_cols] = counts[value_cols].fillna(0).astype("int64")
    metrics = {m.name for m in params.metrics}
    unseen = [c for c in value_cols if c not in metrics and not counts[c].any()]
    return counts.drop(columns=unseen)  # an event type that does not occur in the range has no column


def _period_bounds(day: pd.Timestamp, grain: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last day of the period (month, or week from Monday) holding `day`."""
    if grain == "month":
        first = day.normalize().replace(day=1)
        return first, first + pd.offsets.MonthEnd(0)
    first = day.normalize() - pd.Timedelta(days=day.weekday())
    return first, first + pd.Timedelta(days=6)


def _split_periods(
    start: pd.Timestamp | None, end: pd.Timestamp | None, grain: str
) -> list[tuple[pd.Timestamp | None, pd.Timestamp | None]]:
    """[start, end] cut into a split first period, the whole periods between, and a split last period.

    Whole periods come from the cached whole history; only a split period at either end is read from the
    events (one period's files, not the history), so a date inside a month costs a month's scan.
    """
    if start is not None and end is not None and _period_bounds(start, grain)[0] == _period_bounds(end, grain)[0]:
        return [(start, end)]
    ranges: list[tuple[pd.Timestamp | None, pd.Timestamp | None]] = []
    whole_start, whole_end = start, end
    if start is not None and not _aligned(start, None, grain):
        head_end = _period_bounds(start, grain)[1]
        ranges.append((start, head_end))
        whole_start = head_end + pd.Timedelta(days=1)
    tail = None
    if end is not None and not _aligned(None, end, grain):
        tail_start = _period_bounds(end, grain)[0]
        tail = (tail_start, end)
        whole_end = tail_start - pd.Timedelta(days=1)
    if whole_start is None or whole_end is None or whole_start <= whole_end:
        ranges.append((whole_start, whole_end))
    return ranges + ([tail] if tail else [])


def dataset_usage(
    ds: Dataset,
    params: UsageParams,
    *,
    grain: str = "month",
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    params_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> pd.DataFrame:
    """`account_usage` of the dataset's events, the engine's scan cached on disk (scan once).

    The account-period counts are stored in .cache/usage/<key>.parquet, keyed by the event files'
    names, sizes and modification times, the business time zone, the usage metrics, the grain and
    the range (`usage_cache_key`): a rerun, `--only` or a notebook opened on its own reads them
    instead of scanning the events again; a changed event file or metric makes a new key. Same
    columns as `account_usage`.
    """
    start = None if start is None else pd.Timestamp(start)
    end = None if end is None else pd.Timestamp(end)
    if grain not in GRAINS:
        raise ParamsError(f"grain must be one of {', '.join(GRAINS)} (got {grain!r})")
    _check_ratios(params)
    if not _events_files(ds):  # events not read from files (built in memory): nothing to key a cache on
        return account_usage(ds.events, ds.subscriptions, params, grain=grain, start=start, end=end)
    folder = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    counts = _cached_counts(ds, params, grain=grain, start=start, end=end, params_dir=params_dir, cache_dir=folder)
    counts["period_start"] = counts["period_start"].astype("datetime64[ns]")
    return usage_from_counts(counts, ds.subscriptions, params, grain=grain)


def event_days(events: ibis.Table) -> pd.DataFrame:
    """The days each account had an event, run in the engine: account_id (text), day (midnight), sorted.

    What "days since the last event" and "the first day of the events" need, at a fraction of the events'
    size (one row per account and active day), so it can be cached and asked for any date in pandas.
    """
    days = events.select(account_id=events.account_id, day=events.event_time.date()).distinct()
    df = days.to_pandas()
    df["account_id"] = df["account_id"].astype("string")
    df["day"] = pd.to_datetime(df["day"]).astype("datetime64[ns]")
    return df.sort_values(["account_id", "day"]).reset_index(drop=True)


def dataset_event_days(
    ds: Dataset, *, params_dir: str | Path | None = None, cache_dir: str | Path | None = None
) -> pd.DataFrame:
    """`event_days` of the dataset's events, cached on disk like `dataset_usage` (one scan serves every date).

    Stored in .cache/usage/days-<key>.parquet, keyed by the event files' names, sizes and modification
    times and the business time zone.
    """
    if not _events_files(ds):  # events not read from files (built in memory): nothing to key a cache on
        return event_days(ds.events)
    folder = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    key = _events_key(ds, "event_days", params_dir)
    out = _cached(folder / f"days-{key}.parquet", lambda: event_days(ds.events))
    out["account_id"] = out["account_id"].astype("string")
    out["day"] = out["day"].astype("datetime64[ns]")
    return out


def describe_metric(metric: UsageMetric) -> str:
    """One line saying how a metric is computed, for docs and notebook tables."""
    scope = f" of type {', '.join(metric.event_types)}" if metric.event_types else ""
    return {
        "count": f"events{scope}",
        "distinct_users": f"distinct users with events{scope}",
        "distinct_days": f"distinct days with events{scope}",
        "distinct_event_types": f"distinct event types{scope}",
        "ratio": f"{metric.numerator} / {metric.denominator}",
    }[metric.kind]
