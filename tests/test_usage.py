"""Usage metrics in DuckDB against hand counts; new metrics come from params alone; the scan is cached on disk."""

from __future__ import annotations

import dataclasses
import os
import shutil

import duckdb
import ibis
import pandas as pd
import pytest

from cs_playbook.config import resolve_path
from cs_playbook.data.usage import (
    _aligned,
    _split_periods,
    account_usage,
    dataset_usage,
    seats_by_period,
    usage_cache_key,
)
from cs_playbook.errors import ParamsError
from cs_playbook.params import UsageParams, load_params


@pytest.fixture
def events() -> ibis.Table:
    rows = [
        ("A", "u1", "2024-01-03 10:00", "login"),
        ("A", "u1", "2024-01-03 11:00", "create_report"),
        ("A", "u2", "2024-01-20 09:00", "login"),
        ("A", "u2", "2024-01-20 09:05", "export_csv"),
        ("A", "u1", "2024-02-01 10:00", "login"),
        # March: no events for A (kept as zero usage)
        ("A", "u1", "2024-04-02 10:00", "create_report"),
        ("A", "u3", "2024-04-03 10:00", "create_report"),
        ("A", "u2", "2024-04-03 12:00", "login"),
        ("A", "u3", "2024-04-04 08:00", "login"),
        ("B", "v1", "2024-02-10 10:00", "login"),
    ]
    df = pd.DataFrame(rows, columns=["account_id", "user_id", "event_time", "event_type"])
    df["event_time"] = pd.to_datetime(df["event_time"])
    con = duckdb.connect()
    con.register("ev", df)
    return ibis.duckdb.from_connection(con).table("ev")


@pytest.fixture
def subscriptions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ["A", "A", "B"],
            "start_date": pd.to_datetime(["2024-01-01", "2024-03-15", "2024-02-01"]),
            "end_date": pd.to_datetime(["2024-12-31", "2024-12-31", None]),
            "seats": [4.0, 2.0, 1.0],
        }
    )


def params(**extra) -> UsageParams:
    base = load_params("usage_metrics", UsageParams)
    return base.model_copy(update=extra)


def test_account_month_metrics_by_hand(events, subscriptions) -> None:
    u = account_usage(events, subscriptions, params()).set_index(["account_id", "period_start"])
    jan, feb, mar, apr = (u.loc[("A", pd.Timestamp(f"2024-{m:02d}-01"))] for m in (1, 2, 3, 4))
    assert (jan["events_total"], jan["active_users"], jan["active_days"], jan["features_used"]) == (4, 2, 2, 3)
    assert (jan["events_login"], jan["events_create_report"], jan["events_export_csv"]) == (2, 1, 1)
    assert jan["seats"] == 4 and jan["seat_utilization"] == 0.5  # 2 active users / 4 seats
    assert jan["events_per_active_user"] == 2.0 and jan["reports_per_active_user"] == 0.5
    assert mar["events_total"] == 0 and mar["seats"] == 6  # the second line is active on March 31
    assert apr["active_users"] == 3 and apr["seat_utilization"] == 0.5  # 3 / 6
    # change against 1 and 3 months before: Feb 1 event vs Jan 4; Apr 4 vs Jan 4; Apr vs Mar (0) undefined
    assert feb["events_total_chg_1"] == pytest.approx(1 / 4 - 1)
    assert apr["events_total_chg_3"] == pytest.approx(0.0)
    assert pd.isna(apr["events_total_chg_1"])
    assert u.loc[("B", pd.Timestamp("2024-02-01")), "seat_utilization"] == 1.0


def test_week_grain(events, subscriptions) -> None:
    u = account_usage(events, subscriptions, params(), grain="week")
    a = u[u["account_id"] == "A"].set_index("period_start")
    assert a.loc[pd.Timestamp("2024-01-01"), "events_total"] == 2  # week of Monday 2024-01-01
    assert a.loc[pd.Timestamp("2024-01-15"), "active_users"] == 1
    assert a.loc[pd.Timestamp("2024-01-08"), "events_total"] == 0  # a week without events is kept


