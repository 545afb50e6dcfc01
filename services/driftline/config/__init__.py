"""driftline's configuration: one TOML file, overridable by ``DRIFTLINE_*`` environment variables.

The file declares the Kafka connection, the topics, each service's ports and, above all, the
streams: for each learning task its features, target, River model and drift detectors.
Unknown keys and bad values are rejected with a one-line :class:`~driftline.config.base.ConfigError`
naming the key.

This module reads the config: the file (``--config``, DRIFTLINE_CONFIG, :data:`DEFAULT_CONFIG` or the
built-in starter config) and the environment, into :class:`~driftline.config.settings.Settings`
(:func:`load_settings`, :func:`settings_from_dict`), with a bad value refused in one line naming the key and
where it came from. The rest of the package, one module per job:

* :mod:`~driftline.config.streams`: what a stream declares (:class:`~driftline.config.streams.StreamConfig`,
  its features, drift detectors and tuning), kept in every model key's checkpoint;
* :mod:`~driftline.config.settings`: the deployment's :class:`~driftline.config.settings.Settings` (Kafka,
  topics, the services, devices) holding the streams;
* :mod:`~driftline.config.reference`: docs/configuration.md, generated from the models;
* :mod:`~driftline.config.base`: the strict base model and the error they share.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from driftline.config.base import ConfigError
from driftline.config.settings import Settings

#: Where ``driftline`` looks for its config when neither ``--config`` nor DRIFTLINE_CONFIG says (`driftline init`
#: writes it); without that file, the built-in starter config (driftline/assets/driftline.toml) is used.
DEFAULT_CONFIG = Path("config/driftline.toml")


def _secret(key: str) -> bool:
    """Whether a key holds a secret, whose value an error message must not repeat."""
    return any(word in key for word in ("password", "token", "secret", "client_settings"))


def _env_source(loc: tuple[Any, ...], environ: Mapping[str, str] | None = None) -> str | None:
    """The DRIFTLINE_* variable that set the value at ``loc`` (or a section holding it), if one did.

    The environment overrides the file, so a variable naming the key, or one of its sections
    as JSON (DRIFTLINE_TOPICS), is where a bad value came from.
    """
    environ = os.environ if environ is None else environ
    present = {name.upper() for name in environ}
    for depth in range(len(loc), 0, -1):
        name = "DRIFTLINE_" + "__".join(str(p) for p in loc[:depth]).upper()
        if name in present:
            return name
    return None


def _one_line(error: ValidationError, source: str) -> str:
    first = error.errors(include_url=False)[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if variable := _env_source(first["loc"]):
        source = f"environment variable {variable}"
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    else:
        message = first["msg"].removeprefix("Value error, ")
        shown = "input" in first and not isinstance(first["input"], dict | list) and not _secret(key)
        if shown and str(first["input"]) not in message:
            message += f" (got {first['input']!r})"
    more = len(error.errors()) - 1
    return f"{source}: {key}: {message}" + (f" (+{more} more)" if more else "")


def settings_from_dict(data: dict[str, Any], source: str = "config") -> Settings:
    try:
        return Settings(**data)
    except ValidationError as e:
        raise ConfigError(_one_line(e, source)) from None


#: DRIFTLINE_* variables that are not settings: read by the CLI, the tests or ./run.
OTHER_VARIABLES = frozenset({"CONFIG", "LOG_LEVEL", "DEVICE_TOKEN", "VENV", "CACHE", "CRASH_AT", "BROKER_JVM_OPTIONS"})
#: Variables driftline once read, and what replaced each.
RETIRED_VARIABLES = {
    "TOKEN": "it served two secrets: DRIFTLINE_DEVICE_TOKEN is replay's device token, "
    "DRIFTLINE_TRAINER__API_TOKEN the trainer's api token (for `driftline status` too)",
}


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Refuse a DRIFTLINE_* variable that names no setting: pydantic-settings would ignore it silently.

    A typo such as DRIFTLINE_KAFKA_BOOTSTRAP_SERVERS (one underscore) would otherwise leave the
    setting at its default with nothing said.
    """
    environ = os.environ if environ is None else environ
    for name in sorted(environ):
        if not name.upper().startswith("DRIFTLINE_"):
            continue
        rest = name[len("DRIFTLINE_") :].upper()
        if rest in RETIRED_VARIABLES:
            raise ConfigError(f"environment variable {name}: no longer read; {RETIRED_VARIABLES[rest]}")
        if rest in OTHER_VARIABLES or rest.split("__", 1)[0].lower() in Settings.model_fields:
            continue
        raise ConfigError(
            f"environment variable {name}: no such setting (top-level keys: {', '.join(Settings.model_fields)}; "
            "nested keys take a double underscore, e.g. DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS)"
        )


def config_file(path: Path | str | None = None) -> Path | None:
    """The file :func:`load_settings` reads: ``path``, else DRIFTLINE_CONFIG, else :data:`DEFAULT_CONFIG`.

    None when none is named and DEFAULT_CONFIG does not exist: the built-in starter config is read then.
    """
    named = path or os.environ.get("DRIFTLINE_CONFIG")
    if not named and not DEFAULT_CONFIG.exists():
        return None
    return Path(named or DEFAULT_CONFIG)


def load_settings(path: Path | str | None = None) -> Settings:
    """Read the config file (see :func:`config_file`) and the environment."""
    check_environment()
    chosen = config_file(path)
    if chosen is None:
        from driftline import assets

        return settings_from_dict(tomllib.loads(assets.starter_config()), assets.STARTER_CONFIG_NAME)
    if not chosen.exists():
        raise ConfigError(f"{chosen}: no such config file")
    try:
        data = tomllib.loads(chosen.read_text())
    except OSError as e:  # a folder, or unreadable
        raise ConfigError(f"{chosen}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{chosen}: not valid TOML: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{chosen}: not valid TOML: {e}") from None
    return settings_from_dict(data, str(chosen))
