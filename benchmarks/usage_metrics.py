"""Benchmark: usage metrics on N generated events, in-engine (DuckDB via Ibis) vs plain pandas.

Run by hand: `python benchmarks/usage_metrics.py [--events 10000000]`. Each implementation runs
in its own process so peak memory (max RSS) is measured separately; both compute the same
account-month metrics (events per type, active users, active days, features used) and the
results are checked equal. Prints rows/s for both, the ratio and peak memory. Asserts nothing
about speed.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

EVENT_TYPES = [
    "login",
    "view_dashboard",
    "create_report",
    "share_report",
    "export_csv",
    "comment",
    "workflow_run",
    "api_call",
    "invite_user",
    "search",
    "ai_summary",
    "mobile_view",
]


def make_events(folder: Path, n_events: int, n_accounts: int = 2000, seed: int = 1) -> None:
    """Write n_events synthetic events as monthly Parquet files (chunked, bounded memory)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    months = pd.date_range("2024-01-01", periods=24, freq="MS")
    per_month = n_events // len(months)
    types = np.array(EVENT_TYPES)
    for m in months:
        n = per_month
        acc = rng.zipf(1.3, n) % n_accounts
        user = acc * 1000 + rng.integers(0, 200, n)
        secs = rng.integers(0, 28 * 86400, n)
        table = pa.table(
            {
                "account_id": pa.array(np.char.add("A", acc.astype(str))),
                "user_id": pa.array(np.char.add("U", user.astype(str))),
                "event_time": pa.array(
                    (np.datetime64(m.date(), "s") + secs.astype("timedelta64[s]")).astype("datetime64[us]")
                ),
                "event_type": pa.array(types[rng.integers(0, len(types), n)]),
            }
        )
        pq.write_table(table, folder / f"{m:%Y-%m}.parquet")


def run_engine(folder: Path) -> pd.DataFrame:
    """cs_playbook.data.usage.aggregate_usage on DuckDB, reading the Parquet files in place."""
    import duckdb
    import ibis

    from cs_playbook.data.usage import aggregate_usage
    from cs_playbook.params import UsageMetric, UsageParams

    con = duckdb.connect()
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{folder.as_posix()}/*.parquet')")
    events = ibis.duckdb.from_connection(con).table("events")
    params = UsageParams(
        metrics=[
            UsageMetric(name="events_total", kind="count"),
            UsageMetric(name="active_users", kind="distinct_users"),
            UsageMetric(name="active_days", kind="distinct_days"),
            UsageMetric(name="features_used", kind="distinct_event_types"),
        ]
    )
    return aggregate_usage(events, params)


def run_pandas(folder: Path) -> pd.DataFrame:
    """The same metrics with a plain pandas groupby over the events loaded into memory."""
    ev = pd.read_parquet(folder)
    ev["period_start"] = ev["event_time"].dt.to_period("M").dt.to_timestamp()
    ev["day"] = ev["event_time"].dt.normalize()
    g = ev.groupby(["account_id", "period_start"])
    out = g.agg(
        events_total=("user_id", "size"),
        active_users=("user_id", "nunique"),
        active_days=("day", "nunique"),
        features_used=("event_type", "nunique"),
    )
    per_type = ev.pivot_table(
        index=["account_id", "period_start"], columns="event_type", values="user_id", aggfunc="size", fill_value=0
    )
    per_type.columns = [f"events_{c}" for c in per_type.columns]
    return out.join(per_type).reset_index()


def _child(kind: str, folder: str, result_path: str) -> None:
    start = time.perf_counter()
    df = run_engine(Path(folder)) if kind == "engine" else run_pandas(Path(folder))
    elapsed = time.perf_counter() - start
    df.sort_values(["account_id", "period_start"]).to_parquet(result_path)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb, "rows_out": len(df)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "events"
        t0 = time.perf_counter()
        make_events(folder, args.events)
        n = sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("*.parquet"))
        print(f"generated {n:,} events in {time.perf_counter() - t0:.1f} s")
        figures = {}
        for kind in ("pandas", "engine"):  # pandas is the baseline, measured in the same run
            res = Path(tmp) / f"{kind}.parquet"
            proc = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(folder), str(res)],
                capture_output=True,
                text=True,
                check=True,
            )
            figures[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
        a = pd.read_parquet(Path(tmp) / "engine.parquet").reset_index(drop=True)
        b = pd.read_parquet(Path(tmp) / "pandas.parquet").reset_index(drop=True)
        cols = ["events_total", "active_users", "active_days", "features_used"]
        same = a[cols].astype("int64").equals(b[cols].astype("int64"))
    print(f"{'implementation':<28}{'seconds':>10}{'rows/s':>16}{'peak MB':>12}")
    for kind, label in (("pandas", "pandas groupby (baseline)"), ("engine", "DuckDB via Ibis")):
        f = figures[kind]
        print(f"{label:<28}{f['seconds']:>10.2f}{n / f['seconds']:>16,.0f}{f['peak_mb']:>12,.0f}")
    e, p = figures["engine"], figures["pandas"]
    print(
        f"speed-up: {p['seconds'] / e['seconds']:.1f}x faster; peak memory ratio (pandas / engine): "
        f"{p['peak_mb'] / e['peak_mb']:.1f}x; results identical: {same}"
    )


if __name__ == "__main__":
    main()
