"""`onestop`: run the backbone and operate it.

    onestop dev                      all five services on one port (embedded default)
    onestop serve intake             one service, configured by environment (containers)
    onestop migrate intake           apply a service's Alembic migrations (DATABASE_URL)
    onestop apikey create intake --agency X --scopes a,b --name "partner"
    onestop dlq replay routing       re-publish a consumer's dead letters to their topic
    onestop simulate population|payment_platform|sms|zalo|portal|postal|mailbox   run a simulator
    onestop demo                     play whole dossier lives on the embedded default (dev does it on first start)
    onestop demo-data                load demo dossiers into the embedded default (dev does it too)
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path

from shared.settings import SERVICE_NAMES, ServiceSettings


def _settings(service: str) -> ServiceSettings:
    return ServiceSettings(service_name=service)


def cmd_dev(args: argparse.Namespace) -> int:
    import uvicorn

    from services.embedded import EmbeddedBackbone

    base = f"http://{args.host}:{args.port}"
    backbone = EmbeddedBackbone(Path(args.data_dir), partitions=args.partitions, base_url=base)

    async def main() -> None:
        config = uvicorn.Config(backbone.gateway, host=args.host, port=args.port, lifespan="on", log_level="warning")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if server.started:
            print(f"\nOne-stop backbone (embedded default) on {base}", flush=True)
            print(f"  data directory : {Path(args.data_dir).resolve()}")
            print(f"  health / ready : {base}/healthz  {base}/readyz   metrics: {base}/metrics")
            for name in SERVICE_NAMES:
                print(f"  {name:<14} : {base}/v1/{name}/docs")
            print(f"  dev API key    : {backbone.dev_api_key}   (header X-API-Key)")
            token = backbone.officer_token(agency="000.17.22.H56", roles=["dossiers:receive", "dossiers:read"])
            print(f"  officer token  : {token}\n                   (desk officer of 000.17.22.H56; header Authorization: Bearer ...)")
            print(f"  catalogue      : {base}/v1/procedures?q=khai%20sinh")
            print(f"  sent e-mails   : {base}/simulators/mailbox   (SMTP on 127.0.0.1:{backbone.mailbox.port})")
            if args.demo:
                from services.demo import load_embedded_demo
                loaded = await load_embedded_demo(backbone, base)
                _print_demo(loaded, base)
                if loaded:   # first start: also play whole lives, so there is a returned, signed result to look at
                    try:
                        await play_lives(backbone, base)
                    except (RuntimeError, TimeoutError) as exc:   # the backbone keeps serving; say what went wrong
                        print(f"  demo lives     : stopped ({exc})", flush=True)
            print("  try            : curl -X POST -H 'X-API-Key: <key>' -H 'Idempotency-Key: demo-1' "
                  f"-H 'Content-Type: application/json' -d '{{}}' {base}/v1/intake/probes\n", flush=True)
        await serving

    asyncio.run(main())
    return 0


async def play_lives(backbone, base: str) -> None:
    """Play the demo lives (services/lives.py) against the running embedded default, printing each
    dossier's timeline as it happens and the links to look at."""
    import httpx

    from services.lives import OFFICER_ROLES, Player, lives
    print("Whole lives of four dossiers (the simulators answer as the citizen, the bank and the postman):", flush=True)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        player = Player(client, backbone.dev_api_key, lambda agency: backbone.officer_token(agency=agency, roles=OFFICER_ROLES),
                        say=lambda line: print(line, flush=True))
        for life in lives(more=True):
            await player.play(life)
            verdict = (await client.get("/v1/results/verify", params={"number": life.result["document_number"]})).json()
            print(f"  → {verdict['verdict_vi']} (ký bởi {verdict['signature']['signer']})", flush=True)
            print(f"  → {base}/v1/tracking/{life.dossier['code']}?phone_last4={life.last4}", flush=True)
            print(f"  → {base}/v1/results/verify?number={life.result['document_number']}", flush=True)
    print(f"  e-mails sent   : {base}/simulators/mailbox\n", flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    import uvicorn

    from services.embedded import EmbeddedBackbone

    base = f"http://{args.host}:{args.port}"
    backbone = EmbeddedBackbone(Path(args.data_dir), base_url=base)

    async def main() -> None:
        server = uvicorn.Server(uvicorn.Config(backbone.gateway, host=args.host, port=args.port, lifespan="on",
                                               log_level="warning"))
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if server.started:
            await play_lives(backbone, base)
            if not args.serve:
                server.should_exit = True
            else:
                print(f"Serving on {base} (Ctrl-C to stop); API docs at {base}/v1/<service>/docs", flush=True)
        await serving

    asyncio.run(main())
    return 0


def _print_demo(dossiers, base: str) -> None:
    if not dossiers:
        print("  demo data      : already loaded (dossiers exist)")
        return
    print("  demo dossiers  : (public tracking needs the last 4 digits of the applicant's phone)")
    for d in dossiers:
        print(f"    {d.code}  {d.status:<21} {d.story}")
        print(f"      {base}/v1/tracking/{d.code}?phone_last4={d.phone_last4}")
    print(flush=True)


def cmd_demo_data(args: argparse.Namespace) -> int:
    from services.demo import load_embedded_demo
    from services.embedded import EmbeddedBackbone

    base = f"http://{args.host}:{args.port}"

    async def main() -> None:
        async with EmbeddedBackbone(Path(args.data_dir), base_url=base) as backbone:
            _print_demo(await load_embedded_demo(backbone, base), base)
    asyncio.run(main())
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import uvicorn

    if args.system == "mailbox":   # SMTP, not HTTP
        from simulators.mailbox import Mailbox

        async def serve_mail() -> None:
            async with Mailbox(args.host, args.port):
                await asyncio.Event().wait()
        asyncio.run(serve_mail())
        return 0
    module = importlib.import_module(f"simulators.{args.system}")
    uvicorn.run(module.create_app(), host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings(args.service)
    module = importlib.import_module(f"services.{args.service}.main")
    app = module.create_app(settings, migrate_on_start=args.migrate)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from shared.db import create_engine
    from shared.migrate import upgrade_to_head

    async def main() -> None:
        settings = _settings(args.service)
        engine = create_engine(settings)
        try:
            await upgrade_to_head(engine, Path(__file__).parent / args.service / "migrations")
        finally:
            await engine.dispose()
    asyncio.run(main())
    print(f"{args.service}: migrated to head")
    return 0


def cmd_apikey_create(args: argparse.Namespace) -> int:
    from shared.auth import generate_key, store_key
    from shared.service import ServiceKit

    issued = generate_key()

    async def main() -> None:
        module = importlib.import_module(f"services.{args.service}.bootstrap")
        settings = _settings(args.service)
        kit = ServiceKit(module.definition(settings), settings)
        try:
            async with kit.uow() as uow:
                await store_key(uow, issued, name=args.name, agency=args.agency,
                                scopes=[s for s in args.scopes.split(",") if s])
                await uow.commit()
        finally:
            await kit.engine.dispose()
    asyncio.run(main())
    print(issued.plaintext)
    print(f"key id {issued.key_id} stored hashed in {args.service}; the key is shown only now", file=sys.stderr)
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    from shared.bus.replay import replay_dead_letters
    from shared.service import build_bus

    async def main() -> int:
        settings = _settings(args.service)
        bus = build_bus(settings)
        await bus.start()
        try:
            return await replay_dead_letters(bus, settings.consumer_group)
        finally:
            await bus.stop()
    count = asyncio.run(main())
    print(f"{args.service}: replayed {count} dead-lettered event(s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onestop", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run all five services on the embedded default")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--data-dir", default="var/dev")
    dev.add_argument("--partitions", type=int, default=12)
    dev.add_argument("--no-demo", dest="demo", action="store_false", help="do not load demo dossiers")
    dev.set_defaults(func=cmd_dev)

    lives_demo = sub.add_parser("demo", help="play whole dossier lives on the embedded default, printing timelines")
    lives_demo.add_argument("--host", default="127.0.0.1")
    lives_demo.add_argument("--port", type=int, default=8000)
    lives_demo.add_argument("--data-dir", default="var/demo")
    lives_demo.add_argument("--serve", action="store_true", help="keep serving afterwards, to follow the links")
    lives_demo.set_defaults(func=cmd_demo)

    demo = sub.add_parser("demo-data", help="load demo dossiers into the embedded default's data directory")
    demo.add_argument("--data-dir", default="var/dev")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=cmd_demo_data)

    simulate = sub.add_parser("simulate", help="run a simulator of an outside system")
    simulate.add_argument("system", choices=["population", "payment_platform", "sms", "zalo", "portal", "postal", "mailbox"])
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8090)
    simulate.set_defaults(func=cmd_simulate)

    serve = sub.add_parser("serve", help="run one service (settings from the environment)")
    serve.add_argument("service", choices=SERVICE_NAMES)
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--migrate", action="store_true", help="apply migrations at start-up")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply a service's migrations")
    migrate.add_argument("service", choices=SERVICE_NAMES)
    migrate.set_defaults(func=cmd_migrate)

    apikey = sub.add_parser("apikey", help="partner API keys").add_subparsers(dest="action", required=True)
    create = apikey.add_parser("create", help="issue a key (printed once)")
    create.add_argument("service", choices=SERVICE_NAMES)
    create.add_argument("--agency", required=True)
    create.add_argument("--scopes", required=True, help="comma-separated")
    create.add_argument("--name", required=True)
    create.set_defaults(func=cmd_apikey_create)

    dlq = sub.add_parser("dlq", help="dead-letter topics").add_subparsers(dest="action", required=True)
    replay = dlq.add_parser("replay", help="re-publish a consumer's dead letters to their original topic")
    replay.add_argument("service", choices=SERVICE_NAMES)
    replay.set_defaults(func=cmd_dlq_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
