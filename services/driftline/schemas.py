"""JSON Schema files of the event contracts, generated from the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from driftline import assets
from driftline.contracts import CONTRACTS
from driftline.generated import stale_documents, write_documents

#: The shipped schemas (driftline/assets/schemas), which `driftline schemas` regenerates in a checkout; in an
#: installed package, whose files are not to be rewritten, it writes to schemas/ in the working directory.
SCHEMA_DIR = assets.path("schemas") if assets.in_checkout() else Path.cwd() / "schemas"


def schema_documents() -> dict[str, str]:
    """File name -> JSON text, one per contract, e.g. ``sensor_event.v1.json``."""
    documents = {}
    for kind, model in CONTRACTS.items():
        version = model.model_fields["version"].default
        schema: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://driftline.dev/schemas/{kind}.v{version}.json",
            **model.model_json_schema(),
        }
        documents[f"{kind}.v{version}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return documents


def write_schemas(folder: Path = SCHEMA_DIR) -> list[Path]:
    return write_documents(schema_documents(), folder)


def stale_schemas(folder: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing or differ from the models, or that no model makes."""
    return stale_documents(schema_documents(), folder)
