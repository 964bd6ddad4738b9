"""One corpus of bad inputs, one defect each, run through the CLI: exit 2, the table and column (or file and key) named.

Every case starts from one small valid folder (accounts, subscriptions, a few events) and breaks one thing:
a table value or header (`cs-playbook validate`), a data folder's params/data.yaml (`validate`), a notebook's
params or the quarter (`cs-playbook report`, refused before any notebook runs). No case prints a traceback or
writes anything (no report folder, no temporary folder). The must-load controls (encodings, a folder name with an
apostrophe, tz-aware Parquet timestamps, header case, a configured date_format) exit 0.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from cs_playbook.cli import main
from cs_playbook.config import PARAMS_DIR
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


def events_parquet(change: Callable[[pd.DataFrame], None]) -> Callable[[dict], None]:
    """The events as a Parquet file (typed event_time), changed by `change`."""

    def to_parquet(t: dict[str, pd.DataFrame]) -> None:
        events = t.pop("events").assign(event_time=lambda d: pd.to_datetime(d["event_time"]))
        change(events)
        t["events.parquet"] = events

    return to_parquet


def dropped_table(table: str) -> Callable[[dict], None]:
    def change(t: dict[str, pd.DataFrame]) -> None:
        del t[table]

    return change


def data_yaml(text: str) -> Callable[[Path], None]:
    """The data folder's own params/data.yaml (read by validate and report over the project's)."""

    def change(folder: Path) -> None:
        (folder / "params").mkdir(exist_ok=True)
        (folder / "params" / "data.yaml").write_text(text, encoding="utf-8")

    return change


def file_bytes(name: str, data: bytes) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        (folder / name).write_bytes(data)

    return change


@dataclass(frozen=True)
class Case:
    """One bad input: how to break the valid folder (tables, files, params) and what the message must name."""

    id: str
    kind: str  # "table", "source", "params" or "quarter"
    names: tuple[str, ...]  # every one appears in the message: "table X" and "column Y", or a file and a key
    tables: Callable[[dict], None] | None = None  # edits the small tables before they are written
    folder: Callable[[Path], None] | None = None  # edits the written data folder
    params: tuple[str, Callable[[str], str]] | None = None  # edits one file of a copy of the project's params/
    args: tuple[str, ...] = ()  # more command-line arguments
    command: str = "validate"  # "report" only for cases only a report run checks (notebook params, quarters)


def table_case(id: str, change: Callable[[dict], None], table: str, column: str) -> Case:
    return Case(id, "table", (f"table {table}", f"column {column}"), tables=change)


def _sub(pattern: str, repl: str) -> Callable[[str], str]:
    return lambda text: re.sub(pattern, repl, text, count=1, flags=re.M)


TABLE_CASES = [
    table_case("arr-inf", setter("subscriptions", "arr", "inf"), "subscriptions", "arr"),
    table_case("arr-minus-inf", setter("subscriptions", "arr", "-inf"), "subscriptions", "arr"),
    table_case("arr-1e400", setter("subscriptions", "arr", "1e400"), "subscriptions", "arr"),
    table_case("arr-NaN-text", setter("subscriptions", "arr", "NaN"), "subscriptions", "arr"),
    table_case("arr-decimal-comma", setter("subscriptions", "arr", "1200000,50"), "subscriptions", "arr"),
    table_case("arr-misplaced-thousands", setter("subscriptions", "arr", "1,2,3,4"), "subscriptions", "arr"),
    table_case("arr-thousands-group-of-two", setter("subscriptions", "arr", "12,00,000"), "subscriptions", "arr"),
    table_case("arr-negative", setter("subscriptions", "arr", "-5"), "subscriptions", "arr"),
    table_case("arr-above-max_arr", setter("subscriptions", "arr", "5e13"), "subscriptions", "arr"),
    table_case("arr-text", setter("subscriptions", "arr", "abc"), "subscriptions", "arr"),
    table_case("arr-column-missing", dropped("subscriptions", "arr"), "subscriptions", "arr"),
    table_case("arr-header-ambiguous", renamed("subscriptions", "start_date", "ARR"), "subscriptions", "start_date"),
    table_case("seats-fraction", setter("subscriptions", "seats", "2.5"), "subscriptions", "seats"),
    table_case("seats-inf", setter("subscriptions", "seats", "Infinity"), "subscriptions", "seats"),
    table_case("seats-above-max_seats", setter("subscriptions", "seats", "99,000,000,000"), "subscriptions", "seats"),
    table_case("employees-zero", setter("accounts", "employees", "0"), "accounts", "employees"),
    table_case("employees-decimal-comma", setter("accounts", "employees", "50,5"), "accounts", "employees"),
    table_case(
        "start-date-day-month", setter("subscriptions", "start_date", "01/04/2023"), "subscriptions", "start_date"
    ),
    table_case("start-date-dotted", setter("subscriptions", "start_date", "1.4.23"), "subscriptions", "start_date"),
    table_case("end-date-9999", setter("subscriptions", "end_date", "9999-12-31"), "subscriptions", "end_date"),
    table_case("start-date-1800", setter("subscriptions", "start_date", "1800-01-01"), "subscriptions", "start_date"),
    table_case(
        "start-date-impossible", setter("subscriptions", "start_date", "2024-02-30"), "subscriptions", "start_date"
    ),
    table_case("created-at-year-0001", setter("accounts", "created_at", "0001-01-01"), "accounts", "created_at"),
    table_case("end-before-start", setter("subscriptions", "end_date", "2023-01-01"), "subscriptions", "end_date"),
    table_case("name-nul", setter("accounts", "account_name", "Acme\x00Corp"), "accounts", "account_name"),
    table_case("name-escape", setter("accounts", "account_name", "Acme\x1b[31mCorp"), "accounts", "account_name"),
    table_case("csm-bell", setter("accounts", "csm", "佐藤\x07"), "accounts", "csm"),
    table_case(
        "product-bidi-override", setter("subscriptions", "product", "Plat\u202eform"), "subscriptions", "product"
    ),
    table_case("exact-duplicate-line", duplicate_line, "subscriptions", "subscription_id"),
    table_case("duplicate-id", setter("subscriptions", "subscription_id", "S2"), "subscriptions", "subscription_id"),
    table_case("account-id-empty", setter("accounts", "account_id", ""), "accounts", "account_id"),
    table_case("unknown-account", setter("subscriptions", "account_id", "ZZZ"), "subscriptions", "account_id"),
    table_case("auto-renew-maybe", setter("subscriptions", "auto_renew", "maybe"), "subscriptions", "auto_renew"),
    table_case("currency-without-rate", setter("subscriptions", "currency", "USD"), "subscriptions", "currency"),
    table_case("accounts-segment-missing", dropped("accounts", "segment"), "accounts", "segment"),
    table_case("event-time-day-month", setter("events", "event_time", "01/04/2023 10:00"), "events", "event_time"),
    table_case("event-time-year-9999", setter("events", "event_time", "9999-01-01 00:00:00"), "events", "event_time"),
    table_case("event-unknown-account", setter("events", "account_id", "ZZZ"), "events", "account_id"),
    table_case("event-user-missing", dropped("events", "user_id"), "events", "user_id"),
    table_case("event-user-nul", setter("events", "user_id", "u\x002"), "events", "user_id"),
    table_case("event-type-escape", setter("events", "event_type", "login\x1b[2J"), "events", "event_type"),
    table_case(
        "event-parquet-account-bidi",
        events_parquet(lambda e: e.__setitem__("account_id", ["A1", "A\u202e2", "00123"])),
        "events",
        "account_id",
    ),
]

SOURCE_CASES = [
    Case("accounts-table-missing", "source", ("table accounts", "accounts.csv"), tables=dropped_table("accounts")),
    Case(
        "subscriptions-file-empty",
        "source",
        ("table subscriptions", "empty"),
        folder=file_bytes("subscriptions.csv", b""),
    ),
    Case(
        "accounts-utf16",
        "source",
        ("table accounts", "neither UTF-8 nor CP932"),
        folder=file_bytes("accounts.csv", "account_id,account_name\nA1,サクラ\n".encode("utf-16")),
    ),
    Case(
        "data-folder-missing", "source", ("Data source not found", "no-such-export"), args=("--data", "no-such-export")
    ),
]

PARAMS_CASES = [
    Case("data-yaml-broken", "params", ("data.yaml", "not valid YAML"), folder=data_yaml("max_arr: [1, 2\n")),
    Case("data-yaml-unknown-key", "params", ("data.yaml", "max_ar"), folder=data_yaml("max_ar: 1000\n")),
    Case("data-yaml-string-bound", "params", ("data.yaml", "max_arr"), folder=data_yaml("max_arr: lots\n")),
    Case(
        "data-yaml-unknown-timezone",
        "params",
        ("data.yaml", "business_timezone"),
        folder=data_yaml("business_timezone: Mars/Olympus\n"),
    ),
    Case(
        "data-yaml-end-date-convention",
        "params",
        ("data.yaml", "end_date_convention"),
        folder=data_yaml("end_date_convention: sometimes\n"),
    ),
    Case(
        "health-string-weight",
        "params",
        ("health_score.yaml", "weight"),
        params=("health_score", _sub(r"weight: [0-9.]+", "weight: heavy")),
        command="report",
    ),
    Case(
        "roi-unknown-key",
        "params",
        ("roi.yaml", "no_such_key"),
        params=("roi", lambda t: t + "\nno_such_key: 1\n"),
        command="report",
    ),
    Case(
        "poc-unknown-key",
        "params",
        ("poc.yaml", "bogus_setting"),
        params=("poc", lambda t: t + "\nbogus_setting: true\n"),
        command="report",
    ),
    Case(
        "expansion-broken-yaml",
        "params",
        ("expansion.yaml", "not valid YAML"),
        params=("expansion", lambda t: t + "\n  - : [unclosed\n"),
        command="report",
    ),
    Case(
        "renewals-broken-yaml",
        "params",
        ("renewals.yaml", "not valid YAML"),
        params=("renewals", lambda t: "key: [1, 2\n" + t),
        command="report",
    ),
    Case(
        "report-unknown-lang",
        "params",
        ("report.yaml", "lang"),
        params=("report", _sub(r"^lang: \w+", "lang: klingon")),
        command="report",
    ),
    Case("params-folder-missing", "params", ("no-such-params",), args=("--params", "no-such-params"), command="report"),
    Case("only-unknown-notebook", "params", ("99_nothing",), args=("--only", "99_nothing"), command="report"),
]

QUARTER_CASES = [
    Case("quarter-malformed-q5", "quarter", ("2026Q5", "YYYYQn"), args=("--quarter", "2026Q5"), command="report"),
    Case("quarter-malformed-text", "quarter", ("Q3-2026", "YYYYQn"), args=("--quarter", "Q3-2026"), command="report"),
    Case("quarter-before-data", "quarter", ("2001Q1", "no data"), args=("--quarter", "2001Q1"), command="report"),
    Case("quarter-after-data", "quarter", ("2099Q1", "no data"), args=("--quarter", "2099Q1"), command="report"),
    Case("quarter-not-complete", "quarter", ("2024Q2", "not complete"), args=("--quarter", "2024Q2"), command="report"),
]

CASES = TABLE_CASES + SOURCE_CASES + PARAMS_CASES + QUARTER_CASES


def tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def _params_copy(root: Path, name: str, edit: Callable[[str], str]) -> Path:
    """A copy of the project's params/ with one file edited."""
    params = root / "params"
    shutil.copytree(PARAMS_DIR, params)
    path = params / f"{name}.yaml"
    text = path.read_text(encoding="utf-8")
    assert edit(text) != text, f"the edit of {name}.yaml changed nothing"
    path.write_text(edit(text), encoding="utf-8")
    return params


