"""Sequence numbers for dossier codes, per receiving agency and day, unique across replicas.

Each process reserves a block of numbers in its own short transaction (UPSERT ... RETURNING on
the agency/day counter) and hands them out from memory. A submission therefore never holds the
counter's row lock (which serialised every submission of an agency behind the slowest commit),
and the rules allow the price: numbers are gap-tolerant, never reused (DOMAIN.md), so a block
lost with a crashed process only leaves a gap. Reservations use their own small connection pool:
taken from the request pool while a request holds a connection, they could wait on each other."""
from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.models import code_sequences
from shared.db import dialect_insert


class CodeNumbers:
    def __init__(self, engine: AsyncEngine, block: int = 20) -> None:
        self._engine = engine
        self._block = block
        self._ranges: dict[tuple[str, date], tuple[int, int]] = {}   # next, last (inclusive)
        self._locks: dict[tuple[str, date], asyncio.Lock] = defaultdict(asyncio.Lock)

    async def next(self, agency: str, day: date) -> int:
        key = (agency, day)
        async with self._locks[key]:
            following, last = self._ranges.get(key, (1, 0))
            if following > last:
                last = await self._reserve(agency, day)
                following = last - self._block + 1
            self._ranges[key] = (following + 1, last)
            return following

    async def _reserve(self, agency: str, day: date) -> int:
        async with self._engine.begin() as conn:   # its own transaction, committed at once
            stmt = dialect_insert(conn, code_sequences).values(agency=agency, day=day, last=self._block)
            stmt = stmt.on_conflict_do_update(index_elements=["agency", "day"],
                                              set_={"last": code_sequences.c.last + self._block})
            return (await conn.execute(stmt.returning(code_sequences.c.last))).scalar_one()

    async def close(self) -> None:
        await self._engine.dispose()
