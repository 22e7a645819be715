"""Keras 3 targets: one adapter for the TensorFlow, JAX and PyTorch backends.

Keras 3 reads ``KERAS_BACKEND`` once, at import: one backend per process. The
adapter sets it before the first import and refuses to run if Keras was
already imported with another backend.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from importlib import metadata

import numpy as np

from harness.errors import HarnessUsageError
from harness.specs import LayerSpec
from harness.targets.base import Output, Runner, Target

BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
# Distribution names to try for each backend's version, in order.
BACKEND_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "jax": ("jax",),
    "torch": ("torch",),
}


def distribution_version(*names: str) -> str | None:
    """The installed version of the first distribution in ``names`` that exists."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def import_keras(backend: str):
    """Import Keras 3 with ``backend``, or explain why that is impossible here."""
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != backend:
            raise HarnessUsageError(
                f"Keras is already imported with backend {current!r} in this process; "
                f"target backend {backend!r} needs its own process (one target per process). "
                f"Run it separately, e.g. `rnn-harness run --targets keras3-{backend}`."
            )
        return keras
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if distribution_version(*BACKEND_DISTRIBUTIONS[backend]) is None:
        raise HarnessUsageError(
            f"Target keras3-{backend} needs the {backend!r} package, which is not installed. "
            f"Install it with `pip install 'rnn-harness[{backend}]'`"
            + (" (TensorFlow comes with the base install)" if backend == "tensorflow" else "")
        )
    import keras

    if not keras.__version__.startswith("3."):
        raise HarnessUsageError(
            f"Target keras3-{backend} needs Keras 3. Received: keras {keras.__version__}. "
            "Install it with `pip install 'keras>=3'`"
        )
    return keras


class Keras3Runner(Runner):
    def __init__(self, keras, spec: LayerSpec, *, batch_size: int | None, stateful: bool):
        self.keras = keras
        self.spec = spec
        self.batch_size = batch_size
        self.stateful = stateful
        layer_cls = getattr(keras.layers, spec.kind)
        if batch_size is None:
            inputs = keras.Input(shape=(None, spec.features))
        else:
            inputs = keras.Input(batch_shape=(batch_size, None, spec.features))
        self.layer = layer_cls(stateful=stateful, **spec.layer_kwargs())
        self.model = keras.Model(inputs, self.layer(inputs))

    def _numpy(self, value) -> np.ndarray:
        return np.asarray(self.keras.ops.convert_to_numpy(value))

    def _split(self, result) -> Output:
        if self.spec.return_state:
            head, *states = result
            return Output(self._numpy(head), [self._numpy(s) for s in states])
        return Output(self._numpy(result))

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        self.layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])

    def get_weights(self) -> list[np.ndarray]:
        return [np.asarray(w) for w in self.layer.get_weights()]

    def __call__(
        self, x: np.ndarray, *, initial_state: Sequence[np.ndarray] | None = None
    ) -> Output:
        x = np.asarray(x, dtype=np.float32)
        if initial_state is None:
            return self._split(self.model(x))
        states = [np.asarray(s, dtype=np.float32) for s in initial_state]
        return self._split(self.layer(x, initial_state=states))

    def states(self) -> list[np.ndarray]:
        if not self.stateful:
            raise HarnessUsageError("states() needs a stateful runner; this one is stateless")
        return [self._numpy(v) for v in self.layer.states]

    def set_states(self, states: Sequence[np.ndarray]) -> None:
        for variable, value in zip(self.layer.states, states, strict=True):
            variable.assign(np.asarray(value, dtype=np.float32))

    def reset(self) -> None:
        self.layer.reset_state()


class Keras3Target(Target):
    """``keras3-<backend>``: Keras 3 on TensorFlow, JAX or PyTorch."""

    def __init__(self, backend: str):
        self.backend = backend
        self.name = f"keras3-{backend}"
        self.keras = import_keras(backend)
        self._runners: dict[tuple, Keras3Runner] = {}

    def runner(self, spec: LayerSpec, *, batch_size: int | None, stateful: bool) -> Runner:
        if stateful and batch_size is None:
            raise HarnessUsageError("A stateful runner needs a fixed batch_size. Received: None")
        key = (spec, batch_size, stateful)
        runner = self._runners.get(key)
        if runner is None:
            runner = self._runners[key] = Keras3Runner(
                self.keras, spec, batch_size=batch_size, stateful=stateful
            )
        elif stateful:
            # Zeroed by assignment, not through reset_state(): the reset API is under test,
            # and a broken reset must not leak state from one example into the next.
            runner.set_states([np.zeros(v.shape, np.float32) for v in runner.layer.states])
        return runner

    def clear(self) -> None:
        self._runners.clear()
        self.keras.backend.clear_session()

    def versions(self) -> dict[str, str]:
        return {
            "python": platform.python_version(),
            "keras": self.keras.__version__,
            self.backend: distribution_version(*BACKEND_DISTRIBUTIONS[self.backend]) or "unknown",
        }

    @property
    def device(self) -> str:
        if self.backend == "tensorflow":
            import tensorflow as tf

            return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
        if self.backend == "jax":
            import jax

            return "cpu" if jax.default_backend() == "cpu" else "gpu"
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
