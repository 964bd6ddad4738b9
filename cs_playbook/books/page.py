"""A CSM's book as one HTML page and one XLSX workbook (sheets: accounts, actions), in the report's language.

The page is hand-built HTML: every value goes through `html.escape`, it loads nothing remote and runs
no script, and it uses the page shell's classes (cs-decision box with the CSM's figures at the top,
cs-table tables). File names are `owners.book_slug` stems inside the books folder, never data text.
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cs_playbook.books.owners import book_slug
from cs_playbook.formatting import Formatter, column_kinds, html_table
from cs_playbook.i18n import messages
from cs_playbook.modeling.scorecard import TierLabels
from cs_playbook.outputs import excel_safe, write_xlsx
from cs_playbook.page_style import CONTENT_SECURITY_POLICY, DECISION_CSS, FONT_STACK

__all__ = [
    "BookStyle",
    "display_frame",
    "excel_frame",
    "render_book",
    "write_workbook",
    "owner_figures",
    "write_books",
    "books_list_html",
]

CSS = (
    """
body { font-family: FONTS; color: #1f2328; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 4px 24px 48px; box-sizing: border-box; }
.cs-nav { font-size: .9rem; padding: 10px 0 2px; display: flex; gap: 18px; }
.cs-nav a { color: #1a5fb4; text-decoration: none; }
.cs-scroll { overflow-x: auto; max-width: 100%; }
table.cs-table, table.cs-actions { border-collapse: collapse; font-size: .9rem; margin: 6px 0 16px; }
.cs-table th, .cs-table td, .cs-actions th, .cs-actions td { padding: 4px 8px; border-bottom: 1px solid #e5e7eb;
  text-align: left; vertical-align: top; }
.cs-table td.cs-num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.cs-table td.cs-text { min-width: 6em; max-width: 28em; overflow-wrap: anywhere; }
@page { size: A4 landscape; margin: 10mm; }
@media print {
  .cs-nav { display: none; }
  main { max-width: none; padding: 0; }
  .cs-scroll { overflow: visible; }
  table { width: 100% !important; font-size: 7pt !important; table-layout: fixed; }
  .cs-table td.cs-num { white-space: normal; }
  .cs-table td.cs-text { min-width: 0; max-width: none; }
  .cs-table th, .cs-table td { padding: 2px 3px; overflow-wrap: anywhere; }
  .cs-decision, .cs-figure, tr { break-inside: avoid; }
}
"""
).replace("FONTS", FONT_STACK) + DECISION_CSS


@dataclass(frozen=True)
class BookStyle:
    """How a book is shown: the report's language, currency and tier labels, and the column kinds of its tables."""

    lang: str
    currency: str
    tier_labels: TierLabels
    money: tuple[str, ...] = ()
    pct: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    codes: tuple[str, ...] = ("segment", "action", "detail", "prevention_mode", "expansion_play", "next_step")

    @property
    def fmt(self) -> Formatter:
        """Money, percent, dates and yes/no in the report's language."""
        return Formatter(self.lang, self.currency)

    def t(self, key: str, **values: object) -> str:
        """The catalog's text of `key` in the report's language."""
        return messages(self.lang).t(key, **values)


def _labelled(df: pd.DataFrame, style: BookStyle) -> pd.DataFrame:
    """Tier codes as the params' labels and code columns in the report language (values stay values)."""
    out = df.copy()
    msg = messages(style.lang)
    for col in out.columns:
        if col == "health_tier" or col.startswith("tier_"):
            out[col] = style.tier_labels.apply(out[col].astype("string"))
        elif col in style.codes:
            out[col] = [msg.code(v) if isinstance(v, str) else v for v in out[col]]
    return out


def display_frame(df: pd.DataFrame, style: BookStyle) -> tuple[pd.DataFrame, list[str]]:
    """`df` as the page shows it (text cells, headers in the language) and the headers of its numeric columns."""
    msg = messages(style.lang)
    data = _labelled(df.reset_index(drop=True), style)
    kinds = column_kinds(data, money=style.money, pct=style.pct, dates=style.dates)
    shown = style.fmt.frame(data, kinds)
    headers = [msg.column(str(c)) for c in data.columns]
    numeric = [h for h, c in zip(headers, data.columns, strict=True) if kinds.kind(c) in ("money", "pct", "counts")]
    shown.columns = headers
    return shown, numeric


def excel_frame(df: pd.DataFrame, style: BookStyle) -> tuple[pd.DataFrame, list[str]]:
    """`df` for a workbook sheet: values kept (numbers, real dates), tiers and codes in words; headers in the language."""
    msg = messages(style.lang)
    return _labelled(df.reset_index(drop=True), style), [msg.column(str(c)) for c in df.columns]


def _figures_html(figures: Iterable[dict]) -> str:
    items = []
    for f in figures:
        tone = f" cs-{f['direction']}" if f.get("direction") in ("good", "bad", "neutral") else ""
        change = f.get("change")
        items.append(
            f'<li class="cs-figure{tone}"><span class="cs-figure-label">{html.escape(str(f["label"]))}</span>'
            f'<span class="cs-figure-value">{html.escape(str(f["value"]))}</span>'
            + (f'<span class="cs-figure-change">{html.escape(str(change))}</span>' if change else "")
            + "</li>"
        )
    return f'<ul class="cs-figures">{"".join(items)}</ul>'


def _table_html(df: pd.DataFrame, style: BookStyle, *, classes: str = "cs-table", empty: str = "") -> str:
    if df.empty:
        return f"<p>{html.escape(empty)}</p>"
    shown, numeric = display_frame(df, style)
    return f'<div class="cs-scroll">{html_table(shown, numeric=numeric, classes=classes)}</div>'


def render_book(
    *,
    title: str,
    heading: str,
    lead: str,
    figures: list[dict],
    actions: pd.DataFrame,
    accounts: pd.DataFrame,
    style: BookStyle,
    links: list[tuple[str, str]],
    xlsx_name: str,
) -> str:
    """The book's HTML page: navigation links, the decision box (figures, the first actions), actions, accounts.

    `links` are (href, text) pairs relative to the page (e.g. the CSM list and the report index);
    every text and value is escaped here.
    """
    e = html.escape
    nav = "".join(f'<a href="{e(href, quote=True)}">{e(text)}</a>' for href, text in links)
    top = actions.head(5).drop(columns=["account_id", "arr"], errors="ignore")  # the box names; the table below has all
    decision = (
        f'<section class="cs-decision"><h2>{e(style.t("books.page.decision"))}</h2>{_figures_html(figures)}'
        + _table_html(top, style, classes="cs-table cs-actions", empty=style.t("books.page.no_actions"))
        + "</section>"
    )
    body = (
        f'<nav class="cs-nav">{nav}</nav><h1>{e(heading)}</h1><p>{e(lead)}</p>{decision}'
        f"<h2>{e(style.t('books.page.actions'))}</h2>"
        + _table_html(actions, style, empty=style.t("books.page.no_actions"))
        + f"<h2>{e(style.t('books.page.accounts'))}</h2>"
        + _table_html(accounts, style, empty=style.t("books.page.no_accounts"))
        + f'<p><strong>{e(style.t("common.exports"))}:</strong> <a href="{e(xlsx_name, quote=True)}">'
        f"{e(xlsx_name)}</a></p>"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{e(style.lang, quote=True)}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body><main>{body}</main></body>\n</html>\n"
    )


def books_list_html(figures: pd.DataFrame, style: BookStyle, *, folder: str = "books") -> str:
    """The table of books (`summary.book_figures`) with each CSM linked to their page and workbook (escaped)."""
    e, fmt, msg = html.escape, style.fmt, messages(style.lang)
    money = ("arr", "arr_at_risk", "arr_renewing", "arr_renewing_at_risk")
    counts = ("accounts", "bad_accounts", "actions", "overdue_actions")
    head = [
        msg.column("owner"),
        *(msg.column(c) for c in counts[:2] + money + counts[2:]),
        style.t("books.list.workbook"),
    ]
    rows = []
    for _, row in figures.iterrows():
        owner = row["owner"] if isinstance(row["owner"], str) else style.t("books.unassigned")
        href = f"{folder}/{row['book']}"
        cells = [f'<td class="cs-text"><a href="{e(href, quote=True)}.html">{e(owner)}</a></td>']
        for col in counts[:2] + money + counts[2:]:
            value = fmt.money(row[col]) if col in money else fmt.count(row[col])
            cells.append(f'<td class="cs-num">{e(value)}</td>')
        cells.append(f'<td class="cs-text"><a href="{e(href, quote=True)}.xlsx">{e(row["book"])}.xlsx</a></td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    header = "".join(f'<th scope="col">{e(h)}</th>' for h in head)
    return f'<table class="cs-table"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _copy_sheet(source: Path, target: object) -> None:
    """Copy the one sheet of workbook `source` (values, formats, widths, frozen header, filter) into `target`."""
    from copy import copy

    from openpyxl import load_workbook
    from openpyxl.styles import Alignment
    from openpyxl.styles.fonts import DEFAULT_FONT

    src = load_workbook(source).active
    dst = target.create_sheet(src.title)  # type: ignore[attr-defined]
    # Each distinct style of `source` once: its number format, and its font and alignment unless the defaults
    # (a new cell has them already); copying the styles of every cell is the slow part of a workbook.
    styles: dict[int, tuple[str, object, object]] = {}
    for row in src.iter_rows():
        for cell in row:
            new = dst.cell(row=cell.row, column=cell.column, value=cell.value)
            if not cell.has_style:
                continue
            if cell.style_id not in styles:
                font, alignment = copy(cell.font), copy(cell.alignment)
                styles[cell.style_id] = (
                    cell.number_format,
                    None if font == DEFAULT_FONT else font,
                    None if alignment == Alignment() else alignment,
                )
            number_format, font, alignment = styles[cell.style_id]
            new.number_format = number_format
            if font is not None:
                new.font = font
            if alignment is not None:
                new.alignment = alignment
    for letter, dim in src.column_dimensions.items():
        dst.column_dimensions[letter].width = dim.width
    dst.freeze_panes = src.freeze_panes
    dst.auto_filter.ref = src.auto_filter.ref


def write_workbook(path: Path, sheets: list[tuple[str, pd.DataFrame]], style: BookStyle) -> Path:
    """One workbook with a sheet per (name, frame), each as `outputs.write_xlsx` formats a sheet."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, df) in enumerate(sheets):
            data, headers = excel_frame(df, style)
            data = excel_safe(data)  # text starting with =, +, -, @ stays text, never a formula
            kinds = column_kinds(data, money=style.money, pct=style.pct, dates=style.dates)
            part = Path(tmp) / f"{i}.xlsx"
            write_xlsx(
                data,
                part,
                headers=headers,
                money=kinds.money,
                pct=kinds.pct,
                dates=kinds.dates,
                counts=kinds.counts,
                currency=style.currency,
                lang=style.lang,
                sheet=name,
            )
            _copy_sheet(part, book)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def owner_figures(row: pd.Series, style: BookStyle, *, horizon_days: int) -> list[dict]:
    """The decision box of one book (a row of `summary.book_figures`): accounts, ARR at risk, renewals, actions."""
    fmt, t = style.fmt, style.t
    return [
        {
            "label": t("books.figures.accounts"),
            "value": fmt.count(row["accounts"]),
            "change": t("books.figures.bad_accounts", count=fmt.count(row["bad_accounts"])),
        },
        {"label": t("books.figures.arr"), "value": fmt.money(row["arr"])},
        {
            "label": t("books.figures.arr_at_risk"),
            "value": fmt.money(row["arr_at_risk"]),
            "direction": "bad" if row["arr_at_risk"] > 0 else None,
        },
        {
            "label": t("books.figures.arr_renewing", days=horizon_days),
            "value": fmt.money(row["arr_renewing"]),
            "change": t("books.figures.at_risk", value=fmt.money(row["arr_renewing_at_risk"])),
        },
        {
            "label": t("books.figures.actions"),
            "value": fmt.count(row["actions"]),
            "change": t("books.figures.overdue", count=fmt.count(row["overdue_actions"])),
            "direction": "bad" if row["overdue_actions"] > 0 else None,
        },
    ]


def _rows_of(df: pd.DataFrame, owner: object) -> pd.DataFrame:
    """The rows of `df` owned by `owner` (<NA>: the unassigned book), without the owner column."""
    key = df["owner"].fillna("\uffff")
    mine = key == (owner if isinstance(owner, str) else "\uffff")
    return df[mine.to_numpy()].drop(columns="owner").reset_index(drop=True)


def write_books(
    folder: Path,
    book: pd.DataFrame,
    actions: pd.DataFrame,
    figures: pd.DataFrame,
    *,
    style: BookStyle,
    quarter: str,
    as_of: pd.Timestamp,
    horizon_days: int,
    links: list[tuple[str, str]],
) -> list[Path]:
    """Write every book of `figures` (`summary.book_figures`) as <slug>.html and <slug>.xlsx into `folder`.

    The files are named by `owners.book_slug` only, so they stay inside `folder` whatever the names.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for _, row in figures.iterrows():
        owner = row["owner"] if isinstance(row["owner"], str) else None
        name = owner or style.t("books.unassigned")
        slug = book_slug(owner)
        accounts, acts = _rows_of(book, owner), _rows_of(actions, owner)
        page = render_book(
            title=style.t("books.page.title", owner=name, quarter=quarter),
            heading=style.t("books.page.heading", owner=name),
            lead=style.t("books.page.lead", quarter=quarter, as_of=style.fmt.date(as_of), days=horizon_days),
            figures=owner_figures(row, style, horizon_days=horizon_days),
            actions=acts,
            accounts=accounts,
            style=style,
            links=links,
            xlsx_name=f"{slug}.xlsx",
        )
        html_path, xlsx_path = folder / f"{slug}.html", folder / f"{slug}.xlsx"
        html_path.write_text(page, encoding="utf-8")
        sheets = [(style.t("books.sheets.accounts"), accounts), (style.t("books.sheets.actions"), acts)]
        written += [html_path, write_workbook(xlsx_path, sheets, style)]
    return written
