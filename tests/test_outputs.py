"""Exports for CSMs: CSV with BOM and XLSX, formula-safe text, summary.json with plain JSON types."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cs_playbook.outputs import Outputs, excel_safe


def test_text_that_a_spreadsheet_would_run_gets_a_leading_quote() -> None:
    df = pd.DataFrame({"name": ["=HYPERLINK(1)", "株式会社A", "-5 seats", None], "n": [1, 2, 3, 4]})
    got = excel_safe(df)
    assert got["name"].tolist()[:3] == ["'=HYPERLINK(1)", "株式会社A", "'-5 seats"]
    assert pd.isna(got["name"].iloc[3]) and got["n"].tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize("dtype", ["string", "str", "object"])
def test_empty_text_columns_export(dtype: str, tmp_path: Path) -> None:
    # An empty list (nothing renews this quarter) is a valid export, whatever the string dtype.
    df = pd.DataFrame({"account_id": pd.Series([], dtype=dtype), "arr": pd.Series([], dtype="float64")})
    assert excel_safe(df).empty
    path = Outputs(tmp_path).table(df, "empty_list")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfaccount_id,arr")
    assert pd.read_excel(tmp_path / "empty_list.xlsx").columns.tolist() == ["account_id", "arr"]


def test_table_writes_csv_with_bom_and_xlsx_and_summary_lists_them(tmp_path: Path) -> None:
    out = Outputs(tmp_path)
    out.table(pd.DataFrame({"account_id": ["00123"], "account_name": ["株式会社テスト"]}), "targets")
    raw = (tmp_path / "targets.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "00123,株式会社テスト".encode() in raw
    assert pd.read_excel(tmp_path / "targets.xlsx", dtype=str)["account_id"].tolist() == ["00123"]
    out.summary({"figures": {"auc": np.float64(0.81), "missing": float("nan"), "n": np.int64(3)}})
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["figures"] == {"auc": 0.81, "missing": None, "n": 3}
    assert summary["exports"] == ["targets.csv", "targets.xlsx"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert all(p.stat().st_mode & 0o044 for p in tmp_path.iterdir())  # readable by the team, not owner-only
