"""The data contract: every table the playbook reads, its columns, keys and rules.

Validation runs in two steps so every problem surfaces in one pass (see PITFALLS: a failed
pandera coercion hides that column's value checks): `coerce_table` parses each column into
its type and records the values it could not parse; `check_table` then runs the pandera
value rules lazily on the parsed frame. `check_references` does the cross-table keys.
docs/data-contract.md documents the same tables for analysts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from cs_playbook.data.meaning import (
    bad_value_reasons,
    control_char_mask,
    finite_numbers,
    parse_datetime_values,
    parse_number_text,
)
from cs_playbook.errors import Problem

__all__ = [
    "Column",
    "TableSpec",
    "TABLES",
    "REQUIRED_TABLES",
    "BANTC_DIMENSIONS",
    "RENEWAL_STEPS",
    "EVENT_COLUMNS",
    "coerce_table",
    "check_table",
    "check_references",
    "validate_table",
]

MAX_EXAMPLES = 5
KINDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true/false",
    "date": "a date",
    "datetime": "a date-time",
}

TRUE_WORDS = {"true", "t", "yes", "y", "1", "1.0", "はい", "有", "あり", "○", "✓"}
FALSE_WORDS = {"false", "f", "no", "n", "0", "0.0", "いいえ", "無", "なし", "×", "-"}


@dataclass(frozen=True)
class Column:
    """One column: its type, whether it may be empty, and the values it may take."""

    name: str
    dtype: str  # "str", "int", "float", "bool", "date" or "datetime"
    description: str
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract: columns, key, references and row-level order rules."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    required: bool = False
    references: tuple[tuple[tuple[str, ...], str], ...] = ()  # ((cols), "table") foreign keys
    order_rules: tuple[tuple[str, str], ...] = ()  # (earlier, later): later >= earlier

    @property
    def column_names(self) -> list[str]:
        """Column names in contract order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The column spec called `name`."""
        return next(c for c in self.columns if c.name == name)


RATING = ("ok", "risk", "unknown")
# The columns of a BANTC assessment, and the activity types that record the five renewal-schedule steps.
BANTC_DIMENSIONS = ("budget", "authority", "need", "timeframe", "competitor")
RENEWAL_STEPS = ("power_map", "usage_review", "dissatisfaction_check", "renewal_intent", "upsell_proposal")

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in [
        TableSpec(
            "accounts",
            "One row per customer account.",
            (
                Column("account_id", "str", "Account identifier, kept as text (00123 stays 00123)."),
                Column("account_name", "str", "Customer company name."),
                Column("segment", "str", "Segment, e.g. enterprise / mid_market / smb."),
                Column("industry", "str", "Industry.", nullable=True),
                Column("employees", "int", "Employee count (caps seat upsell).", nullable=True, min_value=1),
                Column("region", "str", "Region.", nullable=True),
                Column("csm", "str", "Owning CSM; empty or a placeholder when unassigned.", nullable=True),
                Column("created_at", "date", "Date the account was created in the CRM."),
            ),
            key=("account_id",),
            required=True,
        ),
        TableSpec(
            "subscriptions",
            "One row per contract line: an account may hold several departments and products.",
            (
                Column("subscription_id", "str", "Contract-line identifier."),
                Column("account_id", "str", "Account holding the contract."),
                Column("department", "str", "Contracting department; empty for company-wide.", nullable=True),
                Column("product", "str", "Product or add-on."),
                Column("start_date", "date", "First day covered."),
                Column("end_date", "date", "Last day covered (see end_date_convention); empty if open.", nullable=True),
                Column("arr", "float", "Annual recurring revenue of the line.", min_value=0),
                Column("seats", "int", "Seats bought; empty for usage-based lines.", nullable=True, min_value=0),
                Column("auto_renew", "bool", "Renews automatically unless cancelled."),
                Column("currency", "str", "ISO currency code, e.g. JPY."),
            ),
            key=("subscription_id",),
            required=True,
            references=((("account_id",), "accounts"),),
            order_rules=(("start_date", "end_date"),),
        ),
        TableSpec(
            "events",
            "Raw product usage, one row per event; may hold hundreds of millions of rows.",
            (
                Column("account_id", "str", "Account of the user."),
                Column("user_id", "str", "User who acted."),
                Column("event_time", "datetime", "When it happened."),
                Column("event_type", "str", "What happened (a feature or action)."),
            ),
            references=((("account_id",), "accounts"),),
        ),
        TableSpec(
            "users",
            "Product users and the department or site they belong to (for PoC scopes).",
            (
                Column("user_id", "str", "User identifier, as in events."),
                Column("account_id", "str", "Account of the user."),
                Column("department", "str", "Department, site or team.", nullable=True),
                Column("created_at", "date", "Date the user was invited.", nullable=True),
            ),
            key=("user_id",),
            references=((("account_id",), "accounts"),),
        ),
        TableSpec(
            "tickets",
            "Support tickets.",
            (
                Column("ticket_id", "str", "Ticket identifier."),
                Column("account_id", "str", "Account that opened it."),
                Column("opened_at", "datetime", "When it was opened."),
                Column(
                    "severity", "str", "low / medium / high / critical.", allowed=("low", "medium", "high", "critical")
                ),
                Column("closed_at", "datetime", "When it was closed; empty while open.", nullable=True),
            ),
            key=("ticket_id",),
            references=((("account_id",), "accounts"),),
            order_rules=(("opened_at", "closed_at"),),
        ),
        TableSpec(
            "surveys",
            "NPS survey answers.",
            (
                Column("account_id", "str", "Account of the respondent."),
                Column("responded_at", "datetime", "When they answered."),
                Column("score", "int", "NPS answer, 0 to 10.", min_value=0, max_value=10),
            ),
            references=((("account_id",), "accounts"),),
        ),
        TableSpec(
            "activities",
            "CSM touchpoints: meetings, calls, emails, QBR/EBR and renewal-schedule steps.",
            (
                Column("account_id", "str", "Account touched."),
                Column("occurred_at", "datetime", "When it happened."),
                Column(
                    "activity_type",
                    "str",
                    "meeting, call, email, qbr, ebr, onboarding, power_map, usage_review, dissatisfaction_check, renewal_intent, upsell_proposal, ...",
                ),
                Column("notes_logged", "bool", "Whether notes were logged afterwards."),
            ),
            references=((("account_id",), "accounts"),),
        ),
        TableSpec(
            "stakeholders",
            "Stakeholder snapshots: champion, executive access and a success plan.",
            (
                Column("account_id", "str", "Account."),
                Column("as_of", "date", "Date of the snapshot."),
                Column("champion", "bool", "A strong champion (key person) is engaged."),
                Column("exec_access", "bool", "Direct access to the decision maker."),
                Column("success_plan", "bool", "A success plan with future goals is agreed."),
            ),
            key=("account_id", "as_of"),
            references=((("account_id",), "accounts"),),
        ),
        TableSpec(
            "bantc",
            "BANTC assessments before renewals: Budget, Authority, Need, Timeframe, Competitor.",
            (
                Column("account_id", "str", "Account."),
                Column("assessed_at", "date", "Date of the assessment."),
                Column("budget", "str", "ok / risk / unknown.", allowed=RATING),
                Column("authority", "str", "ok / risk / unknown.", allowed=RATING),
                Column("need", "str", "ok / risk / unknown.", allowed=RATING),
                Column("timeframe", "str", "ok / risk / unknown.", allowed=RATING),
                Column("competitor", "str", "ok / risk / unknown.", allowed=RATING),
            ),
            key=("account_id", "assessed_at"),
            references=((("account_id",), "accounts"),),
        ),
        TableSpec(
            "feature_releases",
            "Released features and the event type that shows their use.",
            (
                Column("feature", "str", "Feature name."),
                Column("event_type", "str", "Event type emitted when the feature is used."),
                Column("released_at", "date", "Release date."),
            ),
            key=("feature",),
        ),
        TableSpec(
            "churn_reasons",
            "Why churned accounts left, as recorded at cancellation.",
            (
                Column("account_id", "str", "Churned account."),
                Column("churned_at", "date", "Date of the churn."),
                Column("reason", "str", "Reason in the CRM's words."),
            ),
            references=((("account_id",), "accounts"),),
        ),
        TableSpec(
            "pocs",
            "Proofs of concept: land small in some sites or teams, then expand.",
            (
                Column("poc_id", "str", "PoC identifier."),
                Column("account_id", "str", "Account running the PoC."),
                Column("name", "str", "PoC name."),
                Column("objective", "str", "Purpose agreed with the customer."),
                Column("start_date", "date", "First day."),
                Column("end_date", "date", "Last day (the decision deadline)."),
                Column("scope", "str", "Sites or teams in scope, separated by ';'."),
                Column("arr_at_stake", "float", "ARR of the main contract if it converts.", min_value=0),
                Column("outcome", "str", "open / won / lost.", allowed=("open", "won", "lost")),
                Column("decided_at", "date", "Decision date; empty while open.", nullable=True),
            ),
            key=("poc_id",),
            references=((("account_id",), "accounts"),),
            order_rules=(("start_date", "end_date"), ("start_date", "decided_at")),
        ),
        TableSpec(
            "poc_criteria",
            "Success criteria agreed for each PoC.",
            (
                Column("poc_id", "str", "PoC."),
                Column("criterion_id", "str", "Criterion identifier within the PoC."),
                Column("description", "str", "What must be resolved, in the customer's words."),
                Column("metric", "str", "Metric name (an event metric or a manual measure)."),
                Column("comparator", "str", "'>=' or '<='.", allowed=(">=", "<=")),
                Column("target", "float", "Target value."),
                Column("must_have", "bool", "Must be met to sign."),
                Column("weight", "float", "Weight in the PoC score.", min_value=0),
                Column(
                    "source", "str", "events (computed) or manual (measured by hand).", allowed=("events", "manual")
                ),
            ),
            key=("poc_id", "criterion_id"),
            references=((("poc_id",), "pocs"),),
        ),
        TableSpec(
            "poc_measurements",
            "Manual measurements of PoC criteria.",
            (
                Column("poc_id", "str", "PoC."),
                Column("criterion_id", "str", "Criterion."),
                Column("measured_at", "date", "Date measured."),
                Column("value", "float", "Measured value."),
            ),
            key=("poc_id", "criterion_id", "measured_at"),
            references=((("poc_id", "criterion_id"), "poc_criteria"),),
        ),
    ]
}

REQUIRED_TABLES = [name for name, spec in TABLES.items() if spec.required]
EVENT_COLUMNS = TABLES["events"].column_names


def _examples(df: pd.DataFrame, mask: pd.Series, columns: list[str], line_offset: int | None) -> tuple[str, ...]:
    """A few offending rows rendered as 'line N: col=value, ...'."""
    out = []
    for idx, row in df.loc[mask, columns].head(MAX_EXAMPLES).iterrows():
        where = f"line {int(idx) + line_offset}" if line_offset is not None else f"row {idx}"
        values = ", ".join(f"{c}={_fmt(row[c])}" for c in columns)
        out.append(f"{where}: {values}")
    return tuple(out)


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return "<empty>"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else str(value)
    return repr(value) if isinstance(value, str) else str(value)


def _is_blank(raw: pd.Series) -> pd.Series:
    """True where a raw value is missing or only whitespace."""
    if raw.dtype == bool:
        return pd.Series(False, index=raw.index)
    as_text = raw.astype("string")
    return raw.isna() | as_text.str.strip().eq("").fillna(True)


def _parse(raw: pd.Series, dtype: str, date_format: str = "", timezone: str = "Asia/Tokyo") -> pd.Series:
    """Parse one raw column into its contract type; unparseable values (and text with control characters) become missing."""
    blank = _is_blank(raw)
    if dtype == "str":
        text = raw.astype("string").str.strip()
        return text.mask(blank | control_char_mask(raw)).astype("str").where(~blank & ~control_char_mask(raw), None)
    if dtype in ("int", "float"):
        if pd.api.types.is_numeric_dtype(raw) and raw.dtype != bool:
            num = finite_numbers(raw)
        else:
            num = parse_number_text(raw.astype("string").str.strip())
        if dtype == "int":
            whole = num.isna() | (num == np.floor(num))
            num = num.where(whole)
            return num.astype("Int64")
        return num.astype("float64")
    if dtype == "bool":
        if raw.dtype == bool:
            return raw.astype("boolean")
        text = raw.astype("string").str.strip().str.lower()
        out = pd.Series(pd.NA, index=raw.index, dtype="boolean")
        out[text.isin(TRUE_WORDS).fillna(False)] = True
        out[text.isin(FALSE_WORDS).fillna(False)] = False
        return out
    if dtype in ("date", "datetime"):
        parsed = parse_datetime_values(raw, date_format=date_format, timezone=timezone)
        return parsed.dt.normalize() if dtype == "date" else parsed
    raise ValueError(f"unknown contract dtype {dtype!r}")


def coerce_table(
    raw: pd.DataFrame, spec: TableSpec, *, file: str | None = None, line_offset: int | None = 2
) -> tuple[pd.DataFrame, list[Problem]]:
    """Parse raw columns into contract types; report missing columns and unparseable values.

    `line_offset` turns a 0-based row index into the line number an analyst sees in the file
    (2 for a CSV with one header line); None reports plain row numbers.
    """
    parsed, problems, _ = _coerce(raw, spec, file=file, line_offset=line_offset)
    return parsed, problems


def _coerce(
    raw: pd.DataFrame,
    spec: TableSpec,
    *,
    file: str | None,
    line_offset: int | None,
    date_format: str = "",
    timezone: str = "Asia/Tokyo",
) -> tuple[pd.DataFrame, list[Problem], dict[str, pd.Series]]:
    """coerce_table, also returning each column's mask of unparseable values."""
    problems: list[Problem] = []
    unparseable: dict[str, pd.Series] = {}
    missing = [c for c in spec.column_names if c not in raw.columns]
    for name in missing:
        problems.append(
            Problem(
                spec.name,
                name,
                "required column is missing",
                len(raw),
                (f"columns found: {', '.join(map(str, raw.columns)) or '<none>'}",),
                file,
            )
        )
    out = pd.DataFrame(index=raw.index)
    for col in spec.columns:
        if col.name in missing:
            continue
        parsed = _parse(raw[col.name], col.dtype, date_format, timezone)
        bad = parsed.isna() & ~_is_blank(raw[col.name])
        unparseable[col.name] = bad
        if bad.any():
            generic = f"value is not {KINDS.get(col.dtype, col.dtype)}"
            for rule, mask in bad_value_reasons(col.dtype, raw[col.name], bad, generic, date_format):
                examples = _examples(raw, mask, [col.name], line_offset)
                problems.append(Problem(spec.name, col.name, rule, int(mask.sum()), examples, file))
        out[col.name] = parsed
    return out, problems, unparseable


