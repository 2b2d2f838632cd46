"""A service run as `onestop serve` would run it, for schemathesis: its own thread and event loop,
uvicorn on a free port, SQLite and its own in-memory bus, and a partner key holding every
permission, so generated requests reach the handlers instead of stopping at authentication."""
from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from shared.auth import ALL_AGENCIES, generate_key, store_key
from tests.infra import free_port


@contextmanager
def fuzz_server(app, permissions: list[str]) -> Iterator[tuple[str, str]]:
    port = free_port()
    issued = generate_key()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            async with app.state.kit.uow() as uow:
                await store_key(uow, issued, name="fuzzer", agency="000.17.22.H56", scopes=[*permissions, ALL_AGENCIES])
                await uow.commit()
            await server.serve()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    for _ in range(400):
        if server.started:
            break
        threading.Event().wait(0.05)
    assert server.started, "the service did not start"
    try:
        yield f"http://127.0.0.1:{port}", issued.plaintext
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def assert_no_server_error(case, base: str, key: str, *, outside_system_down_is_ok: bool = False) -> None:
    """Every generated request, with a key that holds every permission, answers below 500 - but a
    503 problem that says an outside system (payment platform, postal service) is unreachable."""
    response = case.call(base_url=base, headers={"X-API-Key": key, "Idempotency-Key": str(uuid.uuid4())}, timeout=30)
    unavailable = outside_system_down_is_ok and response.status_code == 503 and \
        response.json().get("type", "").endswith("-unavailable")
    assert response.status_code < 500 or unavailable, \
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"


def openapi_of(create_app, settings) -> dict:
    """The document a service publishes (built without starting it), for schemathesis."""
    return create_app(settings).openapi()