def test_a_new_metric_needs_only_params(events, subscriptions) -> None:
    p = load_params(
        "usage_metrics",
        UsageParams,
        overrides={
            "metrics": [
                {"name": "active_users", "kind": "distinct_users"},
                {"name": "exports", "kind": "count", "event_types": ["export_csv"]},
                {
                    "name": "exports_per_active_user",
                    "kind": "ratio",
                    "numerator": "exports",
                    "denominator": "active_users",
                },
            ],
            "per_event_type_counts": False,
        },
    )
    u = account_usage(events, subscriptions, p).set_index(["account_id", "period_start"])
    assert u.loc[("A", pd.Timestamp("2024-01-01")), "exports_per_active_user"] == 0.5
    assert "events_login" not in u.columns


def test_a_ratio_naming_an_unknown_metric_is_a_params_error(events, subscriptions) -> None:
    p = params(
        metrics=[
            *params().metrics[:1],
            params()
            .metrics[0]
            .model_copy(update={"name": "bad", "kind": "ratio", "numerator": "nope", "denominator": "seats"}),
        ]
    )
    with pytest.raises(ParamsError, match="metric bad: numerator 'nope' is not a metric"):
        account_usage(events, subscriptions, p)


def test_usage_on_the_demo_company(demo_ds) -> None:
    u = account_usage(demo_ds.events, demo_ds.subscriptions, params())
    assert u["seat_utilization"].dropna().between(0, 1.5).all()
    total = int(demo_ds.events.count().to_pandas())
    assert int(u["events_total"].sum()) == total  # every event lands in one account-month


def test_seats_are_the_largest_product_total_not_add_ons_counted_again() -> None:
    # 営業部 40 + 人事部 10 Platform seats, and Analytics on 30 of the same users: 50 seats, not 80.
    subs = pd.DataFrame(
        {
            "account_id": ["A", "A", "A", "B"],
            "department": ["営業部", "人事部", "営業部", None],
            "product": ["Platform", "Platform", "Analytics", "Platform"],
            "start_date": pd.to_datetime(["2024-01-01"] * 4),
            "end_date": pd.to_datetime(["2024-12-31", "2024-01-31", "2024-12-31", "2024-12-31"]),
            "seats": [40.0, 10.0, 30.0, 5.0],
        }
    )
    got = seats_by_period(subs, pd.DatetimeIndex(["2024-01-01", "2024-02-01"])).set_index(
        ["account_id", "period_start"]
    )
    assert got.loc[("A", pd.Timestamp("2024-01-01")), "seats"] == 50  # 40 + 10 Platform
    assert got.loc[("A", pd.Timestamp("2024-02-01")), "seats"] == 40  # 人事部 ended in January
    assert got.loc[("B", pd.Timestamp("2024-01-01")), "seats"] == 5


# --- scan once: the engine's aggregates cached on disk (dataset_usage) ---------------------------------------------


