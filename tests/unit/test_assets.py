"""What driftline reads at run time ships in the package (driftline/assets), in one copy."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cli_driver import driftline

from driftline import assets
from driftline.config import load_settings
from driftline.config.base import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_the_checkouts_config_is_the_starter_config() -> None:
    # config/driftline.toml stays for the benchmarks and tests that name it; the package's file is the source.
    assert (REPO / "config" / "driftline.toml").read_text() == assets.starter_config(), (
        "config/driftline.toml differs from services/driftline/assets/driftline.toml: edit the latter, then "
        "`driftline init --force`"
    )


def test_docker_compose_mounts_the_package_data() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    sources = [v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])]
    mounted = [s for s in sources if s.startswith("./services/driftline/assets/")]
    assert len(mounted) == 4, sources  # Prometheus, Alertmanager, Grafana's provisioning and dashboards
    assert all((REPO / s).is_dir() for s in mounted), mounted


def test_without_a_config_file_the_starter_config_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTLINE_CONFIG", raising=False)
    assert set(load_settings().streams) == {"rooms", "machines"}
    # A file named, but absent, is an error still: no silent fallback for a typo.
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "typo.toml")
    monkeypatch.setenv("DRIFTLINE_CONFIG", str(tmp_path / "typo.toml"))
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings()


def test_init_writes_the_starter_config_and_overwrites_only_when_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTLINE_CONFIG", raising=False)
    code, out, _ = driftline(monkeypatch, capsys, "config")
    assert code == 0 and out.startswith(f"{assets.STARTER_CONFIG_NAME} (`driftline init` writes it to ")
    code, out, _ = driftline(monkeypatch, capsys, "init")
    written = tmp_path / "config" / "driftline.toml"
    assert code == 0 and out.startswith("wrote config/driftline.toml")
    assert written.read_text() == assets.starter_config()
    written.write_text("# mine\n")
    code, out, err = driftline(monkeypatch, capsys, "init")
    assert code == 2 and "config/driftline.toml exists; pass --force" in err and written.read_text() == "# mine\n"
    code, out, _ = driftline(monkeypatch, capsys, "config")  # read from the file now: no streams in it
    assert code == 0 and out.splitlines() == ["config/driftline.toml:", "ok: 0 streams"]
    assert driftline(monkeypatch, capsys, "init", "--force")[0] == 0
    assert written.read_text() == assets.starter_config()
