"""Product users and raw usage events, generated month by month with bounded memory.

Active users per month follow seats x a health-driven active share; events per active user
follow health; feature breadth grows with health; released features are adopted sooner by
healthy accounts. Each month is written to its own Parquet file with dictionary-encoded ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cs_playbook.demo import vocab
from cs_playbook.demo.simulate import DATA_START, World, month_index, month_start, sigmoid

EVENT_TYPES = vocab.BASE_EVENT_TYPES + [f[1] for f in vocab.FEATURES]


def build_users(world: World) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, dict[str, tuple[int, int]]]:
    """users table, plus each account's regular-user range (offset, count) and PoC users per (poc, dept)."""
    per: dict[tuple[int, object, pd.Timestamp], int] = {}
    first_start: dict[tuple[int, object], pd.Timestamp] = {}
    poc_depts = {(p["i"], d) for p in world.pocs for d in p["scope"]}
    for ln in world.lines:
        if ln["product"] != "Platform" or (ln["i"], ln["department"]) in poc_depts:
            continue
        key = (ln["i"], ln["department"], ln["end"])
        per[key] = per.get(key, 0) + ln["seats"]
        k2 = (ln["i"], ln["department"])
        first_start[k2] = min(first_start.get(k2, ln["start"]), ln["start"])
    dept_users: dict[tuple[int, object], int] = {}
    for (i, d, _), n in per.items():
        dept_users[(i, d)] = max(dept_users.get((i, d), 0), n)
    a = len(world.accounts)
    ids, acc, dept, created = [], [], [], []
    offset, count = np.zeros(a, dtype=np.int64), np.zeros(a, dtype=np.int64)
    for i in range(a):
        offset[i] = len(ids)
        for (ii, d), n in sorted(((k, v) for k, v in dept_users.items() if k[0] == i), key=lambda kv: str(kv[0][1])):
            for _ in range(n):
                ids.append(len(ids))
                acc.append(ii)
                dept.append(d)
                created.append(first_start[(ii, d)])
        count[i] = len(ids) - offset[i]
    poc_ranges: dict[str, tuple[int, int]] = {}
    for p in world.pocs:
        for d in p["scope"]:
            poc_ranges[f"{p['poc_id']}|{d}"] = (len(ids), p["users"][d])
            for _ in range(p["users"][d]):
                ids.append(len(ids))
                acc.append(p["i"])
                dept.append(d)
                created.append(p["start"])
    users = pd.DataFrame(
        {"user_idx": ids, "account_idx": acc, "department": dept, "created_at": pd.to_datetime(created).normalize()}
    )
    return users, offset, count, poc_ranges


def adoption_months(world: World) -> np.ndarray:
    """Month each account starts using each released feature: sooner when healthy."""
    rng = world.rng
    out = np.empty((len(world.accounts), len(vocab.FEATURES)), dtype=np.int64)
    for f, (_, _, released) in enumerate(vocab.FEATURES):
        r = month_index(pd.Timestamp(released))
        h = world.health[:, min(r, world.n_months - 1)]
        out[:, f] = r + rng.geometric(0.06 + 0.3 * sigmoid(1.5 * h)) - 1
    return out


