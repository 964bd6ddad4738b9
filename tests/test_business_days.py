"""Business-day arithmetic against hand-counted Japanese calendars (the counts are in the comments).

Calendars used below (JP public holidays from the `holidays` package, weekends Sat/Sun, the
company closed 12/29-1/3 unless said otherwise):

    April 2026            May 2026              October 2026          December 2026
    Mo Tu We Th Fr Sa Su  Mo Tu We Th Fr Sa Su  Mo Tu We Th Fr Sa Su  Mo Tu We Th Fr Sa Su
           1  2  3  4  5               1  2  3            1  2  3  4      1  2  3  4  5  6
     6  7  8  9 10 11 12   4  5  6  7  8  9 10   5  6  7  8  9 10 11   7  8  9 10 11 12 13
    13 14 15 16 17 18 19  11 12 13 14 15 16 17  12 13 14 15 16 17 18  14 15 16 17 18 19 20
    20 21 22 23 24 25 26  18 19 20 21 22 23 24  19 20 21 22 23 24 25  21 22 23 24 25 26 27
    27 28 29 30           25 26 27 28 29 30 31  26 27 28 29 30 31     28 29 30 31

Holidays: 2026-04-29 昭和の日, 05-03 憲法記念日 (Sun), 05-04 みどりの日, 05-05 こどもの日,
05-06 振替休日, 10-12 スポーツの日, 2027-01-01 元日.
"""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import numpy as np
import pandas as pd
import pytest

from cs_playbook.errors import CsPlaybookError, ParamsError
from cs_playbook.params import StrictModel, load_params
from cs_playbook.renewals.business_days import (
    CalendarParams,
    business_calendar,
    business_days_after,
    business_days_before,
    business_days_between,
    closed_days,
    fit_calendar,
    is_business_day,
    jp_date,
    region_country,
    roll_back,
    roll_forward,
)

JP = business_calendar(CalendarParams(country="JP"), years=(2025, 2028))


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s)


def test_twenty_business_days_before_a_renewal_right_after_new_year() -> None:
    # Renewal 2027-01-04 (Mon). Counting back from the day before: 1/1-1/3 and 12/29-12/31 are closed
    # (元日 and the company's 年末年始), so 12/28 Mon is 1; 12/25 Fri 2, 12/24 3, 12/23 4, 12/22 5, 12/21 6;
    # 12/18 7, 12/17 8, 12/16 9, 12/15 10, 12/14 11; 12/11 12, 12/10 13, 12/9 14, 12/8 15, 12/7 16;
    # 12/4 17, 12/3 18, 12/2 19, 12/1 Tue 20 -> deadline 2026-12-01.
    assert business_days_before(ts("2027-01-04"), 20, JP) == ts("2026-12-01")
    # A renewal on New Year's Day itself (a line ending 2026-12-31) has the same business days before it.
    assert business_days_before(ts("2027-01-01"), 20, JP) == ts("2026-12-01")
    # Exactly 20 business days from the deadline up to the day before the renewal.
    assert business_days_between(ts("2026-12-01"), ts("2027-01-04"), JP) == 20


def test_new_year_closing_days_are_a_parameter() -> None:
    # Without 12/29-12/31 closed: 12/31 Thu 1, 12/30 2, 12/29 3, 12/28 4, 12/25..12/21 5-9, 12/18..12/14 10-14,
    # 12/11..12/7 15-19, 12/4 Fri 20 -> 2026-12-04 (1/1 元日 is still a public holiday).
    open_year_end = business_calendar(CalendarParams(country="JP", closed_every_year=[]), years=(2025, 2028))
    assert business_days_before(ts("2027-01-04"), 20, open_year_end) == ts("2026-12-04")
    assert is_business_day(ts("2026-12-30"), open_year_end) and not is_business_day(ts("2026-12-30"), JP)
    assert not is_business_day(ts("2027-01-01"), open_year_end)


