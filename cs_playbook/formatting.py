"""Money and percent formatting for sentences, tables and chart axes: one rendering of every figure.

Ground floor: analyses, notebooks, plots and the runner all import it; it imports nothing of the package.
"""

from __future__ import annotations

import html
import re

__all__ = ["CURRENCY_SYMBOLS", "fmt_money", "fmt_pct", "md_text"]

CURRENCY_SYMBOLS = {"JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}


# The characters that can open Markdown markup anywhere in a line (links and images need [ ], emphasis * _ ~,
# code `, tables |, headings #) are backslash-escaped (< > are HTML-escaped below, which stops raw HTML and autolinks); "://" loses its colon so a
# bare URL is never autolinked; a leading -, + or = (list item, setext heading, formula) and a leading "1." are
# escaped too. & < > are HTML-escaped, so the value is inert in HTML as well. Quotes stay as they are: the value
# is text content, never an attribute value (HTML built by hand, such as the one-pagers, uses html.escape).
_MD_SPECIALS = re.compile(r"([\\`*_{}\[\]!#|~])|:(?=//)")
_MD_LEADING = re.compile(r"^(\s*)([-+=]|\d+(?=[.)]))")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def md_text(value: object) -> str:
    """A data value (a name, a reason, a label) as inert text inside Markdown and HTML: never markup, never a link.

    Every value interpolated into `display(Markdown(...))` text or into HTML a package function returns goes
    through it: `<script>` shows as text, `[Renew now](https://...)` and `=HYPERLINK("https://...")` stay plain text.
    """
    if value is None:
        return ""
    text = _CONTROL.sub(" ", str(value))
    text = _MD_SPECIALS.sub(lambda m: "\\" + (m.group(1) or ":"), text)
    text = _MD_LEADING.sub(
        lambda m: m.group(1) + ("\\" + m.group(2) if not m.group(2).isdigit() else m.group(2) + "\\"), text
    )
    return html.escape(text, quote=False)


def fmt_money(value: float, currency: str = "JPY", *, digits: int = 1) -> str:
    """Compact money: ¥12.3M, ¥850K, $1.2B; negative values keep their sign."""
    if value is None or value != value:
        return "n/a"
    sym = CURRENCY_SYMBOLS.get(currency.upper(), currency.upper() + " ")
    sign = "-" if value < 0 else ""
    v = abs(float(value))
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if v >= div:
            return f"{sign}{sym}{v / div:.{digits}f}{unit}"
    return f"{sign}{sym}{v:,.0f}"


def fmt_pct(value: float, *, digits: int = 1, signed: bool = False) -> str:
    """A share as a percentage: 0.953 -> '95.3%'."""
    if value is None or value != value:
        return "n/a"
    return f"{value * 100:+.{digits}f}%" if signed else f"{value * 100:.{digits}f}%"
