"""The checked-in JSON Schemas and AsyncAPI document are what the models generate."""
import json

import yaml

from shared.events import generate
from shared.events.catalogue import CATALOGUE


def test_generated_contract_files_have_not_drifted():
    stale = generate.drift()
    assert stale == [], f"run `python -m shared.events.generate`; drifted: {stale}"


def test_drift_is_detected(tmp_path, monkeypatch):
    schema_dir = tmp_path / "schemas"
    schema_dir.mkdir()
    monkeypatch.setattr(generate, "SCHEMA_DIR", schema_dir)
    monkeypatch.setattr(generate, "ASYNCAPI_FILE", tmp_path / "asyncapi.yaml")
    monkeypatch.setattr(generate, "HERE", tmp_path)
    assert generate.main([]) == 0 and generate.drift() == []
    path = schema_dir / "dossier.accepted.v1.json"
    schema = json.loads(path.read_text())
    schema["properties"].pop("due_at")
    path.write_text(json.dumps(schema))
    (schema_dir / "dossier.gone.v1.json").write_text("{}")
    assert set(generate.drift()) == {"schemas/dossier.accepted.v1.json", "schemas/dossier.gone.v1.json"}


def test_asyncapi_document_lists_every_event_on_the_lifecycle_channel():
    doc = yaml.safe_load(generate.ASYNCAPI_FILE.read_text(encoding="utf-8"))
    assert doc["asyncapi"].startswith("3.")
    names = {m["name"] for m in doc["components"]["messages"].values()}
    assert names == set(CATALOGUE)
    assert doc["channels"]["lifecycle"]["address"] == "dossier.lifecycle"
