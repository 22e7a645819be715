"""The one module that owns a target's process environment and the version tables.

Keras 3 reads ``KERAS_BACKEND`` once, at import, and the Keras 2 API is picked by
``TF_USE_LEGACY_KERAS``: a target needs its own process, set up before Keras is
imported. Everything that starts such a process (``rnn-harness run``, the
pytest plugin, the target adapters) asks this module, and everything that needs
installed versions (reports, known failures, the test-session header) reads them
here, from package metadata, without importing any framework.
"""

from __future__ import annotations

import contextlib
import os
from importlib import metadata

# Distribution names to try for each backend's version, in order.
BACKEND_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "jax": ("jax",),
    "torch": ("torch",),
}
# Packages whose versions a report or a known-failure entry may name.
VERSION_PACKAGES = (
    "keras",
    "tf-keras",
    "tensorflow",
    "tensorflow-cpu",
    "jax",
    "jaxlib",
    "torch",
    "hypothesis",
    "numpy",
)
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "3"}  # no absl/oneDNN chatter on stderr


def distribution_version(*names: str) -> str | None:
    """The installed version of the first distribution in ``names`` that exists.

    Example:
        >>> distribution_version("no-such-distribution") is None
        True
    """
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def backend_of(target: str) -> str:
    """The framework a target computes with: ``keras3-jax`` -> ``jax``, ``tf-keras`` -> ``tensorflow``."""
    return target.removeprefix("keras3-") if target.startswith("keras3-") else "tensorflow"


def target_environment(target: str) -> dict[str, str]:
    """The environment variables a process running ``target`` needs, set before Keras loads.

    Example:
        >>> target_environment("keras3-jax")["KERAS_BACKEND"]
        'jax'
    """
    if target.startswith("keras3-"):
        return {"KERAS_BACKEND": backend_of(target), **QUIET_TENSORFLOW}
    return {"TF_USE_LEGACY_KERAS": "1", **QUIET_TENSORFLOW}


def apply_target_environment(target: str, environ: dict | None = None) -> None:
    """Set ``target``'s variables in ``environ`` (default ``os.environ``).

    The backend switch is always set; the log level only where the user has not chosen one.
    """
    environ = os.environ if environ is None else environ
    for key, value in target_environment(target).items():
        if key in QUIET_TENSORFLOW:
            environ.setdefault(key, value)
        else:
            environ[key] = value


def installed_versions(target: str | None = None) -> dict[str, str]:
    """Installed versions of ``VERSION_PACKAGES``, from package metadata (no framework import).

    ``tensorflow`` stands for whichever TensorFlow build is installed (``tensorflow-cpu``
    included), and for the ``tf-keras`` target ``keras`` is the Keras 2 it runs.
    """
    found: dict[str, str] = {}
    for name in VERSION_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    if "tensorflow" not in found and "tensorflow-cpu" in found:
        found["tensorflow"] = found["tensorflow-cpu"]
    if target == "tf-keras" and "tf-keras" in found:
        found["keras"] = found["tf-keras"]
    return found
