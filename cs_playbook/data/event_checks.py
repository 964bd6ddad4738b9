"""The raw events inside DuckDB: their relation over the files, their typing, and the contract's checks on them.

Events never enter pandas. `events_relation` opens the files through DuckDB's file API (paths as
arguments, never pasted into SQL); `check_events` counts every rule of EVENT_RULES in the engine (a text
column's rules on its distinct values) and returns the typed events' SQL that every analysis queries.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from cs_playbook.data.contract import EVENT_COLUMNS
from cs_playbook.data.encoding import utf8_copy
from cs_playbook.errors import Problem

__all__ = ["events_relation", "check_events", "typed_events_sql", "EVENT_RULES"]


def events_relation(con: duckdb.DuckDBPyConnection, path: Path | None, db_table: bool) -> tuple[str, list[str]]:
    """SQL for the raw events relation and its column names (a view over files or the db table).

    Files are opened through DuckDB's file API with their paths as arguments, never pasted into SQL text
    (a folder named "O'Brien data" must load).
    """
    if db_table:
        sql = "SELECT * FROM events"
    else:
        parquet = sorted(path.glob("**/*.parquet")) if path.is_dir() else [path] * (path.suffix == ".parquet")
        csvs = sorted(path.glob("**/*.csv")) if path.is_dir() else [path] * (path.suffix != ".parquet")
        if parquet:
            rel = con.read_parquet(
                [p.as_posix() for p in parquet], union_by_name=True, filename=True, file_row_number=True
            )
        elif csvs:
            files = [utf8_copy(p).as_posix() for p in csvs]
            rel = con.read_csv(files, all_varchar=True, header=True, union_by_name=True, filename=True)
        else:
            return "", []
        rel.create_view("_events_raw", replace=True)
        sql = "SELECT * FROM _events_raw"
    cur = con.execute(f"SELECT * FROM ({sql}) LIMIT 0")
    cols = [d[0] for d in cur.description]
    cur.fetchall()
    return sql, cols


def _event_time_sql(con: duckdb.DuckDBPyConnection, sql: str, timezone: str) -> str:
    """event_time as a naive TIMESTAMP in business time, whatever the session's time zone.

    Time-zone-aware values (a TIMESTAMPTZ column, or text ending in an offset or Z) are converted to
    `timezone` (an IANA name validated in params, quoted as an SQL literal); naive values are kept as written.
    """
    types = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE ({sql})").fetchall()}
    zone = "'" + timezone.replace("'", "''") + "'"
    kind = types.get("event_time", "VARCHAR")
    if kind.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"timezone({zone}, event_time)"
    if kind.startswith(("TIMESTAMP", "DATE")):
        return "CAST(event_time AS TIMESTAMP)"
    text = "trim(CAST(event_time AS VARCHAR))"
    return (
        f"CASE WHEN regexp_matches({text}, '(Z|[+-][0-9]{{2}}:?[0-9]{{2}})$') "
        f"THEN timezone({zone}, TRY_CAST({text} AS TIMESTAMPTZ)) ELSE TRY_CAST({text} AS TIMESTAMP) END"
    )


def check_events(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    cols: list[str],
    account_ids: pd.Series,
    file: str,
    timezone: str = "Asia/Tokyo",
) -> tuple[str | None, list[Problem]]:
    """Check raw events inside DuckDB; return SQL of the typed events view, or None, and problems."""
    missing = [c for c in EVENT_COLUMNS if c not in cols]
    if missing:
        return None, [
            Problem(
                "events",
                c,
                "required column is missing",
                0,
                (f"columns found: {', '.join(c for c in cols if c not in ENGINE_COLUMNS)}",),
                file,
            )
            for c in missing
        ]
    con.register("_contract_account_ids", pd.DataFrame({"account_id": account_ids.astype(str)}))
    counts, plain = _text_rule_counts(con, sql)
    typed = typed_events_sql(con, sql, cols, timezone, plain=plain)
    con.execute(f"CREATE OR REPLACE TEMP VIEW _events_typed AS {typed}")
    n_rows, bad = _time_rule_counts(con, counts)
    problems = []
    if n_rows == 0:
        problems.append(Problem("events", "*", "table is empty (no data rows)", 0, (), file))
    for (column, rule, cond), n_bad in zip(EVENT_RULES, bad, strict=True):
        if n_bad:
            rows = con.execute(
                f"SELECT _place, account_id, user_id, _raw_time, event_type FROM _events_typed WHERE {cond} LIMIT 3"
            ).fetchall()
            ex = tuple(
                f"{_place_text(p)}account_id={a!r}, user_id={u!r}, event_time={t!r}, event_type={e!r}"
                for p, a, u, t, e in rows
            )
            problems.append(Problem("events", column, rule, int(n_bad), ex, file))
    return typed, problems


def _text_rule_counts(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[dict[int, int], set[str]]:
    """Rows breaking each text column's rules (by index in EVENT_RULES), and the text columns that need no trim.

    A text column's rules are evaluated once per distinct raw value, weighted by its rows (an export of
    100M events holds a few thousand accounts and event types): the same counts as row by row, at the
    cost of one grouping instead of a regular expression per row. A text column none of whose values has
    surrounding blanks is read as it is, without trimming every row of every later query.
    """
    types = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE ({sql})").fetchall()}
    counts: dict[int, int] = {}
    plain: set[str] = set()
    for column in TEXT_COLUMNS:
        rules = [(i, cond) for i, (c, _, cond) in enumerate(EVENT_RULES) if c == column]
        values = (
            f"SELECT trim(CAST(v AS VARCHAR)) AS {column}, CAST(v AS VARCHAR) AS _v, n "
            f"FROM (SELECT {column} AS v, count(*) AS n FROM ({sql}) GROUP BY 1)"
        )
        row = con.execute(
            "SELECT "
            + ", ".join(f"coalesce(sum(n) FILTER (WHERE {cond}), 0)" for _, cond in rules)
            + f", count(*) FILTER (WHERE _v <> {column}) FROM ({values})"
        ).fetchall()[0]
        counts.update({i: int(n) for (i, _), n in zip(rules, row[:-1], strict=True)})
        if types.get(column) == "VARCHAR" and row[-1] == 0:
            plain.add(column)
    return counts, plain


def _time_rule_counts(con: duckdb.DuckDBPyConnection, counts: dict[int, int]) -> tuple[int, list[int]]:
    """The number of event rows and, per rule of EVENT_RULES, the rows breaking it: the time rules counted on the
    rows of _events_typed, the text rules' `counts` as given."""
    rules = [(i, cond) for i, (c, _, cond) in enumerate(EVENT_RULES) if c not in TEXT_COLUMNS]
    row = con.execute(
        "SELECT count(*), " + ", ".join(f"count(*) FILTER (WHERE {cond})" for _, cond in rules) + " FROM _events_typed"
    ).fetchall()[0]
    counts = {**counts, **{i: int(n) for (i, _), n in zip(rules, row[1:], strict=True)}}
    return int(row[0]), [counts[i] for i in range(len(EVENT_RULES))]


