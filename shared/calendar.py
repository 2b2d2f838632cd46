"""Vietnam's working-day calendar: weekends, public holidays and each year's government decisions
(swapped days off, make-up working Saturdays) from the `holidays` package, plus days off and
working days that configuration adds for decisions the package does not know yet.

Time is counted in office hours (default 07:00-11:30 and 13:30-17:00 = 8 h, one working day).
Pure functions over dates; no I/O. Domain rules (due dates, same-day cut-offs) build on these."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

VIETNAM_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_SEARCH_LIMIT_DAYS = 3 * 366  # a misconfigured calendar without working days must fail, not hang


class CalendarError(ValueError):
    pass


class WorkingCalendar:
    def __init__(self, *, extra_days_off: Iterable[date] = (), extra_working_days: Iterable[date] = (),
                 morning: tuple[time, time] = (time(7, 0), time(11, 30)),
                 afternoon: tuple[time, time] = (time(13, 30), time(17, 0)),
                 tz: ZoneInfo = VIETNAM_TZ) -> None:
        self.extra_days_off = frozenset(extra_days_off)
        self.extra_working_days = frozenset(extra_working_days)
        if self.extra_days_off & self.extra_working_days:
            raise CalendarError("a date cannot be both an extra day off and an extra working day")
        self.sessions = (morning, afternoon)
        self.tz = tz
        self._holidays = holidays.country_holidays("VN")

    @property
    def hours_per_day(self) -> timedelta:
        return sum((self._length(s) for s in self.sessions), timedelta())

    @staticmethod
    def _length(session: tuple[time, time]) -> timedelta:
        day = date(2000, 1, 1)
        return datetime.combine(day, session[1]) - datetime.combine(day, session[0])

    # --- days -----------------------------------------------------------------------------------
    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        if day in self.extra_days_off:
            return False
        return self._holidays.is_working_day(day)

    def holiday_name(self, day: date) -> str | None:
        return self._holidays.get(day)

    def next_working_day(self, day: date, *, include_today: bool = False) -> date:
        candidate = day if include_today else day + timedelta(days=1)
        for _ in range(_SEARCH_LIMIT_DAYS):
            if self.is_working_day(candidate):
                return candidate
            candidate += timedelta(days=1)
        raise CalendarError(f"no working day within {_SEARCH_LIMIT_DAYS} days after {day}")

    def add_working_days(self, day: date, days: int) -> date:
        """The date `days` working days after `day` (`day` itself is not counted)."""
        if days < 0:
            raise CalendarError("days must not be negative")
        current = day
        for _ in range(days):
            current = self.next_working_day(current)
        return current

    def add_calendar_days(self, day: date, days: int) -> date:
        """Calendar-day durations; one ending on a day off moves to the next working day."""
        return self.next_working_day(day + timedelta(days=days), include_today=True)

    # --- office hours ---------------------------------------------------------------------------
    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise CalendarError("datetimes must be timezone-aware")
        return moment.astimezone(self.tz)

    def _day_sessions(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        if self.is_working_day(day):
            for start, end in self.sessions:
                yield datetime.combine(day, start, self.tz), datetime.combine(day, end, self.tz)

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of office time after `start` (a submission after closing counts
        from the next opening; during lunch, from the afternoon session)."""
        if duration < timedelta(0):
            raise CalendarError("duration must not be negative")
        cursor = self._local(start)
        remaining = duration
        for _ in range(_SEARCH_LIMIT_DAYS):
            for session_start, session_end in self._day_sessions(cursor.date()):
                if session_end <= cursor:
                    continue
                begin = max(session_start, cursor)
                available = session_end - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
            cursor = datetime.combine(cursor.date() + timedelta(days=1), time(0), self.tz)
        raise CalendarError("working time runs past the calendar's search limit")

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        return self.add_working_time(start, timedelta(hours=hours))

    def next_opening(self, moment: datetime) -> datetime:
        """The first office moment at or after `moment`."""
        return self.add_working_time(moment, timedelta(0))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Office time elapsed from `start` to `end` (negative if `end` is earlier)."""
        a, b = self._local(start), self._local(end)
        if b < a:
            return -self.working_time_between(end, start)
        total = timedelta(0)
        day = a.date()
        while day <= b.date():
            for session_start, session_end in self._day_sessions(day):
                overlap = min(session_end, b) - max(session_start, a)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total


def vn_iso(moment: datetime | None) -> str | None:
    """A time as people here read it: Vietnam time, with its offset."""
    return moment.astimezone(VIETNAM_TZ).isoformat() if moment else None
