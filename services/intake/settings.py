"""Intake's own settings, on top of what every service reads (shared.settings)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    service_name: Literal["intake"] = "intake"
    # The population database (VNeID) for pre-filling applicants; unset = pre-fill unavailable.
    population_db_url: str | None = None
    population_db_token: SecretStr = SecretStr("population-sim-token")
    population_db_timeout_s: float = Field(default=3.0, gt=0, le=30)
    dossier_code_width: int = Field(default=4, ge=4, le=8)
    # AA of a centralised national system's codes (Circular 04/2025); empty for provincial codes.
    dossier_code_system_prefix: str = Field(default="", pattern=r"^([A-Z]{2})?$")
    # Sequence numbers each process reserves at a time (gaps after a restart are allowed).
    dossier_code_block: int = Field(default=20, ge=1, le=1000)
    reception_answer_hours: float = Field(default=8, gt=0, description="Online: answer within N working hours")
    max_upload_mb: float = Field(default=30, gt=0, le=500)
    upload_retention_hours: int = Field(default=24, ge=1, description="Uploads no dossier used are then deleted")
    sweep_interval_s: float = Field(default=30, gt=0, le=3600)
    kpi_due_basis: Literal["original", "extended"] = "original"
    tracking_max_failures: int = Field(default=10, ge=1, description="Wrong second factors per code per 15 min")
