"""Fee assessment from the catalogue's fee schedule: fixed, tiered per unit, capped, online
price or discount, exemptions by group. VND are integers; a discount rounds down to the đồng."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.intake.catalogue import FeeSchedule, Procedure
from services.intake.domain.errors import FieldError


@dataclass(frozen=True)
class AssessedFee:
    code: str
    name: str
    kind: str
    amount: int
    collecting_agency: str
    refundable_on: tuple[str, ...] = ("withdrawal",)


def _tiered(schedule: FeeSchedule, units: int) -> int:
    total, counted = 0, 0
    for tier in schedule.tiers:
        ceiling = units if tier.up_to is None else min(units, tier.up_to)
        if ceiling > counted:
            total += (ceiling - counted) * tier.amount
            counted = ceiling
    return total


def assess_line(schedule: FeeSchedule, form: dict[str, Any], *, online: bool,
                exemption_group: str | None) -> int | None:
    """The amount of one line, or None when the line does not apply to this dossier."""
    if schedule.applies_when and not form.get(schedule.applies_when):
        return None
    if schedule.tiers:
        amount = _tiered(schedule, int(form.get(schedule.unit_field or "", 0) or 0))
    else:
        amount = schedule.online_amount if online and schedule.online_amount is not None else schedule.amount or 0
    if schedule.maximum is not None:
        amount = min(amount, schedule.maximum)
    if online and schedule.online_discount_percent:
        amount = amount * (100 - schedule.online_discount_percent) // 100
    exemption = next((e for e in schedule.exemptions if e.group == exemption_group), None)
    if exemption is not None:
        amount = min(amount, exemption.amount)
    return amount


def exemption_errors(procedure: Procedure, exemption_group: str | None, proof_reference: str | None) -> list[FieldError]:
    if exemption_group is None:
        return []
    groups = {e.group for f in procedure.fees for e in f.exemptions}
    if exemption_group not in groups:
        return [FieldError("fee_exemption.group", "exemption-unknown",
                           f"this procedure has no exemption for {exemption_group!r}",
                           "Thủ tục này không có đối tượng miễn, giảm phí như đã khai")]
    if not proof_reference:
        return [FieldError("fee_exemption.proof_reference", "required",
                           "name the document that proves the exemption",
                           "Cần nêu giấy tờ chứng minh thuộc đối tượng miễn, giảm")]
    return []


def assess(procedure: Procedure, form: dict[str, Any], *, online: bool, exemption_group: str | None = None) -> list[AssessedFee]:
    lines = []
    for schedule in procedure.fees:
        amount = assess_line(schedule, form, online=online, exemption_group=exemption_group)
        if amount is not None:
            lines.append(AssessedFee(schedule.code, schedule.name, schedule.kind, amount, schedule.collecting_agency,
                                     tuple(schedule.refundable_on)))
    return lines
