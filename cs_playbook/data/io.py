"""Loaders: read the contract's tables from a folder of CSV/Parquet files or a DuckDB file.

Small tables (accounts, subscriptions, ...) come back as validated pandas DataFrames. Raw
events never enter pandas: they stay a lazy Ibis table on a DuckDB connection, checked and
aggregated inside the engine (see `usage`). Every problem in every table is collected in
one pass and raised together as a `DataContractError`.
"""

from __future__ import annotations

import io as _io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import ibis
import pandas as pd

from cs_playbook.config import DATA_ENV_VAR, DEMO_DIR, PROJ_ROOT, resolve_path
from cs_playbook.data.contract import (
    REQUIRED_TABLES,
    TABLES,
    check_references,
    validate_table,
)
from cs_playbook.data.encoding import detect_encoding
from cs_playbook.data.engine import duckdb_connection, engine_spec, open_events
from cs_playbook.data.event_checks import check_events, events_relation
from cs_playbook.data.meaning import (
    bound_problems,
    choose_as_of,
    duplicate_line_problems,
    end_date_problems,
    match_headers,
    normalise_owners,
    overlap_notes,
    to_inclusive,
)
from cs_playbook.data.poc_tables import check_poc_tables
from cs_playbook.errors import CsPlaybookError, DataContractError, Problem
from cs_playbook.params import DataParams, load_params, source_path

__all__ = [
    "Dataset",
    "read_csv_any_encoding",
    "detect_encoding",
    "load_dataset",
    "read_dataset",
    "write_dataset",
    "resolve_source",
    "reporting_currency",
]

SMALL_TABLES = [name for name in TABLES if name != "events"]
ENCODINGS = ("utf-8-sig", "cp932")


@dataclass
class Dataset:
    """The validated input of one run: small tables in pandas, events lazily in DuckDB.

    `as_of_reason` says how as_of was chosen (for a page to state it); `contracts_to` is the last day
    the contracts are known to cover (`data.meaning.contracts_coverage`); `notes` what the loader
    changed in the data's meaning (exclusive end dates converted, placeholder owners cleared).
    """

    source: str
    as_of: pd.Timestamp
    currency: str
    tables: dict[str, pd.DataFrame]
    files: dict[str, str]
    con: ibis.BaseBackend
    events: ibis.Table | None = None
    missing_optional: list[str] = field(default_factory=list)
    as_of_reason: str = ""
    contracts_to: pd.Timestamp | None = None
    notes: list[str] = field(default_factory=list)
    events_sql: str = ""  # the checked, typed events over the raw relation _events_raw (for `write_dataset`)

    def release_engine(self) -> None:
        """Close the DuckDB connection and forget the events: the engine's memory back for other processes (the
        runner, once the notebooks have the state; a Spark session is left running)."""
        if self.con.name == "duckdb":
            self.con.disconnect()
        self.events = None

    def get(self, name: str) -> pd.DataFrame | None:
        """A small table, or None when the optional table is absent."""
        return self.tables.get(name)

    def has(self, name: str) -> bool:
        """Whether the table is present (events included)."""
        return self.events is not None if name == "events" else name in self.tables

    @property
    def accounts(self) -> pd.DataFrame:
        """The accounts table (always present)."""
        return self.tables["accounts"]

    @property
    def subscriptions(self) -> pd.DataFrame:
        """The subscriptions table (always present)."""
        return self.tables["subscriptions"]


def read_csv_any_encoding(path: Path) -> pd.DataFrame:
    """Read a CSV export as text columns, whether UTF-8, UTF-8 with BOM or CP932 (Shift_JIS)."""
    data = path.read_bytes()
    text = None
    for enc in ENCODINGS:
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise UnicodeDecodeError("csv", data[:0], 0, 0, "neither UTF-8 nor CP932 (Shift_JIS)")
    return pd.read_csv(_io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True)


def _find_table_path(folder: Path, name: str) -> Path | None:
    """<name>.csv, <name>.parquet, or a folder <name>/ of such files."""
    for candidate in (folder / f"{name}.parquet", folder / f"{name}.csv", folder / name):
        if candidate.exists():
            return candidate
    return None


