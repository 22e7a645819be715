"""A target that runs the float64 NumPy reference instead of a framework.

Correct by construction on the ``call`` path (chunked and whole runs do the same
float64 operations in the same order), and fast: no framework is imported. Used
to sample what the properties draw, example by example, with the very property
code (``scripts/measure_sensitivity.py``), and to test the strategies and the
sensitivity counts without a framework (``tests/test_strategies.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.reference import run_reference, zero_states
from harness.specs import LayerSpec
from harness.targets.base import Output, Runner, Target


class ReferenceRunner(Runner):
    """One layer as the float64 reference; only the ``call`` path, without masks."""

    def __init__(self, spec: LayerSpec, *, batch_size: int | None, stateful: bool):
        self.spec, self.batch_size, self.stateful = spec, batch_size, stateful
        self.weights: list[np.ndarray] = []
        self.stored = zero_states(spec, batch_size) if stateful else []

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        self.weights = [np.asarray(w, dtype=np.float64) for w in weights]

    def get_weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self.weights]

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None, mask=None):
        if path != "call" or mask is not None:
            raise NotImplementedError("the reference target runs the call path, without masks")
        if self.stateful and len(x) != self.batch_size:
            raise ValueError(f"Expected batch size {self.batch_size}. Received: {len(x)}")
        start = initial_state if initial_state is not None else (self.stored or None)
        result = run_reference(self.spec, self.weights, x, initial_state=start)
        if self.stateful:
            self.stored = result.states
        states = [s.copy() for s in result.states] if self.spec.return_state else None
        return Output(result.output(self.spec), states)

    def states(self) -> list[np.ndarray]:
        return [s.copy() for s in self.stored]

    def set_states(self, states: Sequence[np.ndarray]) -> None:
        self.stored = [np.asarray(s, dtype=np.float64).copy() for s in states]

    def reset(self) -> None:
        self.stored = zero_states(self.spec, self.batch_size)


class ReferenceTarget(Target):
    """Runners that compute the float64 reference; ``device``/``precision`` pick tolerances.

    Example:
        >>> ReferenceTarget(device="gpu", precision="native").device
        'gpu'
    """

    name = "numpy-reference"

    def __init__(self, *, device: str = "cpu", precision: str = "strict"):
        self._device = device
        self.precision = precision

    def runner(self, spec: LayerSpec, *, batch_size: int | None, stateful: bool) -> Runner:
        return ReferenceRunner(spec, batch_size=batch_size, stateful=stateful)

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    @property
    def device(self) -> str:
        return self._device
