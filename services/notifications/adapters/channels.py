"""The providers behind the channels: SMS over HTTP (two providers, weighted, with failover),
e-mail over SMTP, Zalo OA over HTTP, signed webhooks to desk systems, and the national portal.
Each call times out and answers an Outcome; none runs inside a database transaction."""
from __future__ import annotations

import asyncio
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import httpx

from services.notifications.settings import SmsProvider


@dataclass(frozen=True)
class Outcome:
    result: str                      # sent | delivered | temporary | permanent
    provider: str
    provider_message_id: str | None = None
    error: str | None = None


class RateLimiter:
    """At most `rate` calls per second (a token bucket refilled continuously)."""

    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.updated = rate, rate, time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass
class ProviderHealth:
    name: str
    sent: int = 0
    failed: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=20))   # True = success
    last_error: str | None = None

    def record(self, ok: bool, error: str | None = None) -> None:
        self.recent.append(ok)
        if ok:
            self.sent += 1
        else:
            self.failed += 1
            self.last_error = error

    @property
    def failing(self) -> bool:
        """Three of its last four calls failed: try the other provider first for now."""
        last = list(self.recent)[-4:]
        return len(last) >= 3 and last.count(False) >= 3

    def view(self) -> dict:
        return {"name": self.name, "sent": self.sent, "failed": self.failed, "failing": self.failing,
                "last_error": self.last_error}


class SmsGateway:
    def __init__(self, providers: list[SmsProvider], timeout_s: float, callback_url: str) -> None:
        self.providers = providers
        self.callback_url = callback_url
        self.health = {p.name: ProviderHealth(p.name) for p in providers}
        self.limits = {p.name: RateLimiter(p.rate_per_s) for p in providers}
        self._http = httpx.AsyncClient(timeout=timeout_s)

    async def close(self) -> None:
        await self._http.aclose()

    def order(self, message_id: str) -> list[SmsProvider]:
        """Weighted first choice (stable per message), then the others; failing providers last."""
        total = sum(p.weight for p in self.providers) or 1
        point = zlib.crc32(message_id.encode()) % total
        first, acc = self.providers[0], 0
        for provider in self.providers:
            acc += provider.weight
            if point < acc:
                first = provider
                break
        ordered = [first] + [p for p in self.providers if p is not first]
        return sorted(ordered, key=lambda p: self.health[p.name].failing)   # stable: keeps the weighted order

    async def send(self, message_id: str, to: str, render) -> Outcome:
        """`render(unicode) -> text`: the text for what the provider can carry. A provider that
        errors or is slow is skipped for the next; all failing is a temporary failure."""
        errors = []
        for provider in self.order(message_id):
            await self.limits[provider.name].acquire()
            try:
                response = await self._http.post(f"{provider.url}/api/sms", json={
                    "to": to, "text": render(provider.unicode), "unicode": provider.unicode, "client_ref": message_id,
                    "callback_url": self.callback_url.format(provider=provider.name)},
                    headers={"Authorization": f"Bearer {provider.token.get_secret_value()}"})
            except httpx.HTTPError as exc:
                self.health[provider.name].record(False, type(exc).__name__)
                errors.append(f"{provider.name}: {type(exc).__name__}")
                continue
            if response.status_code in (200, 201, 202):
                self.health[provider.name].record(True)
                return Outcome("sent", provider.name, response.json().get("message_id"))
            if response.status_code in (400, 404, 422):   # the number is wrong: no provider will do better
                self.health[provider.name].record(True)
                return Outcome("permanent", provider.name, error=f"{provider.name}: {response.text[:200]}")
            self.health[provider.name].record(False, f"HTTP {response.status_code}")
            errors.append(f"{provider.name}: HTTP {response.status_code}")
        return Outcome("temporary", "sms", error="; ".join(errors) or "no SMS provider configured")


class EmailSender:
    def __init__(self, host: str, port: int, sender: str, timeout_s: float = 10) -> None:
        self.host, self.port, self.sender, self.timeout_s = host, port, sender, timeout_s
        self.health = ProviderHealth("smtp")

    async def send(self, message_id: str, to: str, subject: str, body: str) -> Outcome:
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = self.sender, to, subject
        email["Message-ID"] = make_msgid(idstring=message_id.replace("-", ""), domain="onestop.local")
        email.set_content(body, charset="utf-8")
        try:
            await aiosmtplib.send(email, hostname=self.host, port=self.port, timeout=self.timeout_s,
                                  start_tls=False, use_tls=False)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            self.health.record(True)
            return Outcome("permanent", "smtp", error=str(exc)[:300])
        except (aiosmtplib.SMTPException, OSError) as exc:
            self.health.record(False, type(exc).__name__)
            return Outcome("temporary", "smtp", error=f"{type(exc).__name__}: {str(exc)[:200]}")
        self.health.record(True)
        return Outcome("delivered", "smtp", email["Message-ID"])


class ZaloClient:
    PERMANENT = {-201, -213, -124}   # no Zalo account, user blocked the OA, bad token (needs an operator)

    def __init__(self, url: str, token: str, timeout_s: float = 5) -> None:
        self.token = token
        self.health = ProviderHealth("zalo")
        self._http = httpx.AsyncClient(base_url=url, timeout=timeout_s)

    async def close(self) -> None:
        await self._http.aclose()

    async def send(self, message_id: str, phone: str, text: str) -> Outcome:
        try:
            response = await self._http.post("/v3/oa/message", json={"phone": phone, "text": text,
                                                                      "tracking_id": message_id},
                                              headers={"access_token": self.token})
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            self.health.record(False, type(exc).__name__)
            return Outcome("temporary", "zalo", error=type(exc).__name__)
        code = answer.get("error")
        if code == 0:
            self.health.record(True)
            return Outcome("delivered", "zalo", answer.get("data", {}).get("message_id"))
        self.health.record(False, f"error {code}")
        return Outcome("permanent" if code in self.PERMANENT else "temporary", "zalo",
                       error=f"Zalo error {code}: {answer.get('message')}")


class WebhookSender:
    def __init__(self, timeout_s: float) -> None:
        self._http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    async def close(self) -> None:
        await self._http.aclose()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None, int]:
        started = time.monotonic()
        try:
            response = await self._http.post(url, content=body, headers=headers)
            status, error = response.status_code, None if response.is_success else response.text[:300]
        except httpx.HTTPError as exc:
            status, error = None, type(exc).__name__
        return status, error, int((time.monotonic() - started) * 1000)


class PortalClient:
    def __init__(self, url: str, token: str, timeout_s: float = 10) -> None:
        self.token = token
        self._http = httpx.AsyncClient(base_url=url, timeout=timeout_s)
        self.health = ProviderHealth("portal")

    async def close(self) -> None:
        await self._http.aclose()

    async def push(self, kind: str, code: str, payload: dict, key: str) -> str | None:
        """None when the portal took it; otherwise the error (the sync retries later, in order)."""
        path = "/api/dossiers" if kind == "dossier" else f"/api/dossiers/{code}/history"
        try:
            response = await self._http.post(path, json=payload, headers={
                "Authorization": f"Bearer {self.token}", "Idempotency-Key": key})
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            self.health.record(False, type(exc).__name__)
            return type(exc).__name__
        if response.is_success and answer.get("error_code") == "0":
            self.health.record(True)
            return None
        self.health.record(False, f"HTTP {response.status_code}")
        return f"HTTP {response.status_code}: {answer.get('message')}"
