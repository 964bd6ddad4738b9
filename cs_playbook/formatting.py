"""Money, percent, date and yes/no formatting for sentences, tables and chart axes: one rendering of every figure.

Ground floor: analyses, notebooks, plots and the runner all import it; it imports nothing of the package.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

__all__ = [
    "CURRENCY_SYMBOLS",
    "MISSING",
    "ColumnKinds",
    "Formatter",
    "column_kinds",
    "fmt_money",
    "fmt_money_ja",
    "fmt_pct",
    "html_table",
    "is_missing",
    "md_text",
]

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
    return f"{value * 100:+,.{digits}f}%" if signed else f"{value * 100:,.{digits}f}%"


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

    def value(self, value: object, kind: str | None = None) -> str:
        """One table cell as text: by its kind (money, pct, dates, counts, yes_no), else numbers and text as read.

        A value that does not fit its kind (text in a money column) is shown as it is.
        """
        if is_missing(value):
            return MISSING
        shown = {"money": self.money, "pct": self.pct, "dates": self.date, "counts": self.count, "yes_no": self.yes_no}
        if kind in shown:
            try:
                return shown[kind](value)  # type: ignore[operator]
            except (TypeError, ValueError):
                return str(value)
        if isinstance(value, bool | np.bool_):
            return self.yes_no(value)
        if isinstance(value, float | np.floating):
            return self.count(value) if float(value).is_integer() else self.number(value)
        if isinstance(value, int | np.integer):
            return self.count(value)
        if isinstance(value, pd.Timestamp):
            return self.date(value)
        return str(value)

    def frame(self, df: pd.DataFrame, kinds: ColumnKinds) -> pd.DataFrame:
        """`df` as display text, column by column (same columns and rows); p-value columns as <0.001."""
        out = pd.DataFrame(index=df.index)
        for col in df.columns:
            kind = kinds.kind(col)
            tokens = set(str(col).lower().split("_"))
            if kind is None and ({"p", "value"} <= tokens or "pvalue" in tokens):
                out[col] = [MISSING if is_missing(v) else self.p_value(v) for v in df[col]]
            else:
                out[col] = [self.value(v, kind) for v in df[col]]
        return out


# Column names tell what a column holds when a caller does not say: tokens of the snake_case name.
_MONEY_TOKENS = {"arr", "mrr", "acv", "amount", "revenue", "cost", "price", "benefit", "savings", "spend", "whitespace"}
_MONEY_TOKENS |= {"yen", "ltv", "budget", "uplift", "investment"}
# Words that are money only in a float column (movement tables: new, expansion, contraction, churn).
_FLOAT_MONEY_TOKENS = {"value", "loss", "gain", "net", "expansion", "contraction", "churn", "new", "start", "end"}
_PCT_TOKENS = {"probability", "prob", "share", "rate", "pct", "nrr", "grr", "propensity", "p"}
_NOT_MONEY = {"score", "count", "n", "days", "months", "id", "accounts", "seats", "users", "rank", "year", "pvalue"}
_NOT_MONEY |= {"driver", "points", "signal", "measure", "metric", "weight", "coef"}
_ISO_DATE = re.compile(r"^\d{4}[-/]\d{2}[-/]\d{2}( 00:00:00)?$")


@dataclass(frozen=True)
class ColumnKinds:
    """Which columns of a table hold money, shares (shown as %), dates, counts and yes/no values."""

    money: tuple[str, ...] = ()
    pct: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    counts: tuple[str, ...] = ()
    yes_no: tuple[str, ...] = ()

    def kind(self, column: object) -> str | None:
        """ "money", "pct", "dates", "counts", "yes_no" or None (text or a plain number)."""
        for name in ("money", "pct", "dates", "counts", "yes_no"):
            if column in getattr(self, name):
                return name
        return None


def _is_date_column(s: pd.Series) -> bool:
    """Datetime dtype, or text/objects that are all dates (2026/11/01, 2026-11-01, date objects) or missing."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if s.dtype != object and not pd.api.types.is_string_dtype(s):
        return False
    values = s.dropna()
    values = values[~values.map(is_missing).astype(bool)]  # "" where a date is missing (renewals.jp_date)
    if values.empty:
        return False
    return bool(values.map(lambda v: isinstance(v, date) or (isinstance(v, str) and bool(_ISO_DATE.match(v)))).all())