def _time_given_sql(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """SQL true where the raw event_time holds a value: not NULL, and for text not blank (no cast of typed times)."""
    kind = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE ({sql})").fetchall()}.get("event_time", "VARCHAR")
    if kind.startswith(("TIMESTAMP", "DATE")):
        return "(event_time IS NOT NULL)"
    return "coalesce(trim(CAST(event_time AS VARCHAR)) <> '', false)"


def typed_events_sql(
    con: duckdb.DuckDBPyConnection, sql: str, cols: list[str], timezone: str, *, plain: set[str] | None = None
) -> str:
    """SQL of the typed events over the raw relation: trimmed text (as it is for the `plain` columns, which hold
    no surrounding blanks), event_time in business time, the raw time and each row's place for messages."""

    def text(column: str) -> str:
        return column if column in (plain or set()) else f"trim(CAST({column} AS VARCHAR))"

    return (
        f"SELECT {text('account_id')} AS account_id, {text('user_id')} AS user_id, "
        f"{_event_time_sql(con, sql, timezone)} AS event_time, "
        f"{text('event_type')} AS event_type, "
        f"CAST(event_time AS VARCHAR) AS _raw_time, {_time_given_sql(con, sql)} AS _time_given, "
        f"{_row_place_sql(cols)} AS _place FROM ({sql})"
    )


# C0/C1 control characters (tab, newline, carriage return excepted) and bidirectional overrides, in RE2 syntax
# (the same set as data.meaning.CONTROL_CHARS).
CONTROL_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\x{202a}-\x{202e}\x{2066}-\x{2069}]"
_CONTROL_RULE = "text holds a control character (e.g. NUL, ESC or a bidirectional override)"
# Columns the engine adds to a file's rows (where each row came from), not the export's own.
ENGINE_COLUMNS = ("filename", "file_row_number")
# (column, rule, SQL condition on _events_typed): counted inside the engine (`_rule_counts`); a text column's
# conditions name only that column, so they also hold on its distinct values.
TEXT_COLUMNS = ("account_id", "user_id", "event_type")
EVENT_RULES = [
    ("account_id", "value is empty", "account_id IS NULL OR account_id = ''"),
    ("user_id", "value is empty", "user_id IS NULL OR user_id = ''"),
    ("event_type", "value is empty", "event_type IS NULL OR event_type = ''"),
    *((c, _CONTROL_RULE, f"regexp_matches({c}, '{CONTROL_RE2}')") for c in ("account_id", "user_id", "event_type")),
    ("event_time", "value is not a date-time", "event_time IS NULL AND _time_given"),
    ("event_time", "value is empty", "NOT _time_given"),
    (
        "event_time",
        "value is not a date-time: dates must lie between 1900-01-01 and 2200-12-31",
        "event_time < TIMESTAMP '1900-01-01' OR event_time >= TIMESTAMP '2201-01-01'",
    ),
    (
        "account_id",
        "unknown account_id (not in accounts)",
        "account_id NOT IN (SELECT account_id FROM _contract_account_ids) AND account_id <> ''",
    ),
]


def _row_place_sql(cols: list[str]) -> str:
    """SQL for where a raw event row is: its file and row number (Parquet) or file (CSV), NULL in a DuckDB table."""
    if "filename" in cols and "file_row_number" in cols:
        return "filename || ':' || CAST(file_row_number + 1 AS VARCHAR)"
    return "CAST(filename AS VARCHAR)" if "filename" in cols else "CAST(NULL AS VARCHAR)"


def _place_text(place: str | None) -> str:
    """'file 2024-03.parquet row 12: ' from the engine's place of a row ('' when unknown)."""
    if not place:
        return ""
    name, _, row = place.rpartition(":") if place.rsplit(":", 1)[-1].isdigit() else (place, "", "")
    return f"file {Path(name).name}" + (f" row {row}" if row else "") + ": "