def test_twenty_business_days_before_a_renewal_right_after_golden_week() -> None:
    # Renewal 2026-05-07 (Thu), the first business day after Golden Week (5/3-5/6 holidays, 5/2 Sat).
    # Back from 5/6: 5/1 Fri 1, 4/30 Thu 2, (4/29 昭和の日), 4/28 3, 4/27 4; 4/24 Fri 5, 4/23 6, 4/22 7,
    # 4/21 8, 4/20 9; 4/17 10, 4/16 11, 4/15 12, 4/14 13, 4/13 14; 4/10 15, 4/9 16, 4/8 17, 4/7 18,
    # 4/6 19; 4/3 Fri 20 -> deadline 2026-04-03.
    assert business_days_before(ts("2026-05-07"), 20, JP) == ts("2026-04-03")
    # A renewal on 5/4 (a line ending 5/3) rolls to 5/7 first: same deadline.
    assert business_days_before(ts("2026-05-04"), 20, JP) == ts("2026-04-03")
    assert business_days_before(ts("2026-05-07"), 1, JP) == ts("2026-05-01")
    assert business_days_before(ts("2026-05-07"), 0, JP) == ts("2026-05-07")


def test_rolling_over_golden_week_and_a_three_day_weekend() -> None:
    # A month before 2026-06-03 is 5/3 (Sun, 憲法記念日): back to Fri 5/1; forward from 5/2 (Sat) is Thu 5/7.
    assert roll_back(ts("2026-05-03"), JP) == ts("2026-05-01")
    assert roll_forward(ts("2026-05-02"), JP) == ts("2026-05-07")
    assert roll_forward(ts("2026-05-07"), JP) == ts("2026-05-07")
    # Schedule window from Sun 2026-10-04: starts Mon 10/5; ten business days are 10/5-10/9 and, skipping
    # 10/12 スポーツの日, 10/13-10/16 and 10/19 -> the 10th business day is 2026-10-19.
    assert business_days_after(ts("2026-10-04"), 9, JP) == ts("2026-10-19")


def test_counts_between_dates() -> None:
    # [Fri 5/1, Thu 5/7): only 5/1 is a business day. [4/27, 5/8): 4/27, 4/28, 4/30, 5/1, 5/7 = 5.
    assert business_days_between(ts("2026-05-01"), ts("2026-05-07"), JP) == 1
    assert business_days_between(ts("2026-04-27"), ts("2026-05-08"), JP) == 5
    assert business_days_between(ts("2026-05-08"), ts("2026-04-27"), JP) == -5
    # Across the year end: [12/28, 1/5) = 12/28 and 1/4 = 2.
    assert business_days_between(ts("2026-12-28"), ts("2027-01-05"), JP) == 2


def test_series_in_series_out_with_missing_dates() -> None:
    s = pd.Series(pd.to_datetime(["2027-01-04", None, "2026-05-07"]), index=[10, 11, 12])
    got = business_days_before(s, 20, JP)
    assert list(got.index) == [10, 11, 12]
    assert got.iloc[0] == ts("2026-12-01") and pd.isna(got.iloc[1]) and got.iloc[2] == ts("2026-04-03")
    counts = business_days_between(s, s + pd.Timedelta(days=7), JP)
    assert pd.isna(counts.iloc[1]) and counts.iloc[2] == 5  # 5/7 Thu, 5/8 Fri, 5/11-5/13


def test_weekend_is_configurable() -> None:
    # A six-day week (only Sunday off): a renewal on Sun 5/10 counts from Mon 5/11: 5/9 Sat is 1, 5/8 2,
    # 5/7 3, (5/3-5/6 holidays), 5/2 Sat 4.
    six_day = business_calendar(CalendarParams(country="JP", weekend=["Sun"]), years=(2025, 2028))
    assert business_days_before(ts("2026-05-10"), 4, six_day) == ts("2026-05-02")
    with pytest.raises(ValueError, match="at least one weekday"):
        CalendarParams(weekend=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])


def test_other_countries_and_subdivisions() -> None:
    us = business_calendar(CalendarParams(country="us", closed_every_year=[]), years=(2026, 2026))
    assert us.country == "US"
    assert not is_business_day(ts("2026-11-26"), us)  # Thanksgiving
    assert is_business_day(ts("2026-05-05"), us)  # こどもの日 is a Japanese holiday only
    # [Wed 11/25, Mon 11/30): 11/25 and 11/27 (Thanksgiving Thursday off)
    assert business_days_between(ts("2026-11-25"), ts("2026-11-30"), us) == 2


