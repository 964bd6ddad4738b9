"""Exports for CSMs: CSV with BOM and XLSX, formula-safe text, summary.json with plain JSON types."""

from __future__ import annotations

import json
from datetime import datetime
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


def _book(path: Path):
    from openpyxl import load_workbook

    return load_workbook(path).active


def test_write_xlsx_is_excel_ready(tmp_path: Path) -> None:
    from cs_playbook.outputs import write_xlsx

    reason = "更新の意思決定者が交代し、新任の部長との面談がまだ設定されていないため、今期中に再提案が必要"
    df = pd.DataFrame(
        {
            "account_name": ["株式会社テスト", "=HYPERLINK(1)"],
            "arr": [17_017_200.0, 850_000.0],
            "churn_probability": [0.1234567, 0.5],
            "renewal_date": pd.to_datetime(["2026-11-01", "2027-01-15"]),
            "reason": [reason, "短い"],
        }
    )
    path = tmp_path / "book.xlsx"
    headers = ["アカウント名", "ARR", "解約確率", "更新日", "理由"]
    write_xlsx(
        excel_safe(df),
        path,
        headers=headers,
        money=("arr",),
        pct=("churn_probability",),
        dates=("renewal_date",),
        sheet="更新カレンダー: 2026/Q3 [案]",
    )
    ws = _book(path)
    assert ws.title == "更新カレンダー  2026 Q3  案" and len(ws.title) <= 31
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:E3"
    assert [c.value for c in ws[1]] == headers
    date_cell, money_cell, pct_cell = ws["D2"], ws["B2"], ws["C2"]
    assert isinstance(date_cell.value, datetime) and date_cell.number_format == "yyyy/mm/dd"
    assert money_cell.value == 17_017_200 and "¥" in money_cell.number_format and "#,##0" in money_cell.number_format
    assert pct_cell.number_format == "0.0%"
    assert ws["A3"].value == "'=HYPERLINK(1)"  # text, never a formula
    widths = {k: v.width for k, v in ws.column_dimensions.items()}
    assert widths["E"] > 40 and widths["A"] >= len("株式会社テスト") * 2 and widths["D"] >= 10
    assert ws["E2"].alignment.wrap_text  # the long text wraps instead of running off the sheet


def test_write_xlsx_in_english_and_dollars(tmp_path: Path) -> None:
    from cs_playbook.outputs import write_xlsx

    df = pd.DataFrame({"renewal_date": ["2026/11/01"], "arr": [1200.0]})
    write_xlsx(df, tmp_path / "b.xlsx", money=("arr",), dates=("renewal_date",), currency="USD", lang="en")
    ws = _book(tmp_path / "b.xlsx")
    assert ws["A2"].value == datetime(2026, 11, 1) and ws["A2"].number_format == "yyyy-mm-dd"  # text date read
    assert "$" in ws["B2"].number_format and [c.value for c in ws[1]] == ["renewal_date", "arr"]


def test_csv_rounds_as_shown_and_keeps_snake_case(tmp_path: Path) -> None:
    from cs_playbook.formatting import column_kinds

    df = pd.DataFrame(
        {
            "account_id": ["A1", "A2"],
            "start_arr": [17_017_200.0, np.nan],
            "churn_probability": [0.123456789012345, 0.5],
            "renewal_date": pd.to_datetime(["2026-11-01", "2027-01-15"]),
            "seats": [12.0, np.nan],
            "note": ["-5 seats", "ok"],
            "next_due": ["2026/11/20", ""],  # dates already as text, "" where missing (renewals.jp_date)
        }
    )
    Outputs(tmp_path).table(df, "list", kinds=column_kinds(df))
    text = (tmp_path / "list.csv").read_text(encoding="utf-8-sig")
    assert text.splitlines() == [
        "account_id,start_arr,churn_probability,renewal_date,seats,note,next_due",
        "A1,17017200,0.123,2026-11-01,12,'-5 seats,2026-11-20",
        "A2,,0.5,2027-01-15,,ok,",
    ]
    ws = _book(tmp_path / "list.xlsx")
    assert ws["F2"].value == "'-5 seats" and isinstance(ws["D2"].value, datetime)
    assert ws["G2"].value == datetime(2026, 11, 20) and ws["G3"].value is None


def _context(state, tmp_path: Path, lang: str = "ja", ds=None):
    from cs_playbook.modeling.scorecard import TierLabels
    from cs_playbook.notebook import Context
    from cs_playbook.params import params_dir

    return Context(
        notebook="99_test",
        ds=ds,  # finish() names the data source; the other methods read the state
        state=state,
        params_dir=params_dir(None),
        out=Outputs(tmp_path),
        tier_labels=TierLabels(good="良好", normal="普通", bad="要注意"),
        lang=lang,
    )


