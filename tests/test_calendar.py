"""Calendar facts from the NYSE calendar, checked by hand on days whose neighbours everybody knows."""

from __future__ import annotations

from datetime import date

import pytest

from vixray import calendar


def facts(day: date) -> dict[str, int]:
    row = calendar.calendar_frame([day]).row(0, named=True)
    return {key: row[key] for key in calendar.COLUMNS}


@pytest.mark.parametrize(
    ("day", "weekday", "to_next", "since_prev", "holiday", "left"),
    [
        (
            date(2024, 11, 27),
            2,
            2,
            1,
            1,
            1,
        ),  # the Wednesday before Thanksgiving: Friday 29th is the month's last
        (date(2024, 11, 29), 4, 3, 2, 0, 0),  # Black Friday: the weekend follows, Thanksgiving came before
        (date(2024, 12, 2), 0, 1, 3, 0, 20),  # a Monday: 20 more sessions in December 2024
        (date(2024, 12, 24), 1, 2, 1, 1, 4),  # Christmas Eve: the 26th, 27th, 30th and 31st remain
        (date(2025, 4, 17), 3, 4, 1, 1, 8),  # the Thursday before Good Friday: a four-day gap
        (date(2020, 1, 2), 3, 1, 2, 0, 20),  # the first session of 2020, after New Year's Day
    ],
)
def test_facts_by_hand(day, weekday, to_next, since_prev, holiday, left):
    assert facts(day) == {
        calendar.WEEKDAY: weekday,
        calendar.DAYS_TO_NEXT: to_next,
        calendar.DAYS_SINCE_PREV: since_prev,
        calendar.HOLIDAY_NEXT: holiday,
        calendar.SESSIONS_LEFT_IN_MONTH: left,
    }


def test_unscheduled_closures_count_as_sessions():
    # nobody knew on 10 September 2001 or on Friday 26 October 2012 that the market would close next
    assert facts(date(2001, 9, 10))[calendar.DAYS_TO_NEXT] == 1
    assert facts(date(2012, 10, 26))[calendar.DAYS_TO_NEXT] == 3
    assert facts(date(2012, 10, 31))[calendar.DAYS_SINCE_PREV] == 1


def test_any_date_works_and_the_order_is_kept():
    days = [date(2024, 12, 25), date(2024, 7, 4), date(2024, 12, 28)]  # a holiday, a holiday, a Saturday
    frame = calendar.calendar_frame(days)
    assert frame["date"].to_list() == days
    assert frame[calendar.DAYS_TO_NEXT].to_list() == [1, 1, 2]  # the 26th; the 5th; Monday the 30th
    assert calendar.calendar_frame([]).columns == ["date", *calendar.COLUMNS]
