"""Quarter arithmetic: labels like 2026Q3, their first and last day, the last complete quarter.

Ground floor: the data layer, the analyses and the runner import it; it imports only errors.
"""

from __future__ import annotations

import re

import pandas as pd

from cs_playbook.errors import ParamsError

__all__ = ["quarter_label", "quarter_bounds", "last_complete_quarter"]

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def quarter_label(month: pd.Series) -> pd.Series:
    """'2026Q3' for each month."""
    m = pd.DatetimeIndex(month)
    return pd.Series([f"{y}Q{q}" for y, q in zip(m.year, m.quarter, strict=True)], index=getattr(month, "index", None))


def quarter_bounds(quarter: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of a quarter like '2026Q3'."""
    match = _QUARTER.match(str(quarter).strip().upper())
    if not match:
        raise ParamsError(f"Quarter {quarter!r} is not of the form YYYYQn, e.g. 2026Q3 (n from 1 to 4).")
    year, q = int(match.group(1)), int(match.group(2))
    start = pd.Timestamp(year=year, month=3 * q - 2, day=1)
    return start, start + pd.offsets.QuarterEnd(0)


def last_complete_quarter(as_of: pd.Timestamp) -> str:
    """The last quarter whose last day is on or before `as_of`."""
    as_of = pd.Timestamp(as_of).normalize()
    q_end = as_of + pd.offsets.QuarterEnd(0)
    if q_end != as_of:
        q_end = q_end - pd.offsets.QuarterEnd(1)
    return f"{q_end.year}Q{q_end.quarter}"
