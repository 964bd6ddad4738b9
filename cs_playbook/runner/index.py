"""index.html: the report's front page in the report's language, one card per notebook and the CSM books.

Each card shows the page's title, its decision figures with their change against the previous quarter, its
headline, its warnings and any failure; no run time. Everything read from summary.json is escaped.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cs_playbook.formatting import Formatter
from cs_playbook.i18n import LANGS, Messages, messages
from cs_playbook.page_style import CONTENT_SECURITY_POLICY, DECISION_CSS, FONT_STACK
from cs_playbook.runner.execute import NotebookResult
from cs_playbook.runner.html import fallback_lang

__all__ = ["index_lang", "render_index"]

_STEM = re.compile(r"^\d+_[a-z0-9_]+$")  # a notebook's file name, never a title for readers
_CSS = (
    """
body { font-family: FONTS; margin: 0 auto; padding: 1.5rem 24px 3rem; max-width: 1180px; color: #1f2328;
  box-sizing: border-box; }
h1 { margin: 0 0 .2rem; font-size: 1.6rem; } .sub { color: #555; margin-top: 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 1rem; }
.card { border: 1px solid #d0d7de; border-radius: 10px; padding: 1rem; min-width: 0; }
.card h2 { font-size: 1.1rem; margin: 0 0 .5rem; } a { color: #1a5fb4; text-decoration: none; }
a:hover { text-decoration: underline; }
.card .cs-figures { gap: 8px; } .card .cs-figure { flex: 1 1 140px; padding: 6px 10px; }
.card .cs-figure-value { font-size: 1.2rem; }
.headline { border-collapse: collapse; width: 100%; margin-top: .4rem; }
.headline th { text-align: left; font-weight: normal; color: #555; padding: 2px 8px 2px 0; }
.headline td { text-align: right; font-weight: 600; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
p.cs-headline { font-weight: 600; margin: .2rem 0 .5rem; }
.failed { color: #b00020; font-weight: 700; } .warn { color: #8a6d00; font-size: .9rem; margin-top: .5rem; }
.warn summary, .more summary, .exports summary { cursor: pointer; }
.more { font-size: .9rem; color: #555; margin-top: .4rem; }
.exports { font-size: .85rem; color: #555; overflow-wrap: anywhere; }
.books { margin-top: 2rem; } .books table { border-collapse: collapse; width: 100%; }
.books th, .books td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #e5e7eb; }
.books td.num { text-align: right; font-variant-numeric: tabular-nums; }
@page { size: A4; margin: 12mm 10mm; }
@media print { body { padding: 0; max-width: none; } .card { break-inside: avoid; }
  .grid { grid-template-columns: repeat(2, 1fr); } a { color: inherit; } }
"""
).replace("FONTS", FONT_STACK) + DECISION_CSS


def index_lang(results: list[NotebookResult], params_dir: str | Path | None = None) -> str:
    """The report's language: the one the notebooks wrote into summary.json, else the params' report.yaml's."""
    for r in results:
        lang = (r.summary or {}).get("lang")
        if lang in LANGS:
            return lang
    return fallback_lang(params_dir)


def _esc(value: object) -> str:
    return html.escape(str(value))


def _href(folder: str, relative: object) -> str | None:
    """A link to a file of a notebook's folder, or None when the name is not a plain relative path."""
    path = str(relative or "").strip()
    if not path or path.startswith(("/", "\\")) or ":" in path or ".." in path.split("/"):
        return None
    if not path.startswith(f"{folder}/"):
        path = f"{folder}/{path}"
    return html.escape(quote(path), quote=True)


def _figures(decision: Any) -> str:
    """The decision figures of a page: label, value and change (direction as class cs-good/bad/neutral)."""
    figures = decision.get("figures") if isinstance(decision, dict) else decision
    if not isinstance(figures, list):
        return ""
    parts = []
    for f in (f for f in figures if isinstance(f, dict)):
        tone = f" cs-{f['direction']}" if f.get("direction") in ("good", "bad", "neutral") else ""
        change = f'<span class="cs-figure-change{tone}">{_esc(f["change"])}</span>' if f.get("change") else ""
        parts.append(
            f'<div class="cs-figure{tone}"><span class="cs-figure-label">{_esc(f.get("label", ""))}</span>'
            f'<span class="cs-figure-value">{_esc(f.get("value", ""))}</span>{change}</div>'
        )
    return f'<div class="cs-figures">{"".join(parts)}</div>' if parts else ""


def _headline(headline: Any, shown: set[str], msg: Messages) -> str:
    """summary.json "headline": a sentence, or label -> text rows (those the figures do not already show).

    Under decision figures the rows are folded, so the first screen shows the figures of more pages.
    """
    if isinstance(headline, str) and headline.strip():
        return f'<p class="cs-headline">{_esc(headline)}</p>'
    if not isinstance(headline, dict):
        return ""
    items = [(k, v) for k, v in headline.items() if str(k) not in shown]
    if not items:
        return ""
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in items)
    table = f'<table class="headline cs-headline">{rows}</table>'
    if not shown:
        return table
    label = _esc(msg.t("report.more_figures", count=len(items)))
    return f'<details class="more"><summary>{label}</summary>{table}</details>'


def _status(r: NotebookResult, msg: Messages) -> str:
    """The card's failure line, if the notebook failed or wrote no summary."""
    if r.status != "ok":
        source = f" ({r.failed_source})" if r.failed_source else ""
        cell = r.failed_cell if r.failed_cell is not None else "?"
        text = msg.t("report.failed_at", cell=cell, source=source, error=r.error or "")
        return f'<p class="failed">{_esc(text)}</p>'
    if not r.summary:
        return f'<p class="failed">{_esc(msg.t("report.no_summary"))}</p>'
    return ""


def _card(r: NotebookResult, msg: Messages) -> str:
    """One notebook's card: title linking to its page, failure if any, decision figures, headline, notes, exports."""
    s = r.summary if isinstance(r.summary, dict) else {}
    title = s.get("title") if isinstance(s.get("title"), str) and not _STEM.match(s["title"]) else r.title
    decision = s.get("decision")
    figures = decision.get("figures") if isinstance(decision, dict) else decision
    shown = {str(f.get("label")) for f in figures if isinstance(f, dict)} if isinstance(figures, list) else set()
    warnings = [w for w in s.get("warnings") or [] if w]
    notes = (
        f'<details class="warn"><summary>{_esc(msg.t("report.notes", count=len(warnings)))}</summary><ul>'
        + "".join(f"<li>{_esc(w)}</li>" for w in warnings)
        + "</ul></details>"
        if warnings
        else ""
    )
    links = [(e, h) for e in s.get("exports") or [] if (h := _href(r.name, e))]
    exports = (
        f'<details class="exports"><summary>{_esc(msg.t("report.downloads", count=len(links)))}</summary><p>'
        + " · ".join(f'<a href="{h}">{_esc(e)}</a>' for e, h in links)
        + "</p></details>"
        if links
        else ""
    )
    page = _href(r.name, f"{r.name}.html")
    return (
        f'<section class="card"><h2><a href="{page}">{_esc(title or r.name)}</a></h2>{_status(r, msg)}'
        f"{_figures(decision)}{_headline(s.get('headline'), shown, msg)}{notes}{exports}</section>"
    )


def _books(results: list[NotebookResult], msg: Messages) -> str:
    """The CSM books section: one row per book a notebook listed in its summary.json "books"."""
    rows = []
    for r in results:
        for b in (r.summary or {}).get("books") or []:
            if not isinstance(b, dict):
                continue
            page, xlsx = _href(r.name, b.get("page")), _href(r.name, b.get("xlsx"))
            owner = _esc(b.get("owner", ""))
            owner_cell = f'<a href="{page}">{owner}</a>' if page else owner
            xlsx_cell = f'<a href="{xlsx}">{_esc(msg.t("report.books.xlsx"))}</a>' if xlsx else ""
            rows.append(
                f"<tr><td>{owner_cell}</td><td class='num'>{_esc(b.get('accounts', ''))}</td>"
                f"<td class='num'>{_esc(b.get('arr_at_risk', ''))}</td><td>{xlsx_cell}</td></tr>"
            )
    if not rows:
        return ""
    head = "".join(f"<th>{_esc(msg.t(f'report.books.{k}'))}</th>" for k in ("owner", "accounts", "arr_at_risk", "xlsx"))
    return (
        f'<section class="books" id="books"><h2>{_esc(msg.t("report.books.title"))}</h2>'
        f"<p>{_esc(msg.t('report.books.intro'))}</p><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _books_link(results: list[NotebookResult], msg: Messages) -> str:
    """A line under the title that jumps to the CSM books (they come after the cards)."""
    count = sum(len((r.summary or {}).get("books") or []) for r in results)
    if not count:
        return ""
    return f'<p class="books-link"><a href="#books">{_esc(msg.t("report.books.jump", count=count))}</a></p>'


def _banner(results: list[NotebookResult], partial: bool, msg: Messages) -> str:
    """The failure and partial-run banners."""
    failed = [r for r in results if r.status != "ok"]
    banner = (
        f'<p class="failed">{_esc(msg.t("report.failed_banner", failed=len(failed), total=len(results)))}</p>'
        if failed
        else ""
    )
    if partial:
        names = ", ".join(r.name for r in results)
        banner = f'<p class="failed partial">{_esc(msg.t("report.partial_banner", names=names))}</p>' + banner
    return banner


def render_index(
    quarter: str,
    as_of: str,
    results: list[NotebookResult],
    source: str,
    *,
    data_as_of: str | None = None,
    scorecard: str | None = None,
    partial: bool = False,
    lang: str | None = None,
) -> str:
    """index.html: one card per notebook and the CSM books; the subtitle shows the report's as-of date."""
    lang = lang if lang in LANGS else index_lang(results)
    msg, fmt = messages(lang), Formatter(lang)
    sub = msg.t("report.as_of", as_of=fmt.date(as_of))
    if data_as_of and data_as_of != as_of:
        sub += msg.t("report.data_to", date=fmt.date(data_as_of))
    if scorecard:
        sub += " · " + msg.t("report.scorecard", name=msg.code(scorecard))
    sub += " · " + msg.t("report.source", name=source)
    title = _esc(msg.t("report.title", quarter=quarter))
    cards = "".join(_card(r, msg) for r in results)
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_esc(CONTENT_SECURITY_POLICY)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_CSS}</style></head><body>
<h1>{title}</h1>
<p class="sub">{_esc(sub)}</p>
{_banner(results, partial, msg)}{_books_link(results, msg)}<div class="grid">{cards}</div>
{_books(results, msg)}
</body></html>
"""
