"""The harness's own tests use the property fixtures by their short names (``target``,
``layer_kind``, ``check``), like the properties do (see harness/property_fixtures.py)."""

from harness.property_fixtures import check, layer_kind, pytest_configure, target

__all__ = ["check", "layer_kind", "pytest_configure", "target"]
