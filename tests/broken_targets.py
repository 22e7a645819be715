"""Deliberately broken targets: each wraps a real target and breaks one promise.

They exist to prove that the properties bite: every property must fail on at
least one of them, and pass on the real target they wrap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.specs import GATES, LayerSpec
from harness.targets.base import Output, Runner, Target


class WrappedRunner(Runner):
    """Delegates everything to a real runner; subclasses override one behaviour."""

    def __init__(self, inner: Runner):
        self.inner = inner
        self.spec = inner.spec
        self.batch_size = inner.batch_size
        self.stateful = inner.stateful

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        self.inner.set_weights(weights)

    def get_weights(self) -> list[np.ndarray]:
        return self.inner.get_weights()

    def __call__(self, x, *, initial_state=None) -> Output:
        return self.inner(x, initial_state=initial_state)

    def states(self) -> list[np.ndarray]:
        return self.inner.states()

    def set_states(self, states) -> None:
        self.inner.set_states(states)

    def reset(self) -> None:
        self.inner.reset()


class BrokenTarget(Target):
    """A real target whose runners are wrapped by ``runner_cls``."""

    def __init__(self, inner: Target, runner_cls: type[WrappedRunner], label: str):
        self.inner = inner
        self.runner_cls = runner_cls
        self.name = f"broken[{label}]:{inner.name}"
        self.dtype = inner.dtype

    def runner(self, spec: LayerSpec, *, batch_size, stateful) -> Runner:
        return self.runner_cls(self.inner.runner(spec, batch_size=batch_size, stateful=stateful))

    def versions(self) -> dict[str, str]:
        return self.inner.versions()

    @property
    def device(self) -> str:
        return self.inner.device

    def clear(self) -> None:
        self.inner.clear()


class ZeroStartEachCall(WrappedRunner):
    """Every stateful call starts from zeros, as if state were never carried."""

    def __call__(self, x, *, initial_state=None) -> Output:
        if self.stateful:
            self.inner.reset()
        return self.inner(x, initial_state=initial_state)


class HandsStateToNextSample(WrappedRunner):
    """After each stateful call, sample i's state seeds sample i+1 (wrapping around)."""

    def __call__(self, x, *, initial_state=None) -> Output:
        out = self.inner(x, initial_state=initial_state)
        if self.stateful:
            self.inner.set_states([np.roll(s, 1, axis=0) for s in self.inner.states()])
        return out


class ScalesCarriedState(WrappedRunner):
    """The carried state drifts: it is multiplied by 1.001 after each stateful call."""

    factor = 1.001

    def __call__(self, x, *, initial_state=None) -> Output:
        out = self.inner(x, initial_state=initial_state)
        if self.stateful:
            self.inner.set_states([s * self.factor for s in self.inner.states()])
        return out


class ResetClearsFirstStateOnly(WrappedRunner):
    """Reset zeroes the first state (h) and forgets the rest (an LSTM keeps c)."""

    def reset(self) -> None:
        kept = self.inner.states()
        self.inner.reset()
        self.inner.set_states([np.zeros_like(kept[0]), *kept[1:]])


class ResetDoesNothing(WrappedRunner):
    """Reset is a no-op."""

    def reset(self) -> None:
        pass


class StatelessRemembers(WrappedRunner):
    """A stateless layer that starts each call from the previous call's final state."""

    def __init__(self, inner: Runner):
        super().__init__(inner)
        self.previous: list[np.ndarray] | None = None

    def __call__(self, x, *, initial_state=None) -> Output:
        if self.stateful:
            return self.inner(x, initial_state=initial_state)
        carried = self.previous
        if carried is not None and carried[0].shape[0] != len(x):
            carried = None
        out = self.inner(x, initial_state=initial_state if initial_state is not None else carried)
        if out.states is not None:
            self.previous = out.states
        return out


class TransposedRecurrentKernel(WrappedRunner):
    """Loads each gate's recurrent block transposed: a classic weight-layout bug."""

    def set_weights(self, weights) -> None:
        weights = [np.array(w) for w in weights]
        units, gates = self.spec.units, GATES[self.spec.kind]
        blocks = np.split(weights[1], gates, axis=1)
        weights[1] = np.concatenate([b.T for b in blocks], axis=1)
        assert weights[1].shape == (units, gates * units)
        self.inner.set_weights(weights)


BROKEN_RUNNERS: dict[str, type[WrappedRunner]] = {
    "zero_start_each_call": ZeroStartEachCall,
    "hands_state_to_next_sample": HandsStateToNextSample,
    "scales_carried_state": ScalesCarriedState,
    "reset_clears_first_state_only": ResetClearsFirstStateOnly,
    "reset_does_nothing": ResetDoesNothing,
    "stateless_remembers": StatelessRemembers,
    "transposed_recurrent_kernel": TransposedRecurrentKernel,
}


def broken(target: Target, label: str) -> BrokenTarget:
    """``target`` with the behaviour named ``label`` broken."""
    return BrokenTarget(target, BROKEN_RUNNERS[label], label)
