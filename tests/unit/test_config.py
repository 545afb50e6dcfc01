"""Stream config: valid files load, malformed ones give one line naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from driftline.config import load_settings, settings_from_dict
from driftline.config.base import ConfigError

REPO = Path(__file__).resolve().parents[2]
STREAM = {"task": "binary", "features": {"temperature": {"unit": "degC", "min": -20, "max": 50}}}


def test_shipped_config_loads() -> None:
    settings = load_settings(REPO / "config" / "driftline.toml")
    assert set(settings.streams) >= {"rooms", "machines"}
    assert settings.streams["machines"].scope == "device"
    assert settings.topics.events.partitions == settings.topics.labels.partitions


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"streams": {"rooms": {**STREAM, "modle": "logistic"}}}, "streams.rooms.modle: unknown key"),
        ({"streams": {"rooms": {**STREAM, "task": "ranking"}}}, "streams.rooms.task: Input should be 'binary'"),
        (
            {"streams": {"rooms": {**STREAM, "features": {"t": {"min": "cold"}}}}},
            "streams.rooms.features.t.min: Input should be a valid number",
        ),
        (
            {"streams": {"rooms": {**STREAM, "features": {"t": {"min": 5, "max": 1}}}}},
            "streams.rooms.features.t: min (5.0) is greater than max (1.0)",
        ),
        (
            {"streams": {"rooms": {**STREAM, "model": "os.system('rm')"}}},
            "streams.rooms.model: \"os.system('rm')\": module 'os' is not allowed",
        ),
        ({"streams": {"rooms": {**STREAM, "holdout_fraction": 1.5}}}, "streams.rooms.holdout_fraction"),
        ({"streams": {"Bad Name": STREAM}}, "streams.Bad Name.[key]"),
        (
            {"topics": {"labels": {"name": "l", "partitions": 2}}},
            "topics: events (6) and labels (2) need the same partition count",
        ),
        ({"kafak": {}}, "kafak: unknown key"),
    ],
)
def test_malformed_config_names_the_key(data: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(data, "test.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"test.toml: {expected}"), message


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[kafka]\nbootstrap_servers = "file:9092"\n')
    monkeypatch.setenv("DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS", "env:9092")
    assert load_settings(path).kafka.bootstrap_servers == "env:9092"


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[streams\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)


def test_constant_imputation_needs_a_fill() -> None:
    data = {"streams": {"s": {"task": "regression", "features": {"x": {"missing": "constant"}}}}}
    with pytest.raises(ConfigError, match=r"streams.s.features.x: missing = 'constant' needs a fill value"):
        settings_from_dict(data)


def test_cli_reports_bad_config_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[streams.rooms]\ntask = "binary"\nfeatures = { t = { unit = "degC" } }\nholdout = 0.2\n')
    done = subprocess.run(
        [sys.executable, "-m", "driftline.cli", "config", "--config", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [f"error: {path}: streams.rooms.holdout: unknown key"]


def test_the_configuration_reference_is_current() -> None:
    from driftline.config.reference import REFERENCE, reference

    assert REFERENCE.read_text() == reference(), "run `driftline config --reference > docs/configuration.md`"


def test_every_key_of_the_reference_is_described() -> None:
    from driftline.config.reference import reference

    rows = [line for line in reference().splitlines() if line.startswith("| `")]
    undescribed = [row.split("|")[1].strip() for row in rows if not row.rstrip(" |").split("|")[-1].strip()]
    assert len(rows) > 60
    assert undescribed == []


def test_a_setting_from_the_environment_is_blamed_on_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_TOPICS", '{"events": {"name": "e", "partitions": 0}}')
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({}, "test.toml")
    assert str(caught.value).startswith("environment variable DRIFTLINE_TOPICS: topics.events.partitions:")


def test_a_variable_naming_no_setting_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text("")
    monkeypatch.setenv("DRIFTLINE_LOG_LEVEL", "INFO")  # not a setting, but driftline's own
    load_settings(path)
    monkeypatch.setenv("DRIFTLINE_TRAINER_PORT", "1")
    with pytest.raises(ConfigError, match="environment variable DRIFTLINE_TRAINER_PORT: no such setting"):
        load_settings(path)


def test_per_device_keys_remember_a_thousand_event_ids_unless_told() -> None:
    from driftline.config.streams import DEVICE_DEDUPE_WINDOW, StreamConfig

    features = {"x": {}}
    assert StreamConfig(task="binary", features=features).dedupe_window == 100_000
    assert StreamConfig(task="binary", scope="device", features=features).dedupe_window == DEVICE_DEDUPE_WINDOW == 1_000
    assert StreamConfig(task="binary", scope="device", dedupe_window=50, features=features).dedupe_window == 50
