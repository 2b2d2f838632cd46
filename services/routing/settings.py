"""Routing's own settings, on top of what every service reads (shared.settings)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shared.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    service_name: Literal["routing"] = "routing"
    monitor_interval_s: float = Field(default=60, gt=0, le=3600, description="How often deadlines are checked")
    due_soon_warning_hours: float = Field(default=8, ge=0, description="Warn a step's agency this much working "
                                          "time before its deadline (8 = one working day); 0 = no warning")
    extension_notice_days: float = Field(default=1, ge=0, description="DOMAIN: the apology and new date come at "
                                         "the latest this many working days before the due date")
    monitor_batch: int = Field(default=500, ge=1, le=10_000, description="Items per monitor pass and kind")
    clock_offset_hours: float = Field(default=0, ge=0, le=24 * 366, description="Training and test environments "
                                      "only: routing's clock runs this far ahead, so deadlines can be seen to pass")

    @model_validator(mode="after")
    def _real_time_in_production(self) -> "RoutingSettings":
        if self.environment == "production" and self.clock_offset_hours:
            raise ValueError("production runs on real time: clock_offset_hours must be 0")
        return self
