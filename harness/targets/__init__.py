"""Target registry: names, and how to build the adapter for each.

Each target runs in its own process, because Keras 3 picks its backend once.
"""

from __future__ import annotations

import os

from harness.errors import HarnessUsageError
from harness.targets.base import Output, Runner, Target

KERAS3_TARGETS = ("keras3-tensorflow", "keras3-jax", "keras3-torch")
KERAS2_TARGETS = ("tf-keras",)
TARGET_NAMES = KERAS3_TARGETS + KERAS2_TARGETS
DEFAULT_TARGET = "keras3-tensorflow"

_cache: dict[str, Target] = {}


def default_target_name() -> str:
    """``keras3-$KERAS_BACKEND`` when that variable names a backend, else TensorFlow."""
    backend = os.environ.get("KERAS_BACKEND")
    candidate = f"keras3-{backend}" if backend else DEFAULT_TARGET
    return candidate if candidate in TARGET_NAMES else DEFAULT_TARGET


def validate_target_name(name: str) -> str:
    if name not in TARGET_NAMES:
        raise HarnessUsageError(
            f"Unknown target {name!r}. Expected one of: {', '.join(TARGET_NAMES)}"
        )
    return name


def get_target(name: str) -> Target:
    """The adapter for ``name``, built once per process."""
    validate_target_name(name)
    if name not in _cache:
        if name == "tf-keras":
            from harness.targets.tf_keras import TfKerasTarget

            _cache[name] = TfKerasTarget()
        else:
            from harness.targets.keras3 import Keras3Target

            _cache[name] = Keras3Target(name.removeprefix("keras3-"))
    return _cache[name]


__all__ = [
    "DEFAULT_TARGET",
    "TARGET_NAMES",
    "Output",
    "Runner",
    "Target",
    "default_target_name",
    "get_target",
    "validate_target_name",
]
