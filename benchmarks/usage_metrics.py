"""Benchmark: account-month usage metrics on N generated events, four ways, each in its own process.

Run by hand: `python benchmarks/usage_metrics.py --events 10000000,100000000`. For each size it generates
monthly Parquet files, then computes the same account-month metrics (events per type, active users, active
days, features used) with:
- the package (`cs_playbook.data.usage.aggregate_usage`, Ibis on DuckDB), the baseline of every ratio;
- a hand-written DuckDB SQL query over the same files;
- polars (lazy scan; skipped with a note when polars is not installed: `pip install polars`);
- pandas (everything in memory, under an address-space cap of --pandas-memory-gb, default 8: a laptop's budget;
  beyond it the line says "out of memory at N");
- with --spark, the package again on the Spark engine (local[2]; the JVM's start is included in its time).
Results are checked equal. Prints seconds, rows/s, peak memory (max RSS) and ratios. Asserts nothing.
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

    con = duckdb.connect()
    con.read_parquet(sorted(str(p) for p in folder.glob("*.parquet"))).create_view("events")
    events = ibis.duckdb.from_connection(con).table("events")
    return aggregate_usage(events, _usage_params())


def _usage_params():  # the four metrics every implementation computes
    from cs_playbook.params import UsageMetric, UsageParams

    return UsageParams(
        metrics=[
            UsageMetric(name="events_total", kind="count"),
            UsageMetric(name="active_users", kind="distinct_users"),
            UsageMetric(name="active_days", kind="distinct_days"),
            UsageMetric(name="features_used", kind="distinct_event_types"),
        ]
    )


def run_spark(folder: Path) -> pd.DataFrame:
    """The package's own aggregate_usage on the Spark engine (local[2], Ibis's pyspark backend), JVM start included."""
    from cs_playbook.data.engine import EngineSpec, connect, read_events
    from cs_playbook.data.usage import aggregate_usage

    con = connect(EngineSpec("spark", "local[2]"))
    return aggregate_usage(read_events(con, folder, timezone="UTC"), _usage_params())


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


def run_sql(folder: Path) -> pd.DataFrame:
    """The same metrics as one hand-written DuckDB query (the speed an expert would get by hand)."""
    import duckdb

    con = duckdb.connect()
    con.read_parquet(sorted(str(p) for p in folder.glob("*.parquet"))).create_view("events")
    per_type = ", ".join(f"count(*) FILTER (WHERE event_type = '{t}') AS events_{t}" for t in EVENT_TYPES)
    return con.sql(
        f"""
        SELECT account_id, date_trunc('month', event_time) AS period_start,
               count(*) AS events_total, count(DISTINCT user_id) AS active_users,
               count(DISTINCT date_trunc('day', event_time)) AS active_days,
               count(DISTINCT event_type) AS features_used, {per_type}
        FROM events GROUP BY ALL
        """
    ).df()


def run_polars(folder: Path) -> pd.DataFrame:
    """The same metrics with polars' lazy engine."""
    import polars as pl

    ev = pl.scan_parquet(sorted(folder.glob("*.parquet")))
    ev = ev.with_columns(
        pl.col("event_time").dt.truncate("1mo").alias("period_start"), pl.col("event_time").dt.date().alias("day")
    )
    out = ev.group_by("account_id", "period_start").agg(
        pl.len().alias("events_total"),
        pl.col("user_id").n_unique().alias("active_users"),
        pl.col("day").n_unique().alias("active_days"),
        pl.col("event_type").n_unique().alias("features_used"),
        *[(pl.col("event_type") == t).sum().alias(f"events_{t}") for t in EVENT_TYPES],
    )
    return out.collect().to_pandas()


RUNNERS = {"engine": run_engine, "sql": run_sql, "polars": run_polars, "pandas": run_pandas, "spark": run_spark}
LABELS = {
    "engine": "package (Ibis on DuckDB)",
    "sql": "hand-written DuckDB SQL",
    "polars": "polars (lazy)",
    "pandas": "pandas groupby",
    "spark": "package on Spark local[2]",
}


