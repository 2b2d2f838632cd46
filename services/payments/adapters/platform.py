"""The national payment platform's message protocol (as seen in production, v1.0.6) and a client.

Messages are JSON. Each carries `checksum` = SHA-256 (hex) over its fields, in the order below,
joined with "|", followed by "|" and the shared secret. Timestamps are `yyyyMMddHHmmss`
(Vietnam time); amounts are VND integers. Error code "00" means success.

  INIT      create a transaction for a reference; answers a payment URL
  QUERY     a transaction's status by reference: 00 paid, 01 pending, 02 failed, 03 refunded
  GET_BILL  the platform's e-receipt (PDF, base64)
  REFUND    return an amount of a paid transaction
  CONFIRM   inbound: the platform tells the merchant how a transaction ended (server to server)

The client never holds a database transaction: callers record an in-flight marker first."""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shared.calendar import VIETNAM_TZ

SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "INIT": ("message_type", "merchant_code", "reference", "amount", "currency", "return_url", "notify_url", "timestamp"),
    "INIT_RESPONSE": ("error_code", "reference", "transaction_id", "payment_url"),
    "QUERY": ("message_type", "merchant_code", "reference", "timestamp"),
    "QUERY_RESPONSE": ("error_code", "reference", "transaction_id", "status", "amount", "currency"),
    "GET_BILL": ("message_type", "merchant_code", "reference", "timestamp"),
    "REFUND": ("message_type", "merchant_code", "reference", "refund_reference", "amount", "timestamp"),
    "REFUND_RESPONSE": ("error_code", "refund_reference", "amount"),
    "CONFIRM": ("message_type", "merchant_code", "reference", "transaction_id", "amount", "currency", "error_code",
                "timestamp"),
}
PAID, PENDING, FAILED, REFUNDED = "00", "01", "02", "03"
NOT_FOUND = "04"


def timestamp(moment: datetime) -> str:
    return moment.astimezone(VIETNAM_TZ).strftime("%Y%m%d%H%M%S")


def parse_timestamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=VIETNAM_TZ)


def checksum(kind: str, message: dict[str, Any], secret: str) -> str:
    joined = "|".join("" if message.get(f) is None else str(message[f]) for f in SIGNED_FIELDS[kind])
    return hashlib.sha256(f"{joined}|{secret}".encode()).hexdigest()


def sign(kind: str, message: dict[str, Any], secret: str) -> dict[str, Any]:
    return {**message, "checksum": checksum(kind, message, secret)}


def verify(kind: str, message: dict[str, Any], secrets: Sequence[str]) -> bool:
    """True if the checksum matches under any current secret (secrets rotate with an overlap)."""
    given = str(message.get("checksum", ""))
    return any(hmac.compare_digest(checksum(kind, message, s), given) for s in secrets)


class PlatformError(Exception):
    """The platform answered, but not with success (or with a message we cannot trust)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class PlatformUnavailable(Exception):
    """No answer (timeout, connection refused, 5xx): the outcome is unknown, the reconciler settles it."""


@dataclass(frozen=True)
class Initiated:
    transaction_id: str
    payment_url: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class Status:
    code: str                  # PAID / PENDING / FAILED / REFUNDED / NOT_FOUND
    transaction_id: str | None
    amount: int | None
    currency: str | None
    raw: dict[str, Any]


class PaymentPlatform:
    """Client of the platform. Every call times out; reads retry, writes are idempotent by reference."""

    def __init__(self, base_url: str, merchant_code: str, secrets: Sequence[str], *, timeout_s: float = 5.0,
                 attempts: int = 3) -> None:
        self.merchant_code = merchant_code
        self.secrets = list(secrets)
        self.attempts = attempts
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)

    async def close(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, kind: str, fields: dict[str, Any], now: datetime, *, retry: bool) -> dict[str, Any]:
        message = sign(kind, {"message_type": kind, "merchant_code": self.merchant_code, "timestamp": timestamp(now),
                              **fields}, self.secrets[0])
        attempts = self.attempts if retry else 1
        async for attempt in AsyncRetrying(stop=stop_after_attempt(attempts), reraise=True,
                                           wait=wait_exponential(multiplier=0.2, max=2),
                                           retry=retry_if_exception_type(PlatformUnavailable)):
            with attempt:
                try:
                    response = await self._http.post(path, json=message)
                except httpx.HTTPError as exc:
                    raise PlatformUnavailable(f"{kind}: {type(exc).__name__}") from None
                if response.status_code >= 500:
                    raise PlatformUnavailable(f"{kind}: HTTP {response.status_code}")
                try:
                    return response.json()
                except ValueError:
                    raise PlatformError(f"{kind}: answer is not JSON") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def init(self, *, reference: str, amount: int, description: str, fee_lines: list[dict[str, Any]],
                   return_url: str, notify_url: str, now: datetime) -> Initiated:
        # INIT is retried: the platform answers the same transaction for the same reference.
        answer = await self._post("/api/init", "INIT", {
            "reference": reference, "amount": amount, "currency": "VND", "description": description,
            "fee_lines": fee_lines, "return_url": return_url, "notify_url": notify_url}, now, retry=True)
        if answer.get("error_code") != "00":
            raise PlatformError(f"INIT refused: {answer.get('message', answer.get('error_code'))}", answer.get("error_code"))
        if not verify("INIT_RESPONSE", {**answer, "reference": reference}, self.secrets):
            raise PlatformError("INIT answer has a bad checksum")
        return Initiated(str(answer["transaction_id"]), str(answer["payment_url"]), answer)

    async def query(self, reference: str, now: datetime) -> Status:
        answer = await self._post("/api/query", "QUERY", {"reference": reference}, now, retry=True)
        code = answer.get("error_code")
        if code == NOT_FOUND:
            return Status(NOT_FOUND, None, None, None, answer)
        if code != "00" or not verify("QUERY_RESPONSE", answer, self.secrets) or answer.get("reference") != reference:
            raise PlatformError(f"QUERY answer not usable (error {code})", code)
        amount = answer.get("amount")
        return Status(str(answer["status"]), answer.get("transaction_id"), int(amount) if amount is not None else None,
                      answer.get("currency"), answer)

    async def refund(self, *, reference: str, refund_reference: str, amount: int, now: datetime) -> dict[str, Any]:
        answer = await self._post("/api/refund", "REFUND", {"reference": reference, "refund_reference": refund_reference,
                                                            "amount": amount}, now, retry=True)
        if answer.get("error_code") != "00":
            raise PlatformError(f"REFUND refused: {answer.get('message', answer.get('error_code'))}", answer.get("error_code"))
        if not verify("REFUND_RESPONSE", answer, self.secrets):
            raise PlatformError("REFUND answer has a bad checksum")
        return answer

    async def get_bill(self, reference: str, now: datetime) -> dict[str, Any]:
        answer = await self._post("/api/get_bill", "GET_BILL", {"reference": reference}, now, retry=True)
        if answer.get("error_code") != "00":
            raise PlatformError(f"GET_BILL refused: {answer.get('error_code')}", answer.get("error_code"))
        return answer
