"""Data meaning checked at load: the end_date convention, the contracts' coverage (as_of) and placeholder owners.

The contract's types and rules (`data.contract`) say whether a value is well formed; these checks
say whether the data means what the params say it means:

- `end_date_problems`: renewal chains (lines of one account, department and product, one after the
  other) tell which `end_date` convention an export uses: inclusive lines end the day before the
  next line starts, exclusive ones on the day it starts. Without renewals, month-aligned lines tell
  it (starting on the 1st and ending on the 1st = exclusive, ending on a month's last day = inclusive).
- `to_inclusive`: an exclusive export converted to the inclusive convention every analysis uses.
- `contracts_coverage` / `choose_as_of`: the last day the contracts are known to cover, and the
  data's as-of date (the last day covered by the events and the contracts both).
- `normalise_owners`: placeholder CSM values ("unassigned", "-", "none", ...) become missing.
- values checked for meaning: finite numbers with well-placed thousands separators, unambiguous dates
  between 1900 and 2200 in the business time zone, text without control characters, plausible bounds,
  no exact duplicate contract lines, overlapping lines noted; headers matched regardless of case.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from cs_playbook.errors import Problem

__all__ = [
    "PLACEHOLDER_OWNERS",
    "MIN_RENEWALS",
    "renewal_gaps",
    "end_date_problems",
    "to_inclusive",
    "contracts_coverage",
    "choose_as_of",
    "normalise_owners",
    "ACTION_DAYS",
    "action_deadline",
]

# Owner values that mean "nobody": compared trimmed and case-insensitively.
PLACEHOLDER_OWNERS = frozenset({"", "-", "--", "unassigned", "none", "n/a", "na", "null", "未割当", "未設定", "なし"})
MIN_RENEWALS = 3  # renewal chains needed before their gaps decide the convention
MIN_LINES = 5  # dated lines needed before month alignment decides it
MAJORITY = 0.5  # share of renewals that must contradict the declared convention
ALIGNED = 0.8  # share of lines on the 1st / on a month end that counts as month-aligned
SETTING = "end_date_convention"


def renewal_gaps(subscriptions: pd.DataFrame) -> pd.DataFrame:
    """One row per line followed by another of the same account, department and product.

    Columns: subscription_id, end_date, next_id, next_start, gap_days (next start - end date, in days).
    """
    keys = ["account_id", "_dept", "product"]
    s = subscriptions.assign(_dept=subscriptions["department"].astype("string").fillna("").str.strip())
    s = s.sort_values([*keys, "start_date", "end_date"], kind="stable")
    grouped = s.groupby(keys, sort=False, dropna=False)
    out = pd.DataFrame(
        {
            "subscription_id": s["subscription_id"],
            "end_date": s["end_date"],
            "next_id": grouped["subscription_id"].shift(-1),
            "next_start": grouped["start_date"].shift(-1),
        }
    )
    out = out[out["next_start"].notna() & out["end_date"].notna()]
    out["gap_days"] = (out["next_start"] - out["end_date"]).dt.days.astype("int64")
    return out.reset_index(drop=True)


def _pair_examples(pairs: pd.DataFrame) -> tuple[str, ...]:
    return tuple(
        f"subscription_id={r.subscription_id} ends {r.end_date:%Y-%m-%d}; {r.next_id} (same account, department, "
        f"product) starts {r.next_start:%Y-%m-%d}"
        for r in pairs.head(3).itertuples(index=False)
    )


def _line_examples(lines: pd.DataFrame) -> tuple[str, ...]:
    return tuple(
        f"subscription_id={r.subscription_id}: start_date={r.start_date:%Y-%m-%d}, end_date={r.end_date:%Y-%m-%d}"
        for r in lines.head(3).itertuples(index=False)
    )


def _problem(rule: str, n: int, examples: tuple[str, ...], file: str | None) -> Problem:
    return Problem("subscriptions", "end_date", rule, n, examples, file)


def _chain_problem(pairs: pd.DataFrame, convention: str, file: str | None) -> Problem | None:
    """The renewal chains contradict the declared convention, or None."""
    touching, adjacent = pairs[pairs["gap_days"] == 0], pairs[pairs["gap_days"] == 1]
    n = len(touching) + len(adjacent)
    if convention == "inclusive" and len(touching) > MAJORITY * n:
        rule = (
            f"end dates look exclusive: {len(touching)} of {n} renewals start on the day the previous line ends "
            f"(inclusive end dates end the day before). Set {SETTING}: exclusive in params/data.yaml"
        )
        return _problem(rule, len(touching), _pair_examples(touching), file)
    if convention == "exclusive" and len(adjacent) > MAJORITY * n:
        rule = (
            f"end dates look inclusive: {len(adjacent)} of {n} renewals start the day after the previous line ends "
            f"(exclusive end dates end on the day the next starts). Set {SETTING}: inclusive in params/data.yaml"
        )
        return _problem(rule, len(adjacent), _pair_examples(adjacent), file)
    return None


def _month_problem(subscriptions: pd.DataFrame, convention: str, file: str | None) -> Problem | None:
    """Month-aligned lines contradict the declared convention (used when there are too few renewals), or None."""
    dated = subscriptions[subscriptions["end_date"].notna() & subscriptions["start_date"].notna()]
    if len(dated) < MIN_LINES or (dated["start_date"].dt.day == 1).mean() < ALIGNED:
        return None
    on_first = dated[dated["end_date"].dt.day == 1]
    on_last = dated[dated["end_date"].dt.is_month_end]
    if convention == "inclusive" and len(on_first) >= ALIGNED * len(dated):
        rule = (
            f"end dates look exclusive: {len(on_first)} of {len(dated)} lines start and end on the 1st of a month "
            f"(inclusive lines end on a month's last day). Set {SETTING}: exclusive in params/data.yaml"
        )
        return _problem(rule, len(on_first), _line_examples(on_first), file)
    if convention == "exclusive" and len(on_last) >= ALIGNED * len(dated):
        rule = (
            f"end dates look inclusive: {len(on_last)} of {len(dated)} lines start on the 1st and end on a month's "
            f"last day (exclusive lines end on the 1st). Set {SETTING}: inclusive in params/data.yaml"
        )
        return _problem(rule, len(on_last), _line_examples(on_last), file)
    return None


def end_date_problems(subscriptions: pd.DataFrame, convention: str, file: str | None = None) -> list[Problem]:
    """A problem when the data's end dates follow the other convention than `convention` (raw, before conversion)."""
    if subscriptions.empty:
        return []
    pairs = renewal_gaps(subscriptions)
    if int(pairs["gap_days"].isin([0, 1]).sum()) >= MIN_RENEWALS:
        found = _chain_problem(pairs, convention, file)
    else:
        found = _month_problem(subscriptions, convention, file)
    return [found] if found else []


