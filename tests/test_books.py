"""Books per CSM: every account in exactly one book, actions of the next 30 days, safe pages and workbooks."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from cs_playbook.books import inputs, owners, page, summary, table
from cs_playbook.config import PARAMS_DIR
from cs_playbook.expansion.outcomes import ExpansionParams
from cs_playbook.health.calibration import HealthParams
from cs_playbook.params import UsageParams, load_params
from cs_playbook.poc.criteria import PocParams
from cs_playbook.renewals.calendar import RenewalParams
from cs_playbook.state import build_state

HOSTILE = ["../x", "<script>alert(1)</script>", "a/b\\c", "..", "名前/../../etc"]


@pytest.fixture(scope="module")
def state(demo_ds):
    return build_state(demo_ds, quarter="2026Q3", params_dir=PARAMS_DIR, with_previous=False)


@pytest.fixture(scope="module")
def found(demo_ds, state) -> inputs.BookInputs:
    def p(name, model):
        return load_params(name, model, directory=PARAMS_DIR, source=demo_ds.source)

    return inputs.book_inputs(
        demo_ds,
        state,
        rp=p("renewals", RenewalParams),
        hp=p("health_score", HealthParams),
        xp=p("expansion", ExpansionParams),
        pp=p("poc", PocParams),
        usage_params=p("usage_metrics", UsageParams),
    )


@pytest.fixture(scope="module")
def style(demo_ds) -> page.BookStyle:
    labels = load_params("health_score", HealthParams, directory=PARAMS_DIR, source=demo_ds.source).tier_labels
    return page.BookStyle("ja", "JPY", labels)


def test_every_account_of_the_state_is_in_exactly_one_book(state, found) -> None:
    book = table.book_accounts(state.accounts, found)
    assert book["account_id"].is_unique and set(book["account_id"]) == set(state.accounts["account_id"])
    assert list(book.columns) == table.ACCOUNT_COLUMNS
    owners_now = state.accounts.set_index("account_id")["csm"]
    assert book["owner"].isna().sum() == owners_now.isna().sum() > 0  # the demo has unassigned accounts
    actions = table.book_actions(book, found, as_of=state.as_of)
    figures = summary.book_figures(book, actions)
    assert len(figures) == book["owner"].nunique() + 1 and figures["owner"].iloc[-1] is pd.NA
    assert summary.consistency_checks(book, actions, figures, state.accounts) == dict.fromkeys(
        summary.consistency_checks(book, actions, figures, state.accounts), True
    )
    assert not summary.consistency_checks(book.iloc[1:], actions, figures, state.accounts)[
        "every_account_in_exactly_one_book"
    ]


def test_a_book_quotes_the_state_and_the_renewal_calendar(state, found) -> None:
    book = table.book_accounts(state.accounts, found).set_index("account_id")
    acc = state.accounts.set_index("account_id")
    pd.testing.assert_series_equal(book["arr_at_risk"].sort_index(), acc["arr_at_risk"].sort_index())
    renewing = book[book["next_renewal"].notna()]
    cal = found.calendar.sort_values("renewal_date").drop_duplicates("account_id").set_index("account_id")
    assert (renewing["decision_deadline"] == cal.loc[renewing.index, "decision_deadline"]).all()
    assert (renewing["decision_deadline"] < renewing["next_renewal"]).all()
    played = book[book["expansion_play"].notna()]
    guarded = set(found.targets.loc[found.targets["guarded"].astype(bool), "account_id"])
    assert len(played) > 0 and not guarded & set(played.index)


def test_placeholder_owners_share_the_unassigned_book(state, found) -> None:
    accounts = state.accounts.copy()
    accounts.loc[accounts.index[:3], "csm"] = ["unassigned", " - ", "未割当"]
    book = table.book_accounts(accounts, found)
    assert book.set_index("account_id").loc[accounts["account_id"].iloc[:3], "owner"].isna().all()
    assert owners.book_slug(None) == owners.book_slug(pd.NA) == "unassigned"


def test_actions_fall_in_the_next_30_days_and_belong_to_their_books(state, found) -> None:
    book = table.book_accounts(state.accounts, found)
    actions = table.book_actions(book, found, as_of=state.as_of)
    assert set(actions["action"]) <= set(table.ACTION_CODES) and len(actions) > 0
    dated = actions[actions["due"].notna()]
    assert (dated["due"] <= state.as_of + pd.Timedelta(days=30)).all()
    assert (dated["overdue"] == (dated["due"] < state.as_of)).all()
    deadlines = dated[dated["action"] == "decision_deadline"]
    assert (deadlines["due"] >= state.as_of).all() and not deadlines.duplicated(["account_id", "due"]).any()
    owner_of = book.set_index("account_id")["owner"]
    assert (actions["owner"].fillna("") == owner_of.loc[actions["account_id"]].fillna("").to_numpy()).all()
    top = table.first_actions(actions, unassigned="Unassigned")
    assert len(top) == 5 and top["due"].is_monotonic_increasing and top["owner"].notna().all()


@pytest.mark.parametrize("name", HOSTILE)
def test_a_book_slug_is_a_safe_file_name(name: str) -> None:
    slug = owners.book_slug(name)
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", slug) and slug != "unassigned"
    assert len({owners.book_slug(n) for n in HOSTILE}) == len(HOSTILE)


def test_a_hostile_csm_name_stays_inside_the_folder_and_is_escaped(state, found, style, tmp_path: Path) -> None:
    accounts = state.accounts.copy()
    named = accounts["csm"].notna()
    first = accounts.loc[named, "csm"].iloc[0]
    accounts["csm"] = accounts["csm"].replace({first: "<script>alert(1)</script>../../x"})
    accounts.loc[accounts["csm"] == "<script>alert(1)</script>../../x", "account_name"] = (
        '=HYPERLINK("https://evil.example")'
    )
    book = table.book_accounts(accounts, found)
    actions = table.book_actions(book, found, as_of=state.as_of)
    figures = summary.book_figures(book, actions)
    folder = tmp_path / "out" / "books"
    written = page.write_books(
        folder,
        book,
        actions,
        figures,
        style=style,
        quarter=state.quarter,
        as_of=state.as_of,
        horizon_days=state.renewal_horizon_days,
        links=[("../page.html", "list"), ("../../index.html", "index")],
    )
    assert len(written) == 2 * len(figures)
    assert all(p.parent == folder for p in written) and sorted(tmp_path.rglob("*.*")) == sorted(written)
    hostile = folder / f"{owners.book_slug('<script>alert(1)</script>../../x')}.html"
    text = hostile.read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;../../x" in text
    assert '<html lang="ja">' in text and "<title>&lt;script&gt;" in text
    assert 'href="../../index.html"' in text and 'class="cs-decision"' in text and 'class="cs-table' in text
    sheet = load_workbook(hostile.with_suffix(".xlsx"))["アカウント"]
    names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert names and all(n == '\'=HYPERLINK("https://evil.example")' for n in names)  # text, not a formula
    unassigned = (folder / "unassigned.html").read_text(encoding="utf-8")
    assert "担当者未割当" in unassigned


def test_a_book_page_and_workbook_are_in_the_report_language(state, found, style, tmp_path: Path) -> None:
    book = table.book_accounts(state.accounts, found)
    actions = table.book_actions(book, found, as_of=state.as_of)
    figures = summary.book_figures(book, actions)
    one = figures.iloc[[0]]
    page.write_books(
        tmp_path,
        book,
        actions,
        one,
        style=style,
        quarter=state.quarter,
        as_of=state.as_of,
        horizon_days=state.renewal_horizon_days,
        links=[("../../index.html", "index")],
    )
    slug = one["book"].iloc[0]
    text = (tmp_path / f"{slug}.html").read_text(encoding="utf-8")
    assert '<th scope="col">自動更新判断期限</th>' in text and "_" not in re.sub(
        r"<[^>]+>", "", text.split("<body>")[1]
    )
    wb = load_workbook(tmp_path / f"{slug}.xlsx")
    assert wb.sheetnames == ["アカウント", "アクション"]
    sheet = wb["アカウント"]
    headers = [c.value for c in sheet[1]]
    assert headers[:3] == ["アカウントID", "アカウント名", "セグメント"] and sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref and sheet.max_row == one["accounts"].iloc[0] + 1
    arr = headers.index("ARR") + 1
    assert "¥" in sheet.cell(row=2, column=arr).number_format
    listing = page.books_list_html(figures, replace(style, lang="en"))
    assert listing.count('href="books/') == 2 * len(figures) and "Unassigned" in listing


def test_a_workbook_sheet_keeps_every_value_format_font_and_alignment_of_its_source(tmp_path: Path) -> None:
    from copy import copy

    from openpyxl import Workbook

    from cs_playbook.outputs import write_xlsx

    df = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3"],
            "arr": [1200000.0, None, 35.5],
            "share": [0.25, 0.5, None],
            "renewal_date": pd.to_datetime(["2026-10-01", None, "2027-01-31"]),
            "why": ["x" * 80, "short", None],  # wider than a column may be: wrapped
        }
    )
    source = tmp_path / "one.xlsx"
    write_xlsx(df, source, money=("arr",), pct=("share",), dates=("renewal_date",), sheet="アカウント")
    target = Workbook()
    page._copy_sheet(source, target)
    src, dst = load_workbook(source).active, target["アカウント"]
    assert dst.max_row == src.max_row == 4 and dst.max_column == src.max_column == 5
    for row in src.iter_rows():
        for cell in row:
            new = dst.cell(row=cell.row, column=cell.column)
            assert (new.value, new.number_format) == (cell.value, cell.number_format)
            assert (copy(new.font), copy(new.alignment)) == (copy(cell.font), copy(cell.alignment))
    assert dst["A1"].font.b and dst["E2"].alignment.wrap_text and "¥" in dst["B2"].number_format
    assert {k: d.width for k, d in dst.column_dimensions.items()} == {
        k: d.width for k, d in src.column_dimensions.items()
    }
    assert (dst.freeze_panes, dst.auto_filter.ref) == (src.freeze_panes, src.auto_filter.ref)
