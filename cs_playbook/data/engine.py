"""The query engine: DuckDB in process (default), a DuckDB database file, or a Spark session.

params/data.yaml `engine` names it (`duckdb`, `{duckdb: path/to/file.duckdb}`, `{spark: "local[2]"}` or
`{spark: "spark://host:7077"}`). Every engine query of the package is backend-portable Ibis, so the same
usage aggregation, health measures, adoption windows and PoC usage run on either engine with the same
results. The loader (`data.io`) checks the raw events in DuckDB; on Spark, `read_events` then opens the
same files with Spark's own reader and types them exactly as the check did (business time, trimmed text).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import ibis

from cs_playbook.config import resolve_path
from cs_playbook.errors import CsPlaybookError

__all__ = [
    "EngineSpec",
    "engine_spec",
    "duckdb_connection",
    "spark_session",
    "connect",
    "open_events",
    "event_files",
    "read_events",
]

# An offset or Z at the end of a text timestamp: the value names its own time zone (as data.io's check reads it).
OFFSET_RE = r"(Z|[+-][0-9]{2}:?[0-9]{2})$"
# Spark settings for a local session (each notebook kernel starts one): no web UI, few shuffle partitions (the
# aggregates are small), Spark's default 1 GB driver said out loud, and the JVM's quick compiler only
# (TieredStopAtLevel=1): the JVM starts in half the time and the report's short queries run faster (measured:
# 22 s -> 13.5 s from start to the second query on the test company, 12.7 s -> 6.3 s for the 400k-event month
# aggregation). A cluster master keeps its own settings.
SPARK_LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.memory": "1g",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
}


@dataclass(frozen=True)
class EngineSpec:
    """Which engine runs the queries: kind "duckdb" (target: a database file, "" = in memory) or "spark" (master URL)."""

    kind: str
    target: str = ""

    @property
    def label(self) -> str:
        """A short name for messages and the run manifest (no machine path)."""
        if self.kind == "spark":
            return f"spark ({self.target})"
        return f"duckdb ({Path(self.target).name})" if self.target else "duckdb"


def engine_spec(value: str | dict[str, str] | None) -> EngineSpec:
    """The engine named by params/data.yaml `engine` (already validated by `DataParams`)."""
    if not value:
        return EngineSpec("duckdb")
    if isinstance(value, str):
        return EngineSpec("spark", "local[*]") if value == "spark" else EngineSpec("duckdb")
    kind, target = next(iter(value.items()))
    return EngineSpec(kind, str(target))


def duckdb_connection(spec: EngineSpec) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for the engine: in memory, or the named database file (created when absent).

    A database file lets DuckDB spill large intermediate results to disk. Only one process can write a
    DuckDB file: when another one holds it (notebooks run in parallel), this process works in memory and
    spills to <file>.tmp/ instead. On Spark the loader's checks run in an in-memory DuckDB connection.
    """
    if spec.kind != "duckdb" or not spec.target:
        return duckdb.connect()
    path = resolve_path(spec.target)
    if not path.parent.is_dir():
        raise CsPlaybookError(f"params/data.yaml engine: the folder of the DuckDB file {spec.target} does not exist")
    try:
        return duckdb.connect(str(path))
    except duckdb.IOException:  # held by another process of the same run
        return duckdb.connect(config={"temp_directory": str(path.with_suffix(".tmp"))})


