"""The target adapter interface.

A target is one framework configuration under test. Properties speak only to
this interface, in NumPy: they never import Keras. API differences between
frameworks live in the adapters.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.specs import LayerSpec
from harness.tolerance import Tolerance, detection_floor, tolerance_for


class ApiMissing(AttributeError):
    """An API that users relied on does not exist in this target: a finding, not a crash."""


# Ways a batch can go through a model. Paths that return outputs, and paths that
# only return a loss (with all-zero targets, so the loss is mean(output ** 2)).
OUTPUT_PATHS = ("call", "predict", "predict_on_batch")
LOSS_PATHS = ("evaluate", "test_on_batch", "fit", "train_on_batch")
PATHS = OUTPUT_PATHS + LOSS_PATHS


@dataclass
class Output:
    """What one run returned.

    ``output`` is the main output (``None`` on loss paths), ``states`` the returned
    states with ``return_state``, ``loss`` the loss a loss path reported.
    """

    output: np.ndarray | None
    states: list[np.ndarray] | None = None
    loss: float | None = None


class Runner(abc.ABC):
    """A built model around one recurrent layer, driven with NumPy arrays.

    ``batch_size`` is fixed for stateful runners and ``None`` for stateless ones.
    """

    spec: LayerSpec
    batch_size: int | None
    stateful: bool

    @abc.abstractmethod
    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load weights in Keras order (kernel, recurrent kernel, bias)."""

    @abc.abstractmethod
    def get_weights(self) -> list[np.ndarray]:
        """The layer's weights in Keras order."""

    @abc.abstractmethod
    def __call__(
        self,
        x: np.ndarray,
        *,
        initial_state: Sequence[np.ndarray] | None = None,
        path: str = "call",
        batch_size: int | None = None,
        mask: np.ndarray | None = None,
    ) -> Output:
        """Run ``x`` of shape ``(batch, timesteps, features)`` through one of ``PATHS``.

        ``predict``, ``evaluate`` and ``fit`` cut ``x`` into batches of ``batch_size``
        (default: the runner's, else all of ``x``); the training paths use a zero
        learning rate, so only states move.
        ``initial_state`` and ``mask`` (boolean, ``(batch, timesteps)``, True where a
        step counts) are supported on the ``call`` path.
        """

    def feed(
        self,
        x: np.ndarray,
        *,
        path: str,
        batch_size: int | None = None,
        source: str = "arrays",
        jit_compile: bool | None = None,
    ) -> Output:
        """One ``predict``, ``evaluate`` or ``fit`` over ``x``, fed as users feed it.

        ``x`` is cut into batches of ``batch_size`` (default: the runner's) in order and
        given as ``source``: ``"arrays"``, ``"generator"``, ``"pydataset"`` or
        ``"tf.data"``; the model is compiled with ``jit_compile`` (``None``: the
        framework's default) and a zero learning rate, so only states move.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot feed a model")

    @abc.abstractmethod
    def states(self) -> list[np.ndarray]:
        """The stored states of a stateful layer, one ``(batch, units)`` array each."""

    @abc.abstractmethod
    def set_states(self, states: Sequence[np.ndarray]) -> None:
        """Assign the stored states of a stateful layer."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Reset a stateful layer's states through the framework's own reset API."""

    def model_reset(self) -> None:
        """Reset through the model-level API (Keras 2: ``model.reset_states()``).

        Raises ``ApiMissing`` where the framework has no such API.
        """
        raise NotImplementedError(f"{type(self).__name__} has no model-level reset")

    def save_weights(self, path: str) -> None:
        """Save the model's weights with the framework's own API (``.weights.h5``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot save weights")

    def load_weights(self, path: str) -> None:
        """Load weights saved by ``save_weights`` with the framework's own API."""
        raise NotImplementedError(f"{type(self).__name__} cannot load weights")

    def clone(self) -> Runner:
        """A new runner with the same architecture (the framework's clone) and weights."""
        raise NotImplementedError(f"{type(self).__name__} cannot clone")


class Target(abc.ABC):
    """One framework configuration: builds runners, reports versions and device."""

    name: str
    # The Keras 3 backend that computes ("tensorflow", "jax", "torch"); tolerances are per backend.
    backend: str | None = None
    dtype: str = "float32"
    # Whether layers take Keras 3's use_cudnn argument (Keras 2 picks kernels itself).
    supports_use_cudnn: bool = True
    # "strict" (no TF32 on GPUs) or "native" (framework defaults): see harness/precision.py.
    precision: str = "strict"

    @abc.abstractmethod
    def runner(self, spec: LayerSpec, *, batch_size: int | None, stateful: bool) -> Runner:
        """A runner for ``spec``; stateful runners need a fixed ``batch_size``.

        A runner may be reused within one example, never across examples (see
        ``new_example``): a returned stateful runner always starts from zero states
        (assigned directly, never through the reset API under test), and callers
        always load weights before running.
        """

    @abc.abstractmethod
    def versions(self) -> dict[str, str]:
        """Exact versions: python, keras, the backend framework."""

    @property
    @abc.abstractmethod
    def device(self) -> str:
        """``"cpu"`` or ``"gpu"``: where the layers run."""

    def clear(self) -> None:  # noqa: B027 - optional hook, a no-op where nothing is cached
        """Drop cached models and framework session state."""

    def new_example(self) -> None:  # noqa: B027 - optional hook, a no-op where nothing is cached
        """A new example starts: runners built for earlier examples are never handed out again."""

    def device_details(self) -> dict[str, Any]:
        """Device name and, on a GPU, driver/CUDA/cuDNN versions (best effort)."""
        return {}

    def tolerance(self, comparison: str) -> Tolerance:
        """The tolerance for ``comparison`` on this target's backend, dtype, device and precision."""
        return tolerance_for(
            backend=self.backend,
            dtype=self.dtype,
            device=self.device,
            precision=self.precision,
            comparison=comparison,
        )

    def info(self) -> dict[str, Any]:
        """The target's entry in a report's ``targets`` list."""
        info = {"name": self.name, "versions": self.versions(), "device": self.device}
        info["precision"] = self.precision
        floor = detection_floor(backend=self.backend, device=self.device, precision=self.precision)
        if floor is not None:  # an informational entry: the report says what it cannot see
            info["gate"] = False
            info["detection_floor"] = str(floor)
        details = self.device_details()
        if details:
            info["device_details"] = details
        return info
