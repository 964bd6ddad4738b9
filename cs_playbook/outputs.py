"""Files a notebook hands to its readers: CSV/XLSX exports, summary.json, YAML artefacts.

Analysis functions never write files; notebooks call these, and the runner collects them.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tempfile
import unicodedata
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cs_playbook.formatting import CURRENCY_SYMBOLS, ColumnKinds, is_missing

__all__ = ["Outputs", "to_jsonable", "excel_safe", "csv_frame", "write_xlsx", "sheet_title", "text_width"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def to_jsonable(value: Any) -> Any:
    """Plain JSON types from numpy/pandas scalars and containers; NaN and NaT become null."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if isinstance(value, pd.Series):
        return to_jsonable(value.to_dict())
    if isinstance(value, pd.DataFrame):
        return to_jsonable(value.to_dict(orient="records"))
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, pd.Period):
        return str(value)
    return value


def excel_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (=, +, -, @) get a leading quote."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_string_dtype(out[col]) or out[col].dtype == object:
            s = out[col]
            # astype(bool): on an empty string column, map() keeps the string dtype, which has no any().
            risky = s.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_PREFIXES)).astype(bool)
            if risky.any():
                out[col] = s.where(~risky, "'" + s.astype("string"))
    return out


def _to_dates(s: pd.Series) -> pd.Series:
    """A column of dates (datetimes, date objects or 2026/11/01 text) as naive datetimes; unparseable as NaT."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(s):
        return s
    return pd.to_datetime(s.map(_one_date).astype(object), errors="coerce")


def _one_date(value: Any) -> pd.Timestamp | None:
    """One date value (a date, a datetime or 2026/11/01 text) as a Timestamp; None when missing or not a date."""
    if is_missing(value):
        return None
    try:
        return pd.Timestamp(value if isinstance(value, date) else str(value).replace("/", "-"))
    except (TypeError, ValueError):
        return None


def _has_time(when: pd.Series) -> bool:
    """True when a date column holds times of day (event timestamps), not just dates."""
    values = when.dropna()
    return bool((values != values.dt.normalize()).any())


def csv_frame(df: pd.DataFrame, kinds: ColumnKinds) -> pd.DataFrame:
    """`df` as its CSV holds it: money to the unit (whole numbers), shares to 3 decimals, dates as ISO text.

    Times of day are kept when a column has any (event timestamps). Whole-number float columns (counts that held
    a NaN) become integers; other floats keep 4 decimals.
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        kind = kinds.kind(col)
        if kind == "dates":
            when = _to_dates(s)
            out[col] = when.dt.strftime("%Y-%m-%d %H:%M:%S" if _has_time(when) else "%Y-%m-%d").astype("string")
        elif not pd.api.types.is_float_dtype(s):
            continue
        elif kind == "money" or s.dropna().map(float.is_integer).all():
            out[col] = s.round(0).astype("Int64")
        elif kind == "pct":
            out[col] = s.round(3)
        else:
            out[col] = s.round(4)
    return out


def text_width(value: object) -> int:
    """Characters a cell needs in a spreadsheet column: wide (CJK) characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in str(value))


def sheet_title(name: str) -> str:
    """A valid worksheet name: without []:*?/\\ and at most 31 characters."""
    clean = re.sub(r"[\[\]:*?/\\]", " ", name).strip().strip("'") or "Sheet1"
    return clean[:31]


def _cell(value: Any) -> Any:
    """A DataFrame value as openpyxl writes it: plain Python types, None for missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_xlsx(
    df: pd.DataFrame,
    path: Path,
    *,
    headers: list[str] | None = None,
    money: tuple[str, ...] = (),
    pct: tuple[str, ...] = (),
    dates: tuple[str, ...] = (),
    counts: tuple[str, ...] = (),
    currency: str = "JPY",
    lang: str = "ja",
    sheet: str = "Sheet1",
) -> None:
    """An Excel-ready workbook of `df`: frozen header row, autofilter, fitted widths, real dates, ¥ and % formats.

    `headers` replace the column names in the header row (the report language); `money`, `pct`, `dates` and
    `counts` name columns of `df` (by its own names) that get number formats.
    """
    import xlsxwriter

    data = excel_safe(df.reset_index(drop=True))  # text that Excel would run as a formula stays text
    for col in dates:
        data[col] = _to_dates(data[col])
    symbol = CURRENCY_SYMBOLS.get(currency.upper(), currency.upper() + " ")
    formats = {c: f'"{symbol}"#,##0;-"{symbol}"#,##0' for c in money}
    formats |= {c: "0.0%" for c in pct} | {c: "#,##0" for c in counts}
    day = "yyyy/mm/dd" if lang == "ja" else "yyyy-mm-dd"
    formats |= {c: f"{day} hh:mm" if _has_time(data[c]) else day for c in dates}
    names = [str(h) for h in (headers if headers is not None else data.columns)]
    names = ["'" + h if h.startswith(FORMULA_PREFIXES) else h for h in names]
    buffer = io.BytesIO()  # written whole, then saved in one write: a full disk is an OSError naming nothing half-done
    # Text is only ever text: never a formula, a link or a number (xlsxwriter would otherwise convert it).
    wb = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "nan_inf_to_errors": True,
        },
    )
    ws = wb.add_worksheet(sheet_title(sheet))
    bold, wrap = wb.add_format({"bold": True}), wb.add_format({"text_wrap": True, "valign": "top"})
    date_default = wb.add_format({"num_format": day})
    cell_formats = []
    for i, col in enumerate(data.columns):
        shown = [formats.get(col) and _shown(v, col in money, col in pct) or v for v in data[col].head(500)]
        width = max([text_width(names[i])] + [text_width(v) for v in shown if not pd.isna(v)])
        ws.set_column(i, i, min(max(width + 2, 8), 60))
        fmt = formats.get(col)
        cell_formats.append(wb.add_format({"num_format": fmt}) if fmt else wrap if width > 58 else None)
        ws.write_string(0, i, names[i], bold)
    for r, values in enumerate(data.itertuples(index=False, name=None), start=1):
        for c, value in enumerate(values):
            _write_cell(ws, r, c, _cell(value), cell_formats[c], date_default)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, len(data), max(len(names) - 1, 0))
    wb.close()
    path.write_bytes(buffer.getvalue())


