"""The ``tf-keras`` target: the Keras 2 API (tf-keras on TensorFlow).

TensorFlow 2.16 made Keras 3 its ``tf.keras``; the Keras 2 API lives on as the
``tf-keras`` package, selected with ``TF_USE_LEGACY_KERAS=1``. The Keras 3
runner works unchanged on it: API differences (``reset_states()`` instead of
``reset_state()``, no ``keras.ops``) are handled in ``Keras3Runner`` itself.
"""

from __future__ import annotations

import os
import platform

from harness.env import distribution_version
from harness.errors import HarnessUsageError
from harness.targets.keras3 import Keras3Target


def keras2_distribution() -> str | None:
    """Which Keras 2 is installed: ``"tf-keras"``, ``"keras"`` (TensorFlow <= 2.15's own) or None."""
    if distribution_version("tf-keras", "tf_keras") is not None:
        return "tf-keras"
    keras = distribution_version("keras")
    return "keras" if keras is not None and keras.startswith("2.") else None


def import_tf_keras():
    """Import the Keras 2 API (tf-keras, or TensorFlow <= 2.15's keras 2), or explain why not."""
    which = keras2_distribution()
    if which is None:
        raise HarnessUsageError(
            "Target tf-keras needs the Keras 2 API: the 'tf-keras' package (matching TensorFlow, "
            "e.g. `pip install 'tf-keras==2.21.*'`) or TensorFlow <= 2.15 with its keras 2"
        )
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if which == "tf-keras":
        import tf_keras

        return tf_keras
    import keras

    return keras


class TfKerasTarget(Keras3Target):
    """``tf-keras``: the Keras 2 API on TensorFlow."""

    supports_use_cudnn = False  # Keras 2 layers choose cuDNN themselves: no use_cudnn argument

    def __init__(self, *, compiled: bool = True, cache: bool = True, precision: str | None = None):
        super().__init__(
            "tensorflow",
            compiled=compiled,
            cache=cache,
            precision=precision,
            name="tf-keras",
            keras=import_tf_keras(),
        )

    def versions(self) -> dict[str, str]:
        return {
            "python": platform.python_version(),
            "keras": self.keras.__version__,
            "tf-keras": distribution_version("tf-keras", "tf_keras") or "(tensorflow's keras 2)",
            "tensorflow": distribution_version("tensorflow", "tensorflow-cpu") or "unknown",
        }
