"""The examples in the modules' docstrings run, and say what they show."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import driftline

PACKAGE = Path(next(iter(driftline.__path__)))
WITH_EXAMPLES = sorted(
    ".".join(("driftline", *path.relative_to(PACKAGE).with_suffix("").parts))
    for path in PACKAGE.rglob("*.py")
    if ">>> " in path.read_text()
)


def test_there_are_examples_to_run() -> None:
    assert "driftline.kafkaio.align" in WITH_EXAMPLES and "driftline.rules.concept" in WITH_EXAMPLES


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_the_examples_of(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
