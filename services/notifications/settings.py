"""Notifications' own settings, on top of what every service reads (shared.settings)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from shared.settings import ServiceSettings


DEV_RECEIPT_SECRET = "dev-delivery-receipt-secret"


class SmsProvider(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9-]+$")
    url: str
    token: SecretStr
    weight: int = Field(default=50, ge=0, le=100, description="Share of first tries")
    unicode: bool = Field(default=True, description="False: the provider needs unaccented text")
    rate_per_s: float = Field(default=50, gt=0)


class NotificationsSettings(ServiceSettings):
    service_name: Literal["notifications"] = "notifications"
    sms_providers: list[SmsProvider] = Field(default_factory=list)
    sms_timeout_s: float = Field(default=3.0, gt=0, description="A slower provider counts as failing")
    sms_max_segments: int = Field(default=3, ge=1, le=10)
    receipt_secret: SecretStr = SecretStr(DEV_RECEIPT_SECRET)   # providers sign delivery receipts
    smtp_host: str | None = None
    smtp_port: int = 25
    mail_from: str = "Một cửa tỉnh Khánh Hòa <motcua@khanhhoa.gov.vn>"
    zalo_url: str | None = None
    zalo_token: SecretStr = SecretStr("zalo-sim-token")
    portal_url: str | None = None
    portal_token: SecretStr = SecretStr("portal-sim-token")
    dispatch_interval_s: float = Field(default=1.0, gt=0, le=3600)
    dispatch_batch: int = Field(default=200, ge=1, le=5000)
    max_attempts: int = Field(default=6, ge=1, le=30)
    retry_base_s: float = Field(default=30.0, gt=0, description="Backoff: base x 2^(attempt-1), capped at 1 h")
    stuck_after_s: float = Field(default=300, gt=0, description="A message 'sending' this long is retried")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1, le=30)
    webhook_secret_overlap_hours: float = Field(default=24, ge=0)
    webhook_allowed_hosts: list[str] = Field(default_factory=list, description="Internal hosts webhooks may reach")
    webhook_require_https: bool = True

    @model_validator(mode="after")
    def _real_receipt_secret_in_production(self) -> "NotificationsSettings":
        if self.environment == "production" and self.sms_providers and \
                self.receipt_secret.get_secret_value() == DEV_RECEIPT_SECRET:
            raise ValueError("production requires a receipt_secret shared with the SMS providers")
        return self