def test_country_defaults_by_the_accounts_region_and_explicit_wins(demo_ds) -> None:
    fitted, note = fit_calendar(CalendarParams(), demo_ds.accounts)  # the JP demo: regions like 関東, 九州
    assert fitted.country == "JP" and "from the accounts' region" in note
    assert fitted.closing_days == ["12-29", "12-30", "12-31", "01-01", "01-02", "01-03"]  # 年末年始 for JP only
    us_accounts = pd.DataFrame({"region": ["CA", "New York", "Midwest", None]})
    us, _ = fit_calendar(CalendarParams(), us_accounts)
    assert us.country == "US" and us.closing_days == [] and us.language is None
    cal = business_calendar(us, years=(2026, 2026))
    assert not is_business_day(ts("2026-11-26"), cal) and is_business_day(ts("2026-12-30"), cal)
    explicit, note = fit_calendar(CalendarParams(country="GB"), us_accounts)
    assert explicit.country == "GB" and "calendar.country" in note
    mixed, note = fit_calendar(CalendarParams(), pd.DataFrame({"region": ["関東", "Texas"]}))
    assert mixed.country == "" and "calendar.country" in note and "No public holidays" in note
    none_cal = business_calendar(mixed, years=(2026, 2026))
    assert is_business_day(ts("2026-11-26"), none_cal) and not is_business_day(ts("2026-11-28"), none_cal)
    assert region_country("東京都") == "JP" and region_country("Bavaria") is None


def test_unknown_country_is_a_params_error_naming_the_key(tmp_path) -> None:
    class WithCalendar(StrictModel):
        calendar: CalendarParams

    (tmp_path / "cal.yaml").write_text("calendar:\n  country: XX\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=r"cal\.yaml.*\n- calendar\.country: .*unknown country 'XX'"):
        load_params("cal", WithCalendar, directory=tmp_path)
    with pytest.raises(ValueError, match="month-day"):
        CalendarParams(closed_every_year=["12-32"])


def test_dates_outside_the_calendar_years_are_refused() -> None:
    with pytest.raises(CsPlaybookError, match="covers 2025-2028"):
        business_days_before(ts("2030-01-10"), 20, JP)
    with pytest.raises(CsPlaybookError, match=">= 0"):
        business_days_before(ts("2026-01-10"), -1, JP)


def _naive_before(d: date, n: int, closed: set[date]) -> date:
    """Count back one day at a time (the definition, without numpy)."""
    while d.weekday() >= 5 or d in closed:  # a renewal on a closed day: start from the next business day
        d += timedelta(days=1)
    k = 0
    while k < n:
        d -= timedelta(days=1)
        if d.weekday() < 5 and d not in closed:
            k += 1
    return d


def test_vectorised_deadlines_match_a_day_by_day_count(rng: np.random.Generator) -> None:
    closed = set(holidays.country_holidays("JP", years=range(2025, 2029)))
    for y in range(2025, 2029):
        closed |= {date(y, 12, 29), date(y, 12, 30), date(y, 12, 31), date(y, 1, 1), date(y, 1, 2), date(y, 1, 3)}
    days = pd.Timestamp("2025-03-01") + pd.to_timedelta(rng.integers(0, 1300, 400), unit="D")
    got = business_days_before(pd.Series(days), 20, JP)
    want = [pd.Timestamp(_naive_before(d.date(), 20, closed)) for d in days]
    assert got.tolist() == want


def test_closed_days_and_japanese_dates() -> None:
    gw = closed_days(JP, start=ts("2026-04-27"), end=ts("2026-05-08"))
    assert gw["date"].dt.strftime("%m-%d").tolist() == ["04-29", "05-04", "05-05", "05-06"]  # 5/3 is a Sunday
    assert gw["name"].iloc[0] == "昭和の日"
    s = pd.Series(pd.to_datetime(["2026-12-01", None]))
    assert jp_date(s).tolist() == ["2026/12/01", ""]
    assert jp_date(s, weekday=True).tolist() == ["2026/12/01(火)", ""]
