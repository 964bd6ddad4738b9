"""Money and percent formatting for sentences, tables and chart axes: one rendering of every figure.

Ground floor: analyses, notebooks, plots and the runner all import it; it imports nothing of the package.
"""

from __future__ import annotations

import html
import re

import pandas as pd

__all__ = ["CURRENCY_SYMBOLS", "MISSING", "Formatter", "fmt_money", "fmt_money_ja", "fmt_pct", "md_text"]

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


MISSING = "—"  # the one missing-value marker of pages and XLSX exports


def _missing(value: object) -> bool:
    """True for None, NaN, NaT and pd.NA: the values shown as the one missing marker."""
    if value is None or value is pd.NA:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def fmt_money_ja(value: float, currency: str = "JPY", *, digits: int = 1) -> str:
    """Money for Japanese readers: yen in 億円 / 万円 (1.2億円, 3,450万円, ¥8,500); other currencies as fmt_money."""
    if _missing(value):
        return MISSING
    if currency.upper() != "JPY":
        return fmt_money(value, currency, digits=digits)
    sign = "-" if value < 0 else ""
    v = abs(float(value))
    if v >= 1e8:
        return f"{sign}{v / 1e8:,.{digits}f}億円"
    if v >= 1e4:
        return f"{sign}{v / 1e4:,.0f}万円"
    return f"{sign}¥{v:,.0f}"


class Formatter:
    """Every figure of a page in the report's language: money, percent, counts, dates, yes/no, one missing marker."""

    def __init__(self, lang: str = "en", currency: str = "JPY") -> None:
        self.lang = lang
        self.currency = currency

    def money(self, value: float, *, digits: int = 1) -> str:
        """Compact money: 1.2億円 / 3,450万円 (ja, yen) or ¥12.3M (en)."""
        if _missing(value):
            return MISSING
        if self.lang == "ja":
            return fmt_money_ja(value, self.currency, digits=digits)
        return fmt_money(value, self.currency, digits=digits)

    def money_exact(self, value: float) -> str:
        """Money to the unit: ¥11,770,200."""
        if _missing(value):
            return MISSING
        sym = CURRENCY_SYMBOLS.get(self.currency.upper(), self.currency.upper() + " ")
        sign = "-" if value < 0 else ""
        return f"{sign}{sym}{abs(float(value)):,.0f}"

    def pct(self, value: float, *, digits: int = 1, signed: bool = False) -> str:
        """A share as a percentage: 0.953 -> 95.3%."""
        if _missing(value):
            return MISSING
        return fmt_pct(value, digits=digits, signed=signed)

    def points(self, value: float, *, digits: int = 1) -> str:
        """A change of a percentage in points: 0.012 -> +1.2pt (ja) / +1.2 pp (en)."""
        if _missing(value):
            return MISSING
        unit = "pt" if self.lang == "ja" else " pp"
        return f"{value * 100:+.{digits}f}{unit}"

    def count(self, value: float) -> str:
        """A whole count with separators: 1,234."""
        if _missing(value):
            return MISSING
        return f"{float(value):,.0f}"

    def number(self, value: float, *, digits: int = 2) -> str:
        """A plain number with `digits` decimals."""
        if _missing(value):
            return MISSING
        return f"{float(value):,.{digits}f}"

    def date(self, value: object) -> str:
        """A date: 2026/11/01 (ja) or 2026-11-01 (en)."""
        if _missing(value):
            return MISSING
        ts = pd.Timestamp(value)
        return ts.strftime("%Y/%m/%d" if self.lang == "ja" else "%Y-%m-%d")

    def yes_no(self, value: object) -> str:
        """はい/いいえ or Yes/No."""
        if _missing(value):
            return MISSING
        if self.lang == "ja":
            return "はい" if bool(value) else "いいえ"
        return "Yes" if bool(value) else "No"

    def p_value(self, value: float) -> str:
        """A p-value a business reader can read: "<0.001" instead of 1.87e-100."""
        if _missing(value):
            return MISSING
        return "<0.001" if value < 0.001 else f"{value:.3f}"

    def delta(self, value: float, kind: str = "money") -> str:
        """A change with its arrow: ▲ +1.2億円, ▼ -0.8pt, → 0 (kind: money, pct_points, count, pct)."""
        if _missing(value):
            return MISSING
        arrow = "▲" if value > 0 else "▼" if value < 0 else "→"
        if kind == "money":
            body = self.money(abs(value))
        elif kind == "pct_points":
            body = self.points(abs(value)).lstrip("+")
        elif kind == "pct":
            body = self.pct(abs(value))
        else:
            body = self.count(abs(value))
        sign = "+" if value > 0 else "-" if value < 0 else "±"
        return f"{arrow} {sign}{body}"
