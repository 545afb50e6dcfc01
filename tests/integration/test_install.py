"""A user's install: the wheel built from this checkout, installed into a fresh venv in a folder outside
the checkout, runs `driftline config`, `driftline init` and a small `driftline stack` from there.

The venv gets the wheel alone (``--no-deps``) and finds its dependencies in this test run's environment
through a .pth file, so the test checks driftline's own files (package data, entry point), not pip's
resolver, and needs no download but setuptools for the build (pip's cache keeps it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, unique_topics
from driftline.config.settings import Topics

pytestmark = pytest.mark.kafka

EVENTS = 300  # per scenario: a small run, enough for both streams' models to learn and be scored
ASSETS = REPO / "services" / "driftline" / "assets"
#: Files of the assets folder that stay in the checkout: the alert rules' promtool tests.
NOT_SHIPPED = ("prometheus/tests/",)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The wheel and a venv holding it: its path, the venv's bin and site-packages, the environment to run in."""
    root = tmp_path_factory.mktemp("install")
    assert not root.resolve().is_relative_to(REPO)
    # The build reads only what a source distribution carries, copied out of the checkout first.
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "services", source / "services", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # pip sees nothing of this run: no PYTHONPATH (a checkout's services folder holds the editable install's
    # egg-info, which made pip take the wheel's driftline as installed already and install nothing).
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    build = [*pip, "wheel", "--no-deps", "-w", str(root / "dist"), str(source)]
    subprocess.run(build, check=True, timeout=300, cwd=root, env=clean)
    [wheel] = (root / "dist").glob("driftline-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # Installed before the .pth below exists: pip sees an empty venv (not this run's driftline), touches nothing else.
    target = [*pip, "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--ignore-installed"]
    subprocess.run([*target, str(wheel)], check=True, timeout=300, cwd=root, env=clean)
    assert list((venv / "lib").glob("python*/site-packages/driftline/cli.py")), "the wheel's driftline is installed"
    purelib = subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # The dependencies: this environment's site-packages, after the venv's own (its driftline comes first).
    # A plain path line: that folder's own .pth files (this checkout's editable install among them) are not run.
    (Path(purelib) / "driftline_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTLINE_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return {"wheel": wheel, "bin": venv / "bin", "purelib": Path(purelib), "env": env}


def run(
    installed: dict[str, Any], cwd: Path, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(installed["bin"] / args[0]), *args[1:]], cwd=cwd, env={**installed["env"], **env},
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_the_wheel_ships_every_runtime_file_and_the_license(installed: dict[str, Any]) -> None:
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    files = [
        p.relative_to(ASSETS).as_posix() for p in ASSETS.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ]
    expected = {f"driftline/assets/{f}" for f in files if not f.startswith(NOT_SHIPPED)}
    assert expected - names == set()
    assert any(n.startswith("driftline/assets/prometheus/rules/") for n in expected)
    assert not any(n.startswith("driftline/assets/prometheus/tests/") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_config_and_init_outside_the_checkout(installed: dict[str, Any], tmp_path: Path) -> None:
    # driftline is a namespace package: each of its folders on sys.path would be part of it.
    where = run(installed, tmp_path, "python", "-c", "import driftline; print(*driftline.__path__, sep=chr(10))")
    assert where.returncode == 0 and where.stdout.splitlines() == [str(installed["purelib"] / "driftline")], where
    done = run(installed, tmp_path, "driftline", "config")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("the built-in starter config") and "ok: 2 streams" in done.stdout
    done = run(installed, tmp_path, "driftline", "init")
    assert done.returncode == 0 and (tmp_path / "config" / "driftline.toml").exists(), done.stderr
    refused = run(installed, tmp_path, "driftline", "init")
    assert refused.returncode == 2 and "exists; pass --force" in refused.stderr
    done = run(installed, tmp_path, "driftline", "config")
    assert done.returncode == 0 and done.stdout.startswith("config/driftline.toml:"), done.stderr


def test_the_stack_runs_outside_the_checkout(installed: dict[str, Any], bootstrap: str, tmp_path: Path) -> None:
    from driftline.contracts import Outcome
    from driftline.drift_plot import read_messages

    # The session's broker with topics and groups of this test's own; no config file: the built-in one.
    topics = Topics(**unique_topics("install"))
    run_id = uuid.uuid4().hex[:8]
    env = {
        "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "DRIFTLINE_TOPICS": json.dumps(topics.model_dump(mode="json")),
        "DRIFTLINE_TRAINER__GROUP_ID": f"trainer-{run_id}",
        "DRIFTLINE_MONITOR__GROUP_ID": f"monitor-{run_id}",
    }
    args = ("driftline", "stack", "--no-hold", "--free-ports", "--events", str(EVENTS), "--devices", "2")
    done = run(installed, tmp_path, *args, timeout=400, **env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "what the monitor reports" in done.stdout and "drift report" in done.stdout, done.stdout
    assert "did not catch up" not in done.stdout, done.stdout
    assert (tmp_path / ".driftline" / "stack" / "latest" / "drift.png").exists()
    outcomes = read_messages(bootstrap, topics.outcomes.name, topics.outcomes.partitions, Outcome)
    # Each event the simulator sent (some twice, on purpose) has outcomes: a prediction, a label when it came.
    by_stream = {s: len({(o.device_id, o.event_id) for o in outcomes if o.stream == s}) for s in ("rooms", "machines")}
    assert by_stream == {"rooms": EVENTS, "machines": EVENTS}, by_stream
    assert any(o.label is not None for o in outcomes)
