"""Routing's own settings, on top of what every service reads (shared.settings)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    service_name: Literal["routing"] = "routing"
    monitor_interval_s: float = Field(default=60, gt=0, le=3600, description="How often deadlines are checked")
    due_soon_warning_hours: float = Field(default=8, ge=0, description="Warn a step's agency this much working "
                                          "time before its deadline (8 = one working day); 0 = no warning")
    extension_notice_days: float = Field(default=1, ge=0, description="DOMAIN: the apology and new date come at "
                                         "the latest this many working days before the due date")
    monitor_batch: int = Field(default=500, ge=1, le=10_000, description="Items per monitor pass and kind")
