"""Business days: a holiday calendar (any country the `holidays` package knows) and exact date arithmetic.

Renewal deadlines are counted in business days ("20 business days before the renewal" [000]).
A business day is a day that is not a weekend day, not a public holiday of the chosen country
(and subdivision), and not a company closing day (Japanese companies typically close from
12/29 to 1/3 for 年末年始; that is the default for JP only). The country defaults to the one of the
accounts' regions when they are uniform (`fit_calendar`): Japanese prefectures or regions give JP,
US states or regions give US; otherwise no public holidays are used and a warning says so. All arithmetic is vectorised with numpy's
business-day functions, so thousands of contract lines take milliseconds.

Conventions (tested against hand-counted Japanese calendars):
- `business_days_before(d, n)` is the business day D with exactly n business days in [D, d):
  the renewal day itself is not counted, and a renewal on a holiday counts back from the
  last business day before it.
- `business_days_between(a, b)` counts business days in [a, b) (negative when b < a).
- `roll_back` / `roll_forward` move a non-business day to the previous / next business day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Literal

import holidays
import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from cs_playbook.errors import CsPlaybookError
from cs_playbook.params import StrictModel

__all__ = [
    "CalendarParams",
    "BusinessCalendar",
    "fit_calendar",
    "region_country",
    "business_calendar",
    "business_days_before",
    "business_days_after",
    "business_days_between",
    "roll_back",
    "roll_forward",
    "is_business_day",
    "closed_days",
    "jp_date",
]

CLOSED_NAME = "休業日 (company closed)"
JP_WEEKDAYS = "月火水木金土日"
JP_YEAR_END = ("12-29", "12-30", "12-31", "01-01", "01-02", "01-03")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
DateLike = pd.Series | pd.DatetimeIndex | np.ndarray | list | pd.Timestamp | date | str


class CalendarParams(StrictModel):
    """The business-day calendar: country holidays, weekend days and company closing days."""

    # ISO code known to the `holidays` package (JP, US, GB, DE, ...); empty: by the accounts' region (fit_calendar)
    country: str = ""
    subdivision: str | None = None  # state / prefecture code where the country has regional holidays
    weekend: list[Weekday] = Field(default_factory=lambda: ["Sat", "Sun"])
    closed_every_year: list[str] | None = None  # MM-DD closing days every year; empty: 年末年始 12/29-1/3 for JP only
    closed_dates: list[date] = Field(default_factory=list)  # one-off closing days (e.g. a company holiday)
    holiday_language: str | None = None  # language of holiday names where the package has it; empty: ja for JP

    @field_validator("country", mode="before")
    @classmethod
    def _known_country(cls, v: str | None) -> str:
        code = str(v or "").strip().upper()
        if not code:
            return ""
        supported = holidays.list_supported_countries()
        if code not in supported:
            examples = ", ".join(c for c in ("JP", "US", "GB", "DE", "FR", "KR", "SG", "AU") if c in supported)
            raise ValueError(f"unknown country {v!r}: use an ISO code the holidays package knows, e.g. {examples}")
        return code

    @property
    def closing_days(self) -> list[str]:
        """The MM-DD closing days every year: those given, else 年末年始 for JP and none elsewhere."""
        if self.closed_every_year is not None:
            return list(self.closed_every_year)
        return list(JP_YEAR_END) if self.country == "JP" else []

    @property
    def language(self) -> str | None:
        """The language of holiday names: the one given, else ja for JP (元日) and the package's default elsewhere."""
        return self.holiday_language or ("ja" if self.country == "JP" else None)

    @field_validator("closed_every_year")
    @classmethod
    def _month_days(cls, v: list[str] | None) -> list[str] | None:
        for md in v or []:
            try:
                date.fromisoformat(f"2000-{md}")  # 2000 is a leap year, so 02-29 is allowed
            except ValueError as err:
                raise ValueError(f"{md!r} is not a month-day like '12-29'") from err
        return v

    @field_validator("weekend")
    @classmethod
    def _not_all_week(cls, v: list[str]) -> list[str]:
        if len(set(v)) >= 7:
            raise ValueError("at least one weekday must be a business day")
        return v