def _all_bools(s: pd.Series) -> bool:
    """An object column of True/False (with missing values, so not of bool dtype)."""
    values = s.dropna()
    return s.dtype == object and not values.empty and bool(values.map(lambda v: isinstance(v, bool | np.bool_)).all())


def _guess_kind(name: str, s: pd.Series) -> str | None:
    """The kind a column's name and dtype suggest (see ColumnKinds); None when nothing fits."""
    tokens = set(str(name).lower().split("_"))
    if pd.api.types.is_bool_dtype(s) or _all_bools(s):
        return "yes_no"
    if _is_date_column(s):
        return "dates"
    if not pd.api.types.is_numeric_dtype(s):
        return None
    if "p" in tokens and "value" in tokens:
        return None  # a p-value: a plain number
    values = s.dropna().abs()
    if tokens & _PCT_TOKENS:  # a share; above ±10 it is already in percent (or points): a plain number
        return "pct" if values.empty or values.max() <= 10 else None
    money = tokens & _MONEY_TOKENS or (pd.api.types.is_float_dtype(s) and tokens & _FLOAT_MONEY_TOKENS)
    # Small fractions are a ratio or a signal's value (driver_1_value = 0.45), never money rounded to the yen.
    fractions = not values.empty and values.max() < 100 and not (values % 1 == 0).all()
    if money and not tokens & _NOT_MONEY and not fractions:
        return "money"
    if pd.api.types.is_integer_dtype(s) and not tokens & {"id", "year"}:
        return "counts"
    return None


def column_kinds(
    df: pd.DataFrame,
    *,
    money: Iterable[str] = (),
    pct: Iterable[str] = (),
    dates: Iterable[str] = (),
    counts: Iterable[str] = (),
    yes_no: Iterable[str] = (),
) -> ColumnKinds:
    """The kinds of `df`'s columns: the ones named, and for every other column the kind its name and dtype suggest.

    Names that suggest money: arr, mrr, amount, value, revenue...; shares: probability, share, rate, nrr, grr...
    (values within ±10); datetime columns and text columns of dates are dates; bools are yes/no; integers counts.
    """
    named = {
        "money": list(money),
        "pct": list(pct),
        "dates": list(dates),
        "counts": list(counts),
        "yes_no": list(yes_no),
    }
    given = {c for cols in named.values() for c in cols}
    for col in df.columns:
        if col not in given:
            guess = _guess_kind(str(col), df[col])
            if guess:
                named[guess].append(col)
    return ColumnKinds(**{k: tuple(c for c in v if c in df.columns) for k, v in named.items()})


_MISSING_TEXTS = {"", "nan", "none", "n/a", "na", "<na>", "nat", "null"}


def is_missing(value: object) -> bool:
    """True for None, NaN, NaT, pd.NA and the texts that mean missing (nan, none, n/a, empty)."""
    if isinstance(value, str):
        return value.strip().lower() in _MISSING_TEXTS
    return _missing(value)


def html_table(frame: pd.DataFrame, *, numeric: Iterable[str] = (), classes: str = "cs-table") -> str:
    """An HTML table of display text (every header and value escaped): class `classes`, numbers right-aligned.

    Number cells get class `cs-num`, text cells `cs-text` (the page's CSS gives text a readable minimum width).
    """
    numeric = set(numeric)
    head = "".join(f'<th scope="col">{html.escape(str(c))}</th>' for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False, name=None):
        cells = "".join(
            f'<td class="{"cs-num" if col in numeric else "cs-text"}">{html.escape(str(v))}</td>'
            for col, v in zip(frame.columns, values, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    return f'<table class="{html.escape(classes)}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
