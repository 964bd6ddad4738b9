"""The same engine queries on Spark (pyspark, local mode) give DuckDB's results, on a slice of the small demo.

Skipped with a message when pyspark or Java is missing. One Spark session for the module (local[2], no
web UI, 2 shuffle partitions). The slice: 50 accounts of the small demo (every PoC account among them)
and one event in ten of theirs, in one Parquet file. Then the whole quarterly report on a tiny company
(80 accounts, 40k events), once on DuckDB and once with its data folder naming a local[1] Spark session:
every notebook runs on both, and every summary.json figure is equal.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import cached_demo

from cs_playbook.config import NOTEBOOKS_DIR
from cs_playbook.data import engine
from cs_playbook.data.adoption import feature_adoption
from cs_playbook.data.io import load_dataset, read_csv_any_encoding
from cs_playbook.data.measures import account_measures, observation_grid, renewal_observations
from cs_playbook.data.usage import aggregate_usage, dataset_usage, event_days
from cs_playbook.errors import CsPlaybookError
from cs_playbook.expansion.whitespace import usage_trend
from cs_playbook.params import DataParams, UsageParams, load_params
from cs_playbook.poc.report import unused_event_types
from cs_playbook.poc.usage import criterion_series
from cs_playbook.runner.run import run_report


def _why_no_spark() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[dev]')"
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and Path(java_home, "bin", "java").exists()):
        return "Java is not installed (Spark needs a JRE 17+: apt-get install openjdk-17-jre-headless)"
    return None


# pyspark warns about the pandas version and deprecated pandas keywords on every conversion.
pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
needs_spark = pytest.mark.skipif(_why_no_spark() is not None, reason=f"Spark engine test: {_why_no_spark()}")
N_ACCOUNTS = 50


def _equal(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> None:
    """Equal after sorting by `keys`, whatever the engines' dtypes (int32/int64, str/string)."""
    a = left.sort_values(keys).reset_index(drop=True)
    b = right.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_index_type=False)