def _accounts(quarter_state) -> pd.DataFrame:
    acc = quarter_state.accounts.head(4)[["account_id", "account_name", "health_tier"]].reset_index(drop=True)
    return acc.assign(
        segment=["mid_market", "smb", "enterprise", None],
        arr=[17_017_200.0, 850_000.0, np.nan, 1.0],
        churn_probability=[0.123456, 0.5, np.nan, 0.0],
        renewal_date=pd.to_datetime(["2026-11-01", None, "2027-01-15", "2027-02-01"]),
        auto_renew=[True, False, None, True],
    )


def test_context_export_writes_codes_in_csv_and_the_language_in_xlsx(quarter_state, tmp_path: Path) -> None:
    ctx = _context(quarter_state, tmp_path)
    ctx.export(_accounts(quarter_state), "renewal_list")
    csv = pd.read_csv(tmp_path / "renewal_list.csv", encoding="utf-8-sig", dtype=str)
    assert csv.columns.tolist()[:4] == ["account_id", "account_name", "health_tier", "segment"]
    assert csv["segment"].tolist()[:3] == ["mid_market", "smb", "enterprise"] and csv["arr"].iloc[0] == "17017200"
    assert set(csv["health_tier"].dropna()) <= {"良好", "普通", "要注意"}
    ws = _book(tmp_path / "renewal_list.xlsx")
    header = [c.value for c in ws[1]]
    assert header[:5] == ["アカウントID", "アカウント名", "ヘルスティア", "セグメント", "ARR"]
    assert [ws.cell(row=r, column=4).value for r in (2, 3)] == ["ミッドマーケット", "SMB"]
    assert ws.cell(row=2, column=5).number_format.count("¥") >= 1
    assert isinstance(ws.cell(row=2, column=7).value, datetime)
    assert ws.cell(row=3, column=8).value == "いいえ"
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref
    assert ctx.exports_text() == (
        "**ダウンロード:** [renewal\\_list.csv](renewal_list.csv) · [renewal\\_list.xlsx](renewal_list.xlsx)"
    )


def test_context_table_frame_shows_labels_and_formats(quarter_state, tmp_path: Path) -> None:
    shown = _context(quarter_state, tmp_path).table_frame(_accounts(quarter_state))
    assert shown.columns.tolist() == [
        "アカウントID",
        "アカウント名",
        "ヘルスティア",
        "セグメント",
        "ARR",
        "解約確率",
        "更新日",
        "自動更新",
    ]
    assert shown["セグメント"].tolist() == ["ミッドマーケット", "SMB", "エンタープライズ", "—"]
    assert shown["ARR"].tolist() == ["1,702万円", "85万円", "—", "¥1"]
    assert shown["解約確率"].tolist() == ["12.3%", "50.0%", "—", "0.0%"]
    assert shown["更新日"].tolist() == ["2026/11/01", "—", "2027/01/15", "2027/02/01"]
    assert shown["自動更新"].tolist() == ["はい", "いいえ", "—", "はい"]
    assert set(shown["ヘルスティア"]) <= {"良好", "普通", "要注意", "—"}
    en = _context(quarter_state, tmp_path, lang="en").table_frame(_accounts(quarter_state), max_rows=2)
    assert len(en) == 2 and en["Segment"].tolist() == ["Mid-market", "SMB"] and en["ARR"].iloc[0] == "¥17.0M"


def test_decision_box_is_escaped_and_kept_for_summary(quarter_state, demo_ds, tmp_path: Path) -> None:
    import dataclasses

    ctx = _context(dataclasses.replace(quarter_state, previous=None), tmp_path, ds=demo_ds)
    shown: list[str] = []
    import cs_playbook.notebook as notebook

    original = notebook._show_html
    notebook._show_html = shown.append
    try:
        figure = ctx.figure("<b>ARR</b>", "12.3億円", change="▲ +1,200万円", direction="good")
        actions = pd.DataFrame({"account_name": ["<img src=x onerror=alert(1)>"], "owner": ["鈴木"]})
        ctx.decision([figure], actions, checks={"arr_bridge_closes": True, "tiers_cover_accounts": False})
        line = ctx.checks_line({"a": True, "b": True})
    finally:
        notebook._show_html = original
    box = shown[0]
    assert box.startswith('<div class="cs-decision">') and '<div class="cs-figure cs-good">' in box
    assert "&lt;b&gt;ARR&lt;/b&gt;" in box and "<img" not in box and "&lt;img src=x" in box
    assert "前四半期のデータはありません" in box and 'class="cs-table cs-actions"' in box
    assert '<p class="cs-checks cs-checks-failed">' in box and "Tiers cover accounts" in box
    assert line == "整合性チェック: 2件すべて合格" and 'class="cs-checks cs-checks-ok"' in shown[1]
    path = ctx.finish(headline={"ARR": "12.3億円"}, figures={}, title="common.appendix")
    summary = json.loads(path.read_text(encoding="utf-8"))
    assert summary["title"] == "分析方法と詳細" and summary["lang"] == "ja"
    assert summary["decision"]["figures"][0]["value"] == "12.3億円"
    assert summary["decision"]["actions"] == [{"アカウント名": "<img src=x onerror=alert(1)>", "担当CSM": "鈴木"}]