def _read_small(path: Path) -> pd.DataFrame:
    """One small table from a CSV or Parquet file, or a folder of them, as raw columns."""
    if path.is_dir():
        parts = sorted(
            p for p in path.iterdir() if p.suffix in (".csv", ".parquet") and not p.name.startswith((".", "_"))
        )
        if not parts:
            return pd.DataFrame()
        return pd.concat([_read_small(p) for p in parts], ignore_index=True)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return read_csv_any_encoding(path)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(PROJ_ROOT))
    except ValueError:
        return str(path)


def resolve_source(source: str | None = None, params: DataParams | None = None) -> Path:
    """The data source path: explicit argument, then $CS_PLAYBOOK_DATA, then params/data.yaml."""
    return source_path(source or os.environ.get(DATA_ENV_VAR) or (params.source if params else "demo"))


def _ensure_demo(path: Path, params: DataParams) -> None:
    """Generate the demo company when the demo source is chosen and not there yet; keep its own params current.

    A demo folder generated by an earlier version may lack the demo's own params (ROI templates,
    price list, yen touch bands) or hold older ones: they are package data, so they are synced in.
    """
    if (path / "accounts.csv").exists():
        from cs_playbook.demo.output import sync_params

        sync_params(path / "params", "jp")
        return
    from cs_playbook.demo import generate_demo

    d = params.demo
    generate_demo(path, n_accounts=d.accounts, n_events=d.events, seed=d.seed, end_date=str(d.end_date), progress=True)


def reporting_currency(subs: pd.DataFrame, params: DataParams) -> str:
    """The reporting currency: params/data.yaml `reporting_currency`, else the data's single currency ("" if several)."""
    if params.reporting_currency.strip():
        return params.reporting_currency.strip().upper()
    codes = subs["currency"].astype("string").str.strip().str.upper().dropna().unique()
    return str(codes[0]) if len(codes) == 1 else ""


def _several_currencies(subs: pd.DataFrame, file: str | None) -> Problem:
    codes = sorted(subs["currency"].astype("string").str.strip().str.upper().dropna().unique())
    return Problem(
        "subscriptions",
        "currency",
        f"the data holds several currencies ({', '.join(codes)}): set reporting_currency in params/data.yaml "
        "and a rate for each other currency in fx_rates",
        len(subs),
        (),
        file,
    )


def _convert_currency(
    subs: pd.DataFrame, params: DataParams, file: str | None, currency: str
) -> tuple[pd.DataFrame, list[Problem]]:
    """ARR in the reporting currency; a currency without a rate in params is a problem."""
    if not currency:
        return subs, [_several_currencies(subs, file)]
    cur = subs["currency"].astype("string").str.strip().str.upper()
    rates = {k.upper(): v for k, v in params.fx_rates.items()}
    rates[currency] = 1.0
    unknown = ~cur.isin(list(rates)) & cur.notna()
    if unknown.any():
        codes = ", ".join(sorted(cur[unknown].unique()))
        ex = tuple(
            f"subscription_id={s}: currency={c}"
            for s, c in subs.loc[unknown, ["subscription_id", "currency"]].head(3).itertuples(index=False)
        )
        return subs, [
            Problem(
                "subscriptions",
                "currency",
                f"currency {codes} has no rate in params/data.yaml fx_rates (reporting currency {currency})",
                int(unknown.sum()),
                ex,
                file,
            )
        ]
    out = subs.copy()
    out["arr"] = out["arr"] * cur.map(rates).astype("float64")
    out["currency"] = currency
    return out, []


def _connect(path: Path, params: DataParams) -> tuple[bool, duckdb.DuckDBPyConnection]:
    """Whether the source is a DuckDB file, and a connection: to that file (read-only) or the configured engine's."""
    is_db = path.is_file() and path.suffix in (".duckdb", ".db", ".ddb")
    return is_db, duckdb.connect(str(path), read_only=True) if is_db else duckdb_connection(engine_spec(params.engine))