def _schema(spec: TableSpec, present: list[str]) -> pa.DataFrameSchema:
    """The pandera value rules for the columns present (types are already parsed)."""
    columns = {}
    for col in spec.columns:
        if col.name not in present:
            continue
        checks = []
        if col.allowed is not None:
            checks.append(pa.Check.isin(list(col.allowed), error=f"value must be one of {', '.join(col.allowed)}"))
        if col.min_value is not None:
            checks.append(pa.Check.ge(col.min_value, error=f"value must be >= {col.min_value:g}"))
        if col.max_value is not None:
            checks.append(pa.Check.le(col.max_value, error=f"value must be <= {col.max_value:g}"))
        columns[col.name] = pa.Column(None, checks=checks, nullable=col.nullable, required=False)
    return pa.DataFrameSchema(columns, coerce=False, strict=False)


def check_table(
    df: pd.DataFrame,
    spec: TableSpec,
    *,
    file: str | None = None,
    line_offset: int | None = 2,
    unparseable: dict[str, pd.Series] | None = None,
) -> list[Problem]:
    """Value rules on a parsed table: empty values, allowed values, ranges, keys and order.

    `unparseable` masks values already reported as unparseable, so they are not reported
    again as empty.
    """
    unparseable = unparseable or {}
    problems: list[Problem] = []
    present = [c for c in spec.column_names if c in df.columns]
    key_cols = [c for c in spec.key if c in present]
    show = list(dict.fromkeys(key_cols + present[:1]))
    try:
        _schema(spec, present).validate(df, lazy=True)
    except pa.errors.SchemaErrors as err:
        fc = err.failure_cases
        for (column, check), group in fc.groupby(["column", "check"], sort=False, dropna=False):
            idx = group["index"].dropna().astype(int).unique()
            mask = pd.Series(df.index.isin(idx), index=df.index)
            rule = "value is empty" if str(check) == "not_nullable" else str(check)
            if rule == "value is empty" and str(column) in unparseable:
                mask &= ~unparseable[str(column)]
            if not mask.any():
                continue
            cols = list(dict.fromkeys(show + [str(column)]))
            problems.append(
                Problem(spec.name, str(column), rule, int(mask.sum()), _examples(df, mask, cols, line_offset), file)
            )
    if key_cols and len(key_cols) == len(spec.key):
        dup = df.duplicated(key_cols, keep=False) & df[key_cols].notna().all(axis=1)
        if dup.any():
            problems.append(
                Problem(
                    spec.name,
                    "+".join(key_cols),
                    "key must be unique (duplicate key)",
                    int(dup.sum()),
                    _examples(df, dup, key_cols, line_offset),
                    file,
                )
            )
    for earlier, later in spec.order_rules:
        if earlier in df.columns and later in df.columns:
            bad = (df[later] < df[earlier]).fillna(False)
            if bad.any():
                problems.append(
                    Problem(
                        spec.name,
                        later,
                        f"{later} must not be before {earlier}",
                        int(bad.sum()),
                        _examples(df, bad, list(dict.fromkeys(show + [earlier, later])), line_offset),
                        file,
                    )
                )
    return problems