def _child(kind: str, folder: str, result_path: str, memory_gb: float = 0) -> None:
    if memory_gb:
        cap = int(memory_gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    start = time.perf_counter()
    try:
        df = RUNNERS[kind](Path(folder))
    except MemoryError:
        print(json.dumps({"out_of_memory": True}))
        return
    elapsed = time.perf_counter() - start
    df.sort_values(["account_id", "period_start"]).to_parquet(result_path)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb, "rows_out": len(df)}))


def _measure(kind: str, folder: Path, res: Path, memory_gb: float, spark_ready: bool = False) -> dict:
    """Run one implementation in its own process; its figures, or a note why it did not run."""
    if kind == "polars":
        try:
            import polars  # noqa: F401
        except ImportError:
            return {"note": "not installed (pip install polars)"}
    if kind == "spark" and not spark_ready:
        return {"note": "skipped (--spark, with pyspark and Java installed)"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(folder), str(res), str(memory_gb if kind == "pandas" else 0)],
        capture_output=True,
        text=True,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        oom = "MemoryError" in proc.stderr or "bad_alloc" in proc.stderr or proc.returncode in (-9, 137)
        return {"note": "out of memory" if oom else f"failed: {proc.stderr.strip().splitlines()[-1:]}"}
    figures = json.loads(lines[-1])
    return {"note": "out of memory"} if figures.get("out_of_memory") else figures


def _same(tmp: Path, kind: str) -> bool:
    cols = ["events_total", "active_users", "active_days", "features_used"]
    a = pd.read_parquet(tmp / "engine.parquet").reset_index(drop=True)
    b = pd.read_parquet(tmp / f"{kind}.parquet").reset_index(drop=True)
    return len(a) == len(b) and a[cols].astype("int64").equals(b[cols].astype("int64"))


def bench_size(n_events: int, memory_gb: float, spark: bool = False) -> None:
    """Generate n_events, run the four implementations, print one table."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "events"
        t0 = time.perf_counter()
        make_events(folder, n_events)
        n = sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("*.parquet"))
        size_mb = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 1024**2
        print(f"\n== {n:,} events ({size_mb:,.0f} MB of Parquet, generated in {time.perf_counter() - t0:.0f} s)")
        figures = {kind: _measure(kind, folder, tmp / f"{kind}.parquet", memory_gb, spark) for kind in RUNNERS}
        base = figures["engine"]
        print(f"{'implementation':<28}{'seconds':>9}{'rows/s':>14}{'peak MB':>9}{'time / package':>16}  same result")
        for kind, f in figures.items():
            if "note" in f:
                note = (
                    f"out of memory at {n:,} events (cap {memory_gb:g} GB)"
                    if f["note"] == "out of memory"
                    else f["note"]
                )
                print(f"{LABELS[kind]:<28}  {note}")
                continue
            ratio = f["seconds"] / base["seconds"] if "seconds" in base else float("nan")
            same = "baseline" if kind == "engine" else _same(tmp, kind)
            print(
                f"{LABELS[kind]:<28}{f['seconds']:>9.1f}{n / f['seconds']:>14,.0f}{f['peak_mb']:>9,.0f}"
                f"{ratio:>15.2f}x  {same}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", default="10000000", help="comma-separated sizes, e.g. 10000000,100000000")
    parser.add_argument("--pandas-memory-gb", type=float, default=8.0, help="address-space cap of the pandas run")
    parser.add_argument("--spark", action="store_true", help="also the package on Spark local[2] (pyspark, Java)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, folder, result, memory = args.child
        _child(kind, folder, result, float(memory))
        return
    for size in args.events.split(","):
        bench_size(int(size.replace("_", "")), args.pandas_memory_gb, args.spark)


if __name__ == "__main__":
    main()
