"""What a run covers: the targets, properties and layers named on the command line.

Each ``resolve_*`` turns an option's comma list into names, or raises a
``HarnessUsageError`` that says what was received, what exists and how to get it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from harness.catalogue import PROPERTY_IDS
from harness.env import BACKEND_DISTRIBUTIONS, backend_of, distribution_version
from harness.errors import HarnessUsageError
from harness.specs import ALL_LAYER_KINDS, LAYER_KINDS
from harness.targets import KERAS3_TARGETS, TARGET_NAMES


def properties_dir() -> Path:
    """Where the property modules are: inside the wheel, or beside the package in a checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "properties", package.parent / "properties"):
        if candidate.is_dir():
            return candidate
    raise HarnessUsageError(
        "The property modules are missing from this installation; reinstall rnn-harness "
        "(`pip install --force-reinstall rnn-harness`)"
    )


def implemented_properties() -> list[str]:
    """Catalogue ids that have a property module, in catalogue order."""
    found = {p.stem.removeprefix("test_") for p in properties_dir().glob("test_*.py")}
    return [pid for pid in PROPERTY_IDS if pid in found]


def installed_targets(*, keras2: bool = False) -> list[str]:
    """Keras 3 targets whose backend framework is installed here (and tf-keras if asked)."""
    found = [
        name
        for name in KERAS3_TARGETS
        if distribution_version(*BACKEND_DISTRIBUTIONS[backend_of(name)])
    ]
    if keras2:
        from harness.targets.tf_keras import keras2_distribution

        if keras2_distribution() is not None:
            found.append("tf-keras")
    return found


def comma_list(raw: str | None, *, option: str, allowed: Sequence[str]) -> list[str] | None:
    """The names in ``raw`` (``None`` if the option was not given); ``all`` means ``allowed``.

    Example:
        >>> comma_list("LSTM, GRU", option="--layers", allowed=LAYER_KINDS)
        ['LSTM', 'GRU']
    """
    if raw is None:
        return None
    items = [s.strip() for s in raw.split(",") if s.strip()]
    if "all" in items:
        return list(allowed)
    unknown = [s for s in items if s not in allowed]
    if unknown or not items:
        raise HarnessUsageError(
            f"{option}={raw!r}: unknown {', '.join(repr(u) for u in unknown) or 'empty list'}. "
            f"Expected a comma list of: {', '.join(allowed)} (or 'all')"
        )
    twice = sorted({s for s in items if items.count(s) > 1}, key=items.index)
    if twice:
        raise HarnessUsageError(
            f"{option}={raw!r}: {', '.join(repr(s) for s in twice)} named more than once. "
            "Name each once"
        )
    return items


def resolve_targets(raw: str | None) -> list[str]:
    """The targets of ``--targets``: by default every installed Keras 3 one."""
    targets = comma_list(raw, option="--targets", allowed=TARGET_NAMES)
    installed = installed_targets(keras2=True)
    if raw is not None and "all" in [s.strip() for s in raw.split(",")]:
        return installed  # every target whose framework is installed here
    if not installed:
        raise HarnessUsageError(
            "No Keras 3 backend is installed. Install one, e.g. `pip install rnn-harness` "
            "(TensorFlow) or `pip install 'rnn-harness[jax]'`"
        )
    if targets is None:
        targets = [t for t in installed if t in KERAS3_TARGETS]
    for name in targets:
        if name == "tf-keras" and name not in installed:
            raise HarnessUsageError(
                "Target tf-keras needs the 'tf-keras' package (the Keras 2 API). Install the "
                "release matching TensorFlow, e.g. `pip install 'tf-keras==2.21.*'`"
            )
        if name not in installed:
            backend = backend_of(name)
            extra = "" if backend == "tensorflow" else f"[{backend}]"
            raise HarnessUsageError(
                f"Target {name} needs {backend!r}, which is not installed. Install it with "
                f"`pip install 'rnn-harness{extra}'`, or drop it from --targets"
            )
    return targets


def resolve_properties(raw: str | None) -> list[str]:
    """The property ids of ``--properties``: by default every implemented one."""
    available = implemented_properties()
    chosen = comma_list(raw, option="--properties", allowed=PROPERTY_IDS)
    if chosen is None:
        return available
    missing = [p for p in chosen if p not in available]
    if missing:
        raise HarnessUsageError(
            f"--properties: {', '.join(missing)} not implemented in this version. "
            f"Available: {', '.join(available)}"
        )
    return chosen


def resolve_custom_layers(names: list[str]) -> list[str]:
    """The user's layers of ``--layer MODULE:NAME``, each imported once here to check it.

    The pytest process imports them again, from this directory (``LAYER_PATH_ENV``).
    """
    from harness.custom_layers import LAYER_PATH_ENV, check_name

    for name in names:
        check_name(name)
    if names:
        os.environ.setdefault(LAYER_PATH_ENV, os.getcwd())
    return list(dict.fromkeys(names))


def resolve_layers(raw: str | None) -> list[str]:
    """The layer kinds of ``--layers``: by default the classic three (LSTM, GRU, SimpleRNN)."""
    return comma_list(raw, option="--layers", allowed=ALL_LAYER_KINDS) or list(LAYER_KINDS)
