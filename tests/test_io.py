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
    assert ds.as_of == pd.Timestamp("2024-04-05")  # the latest event


def test_events_csv_folder_in_cp932(tmp_path: Path) -> None:
    d = folder(tmp_path)
    (d / "events").mkdir()
    ev = EVENTS.assign(event_type=["ログイン", "ログイン", "AI要約"])
    ev.iloc[:2].to_csv(d / "events" / "a.csv", index=False, encoding="cp932")
    ev.iloc[2:].to_csv(d / "events" / "b.csv", index=False, encoding="cp932")
    ds = load_dataset(str(d))
    types = ds.events.event_type.value_counts().to_pandas().set_index("event_type")["event_type_count"].to_dict()
    assert types == {"ログイン": 2, "AI要約": 1}


def test_duckdb_file_source(tmp_path: Path) -> None:
    db = tmp_path / "crm.duckdb"
    con = duckdb.connect(str(db))
    for name, df in (("accounts", ACCOUNTS), ("subscriptions", SUBS), ("events", EVENTS)):
        con.register("df", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM df")
        con.unregister("df")
    con.close()
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