@pytest.mark.parametrize(
    ("grain", "start", "end"),
    [
        ("month", None, None),
        ("month", None, "2026-06-30"),  # a quarter's end: cut from the whole history's aggregates
        ("month", "2025-01-01", "2026-06-15"),  # splits a month: only that month read from the events
        ("month", None, "2026-03-30"),  # six months before a quarter's end
        ("month", "2025-01-17", "2026-06-30"),  # a split first month
        ("month", "2025-01-17", "2025-04-12"),  # split at both ends
        ("month", "2025-03-03", "2025-03-20"),  # inside one month
        ("week", None, "2026-06-28"),  # a Sunday
        ("week", "2025-06-04", "2026-06-25"),  # a Wednesday to a Thursday
    ],
)
def test_cached_usage_equals_the_engine_scan(demo_ds, tmp_path, grain, start, end) -> None:
    start = pd.Timestamp(start) if start else None
    end = pd.Timestamp(end) if end else None
    direct = account_usage(demo_ds.events, demo_ds.subscriptions, params(), grain=grain, start=start, end=end)
    for _ in range(2):  # computed and stored, then read back
        cached = dataset_usage(demo_ds, params(), grain=grain, start=start, end=end, cache_dir=tmp_path)
        pd.testing.assert_frame_equal(cached, direct)
    # One scan of the whole history; a split period at either end is read on its own, one period per file.
    split = [(s, e) for s, e in _split_periods(start, end, grain) if not _aligned(s, e, grain)]
    files = sorted(tmp_path.glob("*.parquet"), key=lambda f: len(pd.read_parquet(f)))
    assert len(files) == 1 + len(split)
    assert all(pd.read_parquet(f)["period_start"].nunique() == 1 for f in files[: len(split)])
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_second_call_reads_the_cache_not_the_events(demo_ds, tmp_path) -> None:
    first = dataset_usage(demo_ds, params(), end=demo_ds.as_of, cache_dir=tmp_path)
    # Events that no engine can read: any scan would raise, so equal results mean the cache was read.
    unreadable = ibis.table(demo_ds.events.schema(), name="no_such_events")
    again = dataclasses.replace(demo_ds, events=unreadable)
    pd.testing.assert_frame_equal(dataset_usage(again, params(), end=demo_ds.as_of, cache_dir=tmp_path), first)
    with pytest.raises(Exception):  # noqa: B017 - any engine error: the scan is really not possible
        dataset_usage(again, params(), end=demo_ds.as_of, cache_dir=tmp_path / "empty")


def test_a_changed_event_file_or_metric_changes_the_cache_key(demo_ds, tmp_path) -> None:
    events = tmp_path / "events"
    shutil.copytree(resolve_path(demo_ds.files["events"]), events)
    ds = dataclasses.replace(demo_ds, files={**demo_ds.files, "events": str(events)})
    key = usage_cache_key(ds, params())
    assert usage_cache_key(ds, params()) == key
    assert usage_cache_key(demo_ds, params()) == key  # a copy with the same names, sizes and times: the same data
    assert usage_cache_key(ds, params(), grain="week") != key
    assert usage_cache_key(ds, params(change_windows=[1])) == key  # computed in pandas, not in the engine
    assert usage_cache_key(ds, params(per_event_type_counts=False)) != key
    first = sorted(events.glob("*.parquet"))[0]
    os.utime(first, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns + 10**9))
    assert usage_cache_key(ds, params()) != key


@pytest.mark.parametrize("grain", ["month", "week"])
def test_chunked_aggregation_equals_one_query_over_the_whole_history(demo_ds, monkeypatch, grain) -> None:
    import cs_playbook.data.usage as usage_module

    chunked = usage_module.aggregate_usage(demo_ds.events, params(), grain=grain)
    monkeypatch.setitem(usage_module.CHUNK_PERIODS, grain, 10_000)  # one chunk: the whole history in one query
    assert len(usage_module._chunks(pd.Timestamp("2023-01-15"), pd.Timestamp("2026-09-30"), grain)) == 1
    pd.testing.assert_frame_equal(chunked, usage_module.aggregate_usage(demo_ds.events, params(), grain=grain))


def test_chunks_are_whole_periods_covering_the_events() -> None:
    from cs_playbook.data.usage import _chunks

    months = _chunks(pd.Timestamp("2024-01-17 09:00"), pd.Timestamp("2024-07-01 00:00"), "month")
    assert months == [
        (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-04-01")),
        (pd.Timestamp("2024-04-01"), pd.Timestamp("2024-07-01")),
        (pd.Timestamp("2024-07-01"), pd.Timestamp("2024-10-01")),
    ]
    weeks = _chunks(pd.Timestamp("2024-01-17"), pd.Timestamp("2024-01-18"), "week")
    assert weeks == [(pd.Timestamp("2024-01-15"), pd.Timestamp("2024-04-15"))]  # Mondays
    assert _chunks(pd.NaT, pd.NaT, "month") == []
