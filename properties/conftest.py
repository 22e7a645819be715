"""The property tests' short fixture names: ``target``, ``layer_kind``, ``check``.

The plugin exports them as ``rnn_target``, ``rnn_layer_kind`` and ``rnn_check`` only, so
that it never shadows a fixture of a project it is installed into; this conftest, which
pytest applies to the tests of this directory only, gives the properties their short
names, and activates the harness before pytest imports them (harness/property_fixtures.py).
"""

from harness.property_fixtures import check, layer_kind, pytest_configure, target

__all__ = ["check", "layer_kind", "pytest_configure", "target"]
