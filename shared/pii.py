"""Personal data at rest (Law 91/2025/QH15): sealed with Fernet (AES-128-CBC + HMAC-SHA256) under
rotating keys, and keyed hashes for the few lookups that must work without decrypting.

Masking for display lives here too, so every view masks the same way."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SealError(Exception):
    pass


class Sealer:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SealError("no pii key configured (PII_KEYS)")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        # Lookup hashes use a key derived from the current key, never the key itself.
        self._hash_key = hashlib.sha256(b"onestop-lookup|" + base64.urlsafe_b64decode(keys[0])).digest()

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, data: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())

    def open(self, token: bytes) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise SealError("sealed data cannot be opened with the configured keys") from None

    def lookup_hash(self, *parts: str) -> str:
        return hmac.new(self._hash_key, "|".join(parts).encode(), hashlib.sha256).hexdigest()


def mask_name(full_name: str) -> str:
    """'Nguyễn Văn An' -> 'N*** V** An': enough for the citizen to recognise, not to identify."""
    words = full_name.split()
    if len(words) <= 1:
        return (full_name[:1] + "***") if full_name else ""
    return " ".join([w[0] + "*" * (len(w) - 1) for w in words[:-1]] + [words[-1]])


def mask_digits(value: str | None, visible: int = 3) -> str | None:
    if not value:
        return value
    return "*" * max(len(value) - visible, 0) + value[-visible:]


def mask_email(value: str | None) -> str | None:
    if not value or "@" not in value:
        return value
    local, domain = value.split("@", 1)
    return f"{local[:1]}***@{domain}"


def sealer_from_settings(settings, log) -> Sealer:
    """The service's sealer from PII_KEYS (newest first). Production refuses to start without keys
    (settings); dev and tests get a throwaway key, so what they seal does not outlive the process."""
    keys = [k.get_secret_value() for k in settings.pii_keys]
    if not keys:
        log.warning("ephemeral_pii_key", detail="no PII_KEYS: personal data sealed now cannot be read after a restart")
        keys = [Sealer.new_key()]
    return Sealer(keys)