def test_section_shows_heading_and_intro_with_inert_values(
    quarter_state, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cs_playbook.i18n as i18n
    import cs_playbook.notebook as notebook

    extra = {
        "zz.calendar.title": {"ja": "{quarter}の更新カレンダー", "en": "Renewals in {quarter}"},
        "zz.calendar.intro": {"ja": "{name}の更新です。", "en": "Renewals of {name}."},
        "zz.plain": {"ja": "詳細", "en": "Detail"},
    }
    merged = {**i18n.catalog(), **extra}
    monkeypatch.setattr(i18n, "catalog", lambda: merged)
    shown: list[str] = []
    monkeypatch.setattr(notebook, "_show_markdown", shown.append)
    ctx = _context(quarter_state, tmp_path)
    ctx.section("zz.calendar", name="[Renew now](https://x.example)")
    ctx.section("zz.plain", level=3)
    assert shown[0].startswith(f"## {quarter_state.quarter}の更新カレンダー\n\n")
    assert "\\[Renew now\\](https\\://x.example)" in shown[0]  # a data value is never a link
    assert shown[1] == "### 詳細"


def test_table_shows_a_page_table_and_how_many_rows_in_all(
    quarter_state, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cs_playbook.notebook as notebook

    shown: list[str] = []
    monkeypatch.setattr(notebook, "_show_html", shown.append)
    ctx = _context(quarter_state, tmp_path)
    ctx.table(_accounts(quarter_state), max_rows=2)
    page = shown[0]
    assert page.startswith('<table class="cs-table">') and page.count("<tr>") == 3  # header and two rows
    assert '<td class="cs-num">1,702万円</td>' in page and '<th scope="col">解約確率</th>' in page
    assert page.endswith('<p class="cs-table-note">全4件中 先頭2件を表示</p>')
    for word in ("True", "False", "nan", "None", "mid_market", "account_id"):
        assert word not in page


def test_previous_is_the_states_previous_quarter(quarter_state, tmp_path: Path) -> None:
    import dataclasses

    ctx = _context(quarter_state, tmp_path)
    assert ctx.previous is quarter_state.previous
    assert _context(dataclasses.replace(quarter_state, previous=None), tmp_path).previous is None


def test_event_times_are_kept_and_a_code_named_none_is_a_code(
    quarter_state, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cs_playbook.i18n as i18n

    merged = {**i18n.catalog(), "zz.codes.none": {"ja": "なし", "en": "None"}}
    monkeypatch.setattr(i18n, "catalog", lambda: merged)
    i18n.clear_caches()
    try:
        df = pd.DataFrame(
            {
                "occurred_at": pd.to_datetime(["2026-09-27 13:14:44", "2026-09-28 00:00:00"]),
                "zz_flag": ["none", None],
            }
        )
        ctx = _context(quarter_state, tmp_path)
        ctx.area = "zz"  # the page's own area comes before another area's "none"
        assert ctx.table_frame(df)["Zz flag"].tolist() == ["なし", "—"]
        ctx.export(df, "events")
    finally:
        i18n.clear_caches()
    lines = (tmp_path / "events.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[1:] == ["2026-09-27 13:14:44,none", "2026-09-28 00:00:00,"]
    ws = _book(tmp_path / "events.xlsx")
    assert ws["A2"].number_format == "yyyy/mm/dd hh:mm" and ws["B2"].value == "なし"


def test_write_xlsx_never_writes_a_formula_from_data_or_headers(tmp_path: Path) -> None:
    from cs_playbook.outputs import write_xlsx

    df = pd.DataFrame({"=cmd|' /C calc'!A0": ["=1+1", "@SUM(A1)", "ok"]})
    write_xlsx(df, tmp_path / "x.xlsx")
    ws = _book(tmp_path / "x.xlsx")
    cells = [c for row in ws.iter_rows() for c in row]
    assert all(c.data_type == "s" for c in cells)
    assert [c.value for c in cells] == ["'=cmd|' /C calc'!A0", "'=1+1", "'@SUM(A1)", "ok"]


def test_warning_label_is_in_the_language_and_the_message_stays_inert(
    quarter_state, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cs_playbook.notebook as notebook

    shown: list[str] = []
    monkeypatch.setattr(notebook, "_show_markdown", shown.append)
    ctx = _context(quarter_state, tmp_path)
    ctx.warn("account <b>[x](https://e.example)</b> has no owner")
    ctx.warn("account <b>[x](https://e.example)</b> has no owner")  # recorded once
    assert shown[0] == "> **注意:** account &lt;b&gt;\\[x\\](https\\://e.example)&lt;/b&gt; has no owner"
    assert ctx.warnings == ["account <b>[x](https://e.example)</b> has no owner"]
