"""Dossier codes (mã hồ sơ): `<agency identifier>-YYMMDD-<sequence>`, the sequence per receiving
agency per day, at least 4 digits (Circular 01/2018 art. 19 as kept in practice). The sequence
itself comes from the database (atomic counter), so codes are unique across replicas."""
from __future__ import annotations

from datetime import date


def dossier_code(agency_id: str, day: date, sequence: int, *, width: int = 4, system_prefix: str = "") -> str:
    """`system_prefix` is the AA of centralised national systems (Circular 04/2025), else empty."""
    if sequence < 1:
        raise ValueError("sequence starts at 1")
    return f"{agency_id}-{day:%y%m%d}-{system_prefix}{sequence:0{width}d}"
