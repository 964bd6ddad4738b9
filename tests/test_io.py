"""Loaders on real files: encodings, Parquet, event folders, a DuckDB file, and bad input."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cs_playbook.data.io import load_dataset
from cs_playbook.errors import DataContractError

ACCOUNTS = pd.DataFrame(
    {
        "account_id": ["00123", "A2"],
        "account_name": ["株式会社サクラ物流", "ミドリ商事株式会社"],
        "segment": ["smb", "enterprise"],
        "industry": ["物流", "小売"],
        "employees": ["50", "5000"],
        "region": ["関東", "関西"],
        "csm": ["佐藤 美咲", ""],
        "created_at": ["2024-01-05", "2024-02-01"],
    }
)
SUBS = pd.DataFrame(
    {
        "subscription_id": ["S1", "S2"],
        "account_id": ["00123", "A2"],
        "department": ["", "営業部"],
        "product": ["Platform", "Platform"],
        "start_date": ["2024-02-01", "2024-03-01"],
        "end_date": ["2025-01-31", "2025-02-28"],
        "arr": ["900000", "3600000"],
        "seats": ["50", "200"],
        "auto_renew": ["true", "false"],
        "currency": ["JPY", "JPY"],
    }
)
EVENTS = pd.DataFrame(
    {
        "account_id": ["00123", "A2", "A2"],
        "user_id": ["u1", "u2", "u3"],
        "event_time": ["2024-03-01 10:00:00", "2024-03-02 11:00:00", "2024-04-05 09:30:00"],
        "event_type": ["login", "login", "ai_summary"],
    }
)


def folder(tmp_path: Path, encoding: str = "utf-8", **tables: pd.DataFrame) -> Path:
    d = tmp_path / f"src-{encoding}"
    d.mkdir(exist_ok=True)
    for name, df in {"accounts": ACCOUNTS, "subscriptions": SUBS, **tables}.items():
        df.to_csv(d / f"{name}.csv", index=False, encoding=encoding)
    return d


def params_dir(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "params"
    p.mkdir(exist_ok=True)
    (p / "data.yaml").write_text("source: demo\nreporting_currency: JPY\n" + extra, encoding="utf-8")
    return p


def test_minimal_folder_loads_and_lists_absent_optional_tables(tmp_path: Path) -> None:
    ds = load_dataset(str(folder(tmp_path)))
    assert ds.accounts["account_id"].tolist() == ["00123", "A2"]
    assert ds.events is None and "events" in ds.missing_optional and "bantc" in ds.missing_optional
    assert ds.as_of == pd.Timestamp("2024-03-01")  # latest contract start when nothing else is dated


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp932"])
def test_three_encodings_give_identical_frames(tmp_path: Path, encoding: str) -> None:
    plain = load_dataset(str(folder(tmp_path, "utf-8")))
    other = load_dataset(str(folder(tmp_path, encoding)))
    pd.testing.assert_frame_equal(plain.accounts, other.accounts)
    pd.testing.assert_frame_equal(plain.subscriptions, other.subscriptions)
    assert other.accounts.loc[0, "account_name"] == "株式会社サクラ物流"


def test_parquet_tables_and_event_folders(tmp_path: Path) -> None:
    d = tmp_path / "pq"
    (d / "events").mkdir(parents=True)
    ACCOUNTS.to_parquet(d / "accounts.parquet")
    SUBS.to_csv(d / "subscriptions.csv", index=False)
    typed = EVENTS.assign(event_time=pd.to_datetime(EVENTS["event_time"]))
    typed.iloc[:2].to_parquet(d / "events" / "2024-03.parquet")
    typed.iloc[2:].to_parquet(d / "events" / "2024-04.parquet")
    ds = load_dataset(str(d))
    assert int(ds.events.count().to_pandas()) == 3
    # Events run five weeks past the last contract start, longer than the contracts' usual pause: the
    # subscriptions' export is older, so as_of stops at what they cover.
    assert ds.as_of == pd.Timestamp("2024-03-01") and ds.contracts_to == pd.Timestamp("2024-03-01")
    assert "2024-04-05" in ds.as_of_reason
    subs3 = pd.concat([SUBS, SUBS.iloc[[0]].assign(subscription_id="S3", start_date="2024-04-01")])
    subs3.to_csv(d / "subscriptions.csv", index=False)
    assert load_dataset(str(d)).as_of == pd.Timestamp("2024-04-05")  # the latest event: contracts are current


def test_events_csv_folder_in_cp932(tmp_path: Path) -> None:
    d = folder(tmp_path)
    (d / "events").mkdir()
    ev = EVENTS.assign(event_type=["ログイン", "ログイン", "AI要約"])
    ev.iloc[:2].to_csv(d / "events" / "a.csv", index=False, encoding="cp932")
    ev.iloc[2:].to_csv(d / "events" / "b.csv", index=False, encoding="cp932")
    ds = load_dataset(str(d))
    types = ds.events.event_type.value_counts().to_pandas().set_index("event_type")["event_type_count"].to_dict()
    assert types == {"ログイン": 2, "AI要約": 1}


def duckdb_source(db: Path) -> Path:
    """A DuckDB file holding accounts, subscriptions and events."""
    con = duckdb.connect(str(db))
    for name, df in (("accounts", ACCOUNTS), ("subscriptions", SUBS), ("events", EVENTS)):
        con.register("df", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM df")
        con.unregister("df")
    con.close()
    return db


def test_duckdb_file_source(tmp_path: Path) -> None:
    db = duckdb_source(tmp_path / "crm.duckdb")
    ds = load_dataset(str(db))
    assert ds.subscriptions["arr"].sum() == 4_500_000
    assert ds.files["events"] == "crm.duckdb:events" and int(ds.events.count().to_pandas()) == 3


def test_many_problems_in_many_tables_are_reported_together(tmp_path: Path) -> None:
    bad_subs = pd.concat(
        [
            SUBS,
            pd.DataFrame(
                [
                    {
                        "subscription_id": "S1",
                        "account_id": "NOPE",
                        "department": "",
                        "product": "Platform",
                        "start_date": "2024-13-01",
                        "end_date": "2024-01-01",
                        "arr": "-10",
                        "seats": "x",
                        "auto_renew": "true",
                        "currency": "JPY",
                    }
                ]
            ),
        ]
    )
    bad_events = pd.concat(
        [
            EVENTS,
            pd.DataFrame([{"account_id": "GHOST", "user_id": "u9", "event_time": "yesterday", "event_type": "login"}]),
        ]
    )
    d = folder(
        tmp_path,
        subscriptions=bad_subs,
        events=bad_events,
        tickets=pd.DataFrame(
            {"ticket_id": ["T1"], "account_id": ["A2"], "opened_at": ["2024-03-01"], "closed_at": [""]}
        ),
    )
    (d / "surveys.csv").write_text("")
    with pytest.raises(DataContractError) as err:
        load_dataset(str(d))
    found = {(p.table, p.column, p.rule) for p in err.value.problems}
    expected = {
        ("subscriptions", "start_date", "value is not a date"),
        ("subscriptions", "seats", "value is not a whole number"),
        ("subscriptions", "arr", "value must be >= 0"),
        ("subscriptions", "subscription_id", "key must be unique (duplicate key)"),
        ("subscriptions", "account_id", "unknown account_id (not in accounts)"),
        ("tickets", "severity", "required column is missing"),
        ("surveys", "*", "file is empty"),
        ("events", "event_time", "value is not a date-time"),
        ("events", "account_id", "unknown account_id (not in accounts)"),
    }
    assert expected <= found
    text = str(err.value)
    assert "subscriptions.csv" in text and "line 4" in text and "GHOST" in text


def test_required_table_missing(tmp_path: Path) -> None:
    d = folder(tmp_path)
    (d / "subscriptions.csv").unlink()
    with pytest.raises(DataContractError, match="required table is missing"):
        load_dataset(str(d))


def test_currency_rates_and_renamed_headers(tmp_path: Path) -> None:
    subs = SUBS.assign(currency=["JPY", "USD"], arr=["900000", "1000"])
    d = folder(tmp_path, subscriptions=subs)
    with pytest.raises(DataContractError, match="currency USD has no rate"):
        load_dataset(str(d), params_dir=params_dir(tmp_path))
    ds = load_dataset(str(d), params_dir=params_dir(tmp_path, "fx_rates: {USD: 150}\n"))
    assert ds.subscriptions["arr"].tolist() == [900000.0, 150000.0] and set(ds.subscriptions["currency"]) == {"JPY"}
    ACCOUNTS.rename(columns={"account_id": "顧客ID", "account_name": "顧客名"}).to_csv(
        d / "accounts.csv", index=False, encoding="cp932"
    )
    pdir = params_dir(
        tmp_path, "fx_rates: {USD: 150}\nrename:\n  accounts: {顧客ID: account_id, 顧客名: account_name}\n"
    )
    assert load_dataset(str(d), params_dir=pdir).accounts["account_id"].tolist() == ["00123", "A2"]


def test_as_of_from_params(tmp_path: Path) -> None:
    ds = load_dataset(str(folder(tmp_path)), params_dir=params_dir(tmp_path, "as_of: 2024-06-30\n"))
    assert ds.as_of == pd.Timestamp("2024-06-30")


# --- data meaning: end_date convention, reporting currency, placeholder owners, as_of -------------------


def monthly_folder(tmp_path: Path, name: str, *, exclusive: bool, data_yaml: str | None = None) -> Path:
    """Four USD accounts renewing monthly from October to December 2023, end dates written either way."""
    d = tmp_path / name
    d.mkdir()
    accounts = pd.DataFrame(
        {
            "account_id": ["U1", "U2", "U3", "U4"],
            "account_name": ["Acme", "Globex", "Initech", "Umbrella"],
            "segment": ["smb"] * 4,
            "industry": [""] * 4,
            "employees": ["40"] * 4,
            "region": ["US"] * 4,
            "csm": ["Unassigned", " - ", "Dana Scully", "N/A"],
            "created_at": ["2023-09-15"] * 4,
        }
    )
    starts = pd.to_datetime(["2023-10-01", "2023-11-01", "2023-12-01"])
    rows = []
    for a in accounts["account_id"]:
        for i, start in enumerate(starts):
            end = start + pd.offsets.MonthBegin(1) - pd.Timedelta(days=0 if exclusive else 1)
            rows.append(
                {
                    "subscription_id": f"{a}-{i}",
                    "account_id": a,
                    "department": "",
                    "product": "platform_pro",
                    "start_date": f"{start:%Y-%m-%d}",
                    "end_date": f"{end:%Y-%m-%d}",
                    "arr": "1200",
                    "seats": "5",
                    "auto_renew": "true",
                    "currency": "USD",
                }
            )
    accounts.to_csv(d / "accounts.csv", index=False)
    pd.DataFrame(rows).to_csv(d / "subscriptions.csv", index=False)
    if data_yaml is not None:
        (d / "params").mkdir()
        (d / "params" / "data.yaml").write_text(data_yaml, encoding="utf-8")
    return d


def test_exclusive_end_dates_declared_by_the_source_are_read_as_inclusive(tmp_path: Path) -> None:
    d = monthly_folder(tmp_path, "excl", exclusive=True, data_yaml="end_date_convention: exclusive\n")
    ds = load_dataset(str(d))
    ends = ds.subscriptions.loc[ds.subscriptions["account_id"] == "U1", "end_date"].dt.strftime("%Y-%m-%d")
    assert ends.tolist() == ["2023-10-31", "2023-11-30", "2023-12-31"]
    assert ds.currency == "USD"  # the data's single currency: no reporting_currency needed
    assert any("exclusive" in n for n in ds.notes)


def test_exclusive_end_dates_declared_inclusive_are_refused_naming_the_setting(tmp_path: Path) -> None:
    d = monthly_folder(tmp_path, "excl", exclusive=True)
    with pytest.raises(DataContractError) as err:
        load_dataset(str(d))
    text = str(err.value)
    assert "end_date_convention: exclusive in params/data.yaml" in text and "8 of 8 renewals" in text
    assert "subscription_id=U1-0 ends 2023-11-01; U1-1 (same account, department, product) starts 2023-11-01" in text


def test_inclusive_end_dates_declared_exclusive_are_refused(tmp_path: Path) -> None:
    d = monthly_folder(tmp_path, "incl", exclusive=False, data_yaml="end_date_convention: exclusive\n")
    with pytest.raises(DataContractError, match=r"end dates look inclusive: 8 of 8 renewals.*end_date_convention"):
        load_dataset(str(d))
    assert load_dataset(str(monthly_folder(tmp_path, "incl2", exclusive=False))).currency == "USD"


def test_month_aligned_lines_without_renewals_tell_the_convention(tmp_path: Path) -> None:
    d = monthly_folder(tmp_path, "excl", exclusive=True)
    subs = pd.read_csv(d / "subscriptions.csv", dtype=str, keep_default_na=False)
    subs["product"] = subs["subscription_id"]  # no line follows another of the same product: no renewal chain
    subs.to_csv(d / "subscriptions.csv", index=False)
    with pytest.raises(DataContractError, match=r"12 of 12 lines start and end on the 1st of a month"):
        load_dataset(str(d))
    subs["start_date"] = "2023-10-07"  # not month-aligned and no renewals: nothing tells the convention
    subs.to_csv(d / "subscriptions.csv", index=False)
    assert len(load_dataset(str(d)).subscriptions) == 12


def test_the_demo_company_passes_as_inclusive(demo_ds) -> None:
    from cs_playbook.data.meaning import end_date_problems, renewal_gaps

    subs = demo_ds.subscriptions
    gaps = renewal_gaps(subs)["gap_days"]
    assert (gaps == 1).sum() > 100 and (gaps == 0).sum() == 0  # renewals start the day after the end
    assert end_date_problems(subs, "inclusive") == []
    assert "renewals start the day after" in end_date_problems(subs, "exclusive")[0].rule


def test_several_currencies_need_a_reporting_currency(tmp_path: Path) -> None:
    d = monthly_folder(tmp_path, "mixed", exclusive=False)
    subs = pd.read_csv(d / "subscriptions.csv", dtype=str, keep_default_na=False)
    subs.loc[subs["account_id"] == "U4", "currency"] = "EUR"
    subs.to_csv(d / "subscriptions.csv", index=False)
    with pytest.raises(DataContractError, match=r"several currencies \(EUR, USD\): set reporting_currency"):
        load_dataset(str(d))
    (d / "params").mkdir()
    (d / "params" / "data.yaml").write_text("reporting_currency: usd\n", encoding="utf-8")
    with pytest.raises(DataContractError, match="currency EUR has no rate"):
        load_dataset(str(d))
    (d / "params" / "data.yaml").write_text("reporting_currency: usd\nfx_rates: {EUR: 1.1}\n", encoding="utf-8")
    ds = load_dataset(str(d))
    assert ds.currency == "USD" and ds.subscriptions["arr"].sum() == pytest.approx(9 * 1200 + 3 * 1320)


def test_placeholder_owners_are_unassigned(tmp_path: Path) -> None:
    ds = load_dataset(str(monthly_folder(tmp_path, "own", exclusive=False)))
    csm = ds.accounts.set_index("account_id")["csm"]
    assert csm.isna().tolist() == [True, True, False, True] and csm["U3"] == "Dana Scully"
    assert any("placeholder csm" in n for n in ds.notes)


def test_as_of_stops_at_the_contracts_when_events_run_past_their_export(tmp_path: Path) -> None:
    d = monthly_folder(tmp_path, "late", exclusive=False)
    (d / "events").mkdir()
    days = pd.date_range("2023-10-01", "2024-01-31", freq="D")
    pd.DataFrame(
        {"account_id": "U1", "user_id": "u1", "event_time": days.strftime("%Y-%m-%d 10:00:00"), "event_type": "login"}
    ).to_csv(d / "events" / "events.csv", index=False)
    ds = load_dataset(str(d))
    assert ds.as_of == pd.Timestamp("2023-12-01") and ds.contracts_to == pd.Timestamp("2023-12-01")
    assert ds.as_of_reason.startswith(
        "as_of 2023-12-01: the contracts' latest start_date; the events run to 2024-01-31"
    )
    (d / "params").mkdir()
    (d / "params" / "data.yaml").write_text("as_of: 2024-01-15\n", encoding="utf-8")
    ds = load_dataset(str(d))
    assert ds.as_of == pd.Timestamp("2024-01-15") and "set in params/data.yaml" in ds.as_of_reason


def test_the_usplg_demo_loads_with_its_own_params(usplg_ds, usplg_dir: Path) -> None:
    from cs_playbook.data.meaning import end_date_problems

    assert usplg_ds.currency == "USD" and any("exclusive" in n for n in usplg_ds.notes)
    assert end_date_problems(usplg_ds.subscriptions, "inclusive") == []  # converted: renewals start the day after
    raw = pd.read_csv(usplg_dir / "subscriptions.csv", dtype=str, keep_default_na=False)
    raw = raw.assign(
        start_date=pd.to_datetime(raw["start_date"]), end_date=pd.to_datetime(raw["end_date"].replace("", None))
    )
    (problem,) = end_date_problems(raw, "inclusive", "subscriptions.csv")
    assert "end dates look exclusive" in problem.rule and "end_date_convention" in problem.rule
    assert usplg_ds.as_of <= usplg_ds.contracts_to


def _same_dataset(a, b) -> None:
    assert (a.source, a.as_of, a.currency, a.files, a.contracts_to) == (
        b.source,
        b.as_of,
        b.currency,
        b.files,
        b.contracts_to,
    )
    assert (a.missing_optional, a.as_of_reason, a.notes) == (b.missing_optional, b.as_of_reason, b.notes)
    assert sorted(a.tables) == sorted(b.tables)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True, obj=name)
    assert (a.events is None) == (b.events is None)
    if a.events is not None:
        cols = ["account_id", "user_id", "event_time", "event_type"]
        ev_a = a.events.to_pandas().sort_values(cols).reset_index(drop=True)
        pd.testing.assert_frame_equal(ev_a, b.events.to_pandas().sort_values(cols).reset_index(drop=True))


def _sources(tmp_path: Path) -> dict[str, Path]:
    """A CSV folder with CP932 events, a Parquet folder with time-zone-aware events, a DuckDB file."""
    csv = folder(tmp_path)
    (csv / "events").mkdir()
    EVENTS.assign(event_type=["ログイン", "ログイン", "AI要約"]).to_csv(
        csv / "events" / "a.csv", index=False, encoding="cp932"
    )
    pq = tmp_path / "pq"
    (pq / "events").mkdir(parents=True)
    ACCOUNTS.to_parquet(pq / "accounts.parquet")
    SUBS.to_parquet(pq / "subscriptions.parquet")
    aware = pd.to_datetime(EVENTS["event_time"]).dt.tz_localize("UTC")
    EVENTS.assign(event_time=aware).to_parquet(pq / "events" / "2024-03.parquet")
    return {"csv": csv, "parquet": pq, "duckdb": duckdb_source(tmp_path / "crm.duckdb")}


@pytest.mark.parametrize("kind", ["csv", "parquet", "duckdb"])
def test_the_runs_dataset_reads_back_as_it_was_validated(tmp_path: Path, kind: str) -> None:
    from cs_playbook.data.io import read_dataset, write_dataset

    source = _sources(tmp_path)[kind]
    ds = load_dataset(str(source))
    write_dataset(ds, tmp_path / "handoff")
    back = read_dataset(tmp_path / "handoff", source=str(source))
    _same_dataset(ds, back)
    if kind == "parquet":  # an instant in UTC, read in business time (Asia/Tokyo) both times
        assert back.events.event_time.max().to_pandas() == pd.Timestamp("2024-04-05 18:30:00")
    assert read_dataset(tmp_path / "handoff", source=str(tmp_path)) is None  # written for another source
    assert read_dataset(tmp_path / "nothing-here") is None


def test_the_demo_dataset_reads_back_as_it_was_validated(demo_ds, demo_dir: Path, tmp_path: Path) -> None:
    from cs_playbook.data.io import read_dataset, write_dataset

    write_dataset(demo_ds, tmp_path / "handoff")
    _same_dataset(demo_ds, read_dataset(tmp_path / "handoff", source=str(demo_dir)))


def test_event_text_is_trimmed_only_where_a_value_has_blanks_around_it(tmp_path: Path) -> None:
    d = tmp_path / "pq"
    (d / "events").mkdir(parents=True)
    ACCOUNTS.to_parquet(d / "accounts.parquet")
    SUBS.to_parquet(d / "subscriptions.parquet")
    padded = EVENTS.assign(account_id=[" 00123", "A2 ", "A2"], event_time=pd.to_datetime(EVENTS["event_time"]))
    padded.to_parquet(d / "events" / "2024-03.parquet")
    ds = load_dataset(str(d))
    got = ds.events.to_pandas().sort_values("user_id")
    assert got["account_id"].tolist() == ["00123", "A2", "A2"] and got["user_id"].tolist() == ["u1", "u2", "u3"]
    # Only the padded column is trimmed row by row; clean columns are read as they are.
    assert "trim(CAST(account_id AS VARCHAR))" in ds.events_sql
    assert "trim(CAST(user_id AS VARCHAR))" not in ds.events_sql and "trim(CAST(event_type" not in ds.events_sql


def test_release_engine_closes_the_connection_and_keeps_the_tables(tmp_path: Path) -> None:
    d = folder(tmp_path, events=EVENTS)
    ds = load_dataset(str(d))
    con = ds.con.con
    ds.release_engine()
    assert ds.events is None and len(ds.accounts) == 2  # the small tables stay for the run's files
    with pytest.raises(duckdb.ConnectionException):
        con.execute("SELECT 1")
