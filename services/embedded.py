"""The embedded default: all five services in one process, each on its own SQLite file, sharing
one in-memory bus, served on one port with path routing (the same paths a gateway would route)."""
from __future__ import annotations

import importlib
import json
import secrets
import socket
from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import select

from services.intake.api import INTAKE_PERMISSIONS
from services.intake.settings import IntakeSettings
from services.payments.api import PAYMENTS_PERMISSIONS
from services.notifications.api import NOTIFICATIONS_PERMISSIONS
from services.notifications.settings import NotificationsSettings, SmsProvider
from services.payments.settings import PaymentsSettings
from services.results.api import RESULTS_PERMISSIONS
from services.results.settings import ResultsSettings
from services.routing.api import ROUTING_PERMISSIONS
from shared.auth import ALL_AGENCIES, IssuedKey, issue_officer_token, parse_key, store_key
from shared.bus.memory import MemoryBus
from shared.observability import configure_logging
from shared.pii import Sealer
from shared.probe import PROBE_SCOPE
from shared.problems import PROBLEM_JSON, ProblemError
from shared.service import ServiceKit, metrics_endpoint
from shared.settings import SERVICE_NAMES, ServiceSettings

DEV_AGENCY = "000.00.00.H00"  # a made-up agency identifier for the dev key
DEV_WORKFLOW_ROLES = ["chuyen-vien", "lanh-dao"]   # the dev key may act on every step, for the demo
DEV_SCOPES = [PROBE_SCOPE, ALL_AGENCIES, *INTAKE_PERMISSIONS, *ROUTING_PERMISSIONS, *PAYMENTS_PERMISSIONS,
              *NOTIFICATIONS_PERMISSIONS, *RESULTS_PERMISSIONS,
              *DEV_WORKFLOW_ROLES]
POPULATION_SIM_PATH = "/simulators/population"
PAYMENT_SIM_PATH = "/simulators/payment-platform"