@dataclass(frozen=True)
class BusinessCalendar:
    """Non-business days for a range of years, as a numpy business-day calendar."""

    weekmask: str  # seven 0/1 characters from Monday: 1 = business day
    closed: np.ndarray  # sorted datetime64[D] public holidays and closing days (weekdays only matter)
    names: dict[date, str]  # holiday and closing-day names, for display
    first_year: int
    last_year: int
    country: str  # '' when no public holidays are used

    @cached_property
    def numpy(self) -> np.busdaycalendar:
        """The numpy calendar used by every computation (built once)."""
        return np.busdaycalendar(weekmask=self.weekmask, holidays=self.closed)

    def check_range(self, days: np.ndarray) -> None:
        """Dates outside the years the calendar covers would silently count holidays as workdays."""
        valid = days[~np.isnat(days)]
        if not len(valid):
            return
        lo, hi = valid.min().astype(object).year, valid.max().astype(object).year
        if lo < self.first_year or hi > self.last_year:
            raise CsPlaybookError(
                f"Business-day calendar covers {self.first_year}-{self.last_year} but a date in {lo}-{hi} was "
                "asked for: build it with business_calendar(params, years=...) spanning the data."
            )


def business_calendar(params: CalendarParams, *, years: range | tuple[int, int]) -> BusinessCalendar:
    """The calendar of `params` for the given years (inclusive range of years to cover)."""
    first, last = (years.start, years.stop - 1) if isinstance(years, range) else years
    if last < first:
        raise CsPlaybookError(f"business_calendar: empty range of years ({first}-{last})")
    span = list(range(first, last + 1))
    names: dict[date, str] = {}
    if params.country:
        try:
            public = holidays.country_holidays(
                params.country, subdiv=params.subdivision, years=span, language=params.language
            )
        except NotImplementedError as err:  # unknown subdivision
            raise CsPlaybookError(f"holidays: {err}") from err
        names = {d: str(n) for d, n in public.items()}
    for y in span:
        for md in params.closing_days:
            try:
                d = date.fromisoformat(f"{y}-{md}")
            except ValueError:  # 02-29 in a non-leap year
                continue
            names.setdefault(d, CLOSED_NAME)
    for d in params.closed_dates:
        if first <= d.year <= last:
            names.setdefault(d, CLOSED_NAME)
    closed = np.array(sorted(names), dtype="datetime64[D]")
    weekmask = "".join("0" if day in params.weekend else "1" for day in WEEKDAYS)
    return BusinessCalendar(
        weekmask=weekmask,
        closed=closed,
        names=dict(sorted(names.items())),
        first_year=first,
        last_year=last,
        country=params.country,
    )


def _days(dates: DateLike) -> tuple[np.ndarray, pd.Index | None, bool]:
    """Dates as datetime64[D], the index to give back (for Series) and whether a scalar came in."""
    if isinstance(dates, pd.Timestamp | date | str):
        return np.array([pd.Timestamp(dates).to_datetime64()], dtype="datetime64[D]"), None, True
    index = dates.index if isinstance(dates, pd.Series) else None
    values = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates))).to_numpy().astype("datetime64[D]")
    return values, index, False


def _back(values: np.ndarray, index: pd.Index | None, scalar: bool) -> pd.Series | pd.Timestamp:
    out = values.astype("datetime64[ns]")
    if scalar:
        return pd.Timestamp(out[0])
    return pd.Series(out, index=index)