def validate_table(
    raw: pd.DataFrame,
    spec: TableSpec,
    *,
    file: str | None = None,
    line_offset: int | None = 2,
    date_format: str = "",
    timezone: str = "Asia/Tokyo",
) -> tuple[pd.DataFrame, list[Problem]]:
    """Coerce then check one table; returns the parsed frame (contract column order) and problems.

    `date_format` reads day/month-first dates (e.g. "%d/%m/%Y"); time-zone-aware values are converted to `timezone`.
    """
    if raw.empty:
        return raw, [Problem(spec.name, "*", "table is empty (no data rows)", 0, (), file)]
    parsed, problems, unparseable = _coerce(
        raw, spec, file=file, line_offset=line_offset, date_format=date_format, timezone=timezone
    )
    problems += check_table(parsed, spec, file=file, line_offset=line_offset, unparseable=unparseable)
    return parsed, problems


def check_references(
    tables: dict[str, pd.DataFrame], files: dict[str, str] | None = None, *, line_offset: int | None = 2
) -> list[Problem]:
    """Foreign keys across tables, e.g. every subscriptions.account_id must be in accounts."""
    files = files or {}
    problems: list[Problem] = []
    for name, df in tables.items():
        spec = TABLES.get(name)
        if spec is None or df is None:
            continue
        for cols, target in spec.references:
            parent = tables.get(target)
            if parent is None or not set(cols) <= set(df.columns) or not set(cols) <= set(parent.columns):
                continue
            known = pd.MultiIndex.from_frame(parent[list(cols)].astype("string"))
            here = pd.MultiIndex.from_frame(df[list(cols)].astype("string"))
            bad = pd.Series(~here.isin(known), index=df.index) & df[list(cols)].notna().all(axis=1)
            if bad.any():
                problems.append(
                    Problem(
                        name,
                        "+".join(cols),
                        f"unknown {'+'.join(cols)} (not in {target})",
                        int(bad.sum()),
                        _examples(df, bad, list(cols), line_offset),
                        files.get(name),
                    )
                )
    return problems
