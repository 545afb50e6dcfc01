"""The checked-in JSON Schemas are exactly what the contract models generate."""

from __future__ import annotations

import json

from driftline.contracts import CONTRACTS
from driftline.schemas import SCHEMA_DIR, schema_documents, stale_schemas


def test_checked_in_schemas_match_models() -> None:
    assert stale_schemas() == [], "run `driftline schemas` and commit what it wrote"


def test_one_schema_per_contract_and_no_strays() -> None:
    assert len(schema_documents()) == len(CONTRACTS)
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(schema_documents())


def test_drift_between_model_and_file_is_detected(tmp_path) -> None:
    for name, text in schema_documents().items():
        (tmp_path / name).write_text(text)
    doc = json.loads((tmp_path / "sensor_event.v1.json").read_text())
    doc["required"].remove("ts")
    (tmp_path / "sensor_event.v1.json").write_text(json.dumps(doc))
    assert stale_schemas(tmp_path) == ["sensor_event.v1.json"]
