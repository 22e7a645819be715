"""The examples in harness's docstrings run and say what they show (``doctest``)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import harness

# Entry points that act on import, and the shipped property modules (pytest runs those).
LEFT_OUT = ("harness.__main__", "harness.properties")
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(harness.__path__, prefix="harness.")
    if not info.name.startswith(LEFT_OUT)
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_doctests_cover_the_package():
    # A doctest run that finds no examples at all would pass silently.
    attempted = sum(
        doctest.testmod(importlib.import_module(n), optionflags=doctest.ELLIPSIS).attempted
        for n in MODULES
    )
    assert attempted >= 50, attempted
