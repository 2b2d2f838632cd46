"""Appointment dates (ngày hẹn trả) by DOMAIN.md's rules, on the real 2026 calendar: weekends,
Tết, Hùng Kings (observed), 30/4-1/5, the 22/08 make-up Saturday and 31/08 swap, 2/9, Vietnam
Culture Day 24/11, after-hours and lunch-time acceptance, the 15:00 same-day rule."""
from datetime import date, datetime

import pytest

from services.intake.catalogue import ProcessingTime
from services.intake.domain.due_date import appointment, reception_answer_due, supplement_deadline
from shared.calendar import VIETNAM_TZ, WorkingCalendar

CAL = WorkingCalendar()


def vn(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=VIETNAM_TZ)


CASES = [
    # kind, days, accepted (local), expected due (local), why
    ("working_days", 3, "2026-11-16 09:00", "2026-11-19 09:00", "three plain working days"),
    ("working_days", 3, "2026-11-20 16:00", "2026-11-26 16:00", "weekend and 24/11 Culture Day skipped"),
    ("working_days", 3, "2026-11-16 18:30", "2026-11-19 17:00", "after closing: counts from next opening"),
    ("working_days", 1, "2026-11-16 12:00", "2026-11-17 11:30", "during lunch: counts from 13:30"),
    ("working_days", 0.5, "2026-11-16 07:00", "2026-11-16 11:00", "half a day is four office hours"),
    ("working_days", 3, "2026-02-13 10:00", "2026-02-25 10:00", "Tết 16-20/02 plus weekends"),
    ("working_days", 1, "2026-08-21 17:30", "2026-08-22 17:00", "22/08/2026 is a make-up working Saturday"),
    ("working_days", 1, "2026-08-28 17:30", "2026-09-03 17:00", "31/08 swapped off, 1-2/09 National Day"),
    ("working_days", 2, "2026-04-24 08:00", "2026-04-29 08:00", "Hùng Kings on Sunday, observed Monday 27/04"),
    ("same_day", None, "2026-11-16 14:59", "2026-11-16 17:00", "before 15:00: today"),
    ("same_day", None, "2026-11-16 15:00", "2026-11-17 17:00", "at 15:00: next working day"),
    ("same_day", None, "2026-11-23 15:30", "2026-11-25 17:00", "after 15:00 on the eve of a holiday"),
    ("same_day", None, "2026-11-21 09:00", "2026-11-23 17:00", "received on a Saturday"),
    ("same_day", None, "2026-08-22 10:00", "2026-08-22 17:00", "make-up Saturday counts as a working day"),
    ("calendar_days", 15, "2026-04-13 10:00", "2026-04-28 17:00", "fifteen calendar days ending on a working day"),
    ("calendar_days", 15, "2026-04-11 10:00", "2026-04-28 17:00", "ends on Sunday 26/04, Monday observed: Tuesday"),
    ("calendar_days", 15, "2026-04-15 10:00", "2026-05-04 17:00", "ends on 30/04: past 1/05 and the weekend"),
]


@pytest.mark.parametrize("kind,days,accepted,expected,why", CASES, ids=[c[4] for c in CASES])
def test_appointment_date(kind, days, accepted, expected, why):
    due = appointment(ProcessingTime(kind=kind, days=days), vn(accepted), CAL)
    assert due == vn(expected), why


def test_no_time_limit_has_no_appointment():
    assert appointment(ProcessingTime(kind="none"), vn("2026-11-16 09:00"), CAL) is None


def test_configured_day_off_moves_the_date():
    # A decision the holidays package does not know yet, added by configuration.
    calendar = WorkingCalendar(extra_days_off=[date(2026, 11, 19)])
    assert appointment(ProcessingTime(kind="working_days", days=3), vn("2026-11-16 09:00"), calendar) == vn("2026-11-20 09:00")


def test_configured_make_up_day_counts():
    calendar = WorkingCalendar(extra_working_days=[date(2026, 11, 21)])
    assert appointment(ProcessingTime(kind="same_day"), vn("2026-11-20 16:00"), calendar) == vn("2026-11-21 17:00")


def test_configured_cutoff_for_same_day():
    rule = ProcessingTime(kind="same_day", same_day_cutoff="16:00")
    assert appointment(rule, vn("2026-11-16 15:30"), CAL) == vn("2026-11-16 17:00")


def test_online_answer_is_due_eight_working_hours_after_submission():
    # Submitted late Monday 23/11; 24/11 is a day off: the answer is due Wednesday at closing.
    assert reception_answer_due(vn("2026-11-23 22:19"), CAL, 8) == vn("2026-11-25 17:00")


def test_supplement_deadline_counts_working_days():
    assert supplement_deadline(vn("2026-11-16 09:00"), CAL, 15) == vn("2026-12-08 09:00")
