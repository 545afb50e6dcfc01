"""Every name a docstring refers to still exists: Sphinx-style references (``:func:`x```, ``:class:`~a.b```,
``:meth:``, ``:attr:``, ``:mod:``, ``:data:``, ``:exc:``) in the docstrings of the product and the lab resolve
to a module, class, function or attribute, read from where the docstring stands."""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"driftline": REPO / "services" / "driftline", "driftline_lab": REPO / "benchmarks" / "driftline_lab"}
ROLE = re.compile(r":(?:func|class|meth|attr|mod|data|exc|obj):`~?([A-Za-z_][\w.]*)(?:\(\))?`")


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package, folder in ROOTS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            found.append((".".join((package, *parts)).removesuffix(".__init__"), path))
    return found


Scope = list[tuple[str, bool]]
"""The enclosing definitions of a docstring, outermost first: (name, is a class)."""


def _docstrings(tree: ast.Module) -> list[tuple[Scope, str]]:
    """(the enclosing classes and functions, docstring) of the module and of everything in it."""
    out: list[tuple[Scope, str]] = []

    def visit(node: ast.AST, scope: Scope) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                inner = [*scope, (child.name, isinstance(child, ast.ClassDef))]
                doc = ast.get_docstring(child)
                if doc:
                    out.append((inner, doc))
                visit(child, inner)

    doc = ast.get_docstring(tree)
    if doc:
        out.append(([], doc))
    visit(tree, [])
    return out


def _assigned_on_self(cls: type, name: str) -> bool:
    """Whether a method of ``cls`` (or of a base) assigns ``self.<name>``: an instance attribute."""
    for klass in cls.__mro__[:-1]:
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if re.search(rf"\bself\.{re.escape(name)}\s*(?::[^=]+)?=", source):
            return True
    return False


def _resolve(dotted: str) -> bool:
    """Whether ``dotted`` (a.b.c) names a module, or an attribute reached from the longest importable prefix."""
    parts = dotted.split(".")
    if len(parts) == 1 and hasattr(builtins, dotted):
        return True
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            target = importlib.import_module(module)
        except ImportError:
            # A module whose own imports are not installed here (the Quix peer runs in a venv of its own).
            try:
                exists = cut == len(parts) and importlib.util.find_spec(module) is not None
            except (ImportError, AttributeError):  # a prefix that is a module, not a package
                exists = False
            if exists:
                return True
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                annotations = getattr(target, "__annotations__", {})
                fields = getattr(target, "__dataclass_fields__", {}) or getattr(target, "model_fields", {})
                slots = getattr(target, "__slots__", ()) or getattr(target, "__struct_fields__", ())
                declared = name in annotations or name in fields or name in slots
                # An instance attribute, declared on its class or set by its methods: nothing further to look into.
                return declared or (isinstance(target, type) and _assigned_on_self(target, name))
            target = getattr(target, name)
        return True
    return False


def _found(module: str, scope: Scope, name: str, classes_of_module: list[str]) -> bool:
    if _resolve(name):
        return True
    # Relative to where the docstring stands: its class (and the enclosing ones), then its module; a module's
    # own docstring may name the methods of its classes.
    classes = [n for n, is_class in scope if is_class]
    candidates = [".".join((module, *classes[:i], name)) for i in range(len(classes), -1, -1)]
    if not scope:
        candidates += [f"{module}.{cls}.{name}" for cls in classes_of_module]
    return any(_resolve(candidate) for candidate in candidates)


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_names_in_the_docstrings_of(module: str, path: Path) -> None:
    missing = []
    tree = ast.parse(path.read_text())
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    for scope, doc in _docstrings(tree):
        for name in ROLE.findall(doc):
            if not _found(module, scope, name, classes):
                missing.append(f"{'.'.join(n for n, _ in scope) or '(module)'}: {name}")
    assert missing == [], f"{path.relative_to(REPO)} refers to names that are gone: {missing}"


def test_a_name_that_is_gone_is_found_missing() -> None:
    watch = [("ConceptWatch", True)]
    assert _found("driftline.rules.concept", watch, "judge", [])
    assert _found("driftline.rules.concept", [], "driftline.rules.detectors.DebouncedDetector.update", [])
    assert _found("driftline.rules.detectors", [], "DebouncedDetector.falls", [])  # set in __init__
    assert not _found("driftline.rules.concept", watch, "observe", [])
    assert not _found("driftline.rules.concept", [], "driftline.trainer.slot.ModelSlot", [])
    assert not _found("driftline.rules.detectors", [], "DebouncedDetector.fell", [])