def _offset(dates: DateLike, n: int | np.ndarray, cal: BusinessCalendar, roll: str) -> pd.Series | pd.Timestamp:
    days, index, scalar = _days(dates)
    cal.check_range(days)
    result = np.full(days.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    ok = ~np.isnat(days)
    steps = np.broadcast_to(np.asarray(n), days.shape)[ok]
    result[ok] = np.busday_offset(days[ok], steps, roll=roll, busdaycal=cal.numpy)
    cal.check_range(result)
    return _back(result, index, scalar)


def business_days_before(dates: DateLike, n: int | np.ndarray, cal: BusinessCalendar) -> pd.Series | pd.Timestamp:
    """The business day with exactly `n` business days from it up to the day before `dates`."""
    if np.any(np.asarray(n) < 0):
        raise CsPlaybookError(f"business_days_before: n must be >= 0 (got {n})")
    # roll forward first: a renewal on a holiday has the same business days before it as the next business day
    return _offset(dates, -n, cal, "forward")


def business_days_after(dates: DateLike, n: int | np.ndarray, cal: BusinessCalendar) -> pd.Series | pd.Timestamp:
    """The n-th business day after `dates` (0: the day itself if a business day, else the next one)."""
    if np.any(np.asarray(n) < 0):
        raise CsPlaybookError(f"business_days_after: n must be >= 0 (got {n})")
    return _offset(dates, n, cal, "forward")


def roll_back(dates: DateLike, cal: BusinessCalendar) -> pd.Series | pd.Timestamp:
    """Each date, or the last business day before it when it is not a business day."""
    return _offset(dates, 0, cal, "backward")


def roll_forward(dates: DateLike, cal: BusinessCalendar) -> pd.Series | pd.Timestamp:
    """Each date, or the next business day after it when it is not a business day."""
    return _offset(dates, 0, cal, "forward")


def business_days_between(begin: DateLike, end: DateLike, cal: BusinessCalendar) -> pd.Series | int:
    """Business days in [begin, end): 1 from a Friday to the next Monday; negative when end < begin.

    NaN where either date is missing.
    """
    b, index, scalar_b = _days(begin)
    e, index_e, scalar_e = _days(end)
    b, e = np.broadcast_arrays(b, e)
    cal.check_range(b)
    cal.check_range(e)
    ok = ~(np.isnat(b) | np.isnat(e))
    out = np.full(b.shape, np.nan)
    out[ok] = np.busday_count(b[ok], e[ok], busdaycal=cal.numpy)
    if scalar_b and scalar_e:
        return int(out[0])
    return pd.Series(out, index=index if index is not None else index_e).astype("Int64")


def is_business_day(dates: DateLike, cal: BusinessCalendar) -> pd.Series | bool:
    """Whether each date is a business day (False for missing dates)."""
    days, index, scalar = _days(dates)
    cal.check_range(days)
    ok = ~np.isnat(days)
    out = np.zeros(days.shape, dtype=bool)
    out[ok] = np.is_busday(days[ok], busdaycal=cal.numpy)
    return bool(out[0]) if scalar else pd.Series(out, index=index)


def closed_days(cal: BusinessCalendar, *, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Holidays and closing days on weekdays in [start, end], for showing the calendar in use.

    Returns date, weekday (Mon..Sun), name.
    """
    rows = [
        {"date": pd.Timestamp(d), "weekday": WEEKDAYS[d.weekday()], "name": name}
        for d, name in cal.names.items()
        if pd.Timestamp(start) <= pd.Timestamp(d) <= pd.Timestamp(end) and cal.weekmask[d.weekday()] == "1"
    ]
    out = pd.DataFrame(rows, columns=["date", "weekday", "name"])
    return out.astype({"date": "datetime64[ns]", "weekday": "str", "name": "str"})


def jp_date(dates: pd.Series, *, weekday: bool = False) -> pd.Series:
    """Dates as Japanese teams write them: 2026/11/20, or 2026/11/20(金); empty where missing."""
    d = pd.to_datetime(dates)
    text = d.dt.strftime("%Y/%m/%d")
    if weekday:
        text = text + "(" + d.dt.day_of_week.map(lambda i: JP_WEEKDAYS[int(i)] if i == i else "") + ")"
    return text.where(d.notna(), "")


_JP_PREFECTURES = [
    "北海道",
    "青森",
    "岩手",
    "宮城",
    "秋田",
    "山形",
    "福島",
    "茨城",
    "栃木",
    "群馬",
    "埼玉",
    "千葉",
    "東京",
    "神奈川",
    "新潟",
    "富山",
    "石川",
    "福井",
    "山梨",
    "長野",
    "岐阜",
    "静岡",
    "愛知",
    "三重",
    "滋賀",
    "京都",
    "大阪",
    "兵庫",
    "奈良",
    "和歌山",
    "鳥取",
    "島根",
    "岡山",
    "広島",
    "山口",
    "徳島",
    "香川",
    "愛媛",
    "高知",
    "福岡",
    "佐賀",
    "長崎",
    "熊本",
    "大分",
    "宮崎",
    "鹿児島",
    "沖縄",
]
_JP_REGIONS = [
    "東北",
    "関東",
    "首都圏",
    "中部",
    "北陸",
    "甲信越",
    "東海",
    "近畿",
    "関西",
    "中国",
    "四国",
    "中国・四国",
    "九州",
    "九州・沖縄",
    "北海道・東北",
]
_JP_LATIN = [
    "hokkaido",
    "tohoku",
    "kanto",
    "chubu",
    "hokuriku",
    "tokai",
    "kinki",
    "kansai",
    "chugoku",
    "shikoku",
    "kyushu",
    "okinawa",
    "tokyo",
    "osaka",
    "kanagawa",
    "aichi",
    "fukuoka",
    "kyoto",
    "hyogo",
    "saitama",
    "chiba",
    "japan",
]
_US_STATES = {
    "AL": "alabama", "AK": "alaska", "AZ": "arizona", "AR": "arkansas", "CA": "california", "CO": "colorado",
    "CT": "connecticut", "DE": "delaware", "DC": "district of columbia", "FL": "florida", "GA": "georgia",
    "HI": "hawaii", "ID": "idaho", "IL": "illinois", "IN": "indiana", "IA": "iowa", "KS": "kansas",
    "KY": "kentucky", "LA": "louisiana", "ME": "maine", "MD": "maryland", "MA": "massachusetts", "MI": "michigan",
    "MN": "minnesota", "MS": "mississippi", "MO": "missouri", "MT": "montana", "NE": "nebraska", "NV": "nevada",
    "NH": "new hampshire", "NJ": "new jersey", "NM": "new mexico", "NY": "new york", "NC": "north carolina",
    "ND": "north dakota", "OH": "ohio", "OK": "oklahoma", "OR": "oregon", "PA": "pennsylvania",
    "RI": "rhode island", "SC": "south carolina", "SD": "south dakota", "TN": "tennessee", "TX": "texas",
    "UT": "utah", "VT": "vermont", "VA": "virginia", "WA": "washington", "WV": "west virginia",
    "WI": "wisconsin", "WY": "wyoming",
}  # fmt: skip
_US_REGIONS = [
    "northeast",
    "midwest",
    "south",
    "west",
    "southeast",
    "southwest",
    "northwest",
    "mountain",
    "pacific",
    "new england",
    "mid-atlantic",
    "great lakes",
    "central",
    "east",
    "east coast",
    "west coast",
    "us",
    "usa",
    "united states",
]


def _region_key(value: str) -> str:
    text = str(value).strip()
    for suffix in ("都", "道", "府", "県", "地方", "地域", "エリア"):
        if text.endswith(suffix) and len(text) > len(suffix) + 1:
            text = text[: -len(suffix)]
    return text


def region_country(region: str) -> str | None:
    """The country of one region value: JP for a Japanese prefecture or region, US for a US state or region, else None."""
    text = str(region).strip()
    key = _region_key(text)
    if key in _JP_PREFECTURES or key in _JP_REGIONS or text in _JP_PREFECTURES or text.lower() in _JP_LATIN:
        return "JP"
    low = text.lower().removeprefix("us-").removeprefix("us ").strip()
    if text.upper() in _US_STATES or low in _US_STATES.values() or low in _US_REGIONS:
        return "US"
    return None


def fit_calendar(params: CalendarParams, accounts: pd.DataFrame) -> tuple[CalendarParams, str]:
    """The calendar params with the country filled in from the accounts' region when params leave it empty.

    An explicit `calendar.country` wins. Otherwise every non-empty `accounts.region` value must
    map to the same country (`region_country`); if they do not (mixed, unknown or no region), no
    public holidays are used. Returns the params and a sentence saying where the country came
    from (a warning to show on the page when no country was found).
    """
    if params.country:
        return params, f"{params.country} public holidays (calendar.country in params/renewals.yaml)"
    regions = accounts["region"].dropna().astype(str).str.strip() if "region" in accounts else pd.Series(dtype=str)
    regions = regions[regions != ""]
    found = {region_country(r) for r in regions.unique()}
    if len(found) == 1 and None not in found:
        country = found.pop()
        fitted = params.model_copy(update={"country": country})
        return (
            fitted,
            f"{country} public holidays (from the accounts' region; set calendar.country in params/renewals.yaml to change)",
        )
    why = "no account has a region" if regions.empty else "the accounts' regions do not all map to one country"
    return params, (
        f"No public holidays: {why}. Set calendar.country (an ISO code such as US or JP) in params/renewals.yaml "
        "so that holidays are not counted as business days."
    )
