"""What every service's handler context has besides its own adapters: a clock that tests and
training environments can move, and the public address links are made from. Each service's
context (services/<name>/handlers.py) is a dataclass with a `settings` field that subclasses this."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(kw_only=True)
class ServiceContext:
    now: Callable[[], datetime] = field(default=utc_now)

    def url(self, path: str) -> str:
        """An absolute public link (what citizens, partners and the portal are sent)."""
        return f"{self.settings.public_base_url}{path}"   # type: ignore[attr-defined]