def spark_session(master: str, *, conf: dict[str, str] | None = None) -> Any:
    """The Spark session for `master` (local[N] or a cluster URL), created once per process."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as err:
        raise CsPlaybookError(
            "params/data.yaml engine spark: pyspark is not installed (pip install 'cs-playbook[spark]' or pyspark)"
        ) from err
    builder = SparkSession.builder.master(master).appName("cs-playbook")
    for key, value in {**(SPARK_LOCAL_CONF if master.startswith("local") else {}), **(conf or {})}.items():
        builder = builder.config(key, value)
    # pyspark warns about pandas versions and deprecated pandas keywords on every conversion: not the reader's concern
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark\.")
    warnings.filterwarnings("ignore", message="The copy keyword is deprecated", module=r"pyspark\.")
    try:
        session = builder.getOrCreate()
    except Exception as err:  # Java missing or the master unreachable: say which engine failed
        raise CsPlaybookError(f"cannot start the Spark engine ({master}): {str(err).splitlines()[0]}") from err
    session.sparkContext.setLogLevel("ERROR")
    return session


def connect(spec: EngineSpec, *, raw_con: duckdb.DuckDBPyConnection | None = None) -> ibis.BaseBackend:
    """The Ibis backend of the engine: DuckDB on `raw_con` (or a new connection), or PySpark on the session."""
    if spec.kind == "spark":
        return ibis.pyspark.connect(spark_session(spec.target))
    return ibis.duckdb.from_connection(raw_con if raw_con is not None else duckdb_connection(spec))


def open_events(spec: EngineSpec, path: Path | None, *, timezone: str) -> tuple[ibis.BaseBackend, ibis.Table]:
    """The Spark backend and the events of `path` on it (for `data.io` once the events passed its checks)."""
    if spec.kind != "spark":
        raise CsPlaybookError(f"open_events is for the Spark engine (got {spec.label})")
    if path is None or not path.exists():
        raise CsPlaybookError(
            "params/data.yaml engine spark: Spark reads the events from Parquet or CSV files; "
            "this source keeps them in a DuckDB database (export them, or use the duckdb engine)"
        )
    con = connect(spec)
    return con, read_events(con, path, timezone=timezone)


def event_files(path: Path) -> tuple[list[Path], list[Path]]:
    """The events' Parquet files and CSV files: one file, or every such file under a folder (sorted)."""
    if path.is_dir():
        return sorted(path.glob("**/*.parquet")), sorted(path.glob("**/*.csv"))
    return ([path], []) if path.suffix == ".parquet" else ([], [path])


def read_events(con: ibis.BaseBackend, path: Path, *, timezone: str) -> ibis.Table:
    """The raw events of `path` (a file or folder of Parquet or CSV files) opened on a Spark engine, typed.

    Returns account_id, user_id, event_type (trimmed text) and event_time as a naive timestamp in
    business time: a time-zone-aware value (a Parquet timestamp with a zone, text ending in an offset or
    Z) is converted to `timezone`, a naive one kept as written, the way `data.io` types them in DuckDB (on
    the DuckDB engine the events are `data.io`'s checked view itself). The files are opened with Spark's
    reader (paths as arguments, never inside SQL text).
    """
    if con.name != "pyspark":
        raise CsPlaybookError(f"read_events opens events on Spark; the {con.name} engine reads them in data.io")
    parquet, csvs = event_files(path)
    if not (parquet or csvs):
        raise CsPlaybookError(f"no Parquet or CSV event files in {path.name}")
    return _spark_events(con, parquet, csvs, timezone)


def _spark_events(con: ibis.BaseBackend, parquet: list[Path], csvs: list[Path], timezone: str) -> ibis.Table:
    """Events opened with Spark's reader and typed with Spark functions, registered as a view of the backend."""
    from pyspark.sql import functions as F

    session = con._session
    files = [p.as_posix() for p in (parquet or csvs)]
    if parquet:
        raw = session.read.option("mergeSchema", "true").parquet(*files)
    else:
        raw = session.read.option("header", "true").option("inferSchema", "false").csv(files)
    kind = dict(raw.dtypes).get("event_time", "string")
    col = F.col("event_time")
    if kind == "timestamp":  # an instant (the session's zone is UTC): its wall-clock time in business time
        time = F.from_utc_timestamp(col, timezone)
    elif kind in ("timestamp_ntz", "date"):
        time = col.cast("timestamp_ntz")
    else:
        text = F.trim(col.cast("string"))
        aware = F.from_utc_timestamp(F.try_to_timestamp(text), timezone)
        time = F.when(text.rlike(OFFSET_RE), aware).otherwise(F.try_to_timestamp(text))
    typed = raw.select(
        F.trim(F.col("account_id").cast("string")).alias("account_id"),
        F.trim(F.col("user_id").cast("string")).alias("user_id"),
        time.cast("timestamp_ntz").alias("event_time"),
        F.trim(F.col("event_type").cast("string")).alias("event_type"),
    )
    name = f"cs_events_{abs(hash(tuple(files))) % 10**12}"
    typed.createOrReplaceTempView(name)
    return con.table(name)