def service_app(name: str, settings: ServiceSettings, bus) -> FastAPI:
    module = importlib.import_module(f"services.{name}.main")
    return module.create_app(settings, bus=bus, migrate_on_start=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmbeddedBackbone:
    """All five services on one bus. Use as an async context manager, or serve `gateway`."""

    def __init__(self, data_dir: Path, *, partitions: int = 12, log_json: bool = False,
                 base_url: str = "http://127.0.0.1:8000") -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        configure_logging("INFO", log_json)
        self.bus = MemoryBus(partitions)
        self.base_url = base_url
        self.secrets = self._dev_secrets()
        from simulators.payment_platform import create_app as payment_simulator
        from simulators.population import create_app as population_simulator
        # Real HTTP servers for the adapters, on this same port (the citizen's browser reaches them too).
        from simulators import portal, postal, sms, zalo
        from simulators.mailbox import Mailbox
        self.simulators = {POPULATION_SIM_PATH: population_simulator(),
                           PAYMENT_SIM_PATH: payment_simulator(public_url=base_url + PAYMENT_SIM_PATH),
                           "/simulators/sms-a": sms.create_app("sms-a"), "/simulators/sms-b": sms.create_app("sms-b"),
                           "/simulators/zalo": zalo.create_app(), "/simulators/portal": portal.create_app(),
                           "/simulators/postal": postal.create_app()}
        self.mailbox = Mailbox(port=_free_port())   # a real SMTP server: the citizens' inbox, for the demo
        common = {"environment": "dev", "topic_partitions": partitions, "log_json": log_json,
                  "public_base_url": base_url, "pii_keys": [self.secrets["pii_key"]],
                  "officer_jwt_secret": self.secrets["officer_jwt_secret"],
                  "storage_url": f"file:{(self.data_dir / 'storage').resolve()}"}
        self.apps: dict[str, FastAPI] = {}
        for name in SERVICE_NAMES:
            database_url = f"sqlite+aiosqlite:///{(self.data_dir / f'{name}.db').resolve()}"
            if name == "intake":
                settings: ServiceSettings = IntakeSettings(database_url=database_url,
                                                           population_db_url=base_url + POPULATION_SIM_PATH, **common)
            elif name == "notifications":
                settings = NotificationsSettings(
                    database_url=database_url, smtp_host="127.0.0.1", smtp_port=self.mailbox.port,
                    sms_providers=[SmsProvider(name="sms-a", url=f"{base_url}/simulators/sms-a", token="sms-sim-token",
                                               weight=70),
                                   SmsProvider(name="sms-b", url=f"{base_url}/simulators/sms-b", token="sms-sim-token",
                                               weight=30, unicode=False)],
                    zalo_url=f"{base_url}/simulators/zalo", portal_url=f"{base_url}/simulators/portal",
                    webhook_allowed_hosts=["127.0.0.1", "localhost"], webhook_require_https=False, **common)
            elif name == "results":
                settings = ResultsSettings(database_url=database_url, signing_dir=str((self.data_dir / "signing").resolve()),
                                           postal_url=f"{base_url}/simulators/postal", **common)
            elif name == "payments":
                settings = PaymentsSettings(database_url=database_url, payment_platform_url=base_url + PAYMENT_SIM_PATH,
                                            **common)
            else:
                settings = ServiceSettings(service_name=name, database_url=database_url, **common)
            self.apps[name] = service_app(name, settings, self.bus)
        self._stack: AsyncExitStack | None = None
        self.dev_api_key: str | None = None
        self.gateway = self._build_gateway()

    def kit(self, name: str) -> ServiceKit:
        return self.apps[name].state.kit

    def _dev_secrets(self) -> dict[str, str]:
        """The dev PII key and the dev SSO's signing secret, kept across restarts (never production)."""
        path = self.data_dir / "dev-secrets.json"
        if path.exists():
            return json.loads(path.read_text())
        values = {"pii_key": Sealer.new_key(), "officer_jwt_secret": secrets.token_urlsafe(32)}
        path.write_text(json.dumps(values))
        path.chmod(0o600)
        return values

    def officer_token(self, *, agency: str, roles: list[str], subject: str = "officer-dev",
                      name: str = "Cán bộ một cửa (dev)") -> str:
        settings = self.kit("intake").settings
        return issue_officer_token(self.secrets["officer_jwt_secret"], subject=subject, name=name, agency=agency,
                                   roles=roles, issuer=settings.officer_jwt_issuer, audience=settings.officer_jwt_audience)

    async def __aenter__(self) -> "EmbeddedBackbone":
        self._stack = AsyncExitStack()
        await self.bus.start()
        self._stack.push_async_callback(self.bus.stop)
        await self._stack.enter_async_context(self.mailbox)
        for app in self.apps.values():
            await self._stack.enter_async_context(app.router.lifespan_context(app))
        self.dev_api_key = await self._ensure_dev_key()
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._stack:
            await self._stack.aclose()

    async def _ensure_dev_key(self) -> str:
        """One dev key, valid on all five services, kept across restarts in the data directory."""
        key_file = self.data_dir / "dev-api-key.txt"
        if key_file.exists():
            plaintext = key_file.read_text().strip()
        else:
            from shared.auth import generate_key
            plaintext = generate_key().plaintext
            key_file.write_text(plaintext + "\n")
            key_file.chmod(0o600)
        key_id = parse_key(plaintext)
        assert key_id, "dev-api-key.txt is corrupt: delete it to get a new key"
        for name in SERVICE_NAMES:
            async with self.kit(name).uow() as uow:
                t = uow.tables.api_keys
                if (await uow.conn.execute(select(t.c.key_id).where(t.c.key_id == key_id))).first() is None:
                    await store_key(uow, IssuedKey(key_id, plaintext), name="embedded dev key",
                                    agency=DEV_AGENCY, scopes=DEV_SCOPES)
                    await uow.commit()
        return plaintext

    def _build_gateway(self):
        root = FastAPI(title="One-stop backbone (embedded)", docs_url=None, redoc_url=None, openapi_url=None)
        definitions = {name: app.state.kit.definition for name, app in self.apps.items()}

        @root.get("/healthz")
        async def healthz():
            return {"status": "ok", "services": list(self.apps)}

        @root.get("/readyz")
        async def readyz():
            checks = {name: await app.state.kit.readiness() for name, app in self.apps.items()}
            ready = all(all(c.values()) for c in checks.values())
            return JSONResponse({"status": "ready" if ready else "not-ready", "services": checks},
                                status_code=200 if ready else 503)

        @root.get("/")
        async def index():
            return {"services": {n: {"docs": f"/v1/{n}/docs", "health": f"/v1/{n}/healthz",
                                     "ready": f"/v1/{n}/readyz"} for n in self.apps}}

        root.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)

        @root.get("/simulators/mailbox")
        async def mailbox():
            """Every e-mail the backbone sent (the embedded SMTP server's inbox)."""
            return {"items": self.mailbox.messages}

        async def gateway(scope, receive, send):
            if scope["type"] == "lifespan":
                await self._serve_lifespan(receive, send)
                return
            path = scope.get("path", "")
            for prefix, simulator in self.simulators.items():
                if path.startswith(prefix + "/"):
                    await simulator(dict(scope, path=path[len(prefix):], raw_path=None), receive, send)
                    return
            for name, definition in definitions.items():
                if definition.owns(path):
                    await self.apps[name](scope, receive, send)
                    return
            if scope["type"] == "http" and path not in ("/", "/healthz", "/readyz", "/metrics", "/simulators/mailbox"):
                body = ProblemError(404, "not-found", "No service serves this path").body(path)
                await JSONResponse(body, status_code=404, media_type=PROBLEM_JSON)(scope, receive, send)
                return
            await root(scope, receive, send)
        return gateway

    async def _serve_lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.__aenter__()
                except Exception as exc:  # noqa: BLE001 - report to the server, which exits
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.__aexit__(None, None, None)
                await send({"type": "lifespan.shutdown.complete"})
                return