def _argv(case: Case, root: Path) -> list[str]:
    tables = frames()
    if case.tables:
        case.tables(tables)
    data = write(root / "data", tables)
    if case.folder:
        case.folder(data)
    argv = [case.command, "--data", str(data)]
    if case.params:
        argv += ["--params", str(_params_copy(root, *case.params))]
    if case.command == "report":
        argv += ["--reports-dir", str(root / "reports"), "--no-progress"]
    return argv + list(case.args)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_naming_what_is_wrong_and_writes_nothing(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative arguments ("no-such-export") resolve here
    argv = _argv(case, tmp_path)
    before = tree(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    text = out + err
    assert code == 2, text
    assert "Traceback" not in text and err.startswith("error: "), text
    missing = [n for n in case.names if n not in text]
    assert not missing, f"message does not name {missing}:\n{text}"
    assert tree(tmp_path) == before  # nothing written: no report folder, no temporary folder
    assert not (tmp_path / "reports").exists()


# Every defect the issue names, by case id (the corpus holds many more).
ISSUE_CASES = {
    "arr-inf",
    "arr-1e400",
    "arr-decimal-comma",
    "arr-misplaced-thousands",
    "start-date-day-month",
    "end-date-9999",
    "start-date-1800",
    "name-nul",
    "event-user-nul",
    "exact-duplicate-line",
    "arr-column-missing",
    "arr-header-ambiguous",
    "data-yaml-broken",
    "health-string-weight",
    "roi-unknown-key",
    "quarter-before-data",
    "quarter-after-data",
    "quarter-malformed-q5",
}


def test_the_corpus_is_broad() -> None:
    ids = [c.id for c in CASES]
    assert len(CASES) >= 40 and len(set(ids)) == len(ids)
    assert {c.kind for c in CASES} == {"table", "source", "params", "quarter"}
    assert set(ids) >= ISSUE_CASES
    assert sum(c.command == "report" for c in CASES) <= 15  # the corpus stays fast: validate wherever it can


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


def test_tz_aware_timestamps_load_dated_in_the_business_time_zone(tmp_path: Path, capsys) -> None:
    tables = frames()
    accounts = tables.pop("accounts")
    jst = pd.to_datetime(["2023-09-11 00:30", "2024-02-01 08:00", "2024-03-15 23:00"]).tz_localize("Asia/Tokyo")
    accounts["created_at"] = jst
    tables["events"]["event_time"] = ["2024-03-01T00:30:00+09:00", "2024-03-02 11:00:00", "2024-04-05T09:30:00Z"]
    folder = write(tmp_path / "data", {**tables, "accounts.parquet": accounts})
    assert "accounts.parquet" in _loads(folder, capsys)  # a must-load control through the CLI
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


def test_control_characters_in_events_name_the_file_column_and_row(tmp_path: Path, capsys) -> None:
    """Checked inside the engine (one query over every event file), with the file and row of an example."""
    tables = frames()
    events = tables.pop("events").assign(event_time=lambda d: pd.to_datetime(d["event_time"]))
    folder = write(tmp_path / "it's data", tables)
    (folder / "events").mkdir()
    events.iloc[:2].to_parquet(folder / "events" / "2024-03.parquet", index=False)
    events.iloc[2:].assign(user_id="u\x003").to_parquet(folder / "events" / "2024-04.parquet", index=False)
    assert main(["validate", "--data", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "table events | column user_id | text holds a control character" in err
    assert "file 2024-04.parquet row 1: account_id='00123', user_id='u\\x003'" in err
