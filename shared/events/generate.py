"""Generate the checked-in contract files from the catalogue.

    python -m shared.events.generate          # rewrite shared/events/schemas and asyncapi.yaml
    python -m shared.events.generate --check  # exit 1 if the files drift from the models
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from shared.events.catalogue import CATALOGUE
from shared.events.envelope import Envelope

HERE = Path(__file__).parent
SCHEMA_DIR = HERE / "schemas"
ASYNCAPI_FILE = HERE / "asyncapi.yaml"
SCHEMA_BASE = "https://schemas.onestop.example/events/"


def _dump(obj: object) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def schema_files() -> dict[str, str]:
    files: dict[str, str] = {}
    for etype in CATALOGUE.values():
        schema = etype.model.model_json_schema(mode="serialization")
        schema.update({"$id": SCHEMA_BASE + f"{etype.name}.json",
                       "$schema": "https://json-schema.org/draft/2020-12/schema",
                       "title": etype.name, "description": etype.summary})
        if etype.national_status is not None:
            schema["x-national-status"] = int(etype.national_status)
        files[f"{etype.name}.json"] = _dump(schema)
    envelope = Envelope.model_json_schema()
    envelope.update({"$id": SCHEMA_BASE + "envelope.json", "$schema": "https://json-schema.org/draft/2020-12/schema"})
    files["envelope.json"] = _dump(envelope)
    return files


def asyncapi_document() -> str:
    messages, operations = {}, {}
    header_props = {f"ce_{name}": {"type": "string"} for name in
                    ("specversion", "id", "source", "type", "subject", "time", "dataschema",
                     "correlationid", "causationid", "traceparent")}
    for etype in CATALOGUE.values():
        key = etype.name.replace(".", "_")
        messages[key] = {
            "name": etype.name,
            "title": etype.name,
            "summary": etype.summary,
            "contentType": "application/json",
            "headers": {"type": "object", "required": ["ce_id", "ce_type", "ce_source", "ce_subject",
                                                      "ce_time", "ce_specversion", "ce_correlationid"],
                        "properties": header_props},
            "payload": {"$ref": f"./schemas/{etype.name}.json"},
            "bindings": {"kafka": {"key": {"type": "string", "description": "dossier id"}}},
            "x-producer": etype.producer,
            **({"x-national-status": int(etype.national_status)} if etype.national_status else {}),
        }
        operations[f"publish_{key}"] = {
            "action": "send",
            "channel": {"$ref": "#/channels/lifecycle"},
            "summary": f"{etype.producer} publishes {etype.name}",
            "messages": [{"$ref": f"#/channels/lifecycle/messages/{key}"}],
        }
    doc = {
        "asyncapi": "3.0.0",
        "info": {"title": "One-stop backbone dossier lifecycle events", "version": "1.0.0",
                 "description": "Every lifecycle change of a dossier, as CloudEvents 1.0 in Kafka binary "
                                "mode (ce_* headers, JSON value, key = dossier id). Desk systems subscribe here."},
        "defaultContentType": "application/json",
        "channels": {"lifecycle": {"address": "dossier.lifecycle",
                                   "messages": {k: {"$ref": f"#/components/messages/{k}"} for k in messages}}},
        "operations": operations,
        "components": {"messages": messages},
    }
    return yaml.safe_dump(doc, sort_keys=True, allow_unicode=True)


def expected_files() -> dict[Path, str]:
    files = {SCHEMA_DIR / name: text for name, text in schema_files().items()}
    files[ASYNCAPI_FILE] = asyncapi_document()
    return files


def drift() -> list[str]:
    """Names of files that differ from what the models generate, or that should not be there."""
    expected = expected_files()
    problems = [str(p.relative_to(HERE)) for p, text in expected.items()
                if not p.exists() or p.read_text(encoding="utf-8") != text]
    problems += [str(p.relative_to(HERE)) for p in SCHEMA_DIR.glob("*.json") if p not in expected]
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--check" in argv:
        stale = drift()
        for name in stale:
            print(f"drifted: {name}", file=sys.stderr)
        return 1 if stale else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for stale in SCHEMA_DIR.glob("*.json"):
        stale.unlink()
    for path, text in expected_files().items():
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(expected_files())} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
