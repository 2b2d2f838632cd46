from datetime import date, datetime, timedelta

import pytest

from shared.calendar import VIETNAM_TZ, CalendarError, WorkingCalendar

cal = WorkingCalendar()


def at(y, m, d, hh=0, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VIETNAM_TZ)


def test_weekends_holidays_and_the_2026_decisions():
    assert cal.is_working_day(date(2026, 11, 23))           # Monday
    assert not cal.is_working_day(date(2026, 11, 22))       # Sunday
    assert not cal.is_working_day(date(2026, 4, 30)) and not cal.is_working_day(date(2026, 5, 1))
    assert not cal.is_working_day(date(2026, 2, 17))        # Tết
    assert not cal.is_working_day(date(2026, 8, 31))        # day off swapped ...
    assert cal.is_working_day(date(2026, 8, 22))            # ... for a make-up working Saturday


def test_configuration_adds_days_off_and_working_days_the_package_does_not_know():
    custom = WorkingCalendar(extra_days_off=[date(2026, 11, 25)], extra_working_days=[date(2026, 11, 28)])
    assert not custom.is_working_day(date(2026, 11, 25))
    assert custom.is_working_day(date(2026, 11, 28))        # a Saturday made a working day
    with pytest.raises(CalendarError):
        WorkingCalendar(extra_days_off=[date(2026, 1, 5)], extra_working_days=[date(2026, 1, 5)])


def test_add_working_days_skips_weekends_and_holidays():
    # Fri + 3: Mon 23, (Tue 24 is Vietnam Culture Day, a day off from 2026), Wed 25, Thu 26
    assert cal.add_working_days(date(2026, 11, 20), 3) == date(2026, 11, 26)
    assert cal.add_working_days(date(2026, 4, 29), 1) == date(2026, 5, 4)      # over 30/4, 1/5, weekend
    assert cal.add_working_days(date(2026, 8, 21), 1) == date(2026, 8, 22)     # make-up Saturday counts


def test_calendar_days_ending_on_a_day_off_move_to_the_next_working_day():
    assert cal.add_calendar_days(date(2026, 11, 13), 15) == date(2026, 11, 30)  # Sat 28 -> Mon 30


def test_office_hours_arithmetic():
    assert cal.hours_per_day == timedelta(hours=8)
    # after closing: counts from next opening
    assert cal.add_working_hours(at(2026, 11, 30, 18, 0), 2) == at(2026, 12, 1, 9, 0)
    # during lunch: from 13:30
    assert cal.add_working_hours(at(2026, 11, 23, 12, 0), 1) == at(2026, 11, 23, 14, 30)
    # crossing a weekend and lunch: Fri 16-17 (1h) + Mon 7-11:30 (4.5h) + 13:30-16:00 (2.5h)
    assert cal.add_working_hours(at(2026, 11, 27, 16, 0), 8) == at(2026, 11, 30, 16, 0)
    # half a working day
    assert cal.add_working_hours(at(2026, 11, 23, 7, 0), 4) == at(2026, 11, 23, 11, 0)


def test_working_time_between_is_the_inverse_of_adding_it():
    start = at(2026, 11, 20, 10, 15)
    for hours in (0.5, 3, 8, 17.25, 40):
        end = cal.add_working_hours(start, hours)
        assert cal.working_time_between(start, end) == timedelta(hours=hours)
    assert cal.working_time_between(at(2026, 11, 21, 8), at(2026, 11, 22, 16)) == timedelta(0)  # weekend
    assert cal.working_time_between(at(2026, 11, 24), at(2026, 11, 23)) == -timedelta(hours=8)


def test_naive_datetimes_are_refused():
    with pytest.raises(CalendarError):
        cal.add_working_hours(datetime(2026, 11, 23, 9), 1)