def _write_cell(ws: Any, row: int, col: int, value: Any, fmt: Any, date_format: Any) -> None:
    """One value with the type Excel should see: number, boolean, date or text (never a formula); None stays empty."""
    if value is None:
        if fmt is not None:
            ws.write_blank(row, col, None, fmt)
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, fmt)
    elif isinstance(value, datetime | date):
        ws.write_datetime(row, col, value, fmt or date_format)
    else:
        ws.write_string(row, col, str(value), fmt)


def _shown(value: Any, money: bool, pct: bool) -> str:
    """Roughly how a formatted number reads (for the column width): ¥17,017,200 or 12.3%."""
    if pd.isna(value):
        return ""
    if money:
        return f"¥{float(value):,.0f}"
    if pct:
        return f"{float(value) * 100:.1f}%"
    return "2026/11/01" if isinstance(value, pd.Timestamp | datetime | date) else f"{value:,}"


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary file in the same folder, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp creates the file readable by its owner only; exports are shared like any other file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Outputs:
    """The output folder of one notebook run: exports and its summary.json."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.exports: list[str] = []

    @property
    def display_name(self) -> str:
        """The folder as shown on a page: its name inside the report (e.g. "00_kpi_overview/"), no machine path."""
        return f"{self.directory.name}/"

    def table(
        self,
        df: pd.DataFrame,
        name: str,
        *,
        xlsx: bool = True,
        kinds: ColumnKinds | None = None,
        xlsx_df: pd.DataFrame | None = None,
        headers: list[str] | None = None,
        currency: str = "JPY",
        lang: str = "ja",
        sheet: str | None = None,
    ) -> Path:
        """Export `df` as name.csv (UTF-8 with BOM, snake_case headers, for CRM import) and an Excel-ready name.xlsx.

        `kinds` name the money, share, date and count columns (CSV rounding, XLSX formats); `xlsx_df` is the
        workbook's version of `df` (same columns, codes translated) and `headers` its header row.
        """
        kinds = kinds or ColumnKinds()
        safe = excel_safe(csv_frame(df.reset_index(drop=True), kinds))
        csv_path = self.directory / f"{name}.csv"
        _atomic_write(csv_path, lambda p: safe.to_csv(p, index=False, encoding="utf-8-sig"))
        self.exports.append(csv_path.name)
        if xlsx:
            book = excel_safe((df if xlsx_df is None else xlsx_df).reset_index(drop=True))
            options = {"money": kinds.money, "pct": kinds.pct, "dates": kinds.dates, "counts": kinds.counts}
            xlsx_path = self.directory / f"{name}.xlsx"
            _atomic_write(
                xlsx_path,
                lambda p: write_xlsx(
                    book, p, headers=headers, currency=currency, lang=lang, sheet=sheet or name, **options
                ),
            )
            self.exports.append(xlsx_path.name)
        return csv_path

    def yaml(self, data: dict[str, Any], name: str) -> Path:
        """Write a YAML artefact (e.g. a fitted scorecard) beside the exports."""
        path = self.directory / f"{name}.yaml"
        text = yaml.safe_dump(to_jsonable(data), sort_keys=False, allow_unicode=True)
        _atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
        self.exports.append(path.name)
        return path

    def text(self, content: str, name: str) -> Path:
        """Write a text artefact (e.g. an HTML one-pager) beside the exports."""
        path = self.directory / name
        _atomic_write(path, lambda p: p.write_text(content, encoding="utf-8"))
        self.exports.append(path.name)
        return path

    def summary(self, payload: dict[str, Any]) -> Path:
        """Write summary.json: the notebook's key figures, headline and warnings."""
        path = self.directory / "summary.json"
        body = dict(payload)
        body["exports"] = sorted(set(self.exports))
        text = json.dumps(to_jsonable(body), ensure_ascii=False, indent=2)
        _atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
        return path
