"""Raw usage events of the us-plg company, month by month with bounded memory.

Active users per month follow seats x an engagement-driven active share; events per active user
follow engagement; each event's type is a core type or one of the optional features the account
has adopted and its plan tier allows. Events fall only on days the account holds a contract.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cs_playbook.demo.usplg import vocab as v
from cs_playbook.demo.usplg.simulate import FEATURE_MIN_TIER, TIER_RANK, World, month_index, month_start, sigmoid

FEATURE_WEIGHT = np.array([f[5] for f in v.FEATURES])


def coverage(world: World) -> tuple[np.ndarray, ...]:
    """Per [account, month]: first and past-last covered day of the month, seats and tier rank (-1: no contract)."""
    a, m = len(world.accounts), world.n_months
    lo, hi = np.full((a, m), 31), np.zeros((a, m), dtype=np.int64)
    seats, tier = np.zeros((a, m), dtype=np.int64), np.full((a, m), -1)
    last = world.end + pd.Timedelta(days=1)
    for ln in world.lines:
        if ln["seats"] is None:
            continue
        start, end = ln["start"], min(ln["end"], last)
        for t in range(month_index(start), month_index(end - pd.Timedelta(days=1)) + 1):
            m0 = month_start(t)
            d0 = max((start - m0).days, 0)
            d1 = min((end - m0).days, m0.days_in_month)
            lo[ln["i"], t] = min(lo[ln["i"], t], d0)
            hi[ln["i"], t] = max(hi[ln["i"], t], d1)
            seats[ln["i"], t] = max(seats[ln["i"], t], ln["seats"])
            tier[ln["i"], t] = max(tier[ln["i"], t], TIER_RANK[ln["product"].removeprefix(f"{v.FAMILY}_")])
    return lo, hi, seats, tier


def _type_weights(world: World, t: int, tier: np.ndarray) -> np.ndarray:
    """Cumulative event-type probabilities per account in month t (core types, then allowed adopted features)."""
    allowed = world.adopted[:, t] & (tier[:, None] >= FEATURE_MIN_TIER[None, :])
    w = np.concatenate([np.ones((len(tier), len(v.CORE_EVENTS))), allowed * FEATURE_WEIGHT[None, :]], axis=1)
    cum = w.cumsum(axis=1)
    return cum / cum[:, -1:]


def write_events(
    world: World, folder: Path, n_events: int, account_ids: np.ndarray, progress: bool = False
) -> tuple[int, np.ndarray]:
    """Write events/<YYYY-MM>.parquet for every data month; the number written and active users [account, month]."""
    rng = world.rng
    folder.mkdir(parents=True, exist_ok=True)
    lo, hi, seats, tier = coverage(world)
    h = world.health
    months = list(range(month_index(v.DATA_START), world.n_months))
    covered = np.clip(hi - lo, 0, None) / 30.0
    active_users = rng.binomial(seats, 0.9 * sigmoid(0.4 + 1.2 * h)) * (covered > 0)
    expected = active_users * np.exp(0.5 * h) * covered
    scale = n_events / max(expected[:, months[0] :].sum(), 1e-9)
    offset = np.concatenate([[0], np.cumsum(seats.max(axis=1))])
    user_ids = np.array(
        [f"{account_ids[i]}-u{k + 1:04d}" for i in range(len(account_ids)) for k in range(offset[i + 1] - offset[i])]
    )
    type_dict, acc_dict, user_dict = pa.array(v.EVENT_TYPES), pa.array(account_ids), pa.array(user_ids)
    written = 0
    iterator = months
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(months, desc="us-plg events", unit="month")
    for t in iterator:
        k = rng.poisson(scale * expected[:, t])
        acc = np.repeat(np.arange(len(k)), k)
        user = offset[acc] + rng.integers(0, np.iinfo(np.int64).max, len(acc)) % np.maximum(active_users[acc, t], 1)
        cum = _type_weights(world, t, tier[:, t])
        etype = (rng.random(len(acc))[:, None] > cum[acc]).sum(axis=1)
        span = np.maximum(hi[acc, t] - lo[acc, t], 1)
        day = lo[acc, t] + rng.integers(0, np.iinfo(np.int64).max, len(acc)) % span
        n = len(acc)
        secs = np.where(rng.random(n) < 0.85, rng.integers(8 * 3600, 18 * 3600, n), rng.integers(0, 86400, n))
        times = np.datetime64(month_start(t).date(), "s") + (day * 86400 + secs).astype("timedelta64[s]")
        order = np.argsort(times, kind="stable")
        table = pa.table(
            {
                "account_id": pa.DictionaryArray.from_arrays(pa.array(acc[order].astype(np.int32)), acc_dict),
                "user_id": pa.DictionaryArray.from_arrays(pa.array(user[order].astype(np.int32)), user_dict),
                "event_time": pa.array(times[order].astype("datetime64[us]")),
                "event_type": pa.DictionaryArray.from_arrays(pa.array(etype[order].astype(np.int32)), type_dict),
            }
        )
        pq.write_table(table, folder / f"{month_start(t):%Y-%m}.parquet", compression="zstd")
        written += len(acc)
    return written, active_users