@pytest.fixture(scope="module")
def slice_dir(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 accounts of the small demo (PoC accounts first) with their rows of every table and 1/10 of their events."""
    out = tmp_path_factory.mktemp("spark_slice")
    accounts = read_csv_any_encoding(demo_dir / "accounts.csv")
    pocs = read_csv_any_encoding(demo_dir / "pocs.csv")
    ids = list(dict.fromkeys([*pocs["account_id"], *accounts["account_id"]]))[:N_ACCOUNTS]
    poc_ids = pocs.loc[pocs["account_id"].isin(ids), "poc_id"]
    for f in demo_dir.glob("*.csv"):
        df = read_csv_any_encoding(f)
        if "account_id" in df.columns:
            df = df[df["account_id"].isin(ids)]
        elif "poc_id" in df.columns:
            df = df[df["poc_id"].isin(poc_ids)]
        df.to_csv(out / f.name, index=False)
    shutil.copytree(demo_dir / "params", out / "params")
    (out / "events").mkdir()
    con = duckdb.connect()
    con.register("ids", pd.DataFrame({"account_id": ids}))
    rel = con.read_parquet([p.as_posix() for p in sorted((demo_dir / "events").glob("*.parquet"))])
    kept = rel.filter("account_id IN (SELECT account_id FROM ids) AND hash(user_id, event_time) % 10 = 0")
    kept.order("event_time").write_parquet((out / "events" / "events.parquet").as_posix())
    return out


@pytest.fixture(scope="module")
def duck(slice_dir: Path):
    """The slice loaded on the default engine (DuckDB in process)."""
    return load_dataset(str(slice_dir))


@pytest.fixture(scope="module")
def spark(slice_dir: Path, duck):
    """The same dataset with its events opened on Spark (local[2]); the session stops after the module."""
    reason = _why_no_spark()
    if reason:
        pytest.skip(f"Spark engine test: {reason}")
    session = engine.spark_session("local[2]", conf={"spark.sql.shuffle.partitions": "2", "spark.driver.memory": "1g"})
    session.sparkContext.setLogLevel("ERROR")
    con = engine.connect(engine.EngineSpec("spark", "local[2]"))
    events = engine.read_events(con, slice_dir / "events", timezone="Asia/Tokyo")
    yield dataclasses.replace(duck, con=con, events=events)
    session.stop()


def test_engine_setting_is_checked() -> None:
    assert engine.engine_spec(DataParams().engine) == engine.EngineSpec("duckdb")
    assert engine.engine_spec(DataParams(engine={"spark": "local[2]"}).engine) == engine.EngineSpec("spark", "local[2]")
    assert engine.engine_spec(DataParams(engine={"duckdb": "x.duckdb"}).engine).target == "x.duckdb"
    for bad in ("postgres", {"spark": ""}, {"duckdb": "a", "spark": "b"}):
        with pytest.raises(ValueError, match="engine"):
            DataParams(engine=bad)


def test_a_duckdb_file_engine_runs_the_queries(duck, tmp_path) -> None:
    con = engine.duckdb_connection(engine.EngineSpec("duckdb", str(tmp_path / "work.duckdb")))
    assert con.execute("SELECT 42").fetchone() == (42,)
    assert (tmp_path / "work.duckdb").exists()
    with pytest.raises(CsPlaybookError, match="does not exist"):
        engine.duckdb_connection(engine.EngineSpec("duckdb", str(tmp_path / "nowhere" / "work.duckdb")))


@needs_spark
def test_events_are_typed_alike(duck, spark) -> None:
    keys = ["account_id", "user_id", "event_time", "event_type"]
    _equal(duck.events.to_pandas(), spark.events.to_pandas(), keys)


@needs_spark
@pytest.mark.parametrize("grain", ["month", "week"])
def test_usage_aggregates_are_equal(duck, spark, grain) -> None:
    params = load_params("usage_metrics", UsageParams)
    keys = ["account_id", "period_start"]
    _equal(aggregate_usage(duck.events, params, grain=grain), aggregate_usage(spark.events, params, grain=grain), keys)


@needs_spark
def test_event_days_are_equal(duck, spark) -> None:
    on_duck = event_days(duck.events)
    assert len(on_duck) > N_ACCOUNTS and on_duck["account_id"].nunique() <= N_ACCOUNTS
    pd.testing.assert_frame_equal(on_duck, event_days(spark.events))


@needs_spark
def test_health_measures_are_equal(duck, spark, tmp_path) -> None:
    start = duck.as_of - pd.DateOffset(months=18)
    obs = pd.concat(
        [
            observation_grid(duck.subscriptions, start=start, end=duck.as_of),
            renewal_observations(duck.subscriptions, lead_days=90, start=start, end=duck.as_of)[
                ["account_id", "obs_date"]
            ],
        ],
        ignore_index=True,
    )
    params = load_params("usage_metrics", UsageParams)
    usage = dataset_usage(duck, params, cache_dir=tmp_path)
    on_duck = account_measures(duck, obs, usage=usage, usage_params=params)
    on_spark = account_measures(spark, obs, usage=usage, usage_params=params)
    assert on_duck["days_since_last_activity"].notna().all()
    pd.testing.assert_frame_equal(on_duck, on_spark, check_dtype=False)


@needs_spark
def test_adoption_poc_usage_and_usage_trends_are_equal(duck, spark) -> None:
    releases = duck.get("feature_releases")
    keys = ["feature"]
    _equal(
        feature_adoption(duck.events, releases, as_of=duck.as_of),
        feature_adoption(spark.events, releases, as_of=duck.as_of),
        keys,
    )
    args = {"as_of": duck.as_of, "measurements": duck.get("poc_measurements"), "users": duck.get("users")}
    pocs, criteria = duck.get("pocs"), duck.get("poc_criteria")
    on_duck = criterion_series(pocs, criteria, events=duck.events, **args)
    assert (on_duck["scope_users"] > 0).any()
    _equal(
        on_duck, criterion_series(pocs, criteria, events=spark.events, **args), ["poc_id", "criterion_id", "period_end"]
    )
    types = sorted(duck.events.event_type.as_table().distinct().to_pandas()["event_type"])[:3]
    trend = usage_trend(duck.events, types, as_of=duck.as_of)
    assert len(trend)
    _equal(trend, usage_trend(spark.events, types, as_of=duck.as_of), ["account_id"])
    assert unused_event_types(criteria, duck.events) == unused_event_types(criteria, spark.events)


@needs_spark
def test_account_usage_is_equal(duck, spark, tmp_path) -> None:
    params = load_params("usage_metrics", UsageParams)
    end = duck.as_of - pd.Timedelta(days=10)  # a range that splits a month: aggregated on its own
    on_spark = dataset_usage(spark, params, end=end, cache_dir=tmp_path / "spark")
    pd.testing.assert_frame_equal(dataset_usage(duck, params, end=end, cache_dir=tmp_path / "duck"), on_spark)


# --- every notebook on Spark: the whole quarterly report on a tiny company, figures equal DuckDB's ---------------

TINY_DEMO = {"n_accounts": 80, "n_events": 40_000, "seed": 3}


def _differences(duck: object, spark: object, where: str) -> list[str]:
    """Where two summary.json figures differ: numbers beyond 1e-9 relative, anything else unequal."""
    if isinstance(duck, dict) and isinstance(spark, dict):
        keys = sorted(set(duck) | set(spark), key=str)
        return [d for k in keys for d in _differences(duck.get(k), spark.get(k), f"{where}.{k}")]
    if isinstance(duck, list) and isinstance(spark, list) and len(duck) == len(spark):
        return [
            d for i, (a, b) in enumerate(zip(duck, spark, strict=True)) for d in _differences(a, b, f"{where}[{i}]")
        ]
    numbers = (int, float)
    if isinstance(duck, numbers) and isinstance(spark, numbers) and not isinstance(duck, bool):
        same = math.isclose(duck, spark, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(duck) and math.isnan(spark))
        return [] if same else [f"{where}: {duck!r} on DuckDB, {spark!r} on Spark"]
    return [] if duck == spark else [f"{where}: {duck!r} on DuckDB, {spark!r} on Spark"]


def test_figure_differences_are_found() -> None:
    assert _differences({"a": [1, 2.0, {"b": "x"}]}, {"a": [1, 2.0 + 1e-12, {"b": "x"}]}, "f") == []
    assert _differences({"a": float("nan")}, {"a": float("nan")}, "f") == []
    assert _differences({"a": [1, 2.0]}, {"a": [1, 2.001]}, "f") == ["f.a[1]: 2.0 on DuckDB, 2.001 on Spark"]
    assert _differences({"a": 1}, {"b": 1}, "f") == [
        "f.a: 1 on DuckDB, None on Spark",
        "f.b: None on DuckDB, 1 on Spark",
    ]


@needs_spark
def test_every_notebook_runs_on_spark_with_duckdbs_figures(tmp_path: Path) -> None:
    source = cached_demo("spark-tiny", TINY_DEMO)
    runs = {}
    for name, setting in (("duckdb", ""), ("spark", 'engine: {spark: "local[1]"}\n')):
        data = tmp_path / name
        shutil.copytree(source, data)
        with open(data / "params" / "data.yaml", "a", encoding="utf-8") as f:
            f.write(f"\n{setting}")
        runs[name] = run_report(data_source=str(data), reports_dir=tmp_path / f"reports-{name}", jobs=2, progress=False)
        assert runs[name].ok, [(nb.name, nb.error) for nb in runs[name].failed]
    notebooks = sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb"))
    assert [nb.name for nb in runs["duckdb"].notebooks] == [nb.name for nb in runs["spark"].notebooks] == notebooks
    for duck, spark in zip(runs["duckdb"].notebooks, runs["spark"].notebooks, strict=True):
        assert duck.summary["figures"], duck.name
        assert _differences(duck.summary["figures"], spark.summary["figures"], duck.name) == []
