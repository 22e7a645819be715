"""Short fixture names for a directory of property tests: ``target``, ``layer_kind``, ``check``.

The pytest plugin (``harness.pytest_plugin``) exports only ``rnn_``-prefixed fixtures, so
that installing rnn-harness never shadows a fixture of the project it is installed into.
A directory of property tests imports these into its ``conftest.py``, which pytest applies
to the tests under that directory only, and which it loads before it imports them::

    from harness.property_fixtures import check, layer_kind, pytest_configure, target

``pytest_configure`` turns the harness on for the session (``harness.pytest_plugin.activate``):
collecting property tests is one of the things that does.
"""

from __future__ import annotations

import pytest

from harness.check import PropertyCheck
from harness.pytest_plugin import activate
from harness.targets.base import Target


def pytest_configure(config: pytest.Config) -> None:
    activate(config)


@pytest.fixture(scope="session")
def target(rnn_target: Target) -> Target:
    """The framework target under test (``rnn_target``)."""
    return rnn_target


@pytest.fixture
def layer_kind(rnn_layer_kind: str) -> str:
    """The layer kind this test runs on (``rnn_layer_kind``: one of ``--rnn-layers``)."""
    return rnn_layer_kind


@pytest.fixture
def check(rnn_check: PropertyCheck) -> PropertyCheck:
    """Evidence collector and comparison helper (``rnn_check``)."""
    return rnn_check
