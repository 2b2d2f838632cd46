"""The province's indicators (Decision 766/QĐ-TTg, DOMAIN.md), computed from per-dossier facts.

Pure: give it the facts of the dossiers in scope and a period; it counts. Rates are None when
their denominator is empty (a rate of nothing is not 0%)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

FINISHED_STATUSES = (7, 9, 10)   # withdrawn, result issued, result returned


@dataclass(frozen=True)
class Facts:
    channel: str | None
    online_enabled: bool | None
    fee_bearing: bool | None
    submitted_at: datetime | None
    accepted_at: datetime | None
    refused_at_reception: bool
    supplement_at_reception: bool
    digitised_input: bool
    paid_online: bool
    due_at: datetime | None
    extended_due_at: datetime | None
    finished_at: datetime | None
    finish_status: int | None
    electronic_result: bool
    rating: int | None


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _in(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def compute(facts: list[Facts], start: datetime, end: datetime, *, due_basis: str = "original") -> dict:
    """`due_basis`: judge timeliness against the original due date or the extended one (configurable)."""
    submitted = [f for f in facts if _in(f.submitted_at, start, end)]
    received = [f for f in facts if _in(f.accepted_at, start, end)]
    finished = [f for f in facts if f.finish_status in FINISHED_STATUSES and _in(f.finished_at, start, end)]

    def due(f: Facts) -> datetime | None:
        return (f.extended_due_at or f.due_at) if due_basis == "extended" else f.due_at

    on_time = [f for f in finished if due(f) is None or f.finished_at <= due(f)]  # type: ignore[operator]
    online_scope = [f for f in submitted if f.online_enabled]
    fee_scope = [f for f in received if f.fee_bearing]
    durations = [(f.finished_at - f.accepted_at).total_seconds() / 86400 for f in finished
                 if f.accepted_at and f.finished_at and f.finish_status in (9, 10)]
    rated = [f.rating for f in finished if f.rating is not None]
    return {
        "submitted": len(submitted),
        "received": len(received),
        "finished": len(finished),
        "finished_on_time": len(on_time),
        "on_time_rate": _rate(len(on_time), len(finished)),
        "online_rate": _rate(sum(f.channel == "online" for f in online_scope), len(online_scope)),
        "online_payment_rate": _rate(sum(f.paid_online for f in fee_scope), len(fee_scope)),
        "digitisation_input_rate": _rate(sum(f.digitised_input for f in received), len(received)),
        "digitisation_output_rate": _rate(sum(f.electronic_result for f in finished if f.finish_status in (9, 10)),
                                          sum(f.finish_status in (9, 10) for f in finished)),
        "supplement_rate": _rate(sum(f.supplement_at_reception for f in submitted), len(submitted)),
        "rejection_rate": _rate(sum(f.refused_at_reception for f in submitted), len(submitted)),
        "rejection_or_supplement_rate": _rate(
            sum(f.refused_at_reception or f.supplement_at_reception for f in submitted), len(submitted)),
        "average_processing_days": round(sum(durations) / len(durations), 2) if durations else None,
        "ratings": len(rated),
        "average_rating": round(sum(rated) / len(rated), 2) if rated else None,
        "satisfaction_rate": _rate(sum(r >= 4 for r in rated), len(rated)),
    }
