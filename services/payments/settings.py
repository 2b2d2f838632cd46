"""Payments' own settings, on top of what every service reads (shared.settings)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from shared.settings import ServiceSettings

DEV_PLATFORM_SECRET = "platform-sim-secret"
DEV_LINK_SECRET = "dev-pay-link-secret"


class PaymentsSettings(ServiceSettings):
    service_name: Literal["payments"] = "payments"
    # The national payment platform; unset = online payment unavailable (bills are still issued).
    payment_platform_url: str | None = None
    payment_platform_merchant: str = "ONESTOP-KH"
    # The first secret signs; every one verifies (rotation with an overlap).
    payment_platform_secrets: list[SecretStr] = Field(default_factory=lambda: [SecretStr(DEV_PLATFORM_SECRET)],
                                                      min_length=1)
    payment_platform_timeout_s: float = Field(default=5.0, gt=0, le=60)
    callback_tolerance_s: int = Field(default=900, ge=30, description="How far a confirmation's timestamp may be from now")
    bill_expiry_hours: float = Field(default=72, gt=0)
    pay_link_secret: SecretStr = SecretStr(DEV_LINK_SECRET)   # signs the citizen's pay links
    reconcile_early_interval_s: float = Field(default=900, gt=0)
    reconcile_early_min_age_s: float = Field(default=900, ge=0, description="Early sweep: attempts unsettled this long...")
    reconcile_early_max_age_s: float = Field(default=1800, gt=0, description="... and not longer (older: the daily sweep)")
    reconcile_daily_interval_s: float = Field(default=86400, gt=0)
    unknown_attempt_grace_s: float = Field(default=1800, ge=0, description="An attempt the platform never heard of "
                                           "fails after this long")
    expiry_sweep_interval_s: float = Field(default=300, gt=0)

    @model_validator(mode="after")
    def _real_secrets_in_production(self) -> "PaymentsSettings":
        if self.environment == "production":
            if any(s.get_secret_value() == DEV_PLATFORM_SECRET for s in self.payment_platform_secrets):
                raise ValueError("production requires the payment platform's real shared secret(s)")
            if self.pay_link_secret.get_secret_value() == DEV_LINK_SECRET:
                raise ValueError("production requires a pay_link_secret of its own")
        return self

    @property
    def platform_secrets(self) -> list[str]:
        return [s.get_secret_value() for s in self.payment_platform_secrets]
