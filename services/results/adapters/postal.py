"""Client of the public postal service: a delivery order for a result, with a tracking code."""
from __future__ import annotations

from typing import Any

import httpx


class PostalUnavailable(Exception):
    pass


class PostalRefused(Exception):
    pass


class PostalClient:
    def __init__(self, url: str, token: str, customer_code: str, timeout_s: float = 10) -> None:
        self.token, self.customer_code = token, customer_code
        self._http = httpx.AsyncClient(base_url=url, timeout=timeout_s)

    async def close(self) -> None:
        await self._http.aclose()

    async def order(self, *, order_number: str, receiver: dict[str, Any], callback_url: str) -> str:
        """The tracking code. The order number is our result id: asking twice answers the same order."""
        try:
            response = await self._http.post("/api/orders", json={
                "customer_code": self.customer_code, "order_number": order_number, "receiver": receiver,
                "cod_amount": 0, "callback_url": callback_url}, headers={"Authorization": f"Bearer {self.token}"})
        except httpx.HTTPError as exc:
            raise PostalUnavailable(type(exc).__name__) from None
        if response.status_code >= 500:
            raise PostalUnavailable(f"HTTP {response.status_code}")
        if not response.is_success:
            raise PostalRefused(response.text[:300])
        return response.json()["tracking_code"]
