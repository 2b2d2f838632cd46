"""Idempotency-Key for POSTs that create something (stored per service, with expiry).

Same key + same body -> the first response again (with `Idempotent-Replayed: true`);
same key + another body -> 409. The stored response commits in the same transaction as the
effect, so a crash can never leave an effect without its key, or a key without its effect.
A request that fails (4xx) stores nothing: the caller may fix it and retry with the same key."""
from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from sqlalchemy import delete, select

from shared.db import insert_if_absent
from shared.problems import ProblemError
from shared.uow import UnitOfWork

Action = Callable[[UnitOfWork], Awaitable["Created"]]


@dataclass(frozen=True)
class Created:
    status_code: int
    body: dict[str, Any]
    location: str | None = None


def require_idempotency_key(
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> str:
    if not idempotency_key:
        raise ProblemError(400, "idempotency-key-required", "Idempotency-Key header is required",
                           "Send a unique Idempotency-Key (e.g. a UUID) with every POST that creates something.",
                           detail_vi="Cần gửi header Idempotency-Key duy nhất cho mỗi yêu cầu tạo mới.",
                           errors=[{"field": "header.Idempotency-Key", "message": "required"}])
    if len(idempotency_key) > 255 or not idempotency_key.isprintable():
        raise ProblemError(400, "idempotency-key-invalid", "Idempotency-Key is invalid",
                           "Use at most 255 printable characters.",
                           errors=[{"field": "header.Idempotency-Key", "message": "at most 255 printable characters"}])
    return idempotency_key


def _respond(status_code: int, body: dict[str, Any], location: str | None, replayed: bool) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true" if replayed else "false"}
    if location:
        headers["Location"] = location
    return JSONResponse(body, status_code=status_code, headers=headers)


class IdempotentExecutor:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], ttl: timedelta) -> None:
        self._uow_factory = uow_factory
        self.ttl = ttl

    async def run(self, *, scope: str, key: str, request_body: bytes, action: Action) -> JSONResponse:
        """One transaction: look the key up, run the action, store the key with the response.

        Two requests racing with one key both run the action, but only one can insert the key
        (the other waits on the unique index, then finds it taken): the loser rolls back all
        of its work and answers with the winner's response."""
        request_hash = hashlib.sha256(request_body).hexdigest()
        for _ in range(3):
            async with self._uow_factory() as uow:
                stored = await self._lookup(uow, scope, key, request_hash)
                if stored:
                    return stored
                created = await action(uow)
                now = datetime.now(UTC)
                claimed = await insert_if_absent(uow.conn, uow.tables.idempotency_keys, {
                    "scope": scope, "key": key, "request_hash": request_hash, "status_code": created.status_code,
                    "response_body": created.body, "location": created.location, "created_at": now,
                    "expires_at": now + self.ttl})
                if claimed:
                    await uow.commit()
                    return _respond(created.status_code, created.body, created.location, replayed=False)
                await uow.rollback()   # a concurrent request with this key won; answer with its response
        raise ProblemError(409, "idempotency-key-busy", "The same Idempotency-Key is being used concurrently",
                           "Retry the request shortly.")

    async def run_outside_transaction(self, *, scope: str, key: str, request_body: bytes,
                                      action: Callable[[], Awaitable[Created]]) -> JSONResponse:
        """For actions that call an outside system between their own transactions (a payment
        gateway): no transaction is held while they run. The action must be safe to run twice
        (its own rules make a second run find the first's result); the key then only replays
        the first response."""
        request_hash = hashlib.sha256(request_body).hexdigest()
        async with self._uow_factory() as uow:
            stored = await self._lookup(uow, scope, key, request_hash)
            await uow.commit()
        if stored:
            return stored
        created = await action()
        now = datetime.now(UTC)
        async with self._uow_factory() as uow:
            claimed = await insert_if_absent(uow.conn, uow.tables.idempotency_keys, {
                "scope": scope, "key": key, "request_hash": request_hash, "status_code": created.status_code,
                "response_body": created.body, "location": created.location, "created_at": now,
                "expires_at": now + self.ttl})
            if not claimed:
                stored = await self._lookup(uow, scope, key, request_hash)
            await uow.commit()
        if stored:
            return stored
        return _respond(created.status_code, created.body, created.location, replayed=False)

    @staticmethod
    async def _lookup(uow: UnitOfWork, scope: str, key: str, request_hash: str) -> JSONResponse | None:
        t = uow.tables.idempotency_keys
        row = (await uow.conn.execute(select(t).where(t.c.scope == scope, t.c.key == key))).first()
        if row is None:
            return None
        if row.expires_at <= datetime.now(UTC):
            await uow.conn.execute(delete(t).where(t.c.scope == scope, t.c.key == key))
            return None
        if row.request_hash != request_hash:
            raise ProblemError(409, "idempotency-key-reused", "Idempotency-Key was used with another request",
                               "This Idempotency-Key was already used with a different body; use a new key.",
                               detail_vi="Idempotency-Key này đã được dùng cho một yêu cầu khác; hãy dùng khóa mới.")
        return _respond(row.status_code, row.response_body, row.location, replayed=True)

    async def purge_expired(self) -> int:
        async with self._uow_factory() as uow:
            t = uow.tables.idempotency_keys
            result = await uow.conn.execute(delete(t).where(t.c.expires_at <= datetime.now(UTC)))
            await uow.commit()
            return result.rowcount or 0


async def maybe_idempotent(kit, scope: str, key: str | None, request_body: bytes, action: Action) -> JSONResponse:
    """Honour an Idempotency-Key when the caller sends one (actions that may also be retried by
    If-Match); without one, run the action in a plain unit of work."""
    if key is None:
        async with kit.uow() as uow:
            created = await action(uow)
            await uow.commit()
        return JSONResponse(created.body, status_code=created.status_code,
                            headers={"Location": created.location} if created.location else None)
    return await kit.idempotency.run(scope=scope, key=key, request_body=request_body, action=action)
