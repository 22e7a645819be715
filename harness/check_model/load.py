"""Loading: which Keras to use, whether a file is a saved model, and loading it safely.

A ``.keras`` file needs Keras 3: check-model runs on the ``keras3-<backend>``
targets only. Keras reads ``KERAS_BACKEND`` once, at import: when this module
imports Keras for a target, it sets the target's variables for the import and
restores them afterwards (``harness.env``); a Keras already imported is used as it is.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.env import backend_of, target_environment
from harness.errors import HarnessUsageError, check_argument
from harness.targets import KERAS3_TARGETS, default_target_name


def check_target(name: str) -> str:
    """``name`` if it is a Keras 3 target; a usage error otherwise."""
    check_argument(
        name in KERAS3_TARGETS,
        f"Unknown target {name!r} for check-model: expected one of "
        f"{', '.join(KERAS3_TARGETS)}. check-model loads .keras files, which need Keras 3",
    )
    return name


@contextlib.contextmanager
def _environment_restored(keys: Iterable[str]) -> Iterator[None]:
    """Put the variables ``keys`` of ``os.environ`` back as they were on exit."""
    saved = {key: os.environ.get(key) for key in keys}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def resolve_keras(target: str | None = None):
    """Keras 3 for ``target`` (``keras3-<backend>``), or the Keras already imported here.

    Importing Keras for a target sets ``KERAS_BACKEND`` (and the TensorFlow log level)
    only for the import: the caller's environment is left as it was.
    """
    from harness.targets.keras3 import import_keras

    if target is None:
        if "keras" in sys.modules:
            import keras

            return keras
        target = default_target_name()  # keras3-$KERAS_BACKEND, else keras3-tensorflow
    target = check_target(target)
    with _environment_restored(target_environment(target)):
        return import_keras(backend_of(target))


def check_model_file(path: str | Path) -> Path:
    """The absolute path of a saved model file, or a usage error saying what is wrong."""
    path = Path(path).expanduser()
    if not path.exists():
        raise HarnessUsageError(
            f"No model file at {str(path)!r}: expected the path of a model saved with "
            "model.save('model.keras'). Check the path"
        )
    if not path.is_file():
        raise HarnessUsageError(
            f"{str(path)!r} is a directory: expected a .keras file saved with "
            "model.save('model.keras'). A TensorFlow SavedModel directory cannot be checked; "
            "load it and save it again as .keras"
        )
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise HarnessUsageError(
            f"{str(path)!r} is not a Keras model: expected a .keras zip archive written by "
            "model.save('model.keras'). Received a file that is not a zip archive. "
            "Save the model again with model.save"
        )
    return path.resolve()


def load_model(path: str | Path, *, keras, unsafe: bool = False):
    """Load a saved model (``safe_mode=True`` unless ``unsafe``) for checking.

    Raises ``HarnessUsageError`` with one line for a missing file, a file that is
    not a Keras model, or a model that needs ``safe_mode=False``.
    """
    path = check_model_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return keras.saving.load_model(path, safe_mode=not unsafe, compile=False)
    except Exception as exc:
        text = " ".join(str(exc).split())
        if "safe_mode" in text or "unsafe_deserialization" in text:
            what = text.split(". ")[0]
            raise HarnessUsageError(
                f"{str(path)!r} needs safe_mode=False to load: {what}. Loading it runs code "
                "stored in the file. If you trust its source, pass --unsafe "
                "(check_model(..., unsafe=True))"
            ) from None
        raise HarnessUsageError(
            f"{str(path)!r} could not be loaded as a Keras model: expected a .keras file "
            "written by model.save('model.keras'). Keras said: "
            f"{type(exc).__name__}: {text[:300]}"
        ) from None


def load_model_argument(
    model: Any, *, target: str | None, unsafe: bool
) -> tuple[Any, Any, Path | None]:
    """``(keras, model, path)`` for ``check_model``'s ``model``: a ``keras.Model`` or a file.

    ``path`` is the model file's absolute path, ``None`` for a model object.
    """
    if isinstance(model, (str, Path)):
        path = check_model_file(model)
        keras = resolve_keras(target)
        return keras, load_model(path, keras=keras, unsafe=unsafe), path
    keras = resolve_keras(target)
    if not isinstance(model, keras.Model):
        raise HarnessUsageError(
            f"check_model expects a keras.Model or the path of a .keras file. Received: "
            f"{type(model).__name__}. Pass the model or its file"
        )
    return keras, model, None
