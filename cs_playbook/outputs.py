"""Files a notebook hands to its readers: CSV/XLSX exports, summary.json, YAML artefacts.

Analysis functions never write files; notebooks call these, and the runner collects them.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

__all__ = ["Outputs", "to_jsonable", "excel_safe"]

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

    def table(self, df: pd.DataFrame, name: str, *, xlsx: bool = True) -> Path:
        """Export `df` as name.csv (UTF-8 with BOM, opens in Excel) and name.xlsx for CRM import."""
        safe = excel_safe(df.reset_index(drop=True))
        csv_path = self.directory / f"{name}.csv"
        _atomic_write(csv_path, lambda p: safe.to_csv(p, index=False, encoding="utf-8-sig"))
        self.exports.append(csv_path.name)
        if xlsx:
            xlsx_path = self.directory / f"{name}.xlsx"
            plain = safe.copy()
            for col in plain.columns:
                if isinstance(plain[col].dtype, pd.DatetimeTZDtype):
                    plain[col] = plain[col].dt.tz_localize(None)
            _atomic_write(xlsx_path, lambda p: plain.to_excel(p, index=False, sheet_name=name[:31], engine="openpyxl"))
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
