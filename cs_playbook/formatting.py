"""Money and percent formatting for sentences, tables and chart axes: one rendering of every figure.

Ground floor: analyses, notebooks, plots and the runner all import it; it imports nothing of the package.
"""

from __future__ import annotations

__all__ = ["CURRENCY_SYMBOLS", "fmt_money", "fmt_pct"]

CURRENCY_SYMBOLS = {"JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}


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
