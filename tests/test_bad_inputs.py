"""A corpus of bad inputs, one defect each, run through `cs-playbook validate`: exit 2, the table and column named.

Every case starts from one small valid folder (accounts, subscriptions, a few events) and breaks one
thing. The must-load controls (encodings, a folder name with an apostrophe, tz-aware timestamps, a
configured date_format) exit 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from cs_playbook.cli import main
from cs_playbook.data.io import load_dataset

ACCOUNTS = {
    "account_id": ["A1", "A2", "00123"],
    "account_name": ["株式会社サクラ物流", "ミドリ商事株式会社", "O'Brien & Co."],
    "segment": ["smb", "enterprise", "mid_market"],
    "industry": ["物流", "小売", "IT"],
    "employees": ["50", "5000", "300"],
    "region": ["関東", "関西", "九州"],
    "csm": ["佐藤 美咲", "", "田中"],
    "created_at": ["2023-09-11", "2024-02-01", "2024-03-15"],
}
SUBS = {
    "subscription_id": ["S1", "S2", "S3", "S4"],
    "account_id": ["A1", "A2", "00123", "A1"],
    "department": ["", "営業部", "", ""],
    "product": ["Platform", "Platform", "Platform", "Analytics"],
    "start_date": ["2024-02-01", "2024-03-01", "2024-04-01", "2024-02-01"],
    "end_date": ["2025-01-31", "2025-02-28", "2025-03-31", "2025-01-31"],
    "arr": ["900,000", "3600000", "1200000.5", "120000"],
    "seats": ["50", "200", "30", "50"],
    "auto_renew": ["true", "false", "true", "true"],
    "currency": ["JPY", "JPY", "JPY", "JPY"],
}
EVENTS = {
    "account_id": ["A1", "A2", "00123"],
    "user_id": ["u1", "u2", "u3"],
    "event_time": ["2024-03-01 10:00:00", "2024-03-02 11:00:00", "2024-04-05 09:30:00"],
    "event_type": ["login", "login", "ai_summary"],
}
TABLES = {"accounts": ACCOUNTS, "subscriptions": SUBS, "events": EVENTS}


def frames() -> dict[str, pd.DataFrame]:
    return {name: pd.DataFrame(cols) for name, cols in TABLES.items()}


def write(folder: Path, tables: dict[str, pd.DataFrame], encoding: str = "utf-8", data_yaml: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        if name.endswith(".parquet"):
            df.to_parquet(folder / name, index=False)
        else:
            df.to_csv(folder / f"{name}.csv", index=False, encoding=encoding)
    if data_yaml:
        (folder / "params").mkdir(exist_ok=True)
        (folder / "params" / "data.yaml").write_text(data_yaml, encoding="utf-8")
    return folder


def setter(table: str, column: str, value: object, row: int = 0) -> Callable[[dict], None]:
    def change(t: dict[str, pd.DataFrame]) -> None:
        t[table][column] = t[table][column].astype(object)
        t[table].loc[row, column] = value

    return change


def renamed(table: str, old: str, new: str) -> Callable[[dict], None]:
    def change(t: dict[str, pd.DataFrame]) -> None:
        t[table] = t[table].rename(columns={old: new})

    return change


def dropped(table: str, column: str) -> Callable[[dict], None]:
    def change(t: dict[str, pd.DataFrame]) -> None:
        t[table] = t[table].drop(columns=[column])

    return change


def duplicate_line(t: dict[str, pd.DataFrame]) -> None:
    extra = t["subscriptions"].iloc[[1]].assign(subscription_id="S9")
    t["subscriptions"] = pd.concat([t["subscriptions"], extra], ignore_index=True)


def tz_parquet_accounts(t: dict[str, pd.DataFrame]) -> None:
    t["accounts"] = t["accounts"].assign(created_at=pd.to_datetime(["9999-12-31"] * 3, format="%Y-%m-%d").astype(str))


@dataclass(frozen=True)
class Case:
    id: str
    change: Callable[[dict], None]
    table: str
    column: str


CASES = [
    Case("arr-inf", setter("subscriptions", "arr", "inf"), "subscriptions", "arr"),
    Case("arr-minus-inf", setter("subscriptions", "arr", "-inf"), "subscriptions", "arr"),
    Case("arr-1e400", setter("subscriptions", "arr", "1e400"), "subscriptions", "arr"),
    Case("arr-NaN-text", setter("subscriptions", "arr", "NaN"), "subscriptions", "arr"),
    Case("arr-decimal-comma", setter("subscriptions", "arr", "1200000,50"), "subscriptions", "arr"),
    Case("arr-misplaced-thousands", setter("subscriptions", "arr", "1,2,3,4"), "subscriptions", "arr"),
    Case("arr-thousands-group-of-two", setter("subscriptions", "arr", "12,00,000"), "subscriptions", "arr"),
    Case("arr-negative", setter("subscriptions", "arr", "-5"), "subscriptions", "arr"),
    Case("arr-above-max_arr", setter("subscriptions", "arr", "5e13"), "subscriptions", "arr"),
    Case("arr-text", setter("subscriptions", "arr", "abc"), "subscriptions", "arr"),
    Case("arr-column-missing", dropped("subscriptions", "arr"), "subscriptions", "arr"),
    Case("arr-header-ambiguous", renamed("subscriptions", "start_date", "ARR"), "subscriptions", "start_date"),
    Case("seats-fraction", setter("subscriptions", "seats", "2.5"), "subscriptions", "seats"),
    Case("seats-inf", setter("subscriptions", "seats", "Infinity"), "subscriptions", "seats"),
    Case("seats-above-max_seats", setter("subscriptions", "seats", "99,000,000,000"), "subscriptions", "seats"),
    Case("employees-zero", setter("accounts", "employees", "0"), "accounts", "employees"),
    Case("employees-decimal-comma", setter("accounts", "employees", "50,5"), "accounts", "employees"),
    Case("start-date-day-month", setter("subscriptions", "start_date", "01/04/2023"), "subscriptions", "start_date"),
    Case("start-date-dotted", setter("subscriptions", "start_date", "1.4.23"), "subscriptions", "start_date"),
    Case("end-date-9999", setter("subscriptions", "end_date", "9999-12-31"), "subscriptions", "end_date"),
    Case("start-date-1850", setter("subscriptions", "start_date", "1850-01-01"), "subscriptions", "start_date"),
    Case("start-date-impossible", setter("subscriptions", "start_date", "2024-02-30"), "subscriptions", "start_date"),
    Case("created-at-year-0001", setter("accounts", "created_at", "0001-01-01"), "accounts", "created_at"),
    Case("end-before-start", setter("subscriptions", "end_date", "2023-01-01"), "subscriptions", "end_date"),
    Case("name-nul", setter("accounts", "account_name", "Acme\x00Corp"), "accounts", "account_name"),
    Case("name-escape", setter("accounts", "account_name", "Acme\x1b[31mCorp"), "accounts", "account_name"),
    Case("product-bidi-override", setter("subscriptions", "product", "Plat\u202eform"), "subscriptions", "product"),
    Case("exact-duplicate-line", duplicate_line, "subscriptions", "subscription_id"),
    Case("duplicate-id", setter("subscriptions", "subscription_id", "S2"), "subscriptions", "subscription_id"),
    Case("account-id-empty", setter("accounts", "account_id", ""), "accounts", "account_id"),
    Case("unknown-account", setter("subscriptions", "account_id", "ZZZ"), "subscriptions", "account_id"),
    Case("auto-renew-maybe", setter("subscriptions", "auto_renew", "maybe"), "subscriptions", "auto_renew"),
    Case("currency-without-rate", setter("subscriptions", "currency", "USD"), "subscriptions", "currency"),
    Case("accounts-segment-missing", dropped("accounts", "segment"), "accounts", "segment"),
    Case("event-time-day-month", setter("events", "event_time", "01/04/2023 10:00"), "events", "event_time"),
    Case("event-time-year-9999", setter("events", "event_time", "9999-01-01 00:00:00"), "events", "event_time"),
    Case("event-unknown-account", setter("events", "account_id", "ZZZ"), "events", "account_id"),
    Case("event-user-missing", dropped("events", "user_id"), "events", "user_id"),
]


def tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_naming_table_and_column(case: Case, tmp_path: Path, capsys) -> None:
    tables = frames()
    case.change(tables)
    folder = write(tmp_path / "data", tables)
    before = tree(tmp_path)
    code = main(["validate", "--data", str(folder)])
    out, err = capsys.readouterr()
    text = out + err
    assert code == 2, text
    assert "Traceback" not in text
    assert f"table {case.table} | column {case.column} |" in text or (
        f"table {case.table}" in text and f"column {case.column}" in text
    ), text
    assert tree(tmp_path) == before  # nothing written


def test_the_corpus_is_broad() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def test_rules_name_the_value_and_the_reason(tmp_path: Path, capsys) -> None:
    tables = frames()
    tables["subscriptions"]["arr"] = ["1200000,50", "1,2,3,4", "inf", "100"]
    tables["subscriptions"]["start_date"] = ["01/04/2023", "2024-03-01", "2024-04-01", "2024-02-01"]
    tables["subscriptions"]["end_date"] = ["2025-01-31", "9999-12-31", "2025-03-31", "2025-01-31"]
    folder = write(tmp_path / "data", tables)
    assert main(["validate", "--data", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "arr='1200000,50'" in err and "arr='1,2,3,4'" in err and "decimal comma" in err
    assert "arr='inf'" in err and "must be finite" in err
    assert "day/month order is ambiguous" in err and "date_format" in err
    assert "end_date='9999-12-31'" in err and "1900-01-01 and 2200-12-31" in err


# --- must-load controls ---------------------------------------------------------------------------


def _loads(folder: Path, capsys) -> str:
    code = main(["validate", "--data", str(folder)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "Traceback" not in out + err
    return out


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"], ids=["utf8", "utf8-bom", "cp932"])
def test_encodings_load(encoding: str, tmp_path: Path, capsys) -> None:
    tables = {k: v for k, v in frames().items() if k != "events"}
    _loads(write(tmp_path / "data", tables, encoding=encoding), capsys)


def test_folder_name_with_apostrophe_and_spaces_loads_events(tmp_path: Path, capsys) -> None:
    folder = write(tmp_path / "O'Brien's export 2024", frames())
    out = _loads(folder, capsys)
    assert "events" in out
    tables = frames()
    events = tables.pop("events").assign(event_time=lambda d: pd.to_datetime(d["event_time"]))
    folder2 = write(tmp_path / "it's parquet", {**tables, "events.parquet": events})
    assert "events" in _loads(folder2, capsys)


def test_header_case_and_spacing_are_matched(tmp_path: Path, capsys) -> None:
    tables = frames()
    tables["subscriptions"] = tables["subscriptions"].rename(columns={"arr": " ARR ", "start_date": "Start Date"})
    _loads(write(tmp_path / "data", tables), capsys)


def test_tz_aware_timestamps_are_dated_in_the_business_time_zone(tmp_path: Path) -> None:
    tables = frames()
    accounts = tables.pop("accounts")
    jst = pd.to_datetime(["2023-09-11 00:30", "2024-02-01 08:00", "2024-03-15 23:00"]).tz_localize("Asia/Tokyo")
    accounts["created_at"] = jst
    tables["events"]["event_time"] = ["2024-03-01T00:30:00+09:00", "2024-03-02 11:00:00", "2024-04-05T09:30:00Z"]
    folder = write(tmp_path / "data", {**tables, "accounts.parquet": accounts})
    ds = load_dataset(str(folder))
    created = dict(zip(ds.accounts["account_id"], ds.accounts["created_at"].dt.strftime("%Y-%m-%d"), strict=True))
    assert created["A1"] == "2023-09-11"  # not 2023-09-10 (UTC)
    times = ds.events.to_pandas().set_index("account_id")["event_time"]
    assert str(times["A1"]) == "2024-03-01 00:30:00"
    assert str(times["00123"]) == "2024-04-05 18:30:00"  # 09:30 UTC is 18:30 in Tokyo


def test_business_timezone_is_configurable(tmp_path: Path) -> None:
    tables = frames()
    tables["accounts"]["created_at"] = ["2023-09-11T00:30:00+09:00", "2024-02-01", "2024-03-15"]
    folder = write(tmp_path / "data", tables, data_yaml="business_timezone: UTC\n")
    ds = load_dataset(str(folder))
    assert ds.accounts["created_at"].iloc[0] == pd.Timestamp("2023-09-10")


def test_configured_date_format_reads_day_month_dates(tmp_path: Path, capsys) -> None:
    tables = frames()
    tables["subscriptions"]["start_date"] = ["01/02/2024", "01/03/2024", "01/04/2024", "01/02/2024"]
    yaml = "date_format:\n  subscriptions: '%d/%m/%Y'\n"
    folder = write(tmp_path / "data", tables, data_yaml=yaml)
    _loads(folder, capsys)
    ds = load_dataset(str(folder))
    assert ds.subscriptions["start_date"].iloc[2] == pd.Timestamp("2024-04-01")


def test_overlapping_renewal_is_a_note_not_an_error(tmp_path: Path) -> None:
    tables = frames()
    extra = (
        tables["subscriptions"]
        .iloc[[1]]
        .assign(subscription_id="S5", start_date="2025-02-01", end_date="2026-01-31", arr="3800000")
    )
    tables["subscriptions"] = pd.concat([tables["subscriptions"], extra], ignore_index=True)
    ds = load_dataset(str(write(tmp_path / "data", tables)))
    assert any("overlap" in n and "S2" in n and "S5" in n for n in ds.notes)


def test_co_terminous_add_on_is_not_an_overlap(tmp_path: Path) -> None:
    tables = frames()
    extra = tables["subscriptions"].iloc[[1]].assign(subscription_id="S6", start_date="2024-09-01", arr="400000")
    tables["subscriptions"] = pd.concat([tables["subscriptions"], extra], ignore_index=True)
    ds = load_dataset(str(write(tmp_path / "data", tables)))
    assert not any("overlap" in n for n in ds.notes)
