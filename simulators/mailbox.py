"""A real SMTP server (aiosmtpd) that keeps every message it receives: the embedded default's
mail sink and the tests' mailbox. `async with Mailbox(port) as box:`; `box.messages` holds parsed
e-mails (from, to, subject, body as text)."""
from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.smtp import SMTP


class _Handler:
    def __init__(self, messages: list[dict[str, Any]], refuse: set[str]) -> None:
        self.messages, self.refuse = messages, refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook name
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "subject": str(parsed["subject"]),
                              "body": body.get_content() if body else "", "message_id": str(parsed["message-id"])})
        return "250 Message accepted"


class Mailbox:
    def __init__(self, host: str = "127.0.0.1", port: int = 8025) -> None:
        self.host, self.port = host, port
        self.messages: list[dict[str, Any]] = []
        self.refuse: set[str] = set()        # addresses answered with 550 (a permanent failure)
        self._server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> "Mailbox":
        handler = _Handler(self.messages, self.refuse)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(handler, hostname="mailbox.local"), self.host, self.port)
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
