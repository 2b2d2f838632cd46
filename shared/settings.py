"""Service settings, read from the environment and refused at start-up when they are unsafe."""
from __future__ import annotations

from datetime import date, time
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_NAMES = ("intake", "routing", "payments", "notifications", "results")


class ServiceSettings(BaseSettings):
    """Everything one service process needs. The same class serves containers (one service per
    process, configured by environment) and the embedded runner (five instances in one process)."""

    model_config = SettingsConfigDict(extra="ignore", validate_default=True)

    service_name: Literal["intake", "routing", "payments", "notifications", "results"]
    environment: Literal["dev", "test", "production"] = "dev"

    database_url: str = Field(description="postgresql+asyncpg://... or sqlite+aiosqlite:///...")
    database_pool_size: int = Field(default=10, ge=1, le=200)

    # No bootstrap servers means the in-memory bus: only valid when all services share a process.
    kafka_bootstrap_servers: str | None = None
    lifecycle_topic: str = "dossier.lifecycle"
    topic_partitions: int = Field(default=12, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=7)

    consumer_max_attempts: int = Field(default=5, ge=1, le=100)
    consumer_backoff_initial_s: float = Field(default=0.2, gt=0, le=60)
    consumer_backoff_max_s: float = Field(default=5.0, gt=0, le=600)

    outbox_batch_size: int = Field(default=500, ge=1, le=10_000)
    # Safety net for rows committed by another replica; local commits wake the relay at once.
    outbox_poll_interval_s: float = Field(default=0.5, gt=0, le=60)
    outbox_retention_hours: int = Field(default=72, ge=1)
    # Under load the relay makes at most one pass per this interval, so commits close together
    # share a pass; a commit after a quiet spell is relayed at once.
    outbox_linger_ms: float = Field(default=20.0, ge=0, le=1000)

    idempotency_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True

    calendar_extra_days_off: list[date] = Field(default_factory=list)
    calendar_extra_working_days: list[date] = Field(default_factory=list)
    office_morning: tuple[time, time] = (time(7, 0), time(11, 30))
    office_afternoon: tuple[time, time] = (time(13, 30), time(17, 0))

    # Where citizens and partners reach the backbone (tracking links, QR codes, pay links).
    public_base_url: str = "http://localhost:8000"

    # Personal data at rest: Fernet keys (url-safe base64, 32 bytes); the first encrypts, all
    # decrypt, so a key rotates by putting the new one first. Also keys the lookup hashes.
    pii_keys: list[SecretStr] = Field(default_factory=list)

    # Officers sign in at the provincial SSO (OIDC): their JWT names the agency and roles.
    # HS256 with a shared secret (the embedded default's dev key) or a PEM public key (RS256/ES256).
    officer_jwt_secret: SecretStr | None = None
    officer_jwt_public_key: str | None = None
    officer_jwks_url: str | None = Field(default=None, description="The SSO's JWKS (keys rotate without a restart)")
    officer_jwks_refresh_cooldown_s: float = Field(default=30, ge=0, le=3600)
    officer_jwt_issuer: str = "onestop-dev-sso"
    officer_jwt_audience: str = "onestop"

    # Files (uploaded documents, results): a local directory by default; s3://bucket in production.
    storage_url: str = "file:./var/storage"

    @field_validator("database_url")
    @classmethod
    def _supported_driver(cls, url: str) -> str:
        if not url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("database_url must use postgresql+asyncpg:// or sqlite+aiosqlite://")
        return url

    @model_validator(mode="after")
    def _production_is_real(self) -> "ServiceSettings":
        if self.environment == "production":
            if not self.database_url.startswith("postgresql+asyncpg://"):
                raise ValueError("production requires PostgreSQL (database_url postgresql+asyncpg://)")
            if not self.kafka_bootstrap_servers:
                raise ValueError("production requires kafka_bootstrap_servers")
            if not self.pii_keys:
                raise ValueError("production requires pii_keys (personal data is encrypted at rest)")
            if self.officer_jwt_secret is not None:
                raise ValueError("production verifies officer tokens with the SSO's public key, not a shared secret")
        if self.office_morning[0] >= self.office_morning[1] or self.office_afternoon[0] >= self.office_afternoon[1]:
            raise ValueError("office hours must start before they end")
        if self.office_morning[1] > self.office_afternoon[0]:
            raise ValueError("the morning session must end before the afternoon session starts")
        return self

    @property
    def dlq_topic(self) -> str:
        return f"{self.service_name}.dlq"

    @property
    def consumer_group(self) -> str:
        return self.service_name

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