def _open_source(source: str | None, params: DataParams) -> tuple[Path, bool, duckdb.DuckDBPyConnection, set[str]]:
    """The source path (the demo generated on first use), whether it is a DuckDB file, a connection and its tables."""
    path = resolve_source(source, params)
    if path == DEMO_DIR or (source or os.environ.get(DATA_ENV_VAR) or params.source) == "demo":
        _ensure_demo(path, params)
    if not path.exists():
        raise CsPlaybookError(f"Data source not found: {path} (set `source` in params/data.yaml or pass --data)")
    is_db, raw_con = _connect(path, params)
    db_tables = (
        {r[0] for r in raw_con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if is_db
        else set()
    )
    return path, is_db, raw_con, db_tables


RawTable = tuple[pd.DataFrame | None, str | None, int | None, Problem | None]


def _read_raw_table(
    name: str, path: Path, is_db: bool, raw_con: duckdb.DuckDBPyConnection, db_tables: set[str]
) -> RawTable:
    """One small table as raw columns with its file name and CSV line offset; (None, ...) when absent or unreadable."""
    if is_db:
        if name not in db_tables:
            return None, None, None, None
        file = f"{path.name}:{name}"
        try:
            return raw_con.execute(f'SELECT * FROM "{name}"').df(), file, None, None
        except duckdb.Error as err:
            return None, file, None, Problem(name, "*", f"cannot read table: {err}", 0, (), file)
    found = _find_table_path(path, name)
    if found is None:
        return None, None, None, None
    file, line_offset = _rel(found), (2 if found.suffix == ".csv" else None)
    try:
        return _read_small(found), file, line_offset, None
    except UnicodeDecodeError:
        return None, file, None, Problem(name, "*", "file is neither UTF-8 nor CP932 (Shift_JIS) text", 0, (), file)
    except pd.errors.EmptyDataError:
        return None, file, None, Problem(name, "*", "file is empty", 0, (), file)
    except (pd.errors.ParserError, ValueError, OSError) as err:
        return None, file, None, Problem(name, "*", f"cannot read file: {str(err).strip()}", 0, (), file)


def _load_small_tables(
    path: Path, is_db: bool, raw_con: duckdb.DuckDBPyConnection, db_tables: set[str], params: DataParams
) -> tuple[dict[str, pd.DataFrame], dict[str, str], list[Problem]]:
    """Every small table present, renamed, validated and in reporting currency; their files; every problem."""
    problems: list[Problem] = []
    tables: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    for name in SMALL_TABLES:
        spec = TABLES[name]
        raw, file, line_offset, problem = _read_raw_table(name, path, is_db, raw_con, db_tables)
        if raw is None:
            problems += [problem] if problem else []
            continue
        files[name] = file
        raw = match_headers(raw, params.rename.get(name, {}), spec.column_names)
        fmt = params.date_format_of(name)
        tz = params.business_timezone
        parsed, found_problems = validate_table(
            raw, spec, file=file, line_offset=line_offset, date_format=fmt, timezone=tz
        )
        limits = {k: getattr(params, k) for k in ("max_arr", "max_seats", "max_employees")}
        problems += found_problems + bound_problems(name, parsed, limits, file, line_offset)
        tables[name] = parsed[[c for c in spec.column_names if c in parsed.columns]] if not parsed.empty else parsed

    for name in REQUIRED_TABLES:
        if name not in tables and name not in files:
            where = f"table {name} in {path.name}" if is_db else f"{name}.csv or {name}.parquet in {_rel(path)}"
            problems.append(Problem(name, "*", f"required table is missing (expected {where})", 0, (), None))

    return tables, files, problems


def _data_meaning(
    tables: dict[str, pd.DataFrame], files: dict[str, str], params: DataParams
) -> tuple[str, list[str], list[Problem]]:
    """End dates to the inclusive convention, ARR in the reporting currency, placeholder owners cleared (in place).

    Returns the reporting currency, notes on what changed, and the problems found.
    """
    notes: list[str] = []
    currency = params.reporting_currency.strip().upper()
    if "accounts" in tables and not tables["accounts"].empty:
        tables["accounts"], n_owners = normalise_owners(tables["accounts"])
        if n_owners:
            notes.append(f"{n_owners} accounts with a placeholder csm (e.g. 'unassigned', '-') are counted unassigned.")
    subs = tables.get("subscriptions")
    if subs is None or subs.empty or not {"start_date", "end_date", "currency", "arr"} <= set(subs.columns):
        return currency, notes, []
    file = files.get("subscriptions")
    problems = end_date_problems(subs, params.end_date_convention, file) + duplicate_line_problems(subs, file)
    notes += overlap_notes(subs)
    if not problems and params.end_date_convention == "exclusive":
        subs, n_empty = to_inclusive(subs)
        notes.append(
            "end_date is exclusive in this data (params/data.yaml end_date_convention): read as end_date - 1 day."
        )
        if n_empty:
            notes.append(f"{n_empty} contract lines ending on their start date cover no day and are left out.")
    currency = reporting_currency(subs, params)
    subs, cur_problems = _convert_currency(subs, params, file, currency)
    tables["subscriptions"] = subs
    return currency, notes, problems + cur_problems


def _load_events(
    path: Path,
    is_db: bool,
    raw_con: duckdb.DuckDBPyConnection,
    db_tables: set[str],
    tables: dict[str, pd.DataFrame],
    params: DataParams,
) -> tuple[str | None, str | None, list[Problem]]:
    """Events checked and typed inside DuckDB, never loaded into pandas: (typed view SQL, file, problems)."""
    if is_db and "events" in db_tables:
        events_file = f"{path.name}:events"
        sql, cols = events_relation(raw_con, None, db_table=True)
    else:
        found = None if is_db else _find_table_path(path, "events")
        sql, cols = events_relation(raw_con, found, db_table=False) if found is not None else ("", [])
        events_file = _rel(found) if found is not None else None
    if not (sql and "accounts" in tables and "account_id" in tables["accounts"].columns):
        return None, None, []
    try:
        ids = tables["accounts"]["account_id"]
        events_sql, ev_problems = check_events(raw_con, sql, cols, ids, events_file, params.business_timezone)
    except duckdb.Error as err:
        events_sql, ev_problems = (
            None,
            [Problem("events", "*", f"cannot read events: {str(err).splitlines()[0]}", 0, (), events_file)],
        )
    return events_sql, events_file, ev_problems


def _engine_events(
    raw_con: duckdb.DuckDBPyConnection, typed_sql: str | None, files: dict[str, str], params: DataParams
) -> tuple[ibis.BaseBackend, ibis.Table | None]:
    """The engine the analyses query and the checked events on it (the view events_clean over `typed_sql`; on
    Spark, its own read)."""
    con = ibis.duckdb.from_connection(raw_con)
    if not typed_sql:
        return con, None
    raw_con.execute(f"CREATE OR REPLACE TEMP VIEW _events_typed AS {typed_sql}")
    raw_con.execute(
        "CREATE OR REPLACE TEMP VIEW events_clean AS SELECT account_id, user_id, event_time, event_type FROM _events_typed"
    )
    events = con.table("events_clean")
    spec = engine_spec(params.engine)
    if spec.kind == "spark":  # checked in DuckDB; the analyses' queries run on Spark
        return open_events(spec, resolve_path(files["events"]), timezone=params.business_timezone)
    return con, events


def load_dataset(source: str | None = None, *, params_dir: str | Path | None = None) -> Dataset:
    """Load and validate every table of the source; raise DataContractError listing all problems."""
    params = load_params("data", DataParams, directory=params_dir, source=source)
    path, is_db, raw_con, db_tables = _open_source(source, params)
    params = load_params("data", DataParams, directory=params_dir, source=path)  # with a demo generated just now
    tables, files, problems = _load_small_tables(path, is_db, raw_con, db_tables, params)
    currency, notes, meaning_problems = _data_meaning(tables, files, params)
    problems += meaning_problems

    ref_ready = {k: v for k, v in tables.items() if not v.empty}
    problems += check_references(ref_ready, files)
    problems += check_poc_tables(ref_ready, files)

    events_sql, events_file, ev_problems = _load_events(path, is_db, raw_con, db_tables, tables, params)
    problems += ev_problems
    if events_file is not None:
        files["events"] = events_file

    if problems:
        raw_con.close()
        raise DataContractError(problems, source=_rel(path))

    con, events = _engine_events(raw_con, events_sql, files, params)
    events_max = raw_con.execute("SELECT max(event_time) FROM events_clean").fetchall()[0][0] if events_sql else None
    missing = [n for n in TABLES if not (n in tables or (n == "events" and events is not None))]
    as_of, contracts_to, reason = choose_as_of(tables["subscriptions"], events_max, params.as_of)
    return Dataset(
        source=_rel(path),
        as_of=as_of,
        currency=currency,
        tables=tables,
        files=files,
        con=con,
        events=events,
        missing_optional=missing,
        as_of_reason=reason,
        contracts_to=contracts_to,
        notes=notes,
        events_sql=events_sql or "",
    )


# --- The run's validated dataset, for its notebooks -------------------------------------------------------------

DATASET_META = "dataset.json"
DATASET_FORMAT = 2


def write_dataset(ds: Dataset, directory: str | Path) -> list[Path]:
    """Write the validated small tables (Parquet) and what the load decided (dataset.json) into `directory`.

    The runner writes it beside the quarter state so that each notebook of the run reads the tables its
    state was built from instead of parsing and validating every export again (`read_dataset`).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in ds.tables.items():
        written.append(directory / f"{name}.parquet")
        table.to_parquet(written[-1], index=False)
    meta = {
        "format": DATASET_FORMAT,
        "source": ds.source,
        "as_of": f"{ds.as_of:%Y-%m-%d}",
        "currency": ds.currency,
        "tables": sorted(ds.tables),
        "files": ds.files,
        "events_sql": ds.events_sql if ds.events is not None else "",
        "missing_optional": ds.missing_optional,
        "as_of_reason": ds.as_of_reason,
        "contracts_to": None if ds.contracts_to is None else f"{ds.contracts_to:%Y-%m-%d}",
        "notes": ds.notes,
    }
    written.append(directory / DATASET_META)
    written[-1].write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    return written


def read_dataset(
    directory: str | Path, *, source: str | None = None, params_dir: str | Path | None = None
) -> Dataset | None:
    """The dataset `write_dataset` wrote, with its events reopened on the engine; None when there is none to read
    or it was written for another source than `source` (when given).

    The tables were validated when they were written (in this run); the events are opened again from the
    same files, typed the same way, without repeating the checks they passed.
    """
    meta_path = Path(directory) / DATASET_META
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != DATASET_FORMAT:
        return None
    path = resolve_path(meta["source"])
    if source and resolve_source(source).resolve() != path.resolve():
        return None
    params = load_params("data", DataParams, directory=params_dir, source=path)
    is_db, raw_con = _connect(path, params)
    tables = {name: pd.read_parquet(Path(directory) / f"{name}.parquet") for name in meta["tables"]}
    if meta["events_sql"]:  # the raw relation opened again from the same files, typed by the checked SQL
        events_relation(raw_con, None if is_db else _find_table_path(path, "events"), db_table=is_db)
    con, events = _engine_events(raw_con, meta["events_sql"], meta["files"], params)
    return Dataset(
        source=meta["source"],
        as_of=pd.Timestamp(meta["as_of"]),
        currency=meta["currency"],
        tables=tables,
        files=meta["files"],
        con=con,
        events=events,
        missing_optional=list(meta["missing_optional"]),
        as_of_reason=meta["as_of_reason"],
        contracts_to=None if meta["contracts_to"] is None else pd.Timestamp(meta["contracts_to"]),
        notes=list(meta["notes"]),
        events_sql=meta["events_sql"],
    )
