import asyncio
import time
from collections.abc import Callable


async def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05,
                     message: str = "condition") -> None:
    """Poll an observable condition (for real brokers, whose delivery we cannot await directly)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)
