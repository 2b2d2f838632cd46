import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import uvicorn

from tests.infra import free_port


async def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05,
                     message: str = "condition") -> None:
    """Poll an observable condition (for real brokers, whose delivery we cannot await directly)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


async def wait_until_async(predicate: Callable[[], Awaitable[bool]], message: str, timeout: float = 30.0,
                           interval: float = 0.1) -> None:
    """The same for a condition that needs I/O to observe (an HTTP call, a query)."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


@asynccontextmanager
async def serving(app, port: int | None = None) -> AsyncIterator[str]:
    """An ASGI app (a simulator) as a real HTTP server on a free port, in this event loop."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
