"""Partner API keys: prefixed, checksummed, stored hashed, scoped, bound to an agency.

A key looks like `osk_<id:8><secret:32><crc:6>` (base62). The prefix lets secret scanners find
leaked keys; the CRC32 rejects typos and random strings without touching the database; only a
SHA-256 of the whole key is stored (the key has 190+ bits of entropy, so a slow hash adds nothing)."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import string
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import jwt
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
    await uow.conn.execute(insert(uow.tables.api_keys).values(
        key_id=issued.key_id, secret_hash=hash_key(issued.plaintext), name=name, agency=agency,
        scopes=sorted(set(scopes)), created_at=datetime.now(UTC)))


async def authenticate(uow: UnitOfWork, plaintext: str) -> Principal | None:
    key_id = parse_key(plaintext)
    if key_id is None:
        return None
    t = uow.tables.api_keys
    row = (await uow.conn.execute(select(t).where(t.c.key_id == key_id))).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_hash, hash_key(plaintext)):
        return None
    return Principal(row.key_id, row.name, row.agency, frozenset(row.scopes))


class PrincipalCache:
    """Recently verified API keys, so a busy partner costs no database read per request.
    Only valid keys are kept; a revoked key stops working within `ttl_s`."""

    def __init__(self, ttl_s: float = 30.0, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, plaintext: str) -> Principal | None:
        entry = self._entries.get(hash_key(plaintext))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, plaintext: str, principal: Principal) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[hash_key(plaintext)] = (time.monotonic() + self.ttl_s, principal)


async def principal_for(request: Request, plaintext: str) -> Principal | None:
    kit = request.app.state.kit
    principal = kit.principals.get(plaintext)
    if principal is None:
        async with kit.uow() as uow:
            principal = await authenticate(uow, plaintext)
        if principal is not None:
            kit.principals.put(plaintext, principal)
    return principal


def _unauthorized(detail: str = "Send the partner API key in the X-API-Key header, or an officer token "
                                 "as Authorization: Bearer.") -> ProblemError:
    return ProblemError(401, "unauthorized", "Valid credentials are required", detail,
                        detail_vi="Cần khóa API của đối tác hoặc phiên đăng nhập của cán bộ.",
                        headers={"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'})


def require_scopes(*scopes: str) -> Callable:
    """FastAPI dependency: the caller's Principal, if its key is valid and has every scope."""
    async def dependency(request: Request, x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None) -> Principal:
        if not x_api_key:
            raise _unauthorized()
        principal = await principal_for(request, x_api_key)
        if principal is None:
            raise _unauthorized()
        missing = [s for s in scopes if s not in principal.scopes]
        if missing:
            raise ProblemError(403, "forbidden", "The API key lacks a required scope",
                               f"Missing scope(s): {', '.join(missing)}")
        return principal
    return Depends(dependency)


# --- actors: partners (API keys) and officers (JWT from the provincial SSO) ----------------------
ALL_AGENCIES = "agency:*"  # permission to act for every agency (province-wide desks, the dev key)


@dataclass(frozen=True)
class Actor:
    """Whoever calls: a partner system by API key, or an officer by SSO token."""
    kind: str                 # "partner" | "officer"
    id: str
    name: str
    agency: str
    permissions: frozenset[str]

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}"

    def may_act_for(self, agency: str) -> bool:
        return self.agency == agency or ALL_AGENCIES in self.permissions


def issue_officer_token(secret: str, *, subject: str, name: str, agency: str, roles: list[str],
                        issuer: str, audience: str, ttl_s: int = 8 * 3600) -> str:
    """A dev SSO's token (HS256). Production tokens come from the provincial SSO."""
    now = int(datetime.now(UTC).timestamp())
    return jwt.encode({"sub": subject, "name": name, "agency": agency, "roles": roles, "iss": issuer,
                       "aud": audience, "iat": now, "exp": now + ttl_s}, secret, algorithm="HS256")


_JWKS_CLIENTS: dict[str, jwt.PyJWKClient] = {}


async def _jwks_key(url: str, token: str, cooldown_s: float):
    """The SSO's signing key named by the token's kid; the key set is cached and refetched when
    an unknown kid appears (the SSO rotated its keys), at most once per cooldown (so a flood of
    made-up kids cannot hammer the SSO)."""
    client = _JWKS_CLIENTS.get(url)
    if client is None:
        client = _JWKS_CLIENTS[url] = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=300, timeout=5,
                                                       cooldown_duration=cooldown_s)
    return (await asyncio.to_thread(client.get_signing_key_from_jwt, token)).key


async def _officer_from_token(token: str, settings) -> Actor:
    if settings.officer_jwks_url:
        try:
            key = await _jwks_key(settings.officer_jwks_url, token, settings.officer_jwks_refresh_cooldown_s)
            algorithms = ["RS256", "ES256"]
        except jwt.PyJWKClientConnectionError:
            raise ProblemError(503, "sso-unavailable", "The sign-in service cannot be reached",
                               "Officer tokens cannot be checked right now; try again shortly.",
                               detail_vi="Chưa kết nối được hệ thống đăng nhập; vui lòng thử lại sau.") from None
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"The officer token is not valid ({type(exc).__name__}).") from None
    elif settings.officer_jwt_public_key:
        key, algorithms = settings.officer_jwt_public_key, ["RS256", "ES256"]
    elif settings.officer_jwt_secret is not None:
        key, algorithms = settings.officer_jwt_secret.get_secret_value(), ["HS256"]
    else:
        raise _unauthorized("Officer sign-in is not configured on this service.")
    try:
        claims = jwt.decode(token, key, algorithms=algorithms, audience=settings.officer_jwt_audience,
                            issuer=settings.officer_jwt_issuer, options={"require": ["exp", "sub", "iss", "aud"]})
    except jwt.PyJWTError as exc:
        raise _unauthorized(f"The officer token is not valid ({type(exc).__name__}).") from None
    agency, roles = claims.get("agency"), claims.get("roles", [])
    if not isinstance(agency, str) or not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise _unauthorized("The officer token lacks the agency and roles claims.")
    return Actor("officer", str(claims["sub"]), str(claims.get("name", claims["sub"])), agency, frozenset(roles))


def require_actor(*permissions: str) -> Callable:
    """FastAPI dependency: an officer (Authorization: Bearer <SSO JWT>) or a partner (X-API-Key)
    holding every listed permission (JWT roles / API key scopes)."""
    async def dependency(request: Request, authorization: Annotated[str | None, Header()] = None,
                         x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None) -> Actor:
        kit = request.app.state.kit
        if authorization and authorization.lower().startswith("bearer "):
            actor = await _officer_from_token(authorization[7:].strip(), kit.settings)
        elif x_api_key:
            principal = await principal_for(request, x_api_key)
            if principal is None:
                raise _unauthorized()
            actor = Actor("partner", principal.key_id, principal.name, principal.agency, principal.scopes)
        else:
            raise _unauthorized()
        missing = [p for p in permissions if p not in actor.permissions]
        if missing:
            raise ProblemError(403, "forbidden", "Not permitted",
                               f"Missing permission(s): {', '.join(missing)}",
                               detail_vi="Tài khoản không có quyền thực hiện thao tác này.")
        return actor
    return Depends(dependency)
