"""Partner API keys: prefixed, checksummed, stored hashed, scoped, bound to an agency.

A key looks like `osk_<id:8><secret:32><crc:6>` (base62). The prefix lets secret scanners find
leaked keys; the CRC32 rejects typos and random strings without touching the database; only a
SHA-256 of the whole key is stored (the key has 190+ bits of entropy, so a slow hash adds nothing)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import insert, select

from shared.problems import ProblemError
from shared.uow import UnitOfWork

PREFIX = "osk_"
_ALPHABET = string.digits + string.ascii_letters
_ID_LEN, _SECRET_LEN, _CRC_LEN = 8, 32, 6
KEY_LENGTH = len(PREFIX) + _ID_LEN + _SECRET_LEN + _CRC_LEN


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CRC_LEN)


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    plaintext: str  # shown once, never stored


def generate_key() -> IssuedKey:
    key_id = "".join(secrets.choice(_ALPHABET) for _ in range(_ID_LEN))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_LEN))
    body = key_id + secret
    return IssuedKey(key_id, PREFIX + body + _checksum(body))


def parse_key(candidate: str) -> str | None:
    """The key id if the string is well formed with a valid checksum, else None."""
    if len(candidate) != KEY_LENGTH or not candidate.startswith(PREFIX):
        return None
    body, crc = candidate[len(PREFIX):-_CRC_LEN], candidate[-_CRC_LEN:]
    if any(c not in _ALPHABET for c in body) or not hmac.compare_digest(_checksum(body), crc):
        return None
    return body[:_ID_LEN]


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    agency: str
    scopes: frozenset[str]

    @property
    def scope_id(self) -> str:
        """Namespace for this caller's idempotency keys."""
        return f"apikey:{self.key_id}"


async def store_key(uow: UnitOfWork, issued: IssuedKey, *, name: str, agency: str, scopes: list[str]) -> None:
    await uow.session.execute(insert(uow.tables.api_keys).values(
        key_id=issued.key_id, secret_hash=hash_key(issued.plaintext), name=name, agency=agency,
        scopes=sorted(set(scopes)), created_at=datetime.now(UTC)))


async def authenticate(uow: UnitOfWork, plaintext: str) -> Principal | None:
    key_id = parse_key(plaintext)
    if key_id is None:
        return None
    t = uow.tables.api_keys
    row = (await uow.session.execute(select(t).where(t.c.key_id == key_id))).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_hash, hash_key(plaintext)):
        return None
    return Principal(row.key_id, row.name, row.agency, frozenset(row.scopes))


def _unauthorized() -> ProblemError:
    return ProblemError(401, "unauthorized", "A valid API key is required",
                        "Send the partner API key in the X-API-Key header.",
                        headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})


def require_scopes(*scopes: str) -> Callable:
    """FastAPI dependency: the caller's Principal, if its key is valid and has every scope."""
    async def dependency(request: Request, x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None) -> Principal:
        if not x_api_key:
            raise _unauthorized()
        async with request.app.state.kit.uow() as uow:
            principal = await authenticate(uow, x_api_key)
        if principal is None:
            raise _unauthorized()
        missing = [s for s in scopes if s not in principal.scopes]
        if missing:
            raise ProblemError(403, "forbidden", "The API key lacks a required scope",
                               f"Missing scope(s): {', '.join(missing)}")
        return principal
    return Depends(dependency)
