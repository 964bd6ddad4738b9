"""The report's look shared by every page it writes: font stack, decision-box CSS and the Content-Security-Policy.

Ground floor: the runner's page shell and index, and the CSM books' pages (written by an analysis-level package
that may not import the runner) all read these, so a page looks and is locked down the same wherever it is built.
"""

from __future__ import annotations

__all__ = ["CONTENT_SECURITY_POLICY", "DECISION_CSS", "FONT_STACK"]

# The page may load nothing from anywhere: images are inline PNGs, styles are the page's own, no script runs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; script-src 'none'; "
    "connect-src 'none'; frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
)
# Installed Japanese fonts first (Noto CJK on Linux, Hiragino on macOS, Yu Gothic / Meiryo on Windows), so Japanese
# text is never drawn as boxes; their Latin glyphs serve English pages too.
FONT_STACK = (
    '"Noto Sans CJK JP", "Noto Sans JP", "Hiragino Sans", "Hiragino Kaku Gothic ProN", "Yu Gothic", YuGothic, '
    '"Meiryo", system-ui, sans-serif'
)
# The decision box (ctx.decision) and the index cards share these classes.
DECISION_CSS = """
.cs-decision { border: 2px solid #1a5fb4; border-radius: 10px; padding: 12px 18px; margin: 12px 0 20px;
  background: #f5f8fd; }
.cs-decision h2, .cs-decision h3 { margin-top: 0; }
.cs-figures { display: flex; flex-wrap: wrap; gap: 10px; margin: 0 0 10px; padding: 0; list-style: none; }
.cs-figure { flex: 1 1 170px; max-width: 340px; background: #fff; border: 1px solid #d6deea; border-radius: 8px;
  padding: 8px 12px; box-sizing: border-box; }
.cs-figure-label { display: block; font-size: .85rem; color: #4b5563; }
.cs-figure-value { display: block; font-size: 1.4rem; font-weight: 700; font-variant-numeric: tabular-nums;
  color: #111827; overflow-wrap: anywhere; }
.cs-figure-change { display: block; font-size: .9rem; color: #4b5563; font-variant-numeric: tabular-nums; }
.cs-good .cs-figure-change, .cs-figure-change.cs-good, .cs-good:not(.cs-figure) { color: #1a7f37; }
.cs-bad .cs-figure-change, .cs-figure-change.cs-bad, .cs-bad:not(.cs-figure) { color: #b00020; }
.cs-neutral .cs-figure-change, .cs-figure-change.cs-neutral { color: #4b5563; }
.cs-good { border-left: 4px solid #1a7f37; } .cs-bad { border-left: 4px solid #b00020; }
.cs-figure-change.cs-good, .cs-figure-change.cs-bad, .cs-good:not(.cs-figure), .cs-bad:not(.cs-figure) {
  border-left: none; }
table.cs-actions, .cs-actions table { width: 100%; border-collapse: collapse; margin: 6px 0; }
.cs-actions th, .cs-actions td { text-align: left !important; padding: 4px 8px; border-bottom: 1px solid #e5e7eb; }
.cs-checks { margin: 6px 0; font-size: .95rem; }
.cs-checks-ok { color: #1a7f37; }
.cs-checks-failed { color: #b00020; font-weight: 700; }
"""
