"""index.html: the report's front page, one card per notebook with its headline figures, notes and exports."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from cs_playbook.runner.execute import NotebookResult

__all__ = ["render_index"]


def _card(r: NotebookResult) -> str:
    """One notebook's card: title linking to its page, failure if any, headline figures, notes, exports."""
    s = r.summary or {}
    title = html.escape(r.title or r.name)
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in (s.get("headline") or {}).items()
    )
    warn = "".join(f"<li>{html.escape(str(w))}</li>" for w in s.get("warnings") or [])
    exports = " · ".join(
        f'<a href="{html.escape(r.name)}/{html.escape(e)}">{html.escape(e)}</a>' for e in s.get("exports") or []
    )
    if r.status != "ok":
        status = (
            f'<p class="failed">FAILED at cell {r.failed_cell if r.failed_cell is not None else "?"}'
            f"{' (' + html.escape(r.failed_source) + ')' if r.failed_source else ''}: "
            f"{html.escape(r.error or '')}</p>"
        )
    elif not s:
        status = '<p class="failed">No summary.json was written.</p>'
    else:
        status = ""
    return (
        f'<section class="card"><h2><a href="{html.escape(r.name)}/{html.escape(r.name)}.html">{title}</a></h2>'
        f"{status}<table>{rows}</table>"
        + (
            f'<details class="warn"><summary>{len(s.get("warnings") or [])} note(s) on this analysis</summary>'
            f"<ul>{warn}</ul></details>"
            if warn
            else ""
        )
        + (f'<p class="exports">Exports: {exports}</p>' if exports else "")
        + f'<p class="meta">{r.duration_s:.0f} s</p></section>'
    )


def render_index(
    quarter: str,
    as_of: str,
    results: list[NotebookResult],
    source: str,
    *,
    data_as_of: str | None = None,
    scorecard: str | None = None,
    partial: bool = False,
) -> str:
    """index.html: one card per notebook; the subtitle shows the report's as-of date (the same on every page)."""
    cards = [_card(r) for r in results]
    failed = [r for r in results if r.status != "ok"]
    banner = (
        f'<p class="failed">{len(failed)} of {len(results)} notebooks failed: this report is incomplete.</p>'
        if failed
        else ""
    )
    if partial:
        names = ", ".join(html.escape(r.name) for r in results)
        banner = (
            f'<p class="failed partial">partial run: only {names}. '
            "This is not the complete quarterly report.</p>" + banner
        )
    data_note = f" (data to {html.escape(data_as_of)})" if data_as_of and data_as_of != as_of else ""
    scorer_note = f" · health scorecard {html.escape(scorecard)}" if scorecard else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Customer success report {html.escape(quarter)}</title>
<style>
body {{ font-family: system-ui, "Hiragino Sans", "Noto Sans JP", sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }}
h1 {{ margin-bottom: .2rem; }} .sub {{ color: #666; margin-top: 0; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 1rem; }}
.card {{ border: 1px solid #ddd; border-radius: 8px; padding: 1rem; }}
.card h2 {{ font-size: 1.1rem; margin: 0 0 .5rem; }} .card a {{ color: #1a5fb4; text-decoration: none; }}
table {{ border-collapse: collapse; width: 100%; }} th {{ text-align: left; font-weight: normal; color: #555; padding: 2px 8px 2px 0; }}
td {{ text-align: right; font-weight: 600; font-variant-numeric: tabular-nums; }}
.failed {{ color: #b00020; font-weight: 600; }} .warn {{ color: #8a6d00; font-size: .9rem; margin-top: .5rem; }}
.warn summary {{ cursor: pointer; }}
.exports, .meta {{ font-size: .85rem; color: #666; }}
@media print {{ .card {{ break-inside: avoid; }} }}
</style></head><body>
<h1>Customer success report {html.escape(quarter)}</h1>
<p class="sub">As of {html.escape(as_of)}{data_note}{scorer_note} · source {html.escape(source)} · generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>
{banner}<div class="grid">{"".join(cards)}</div>
</body></html>
"""
