"""The appointment date (ngày hẹn trả kết quả) from the procedure's processing time (DOMAIN.md):

- working days: counted as office hours (8 h a day) from the moment of acceptance; after closing
  it counts from the next opening, during lunch from the afternoon session;
- calendar days: N days after the day of acceptance, at closing time; a day off moves it to the
  next working day;
- same day: accepted before the cut-off (15:00) -> closing time today; later (or on a day off) ->
  closing time of the next working day;
- none: no appointment date.
Fee-first procedures call this with the moment of payment instead of acceptance."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from services.intake.catalogue import ProcessingTime
from shared.calendar import WorkingCalendar


def _closing(calendar: WorkingCalendar) -> time:
    return calendar.sessions[-1][1]


def appointment(rule: ProcessingTime, start: datetime, calendar: WorkingCalendar) -> datetime | None:
    local = start.astimezone(calendar.tz)
    closing = _closing(calendar)
    match rule.kind:
        case "none":
            return None
        case "working_days":
            return calendar.add_working_time(start, calendar.hours_per_day * float(rule.days or 0))
        case "calendar_days":
            end_day = local.date() + timedelta(days=int(rule.days or 0))
            return datetime.combine(calendar.next_working_day(end_day, include_today=True), closing, calendar.tz)
        case "same_day":
            cutoff = time.fromisoformat(rule.same_day_cutoff)
            today_counts = calendar.is_working_day(local.date()) and local.time() < cutoff
            day = local.date() if today_counts else calendar.next_working_day(local.date())
            return datetime.combine(day, closing, calendar.tz)
    raise ValueError(f"unknown processing time kind {rule.kind}")


def reception_answer_due(submitted_at: datetime, calendar: WorkingCalendar, answer_hours: float) -> datetime:
    """An online submission must be answered (accepted / supplement / refused) within this time."""
    return calendar.add_working_hours(submitted_at, answer_hours)


def supplement_deadline(requested_at: datetime, calendar: WorkingCalendar, working_days: int) -> datetime:
    return calendar.add_working_time(requested_at, calendar.hours_per_day * working_days)
