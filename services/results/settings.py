"""Results' own settings, on top of what every service reads (shared.settings)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from shared.settings import ServiceSettings

DEV_LINK_SECRET = "dev-download-link-secret"


class ResultsSettings(ServiceSettings):
    service_name: Literal["results"] = "results"
    # The local signer keeps a provincial test CA and per-agency certificates here (created at
    # set-up when missing). Production plugs an HSM or a remote signing service into the adapter.
    signing_dir: str = "var/signing"
    signer: Literal["local-test-ca"] = "local-test-ca"
    allow_test_signer_in_production: bool = Field(default=False, description="Only for a demo host (compose)")
    download_link_secret: SecretStr = SecretStr(DEV_LINK_SECRET)
    download_link_ttl_s: int = Field(default=900, ge=60, le=86400)
    postal_url: str | None = None
    postal_token: SecretStr = SecretStr("postal-sim-token")
    postal_customer_code: str = "KH-MOTCUA-56"
    postal_confirmation_secret: SecretStr = SecretStr("dev-postal-confirmation-secret")
    province_name: str = "Khánh Hòa"

    @model_validator(mode="after")
    def _production(self) -> "ResultsSettings":
        if self.environment == "production":
            if self.download_link_secret.get_secret_value() == DEV_LINK_SECRET:
                raise ValueError("production requires a download_link_secret of its own")
            if self.signer == "local-test-ca" and not self.allow_test_signer_in_production:
                raise ValueError("production signs with the agencies' real certificates (an HSM or remote signer), "
                                 "not the local test CA")
        return self
