"""Client of the national population database: pre-fill an applicant from the personal identifier.

A citizen is waiting, so the budget is short (timeout, one retry on a transport error or 5xx).
Unavailable is an answer, not a crash: the caller then asks the citizen to type the data."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential


class PopulationUnavailable(Exception):
    pass


@dataclass(frozen=True)
class CitizenRecord:
    data: dict[str, Any]

    @property
    def full_name(self) -> str:
        return self.data.get("full_name", "")


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TransportError) or (
        isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code >= 500)


class PopulationClient:
    def __init__(self, base_url: str, token: str, *, timeout_s: float = 3.0, attempts: int = 2) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s,
                                         headers={"Authorization": f"Bearer {token}"})
        self._attempts = attempts

    async def lookup(self, personal_id: str, *, purpose: str, requester: str) -> CitizenRecord | None:
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(self._attempts), reraise=True,
                                               wait=wait_exponential(multiplier=0.1, max=0.5),
                                               retry=retry_if_exception(_transient)):
                with attempt:
                    response = await self._client.post("/api/v1/citizens/lookup", json={
                        "personal_id": personal_id, "purpose": purpose, "requester": requester})
                    if response.status_code == 404:
                        return None
                    response.raise_for_status()
                    return CitizenRecord(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise PopulationUnavailable(type(exc).__name__) from None
        raise PopulationUnavailable("no attempt made")

    async def close(self) -> None:
        await self._client.aclose()