def to_inclusive(subscriptions: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Exclusive end dates as inclusive (end_date - 1 day); lines covering no day (end = start) are dropped.

    Returns the converted table and the number of lines dropped.
    """
    out = subscriptions.copy()
    out["end_date"] = out["end_date"] - pd.Timedelta(days=1)
    empty = out["end_date"].notna() & (out["end_date"] < out["start_date"])
    return out[~empty].reset_index(drop=True), int(empty.sum())


def contracts_coverage(subscriptions: pd.DataFrame, until: pd.Timestamp | None = None) -> tuple[pd.Timestamp, bool]:
    """The last day the contracts are known to cover, and whether they are taken as current to `until`.

    An export holds every line started by its date, so the latest start_date is a lower bound of it.
    When `until` (the events' last day) comes later by no more than the longest pause between two
    start dates over the year before, the pause is ordinary and the contracts cover `until`.
    """
    starts = pd.Series(subscriptions["start_date"].dropna().dt.normalize().unique()).sort_values()
    if starts.empty:
        return (until, True) if until is not None else (pd.NaT, False)
    latest = pd.Timestamp(starts.iloc[-1])
    if until is None or until <= latest:
        return latest, False
    recent = starts[starts >= latest - pd.Timedelta(days=365)]
    usual = int(recent.diff().dt.days.max()) if len(recent) > 1 else 0
    if (until - latest).days <= usual:
        return until, True
    return latest, False


def choose_as_of(
    subscriptions: pd.DataFrame, events_last: pd.Timestamp | None, declared: date | None
) -> tuple[pd.Timestamp, pd.Timestamp, str]:
    """(as_of, contracts' coverage, why): the declared date, else the last day covered by the events and contracts."""
    events_last = None if events_last is None or pd.isna(events_last) else pd.Timestamp(events_last).normalize()
    covered, stretched = contracts_coverage(subscriptions, events_last)
    if declared:
        as_of = pd.Timestamp(declared).normalize()
        return as_of, covered, f"as_of {as_of:%Y-%m-%d} is set in params/data.yaml"
    latest = pd.Timestamp(subscriptions["start_date"].max()).normalize()
    if events_last is None:
        return covered, covered, f"as_of {covered:%Y-%m-%d}: the contracts' latest start_date (no events in the data)"
    if stretched:
        why = (
            f"as_of {events_last:%Y-%m-%d}: the events' last day; the contracts' latest start_date "
            f"({latest:%Y-%m-%d}) is within their usual pause between new lines, so they are taken as current"
        )
        return events_last, covered, why
    if events_last > covered:
        why = (
            f"as_of {covered:%Y-%m-%d}: the contracts' latest start_date; the events run to {events_last:%Y-%m-%d}, "
            "but contracts exported earlier would count every renewal after their export as churn"
        )
        return covered, covered, why
    return events_last, covered, f"as_of {events_last:%Y-%m-%d}: the events' last day (contracts start up to then)"


def normalise_owners(accounts: pd.DataFrame, column: str = "csm") -> tuple[pd.DataFrame, int]:
    """Placeholder owner values ("unassigned", "-", "none", "n/a", ...) as missing; returns the table and how many."""
    if column not in accounts.columns:
        return accounts, 0
    values = accounts[column].astype("string")
    placeholder = values.str.strip().str.lower().isin(PLACEHOLDER_OWNERS) & values.notna()
    out = accounts.copy()
    out[column] = values.str.strip().mask(placeholder)
    return out, int(placeholder.sum())


# --- Values checked for meaning, not only type -------------------------------------------------

# Digits with an optional '.' decimal part; ',' only between groups of three ("1,234,567.5").
NUMBER_TEXT = r"^[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?$"
# A date written day/month or month/day first ("01/04/2023", "1.4.23"): its order is ambiguous.
DAY_MONTH_TEXT = r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}(?:\s|T|$)"
# A UTC offset or Z at the end of a date-time text ("2023-09-11T00:30:00+09:00").
OFFSET_TEXT = r"(?:Z|[+-]\d{2}:?\d{2})$"
FIRST_DAY, LAST_DAY = pd.Timestamp("1900-01-01"), pd.Timestamp("2200-12-31 23:59:59")
# C0/C1 control characters (tab, newline and carriage return excepted) and bidirectional overrides.
CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"


def parse_number_text(text: pd.Series) -> pd.Series:
    """Numbers from trimmed text: '¥'/'￥' dropped, ',' only as a thousands separator, finite values only.

    A decimal comma ("1200000,50"), misplaced separators ("1,2,3,4"), "inf", "NaN" or a value too large
    for a float ("1e400") become missing, so the contract reports them as unparseable with the value.
    """
    text = text.str.replace("¥", "", regex=False).str.replace("￥", "", regex=False).str.strip()
    grouped = text.str.contains(",", regex=False).fillna(False)
    ok_groups = text.str.fullmatch(NUMBER_TEXT).fillna(False)
    text = text.mask(grouped & ~ok_groups).str.replace(",", "", regex=False)
    plain = text.str.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?").fillna(False)
    num = pd.to_numeric(text.where(plain), errors="coerce").astype("float64")
    return num.where(np.isfinite(num))


def finite_numbers(raw: pd.Series) -> pd.Series:
    """A numeric column as float64 with inf and -inf as missing."""
    num = pd.to_numeric(raw, errors="coerce").astype("float64")
    return num.where(np.isfinite(num))


def _in_range(parsed: pd.Series) -> pd.Series:
    return parsed.where((parsed >= FIRST_DAY) & (parsed <= LAST_DAY))


def parse_datetime_values(raw: pd.Series, *, date_format: str = "", timezone: str = "Asia/Tokyo") -> pd.Series:
    """Date-times (naive, in the business time zone) from a raw column; unreadable or out-of-range values missing.

    Time-zone-aware values (Parquet tz-aware columns, text ending in an offset or Z) are converted to
    `timezone` first. Day/month-first text is read only with `date_format`; ISO (YYYY-MM-DD, YYYY/MM/DD)
    always. Dates before 1900 or after 2200 are missing (an error, never an overflow).
    """
    if pd.api.types.is_datetime64_any_dtype(raw):
        if getattr(raw.dt, "tz", None) is not None:
            raw = raw.dt.tz_convert(timezone).dt.tz_localize(None)
        return _in_range(raw).astype("datetime64[ns]")
    text = raw.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    iso = text.str.match(r"\d{4}[-/]\d{1,2}[-/]\d{1,2}").fillna(False).astype(bool)
    if date_format:
        out[~iso] = pd.to_datetime(text[~iso], format=date_format, errors="coerce").astype("datetime64[ns]")
    ambiguous = text.str.contains(DAY_MONTH_TEXT, regex=True).fillna(False) | (~iso if date_format else False)
    aware = text.str.contains(OFFSET_TEXT, regex=True).fillna(False) & ~ambiguous
    year = pd.to_numeric(text.str.extract(r"^(\d{4,})\D", expand=False), errors="coerce")
    readable = text.notna() & ~ambiguous & ~((year < FIRST_DAY.year) | (year > LAST_DAY.year)).fillna(False)
    naive = readable & ~aware
    if naive.any():
        out[naive] = pd.to_datetime(text[naive], errors="coerce", format="mixed").astype("datetime64[ns]")
    if (readable & aware).any():
        utc = pd.to_datetime(text[readable & aware], errors="coerce", format="mixed", utc=True)
        out[readable & aware] = utc.dt.tz_convert(timezone).dt.tz_localize(None).astype("datetime64[ns]")
    return _in_range(out)


def _text_of(raw: pd.Series) -> pd.Series:
    return raw.astype("string").str.strip()


def bad_value_reasons(dtype: str, raw: pd.Series, bad: pd.Series, generic: str, date_format: str = "") -> list:
    """(rule, mask) pairs splitting unparseable values by why: the rule an analyst reads for each value."""
    text = _text_of(raw)
    found: list[tuple[str, pd.Series]] = []
    if dtype == "str":
        return [("text holds a control character (e.g. NUL, ESC or a bidirectional override)", bad)]
    if dtype in ("int", "float") and not pd.api.types.is_numeric_dtype(raw):
        comma = bad & text.str.contains(",", regex=False).fillna(False)
        found.append(
            (
                f"{generic}: ',' is read only between groups of three digits (1,234,567); a decimal comma is refused",
                comma,
            )
        )
    if dtype in ("int", "float"):
        as_num = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce").astype("float64")
        infinite = (
            bad
            & (as_num.isna() | ~np.isfinite(as_num))
            & text.str.fullmatch(r"(?i)[+-]?(inf|infinity|nan)|.*[eE]\+?\d{3,}").fillna(False)
        )
        found.append((f"{generic}: must be finite (inf, NaN and overflowing values are refused)", infinite))
    if dtype in ("date", "datetime") and not date_format:
        found.append(
            (
                "day/month order is ambiguous (e.g. 01/04/2023): write YYYY-MM-DD or set date_format in the "
                "source's params/data.yaml",
                bad & text.str.contains(DAY_MONTH_TEXT, regex=True).fillna(False),
            )
        )
    if dtype in ("date", "datetime"):
        year = pd.to_numeric(text.str.extract(r"(\d{4,})", expand=False), errors="coerce")
        far = bad & ((year < FIRST_DAY.year) | (year > LAST_DAY.year)).fillna(False)
        found.append((f"{generic}: dates must lie between 1900-01-01 and 2200-12-31", far))
    taken = pd.Series(False, index=raw.index)
    out = []
    for rule, mask in found:
        mask = mask & ~taken
        taken |= mask
        if mask.any():
            out.append((rule, mask))
    if (bad & ~taken).any():
        suffix = f" (format {date_format!r})" if date_format and dtype in ("date", "datetime") else ""
        out.append((generic + suffix, bad & ~taken))
    return out


def control_char_mask(values: pd.Series) -> pd.Series:
    """True where a text value holds a control character (NUL, ESC, ...) or a bidirectional override."""
    return values.astype("string").str.contains(CONTROL_CHARS, regex=True).fillna(False).astype(bool)


# Columns bounded by a params/data.yaml setting: table -> {column: setting}.
BOUNDS = {
    "subscriptions": {"arr": "max_arr", "seats": "max_seats"},
    "pocs": {"arr_at_stake": "max_arr"},
    "accounts": {"employees": "max_employees"},
}
LINE_KEY = ["account_id", "department", "product"]
SAME_LINE = [*LINE_KEY, "start_date", "end_date", "arr", "seats"]


def bound_problems(
    table: str, df: pd.DataFrame, limits: dict[str, float], file: str | None, line_offset: int | None
) -> list[Problem]:
    """Values above their plausible bound (`limits`: setting -> value, e.g. max_arr) as problems naming the setting."""
    problems = []
    for column, setting in BOUNDS.get(table, {}).items():
        if column not in df.columns or setting not in limits:
            continue
        over = (pd.to_numeric(df[column], errors="coerce") > limits[setting]).fillna(False).astype(bool)
        if over.any():
            ex = tuple(
                f"{'line' if line_offset is not None else 'row'} {int(i) + (line_offset or 0)}: {column}={v}"
                for i, v in df.loc[over, column].head(3).items()
            )
            rule = f"value above the plausible bound {setting} = {limits[setting]:,.0f} (params/data.yaml)"
            problems.append(Problem(table, column, rule, int(over.sum()), ex, file))
    return problems


def _line_frame(subscriptions: pd.DataFrame) -> pd.DataFrame:
    s = subscriptions.copy()
    s["department"] = s["department"].astype("string").fillna("").str.strip()
    return s


def duplicate_line_problems(subscriptions: pd.DataFrame, file: str | None = None) -> list[Problem]:
    """Contract lines identical in account, department, product, dates, ARR and seats under different ids: an error.

    Summed, they would double the revenue; an export that repeats a line under a new id is refused.
    """
    if subscriptions.empty or not set(SAME_LINE + ["subscription_id"]) <= set(subscriptions.columns):
        return []
    s = _line_frame(subscriptions)
    dup = s.duplicated(SAME_LINE, keep=False) & s["start_date"].notna()
    if not dup.any():
        return []
    groups = s[dup].groupby(SAME_LINE, dropna=False, sort=False)["subscription_id"].agg(list)
    ex = tuple(f"subscription_id={', '.join(map(str, ids))}: the same line repeated" for ids in groups.head(3))
    rule = "exact duplicate contract lines (same account, department, product, dates, arr and seats under other ids)"
    return [Problem("subscriptions", "subscription_id", rule, int(dup.sum()), ex, file)]


def overlapping_lines(subscriptions: pd.DataFrame) -> pd.DataFrame:
    """Pairs of lines of one account, department and product whose terms overlap and do not end together.

    Add-ons bought mid-term end with the line they add to (co-terminous) and are not counted; a renewal
    that starts before the previous line ends is (it reads as an expansion and then a contraction).
    """
    if subscriptions.empty or not set(SAME_LINE + ["subscription_id"]) <= set(subscriptions.columns):
        return pd.DataFrame(columns=["subscription_id", "other_id"])
    s = _line_frame(subscriptions)[["subscription_id", *LINE_KEY, "start_date", "end_date"]]
    pairs = s.merge(s, on=LINE_KEY, suffixes=("", "_o"))
    far = pd.Timestamp.max
    ends, ends_o = pairs["end_date"].fillna(far), pairs["end_date_o"].fillna(far)
    overlap = (
        (pairs["start_date"] < pairs["start_date_o"])
        & (pairs["start_date_o"] <= ends)
        & (ends != ends_o)
        & (pairs["subscription_id"] != pairs["subscription_id_o"])
    )
    found = pairs[overlap.fillna(False)]
    return found.rename(columns={"subscription_id_o": "other_id"})[["subscription_id", "other_id"]]


def overlap_notes(subscriptions: pd.DataFrame) -> list[str]:
    """A warning for the report when lines of one account, department and product overlap (see overlapping_lines)."""
    found = overlapping_lines(subscriptions)
    if found.empty:
        return []
    ex = "; ".join(f"{a} and {b}" for a, b in found.head(3).itertuples(index=False))
    return [
        f"Warning: {len(found)} pairs of contract lines of the same account, department and product overlap without "
        f"ending together (e.g. {ex}); ARR is counted on both while they overlap. Check the renewals in the export."
    ]


def _header_key(name: object) -> str:
    return "_".join(str(name).strip().lstrip("\ufeff").replace("-", " ").split()).casefold()


def match_headers(raw: pd.DataFrame, mapping: dict[str, str], expected: list[str] | None = None) -> pd.DataFrame:
    """Headers trimmed, renamed per params, and matched to the contract's names regardless of case and spacing.

    "ARR", " Arr " and "Start Date" become arr and start_date; a header two columns would claim is left as it is.
    """
    raw = raw.rename(columns=lambda c: str(c).strip().lstrip("\ufeff"))
    raw = raw.rename(columns=mapping) if mapping else raw
    keys = [_header_key(c) for c in raw.columns]
    fix = {
        c: name
        for name in expected or []
        if name not in raw.columns and keys.count(_header_key(name)) == 1
        for c, k in zip(raw.columns, keys, strict=True)
        if k == _header_key(name)
    }
    return raw.rename(columns=fix) if fix else raw


ACTION_DAYS = 30  # a named action on a page is due within this many days of the as-of date


def action_deadline(as_of: pd.Timestamp, next_renewal: pd.Series) -> pd.Series:
    """When a named action is due: `ACTION_DAYS` after the as-of date, or the account's next renewal if sooner.

    One rule for every page's "what to do now" table (health, KPI, ROI, expansion); `next_renewal` may be all NaT.
    """
    due = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=ACTION_DAYS)
    renew = pd.to_datetime(next_renewal, errors="coerce")
    return renew.where(renew.notna() & (renew < due), due)
