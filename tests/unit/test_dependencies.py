"""pyproject.toml and benchmarks/pyproject.toml declare each dependency where it is used (runtime, test, the lab),
and constraints.txt pins them."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, entry_points, packages_distributions, requires
from pathlib import Path

import pytest
import typer
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from typer.testing import CliRunner

from driftline import cli

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
#: The lab's distribution (benchmarks/): `driftline bench`, beside the product.
LAB = tomllib.loads((REPO / "benchmarks" / "pyproject.toml").read_text())["project"]
SERVICES = REPO / "services" / "driftline"
LAB_PACKAGE = REPO / "benchmarks" / "driftline_lab"
#: Modules imported directly that come with a declared dependency, as part of its API.
PROVIDED = {"starlette": "fastapi", "pydantic_core": "pydantic"}
#: Imported only by the Quix Streams peer of `driftline bench throughput`, which runs in a venv of its own.
OWN_VENV = {"quixstreams"}


def declared(group: str | None = None) -> list[Requirement]:
    """The requirements of the runtime (None), of an extra, or of the lab ("lab"), without driftline itself."""
    if group == "lab":
        listed = LAB["dependencies"]
    else:
        listed = PROJECT["dependencies"] if group is None else PROJECT["optional-dependencies"][group]
    return [r for r in map(Requirement, listed) if canonicalize_name(r.name) != "driftline"]


#: Every group of requirements: the extras and the lab's.
GROUPS = [*PROJECT["optional-dependencies"], "lab"]


def pins() -> dict[str, str]:
    lines = (REPO / "constraints.txt").read_text().splitlines()
    return {canonicalize_name(n): v for n, v in (line.split("==") for line in lines if "==" in line)}


def test_every_declared_dependency_is_pinned_within_its_bounds() -> None:
    pinned = pins()
    for requirement in [*declared(), *(r for group in GROUPS for r in declared(group))]:
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not pinned in constraints.txt: run ./run lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), f"{name}=={pinned[name]}: {requirement}"


def test_the_pins_are_what_the_declared_dependencies_need_and_no_more() -> None:
    # The closure of the declared requirements over the installed packages' metadata (./run installs the pins).
    needed: set[tuple[str, frozenset[str]]] = set()
    todo = [(r, frozenset(r.extras)) for group in GROUPS for r in declared(group)]
    todo += [(r, frozenset(r.extras)) for r in declared()]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if (name, extras) in needed:
            continue
        needed.add((name, extras))
        try:
            below = [Requirement(r) for r in requires(name) or []]
        except PackageNotFoundError:
            pytest.fail(f"{name} is not installed: run ./run test, which installs the pins")
        for r in below:
            if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in (extras or {""})):
                todo.append((r, frozenset(r.extras)))
    names = {name for name, _ in needed}
    assert set(pins()) == names, "constraints.txt is not a resolve of pyproject.toml: run ./run lock"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "driftline"}


def test_the_services_import_only_their_declared_dependencies() -> None:
    distributions = packages_distributions()
    runtime = {canonicalize_name(r.name) for r in declared()}
    lab = runtime | {canonicalize_name(r.name) for r in declared("lab")}
    wrong = []
    for path in [*sorted(SERVICES.rglob("*.py")), *sorted(LAB_PACKAGE.rglob("*.py"))]:
        in_lab = path.is_relative_to(LAB_PACKAGE)
        for module in _imports(path) - OWN_VENV - {"driftline_lab"}:
            names = {canonicalize_name(d) for d in distributions.get(PROVIDED.get(module, module), [module])}
            if not names & (lab if in_lab else runtime):
                wrong.append(f"{path.relative_to(REPO)} imports {module} ({', '.join(sorted(names))})")
    assert wrong == [], "declare them in pyproject.toml (the lab's in benchmarks/pyproject.toml):\n" + "\n".join(wrong)


def test_the_tests_own_dependencies_are_not_the_runtimes() -> None:
    runtime = {canonicalize_name(r.name) for r in declared()}
    assert {"kafka-python", "crc32c", "hypothesis", "schemathesis", "pytest"}.isdisjoint(runtime)


def test_without_the_lab_driftline_bench_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # A CLI built as an install without the lab builds it: no plugin found.
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    app = typer.Typer()
    app.command("version")(lambda: None)
    cli.register_plugins(app)
    result = CliRunner().invoke(app, ["bench", "throughput", "--quick"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {cli.LAB_HINT}"]


def test_the_lab_adds_driftline_bench_through_its_entry_point_only() -> None:
    (entry,) = [e for e in entry_points(group=cli.PLUGIN_GROUP) if e.name == cli.LAB_COMMAND]
    assert entry.value == LAB["entry-points"][cli.PLUGIN_GROUP][cli.LAB_COMMAND]
    assert canonicalize_name(entry.dist.name) == cli.LAB_DISTRIBUTION


def test_a_plugin_that_cannot_be_imported_leaves_the_cli_working_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        name, value = cli.LAB_COMMAND, "driftline_lab.cli:register"

        def load(self) -> None:
            raise ModuleNotFoundError("No module named 'driftline_lab'")

    monkeypatch.setattr(cli, "entry_points", lambda group: [Broken()])
    app = typer.Typer()
    app.command("version")(lambda: None)
    cli.register_plugins(app)
    assert CliRunner().invoke(app, ["version"]).exit_code == 0
    result = CliRunner().invoke(app, ["bench", "throughput"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: `driftline bench` could not be loaded "
        "(driftline_lab.cli:register: ModuleNotFoundError: No module named 'driftline_lab')"
    )