def write_events(
    world: World,
    folder: Path,
    n_events: int,
    active: np.ndarray,
    seats: np.ndarray,
    users: pd.DataFrame,
    offset: np.ndarray,
    count: np.ndarray,
    poc_ranges: dict[str, tuple[int, int]],
    account_ids: np.ndarray,
    user_ids: np.ndarray,
    progress: bool = False,
) -> int:
    """Generate and write events month by month; returns the number written."""
    rng = world.rng
    folder.mkdir(parents=True, exist_ok=True)
    months = list(range(month_index(DATA_START), world.n_months))
    seg_factor = np.where(world.accounts["segment"].to_numpy() == "enterprise", 1.3, 1.0)
    h = world.health
    util = 0.95 * sigmoid(0.3 + 1.3 * h)
    cap = np.minimum(seats, count[:, None])
    active_users = rng.binomial(np.maximum(cap, 0).astype(np.int64), util) * active
    intensity = np.exp(0.55 * h) * seg_factor[:, None]
    expected = active_users * intensity
    data_cols = slice(months[0], months[-1] + 1)
    scale = n_events / max(expected[:, data_cols].sum(), 1e-9)
    adopt = adoption_months(world)
    releases = np.array([month_index(pd.Timestamp(r)) for _, _, r in vocab.FEATURES])
    type_dict = pa.array(EVENT_TYPES)
    acc_dict, user_dict = pa.array(account_ids), pa.array(user_ids)
    end_cap = np.datetime64(world.end.date(), "s") + np.timedelta64(86399, "s")
    written = 0
    iterator = months
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(months, desc="demo events", unit="month")
    for t in iterator:
        k = rng.poisson(scale * expected[:, t])
        a_eff = np.maximum(1, np.minimum(active_users[:, t], k))
        acc = np.repeat(np.arange(len(k)), k)
        rot = rng.integers(0, np.maximum(count, 1))
        pick = rng.integers(0, np.iinfo(np.int64).max, len(acc)) % a_eff[acc]
        user = offset[acc] + (rot[acc] + pick) % np.maximum(count[acc], 1)
        breadth = np.clip(np.round(2 + 8 * sigmoid(1.2 * h[acc, t])), 2, len(vocab.BASE_EVENT_TYPES))
        etype = np.floor(breadth * rng.random(len(acc)) ** 1.7).astype(np.int64)
        for f in np.nonzero(releases <= t)[0]:
            use = (adopt[acc, f] <= t) & (rng.random(len(acc)) < 0.07)
            etype[use] = len(vocab.BASE_EVENT_TYPES) + f
        times = _times(rng, t, len(acc), world.end)
        poc_acc, poc_user, poc_type, poc_time = _poc_events(world, t, poc_ranges, seats)
        acc = np.concatenate([acc, poc_acc]).astype(np.int32)
        user = np.concatenate([user, poc_user]).astype(np.int32)
        etype = np.concatenate([etype, poc_type]).astype(np.int32)
        times = np.minimum(np.concatenate([times, poc_time]), end_cap)
        order = np.argsort(times, kind="stable")
        table = pa.table(
            {
                "account_id": pa.DictionaryArray.from_arrays(pa.array(acc[order]), acc_dict),
                "user_id": pa.DictionaryArray.from_arrays(pa.array(user[order]), user_dict),
                "event_time": pa.array(times[order].astype("datetime64[us]")),
                "event_type": pa.DictionaryArray.from_arrays(pa.array(etype[order]), type_dict),
            }
        )
        pq.write_table(table, folder / f"{month_start(t):%Y-%m}.parquet", compression="zstd")
        written += len(acc)
    return written


def _times(rng: np.random.Generator, t: int, n: int, end: pd.Timestamp) -> np.ndarray:
    """Random moments in month t, mostly business hours, never after the end date."""
    start = month_start(t)
    days = min(start.days_in_month, (end - start).days + 1)
    day = rng.integers(0, days, n)
    secs = np.where(rng.random(n) < 0.85, rng.integers(9 * 3600, 19 * 3600, n), rng.integers(0, 86400, n))
    return np.datetime64(start.date(), "s") + (day * 86400 + secs).astype("timedelta64[s]")


def _poc_events(
    world: World, t: int, poc_ranges: dict[str, tuple[int, int]], seats: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Weekly activity of PoC users in their window (and after signing, when won)."""
    rng = world.rng
    m0 = month_start(t)
    m1 = m0 + pd.offsets.MonthEnd(0) + pd.Timedelta(days=1)
    accs, users, types, times = [], [], [], []
    create_report = vocab.BASE_EVENT_TYPES.index("create_report")
    for p in world.pocs:
        lo, hi = max(p["start"], m0), min(p["end"], m1, world.end + pd.Timedelta(days=1))
        if p["outcome"] == "won" and pd.notna(p["decided_at"]):
            hi = min(m1, world.end + pd.Timedelta(days=1))
        if lo >= hi:
            continue
        weeks = max(1, int(np.ceil((hi - lo).days / 7)))
        share = float(sigmoid(0.4 + 1.3 * p["fit"]))
        rate = 4.0 * np.exp(0.3 * p["fit"])
        for d in p["scope"]:
            off, n = poc_ranges[f"{p['poc_id']}|{d}"]
            for w in range(weeks):
                active = np.nonzero(rng.random(n) < share)[0]
                k = rng.poisson(rate, len(active))
                u = np.repeat(off + active, k)
                wk_start = lo + pd.Timedelta(days=7 * w)
                span = max(1, min(7, (hi - wk_start).days))
                secs = rng.integers(0, span * 86400, len(u))
                et = np.where(rng.random(len(u)) < 0.3, create_report, rng.integers(0, 6, len(u)))
                accs.append(np.full(len(u), p["i"]))
                users.append(u)
                types.append(et)
                times.append(np.datetime64(wk_start.floor("D").to_datetime64(), "s") + secs.astype("timedelta64[s]"))
    if not accs:
        empty = np.array([], dtype=np.int64)
        return empty, empty, empty, np.array([], dtype="datetime64[s]")
    return (
        np.concatenate(accs),
        np.concatenate(users),
        np.concatenate(types),
        np.concatenate(times).astype("datetime64[s]"),
    )
