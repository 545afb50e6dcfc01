"""The configuration reference (docs/configuration.md), generated from the settings models.

Generated rather than written, so every key, default and description in the document is the one
the code reads; a test fails when the checked-in file differs.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from driftline.config.settings import Settings

REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
PLACEHOLDERS = {"streams": "<stream>", "features": "<feature>", "devices": "<device>"}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _optional_model(annotation: Any) -> type[BaseModel] | None:
    """The model of an annotation ``Model | None``, else None."""
    if get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    others = [a for a in get_args(annotation) if a is not type(None)]
    return _model_of(others[0]) if len(others) == 1 else None


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(get_args(annotation)[0])
    if origin is Literal:
        return " \\| ".join(f"`{a!r}`".replace("'", '"') for a in get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(annotation))
    if origin in (list, dict):
        return f"{origin.__name__} of {', '.join(_type_name(a) for a in get_args(annotation))}"
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", str(annotation))


def _show(value: Any) -> str:
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, SecretStr):
        # Defaults are empty; a secret is never printed, even here.
        value = "" if not value.get_secret_value() else "<secret>"
    return "`" + json.dumps(value) + "`"


def _default(field: FieldInfo, instance: BaseModel | None, name: str) -> str:
    if instance is not None:
        return _show(getattr(instance, name))
    if field.default_factory is not None:
        return _show(field.default_factory())
    return "required" if field.default is PydanticUndefined else _show(field.default)


Section = tuple[str, type[BaseModel], BaseModel | None]


def _rows(model: type[BaseModel], prefix: str, sections: list[Section], instance: BaseModel | None) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if get_origin(annotation) is dict and _model_of(get_args(annotation)[1]):
            item = get_args(annotation)[1]
            sections.append((f"{key}.{PLACEHOLDERS.get(name, '<name>')}", item, None))
            rows.append(f"| `{key}` | table of `[{key}.{PLACEHOLDERS.get(name, '<name>')}]` | `{{}}` | see below |")
            continue
        optional = _optional_model(annotation)
        if optional:
            # An optional table (streams.<stream>.tuning): a row saying it is off by default, its keys below.
            sections.append((key, optional, None))
            rows.append(f"| `{key}` | table `[{key}]` or none | `null` | see below |")
            continue
        nested = _model_of(annotation)
        if nested:
            default = getattr(instance, name) if instance is not None else field.get_default(call_default_factory=True)
            sections.append((key, nested, default if isinstance(default, BaseModel) else None))
            continue
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{key}` | {_type_name(annotation)} | {_default(field, instance, name)} | {description} |")
    return rows


def reference() -> str:
    """docs/configuration.md as it should be."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `services/driftline/config/` by `driftline config --reference`; a test keeps it",
        "in step. Keys live in one TOML file (`--config`, `$DRIFTLINE_CONFIG`, or `config/driftline.toml`, which",
        "`driftline init` writes; without one, the built-in starter config",
        "`services/driftline/assets/driftline.toml`); each can be overridden by an environment variable",
        "`DRIFTLINE_<SECTION>__<KEY>` (e.g. `DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS`), tables as JSON (e.g.",
        "`DRIFTLINE_TOPICS`). Unknown keys and bad values are refused with one line naming the key.",
    ]
    sections: list[Section] = [("", Settings, None)]
    while sections:
        title, model, instance = sections.pop(0)
        found: list[Section] = []
        rows = _rows(model, f"{title}." if title else "", found, instance)
        sections.extend(found)
        if not rows:
            continue
        heading = f"`[{title}]`" if title else "top level"
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        lines += ["", f"## {heading}", "", doc, "", "| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        lines += rows
    return "\n".join(lines) + "\n"
