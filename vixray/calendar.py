"""The NYSE trading calendar (exchange_calendars' XNYS): what day t knows about the sessions around it.

VIX is quoted in calendar time while prices move on trading days, so a close before a weekend or a holiday is
followed by a longer gap than one mid-week, and the next day's VIX move differs with it. Those gaps come from the
exchange's published calendar, never from the next row of a data file (a missing row may be a data gap, and the
next row is the future).

Unscheduled closures (11-14 September 2001, Hurricane Sandy on 29-30 October 2012, and the national days of mourning
for former presidents, announced a few days ahead) are in exchange_calendars' list of ad hoc holidays. Nobody knew
the first two in advance, so every ad hoc closure counts as a session here: "days to the next session" at day t is
what the scheduled calendar said at t, and on those days it is one day shorter than the gap that followed.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from datetime import date

import numpy as np
import polars as pl

CALENDAR = "XNYS"
# the columns calendar_frame adds beside ``date``
WEEKDAY = "cal_weekday"  # 0 Monday .. 4 Friday
# calendar days to the next scheduled session (1 mid-week, 3 over a weekend)
DAYS_TO_NEXT = "cal_days_to_next"
DAYS_SINCE_PREV = "cal_days_since_prev"  # calendar days since the previous scheduled session
# 1 when a scheduled holiday (not a weekend day) comes before the next session
HOLIDAY_NEXT = "cal_holiday_next"
SESSIONS_LEFT_IN_MONTH = "cal_sessions_left_in_month"  # scheduled sessions after day t in t's month
COLUMNS = (WEEKDAY, DAYS_TO_NEXT, DAYS_SINCE_PREV, HOLIDAY_NEXT, SESSIONS_LEFT_IN_MONTH)


@functools.cache  # the published calendar is a fact, the same on every call: build it once per process and span
def scheduled_sessions(first_year: int, last_year: int) -> np.ndarray:
    """XNYS sessions of ``first_year``..``last_year`` with the ad hoc closures put back, ascending (datetime64[D])."""
    import exchange_calendars as xcals  # half a second to import: only when a table is built

    with warnings.catch_warnings():
        # exchange_calendars still reads a pandas accessor that pandas 3 deprecates; the sessions are unaffected
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        cal = xcals.get_calendar(CALENDAR, start=f"{first_year}-01-01", end=f"{last_year}-12-31")
    sessions = cal.sessions.to_numpy().astype("datetime64[D]")  # (S,)
    adhoc = np.array([day.date() for day in cal.adhoc_holidays], dtype="datetime64[D]")
    adhoc = adhoc[(adhoc >= sessions[0]) & (adhoc <= sessions[-1])]
    return np.union1d(sessions, adhoc)


def calendar_frame(dates: pl.Series | Sequence[date]) -> pl.DataFrame:
    """``date`` plus :data:`COLUMNS` for each date (any date: a data row need not be a session itself)."""
    days = pl.Series("date", dates, dtype=pl.Date).to_numpy().astype("datetime64[D]")  # (N,)
    if days.size == 0:
        return pl.DataFrame(
            {"date": [], **{c: [] for c in COLUMNS}},
            schema={"date": pl.Date, **dict.fromkeys(COLUMNS, pl.Int64)},
        )
    years = days.astype("datetime64[Y]").astype(int) + 1970
    # a year either side, so the first day has a previous session and the last a next one
    sessions = scheduled_sessions(int(years.min()) - 1, int(years.max()) + 1)  # (S,)
    after = np.searchsorted(sessions, days, side="right")  # (N,) index of the first session after each day
    nxt, prev = sessions[after], sessions[np.searchsorted(sessions, days, side="left") - 1]  # (N,) each
    weekday = (days.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday: Monday = 0
    # a weekday strictly between today and the next session that is not a session is a holiday
    weekdays_between = np.busday_count(days + 1, nxt)  # (N,) Mon-Fri days in (day, next)
    month_end = (days.astype("datetime64[M]") + 1).astype("datetime64[D]")  # (N,) first day of next month
    left = np.searchsorted(sessions, month_end, side="left") - after  # (N,) sessions in (day, month end)
    return pl.DataFrame(
        {
            "date": pl.Series(days).cast(pl.Date),
            WEEKDAY: weekday.astype(np.int64),
            DAYS_TO_NEXT: (nxt - days).astype(np.int64),
            DAYS_SINCE_PREV: (days - prev).astype(np.int64),
            HOLIDAY_NEXT: (weekdays_between > 0).astype(np.int64),
            SESSIONS_LEFT_IN_MONTH: left.astype(np.int64),
        }
    )
