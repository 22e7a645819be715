"""Proof that every composition property bites: it fails on a deliberately broken model.

The properties in ``properties/test_composition.py`` obtain their models through
the module-level name ``model_runner``. Here it is swapped for one that wraps each
real ``ModelRunner`` in a runner breaking one promise (a stacked layer that loses
its state, a reset that clears one layer, a head without its bias, ...), and each
property must then fail with a ``PropertyFailure``. On the real target the same
properties must pass, unless the framework has a reviewed known failure there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from harness.errors import PropertyFailure
from harness.known_failures import (
    SHIPPED_KNOWN_FAILURES,
    find_known_failure,
    load_known_failures,
)
from harness.specs import GATES, ModelSpec, RecurrentLayer
from harness.targets.keras3_models import ModelOutput
from harness.targets.keras3_models import model_runner as real_model_runner
from properties import test_composition as composition
from tests.property_runner import property_id, run_property

# A break shows within the first few examples of the derandomized search; the budget
# only bounds a search that would fail.
MAX_EXAMPLES_TO_FALSIFY = 40
MAX_EXAMPLES_TO_PASS = 5
KNOWN_FAILURES = SHIPPED_KNOWN_FAILURES


class WrappedModelRunner:
    """Delegates everything to a real ``ModelRunner``; subclasses break one behaviour."""

    def __init__(self, inner):
        self.inner = inner
        self.spec: ModelSpec = inner.spec
        self.batch_size = inner.batch_size
        self.stateful = inner.stateful

    @classmethod
    def build(cls, target, spec: ModelSpec, *, batch_size, stateful) -> WrappedModelRunner:
        return cls(real_model_runner(target, spec, batch_size=batch_size, stateful=stateful))

    def __call__(self, x: np.ndarray) -> ModelOutput:
        return self.inner(x)

    def states(self) -> list[np.ndarray]:
        return self.inner.states()

    def set_states(self, states: Sequence[np.ndarray]) -> None:
        self.inner.set_states(states)

    def reset(self) -> None:
        self.inner.reset()

    def get_weights(self) -> list[np.ndarray]:
        return self.inner.get_weights()

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        self.inner.set_weights(weights)

    def _zero_groups(self, keep) -> None:
        """Zero the stored states of every state group for which ``keep(group)`` is False."""
        states = self.inner.states()
        for group in self.spec.state_groups():
            if not keep(group):
                for k in range(group.start, group.start + group.count):
                    states[k] = np.zeros_like(states[k])
        self.inner.set_states(states)


def _flip_time(array: np.ndarray) -> np.ndarray:
    return array[:, ::-1] if array.ndim >= 3 else array


class ZeroStartEachCall(WrappedModelRunner):
    """Every stateful call starts from zeros, as if state were never carried."""

    def __call__(self, x):
        if self.stateful:
            self._zero_groups(lambda group: False)
        return self.inner(x)


class ZeroesSecondLayerStateBetweenCalls(WrappedModelRunner):
    """After each stateful call, the second stacked layer forgets its state."""

    def __call__(self, x):
        out = self.inner(x)
        if self.stateful:
            self._zero_groups(lambda group: group.layer != 1)
        return out


class ResetClearsFirstLayerOnly(WrappedModelRunner):
    """Reset zeroes the first layer's states and restores every other layer's."""

    def reset(self) -> None:
        kept = self.inner.states()
        self.inner.reset()
        first = [g for g in self.spec.state_groups() if g.layer == 0]
        end = first[-1].start + first[-1].count
        self.inner.set_states([*self.inner.states()[:end], *kept[end:]])


class ResetDoesNothing(WrappedModelRunner):
    """Reset is a no-op."""

    def reset(self) -> None:
        pass


class DropsDenseBias(WrappedModelRunner):
    """The TimeDistributed(Dense) head is loaded without its bias."""

    def set_weights(self, weights) -> None:
        weights = [np.array(w) for w in weights]
        if self.spec.dense_units is not None:
            weights[-1] = np.zeros_like(weights[-1])
        self.inner.set_weights(weights)


class ZeroesBackwardStateBetweenCalls(WrappedModelRunner):
    """A stateful Bidirectional whose backward direction starts every chunk from zeros."""

    def __call__(self, x):
        out = self.inner(x)
        if self.stateful:
            self._zero_groups(lambda group: group.direction != "backward")
        return out


class ResetClearsForwardOnly(WrappedModelRunner):
    """Reset of a Bidirectional zeroes the forward direction and keeps the backward one."""

    def reset(self) -> None:
        kept = self.inner.states()
        self.inner.reset()
        states = self.inner.states()
        for group in self.spec.state_groups():
            if group.direction == "backward":
                states[group.start : group.start + group.count] = kept[
                    group.start : group.start + group.count
                ]
        self.inner.set_states(states)


class ReturnsDirectionsSwapped(WrappedModelRunner):
    """Returns a Bidirectional's states backward direction first (built without
    ``return_state``, which a stateful Bidirectional cannot build with in Keras 3.15)."""

    @classmethod
    def build(cls, target, spec, *, batch_size, stateful):
        inner = real_model_runner(
            target, spec.replace(return_state=False), batch_size=batch_size, stateful=stateful
        )
        runner = cls(inner)
        runner.spec = spec
        return runner

    def __call__(self, x):
        out = self.inner(x)
        states = self.inner.states()
        swapped = []
        for group in reversed(self.spec.state_groups()):
            swapped += states[group.start : group.start + group.count]
        return ModelOutput(out.output, swapped, layers=out.layers)


class ProcessesChunksForward(WrappedModelRunner):
    """A go_backwards model that reverses each chunk once too often: it runs forward."""

    def __call__(self, x):
        if any(getattr(e, "go_backwards", False) for e in self.spec.layers):
            x = np.asarray(x)[:, ::-1]
        return self.inner(x)


class IgnoresMask(WrappedModelRunner):
    """Padded steps reach the RNN as (almost) zero inputs instead of being masked."""

    def __call__(self, x):
        if self.spec.mask_value is None or not self._ignores_here():
            return self.inner(x)
        x = np.array(x)
        x[np.all(x == self.spec.mask_value, axis=-1)] = self.spec.mask_value + 1e-30
        return self.inner(x)

    def _ignores_here(self) -> bool:
        return True


class IgnoresMaskWhenStateful(IgnoresMask):
    """Only the stateful model ignores its mask."""

    def _ignores_here(self) -> bool:
        return self.stateful


class ZeroOutputAtPaddedSteps(WrappedModelRunner):
    """A stateful model outputs zeros at padded steps instead of holding the last output."""

    def __call__(self, x):
        out = self.inner(x)
        if not self.stateful or self.spec.mask_value is None:
            return out
        padded = np.all(np.asarray(x) == self.spec.mask_value, axis=-1)
        layers = [np.where(padded[..., None], 0, a) if a.ndim == 3 else a for a in out.layers]
        return ModelOutput(layers[-1], out.states, layers=layers)


class UnrolledReversesTime(WrappedModelRunner):
    """An unrolled model returns its sequences in reverse time order."""

    def __call__(self, x):
        out = self.inner(x)
        if not any(getattr(e, "unroll", False) for e in self.spec.layers):
            return out
        layers = [_flip_time(a) for a in out.layers]
        return ModelOutput(layers[-1], out.states, layers=layers)


class TransposedRecurrentKernel(WrappedModelRunner):
    """Loads each gate's recurrent block transposed: a classic weight-layout bug."""

    def set_weights(self, weights) -> None:
        weights, start = [np.array(w) for w in weights], 0
        for entry in self.spec.layers:
            per_direction = len(entry.weight_shapes()) // getattr(entry, "directions", 1)
            if isinstance(entry, RecurrentLayer):
                for d in range(entry.directions):
                    i = start + d * per_direction + 1
                    blocks = np.split(weights[i], GATES[entry.layer.kind], axis=1)
                    weights[i] = np.concatenate([b.T for b in blocks], axis=1)
            start += len(entry.weight_shapes())
        self.inner.set_weights(weights)


# Reached through the module: a module-level name test_* would be collected here too.
C = composition
# (property test, broken runner, layer kinds on which the break is a bug there)
ALL = ("LSTM", "GRU", "SimpleRNN")
BITES = [
    (C.test_stacked_chunked_equals_whole, ZeroesSecondLayerStateBetweenCalls, ALL),
    (C.test_stacked_reset_zeroes_every_layer, ResetClearsFirstLayerOnly, ALL),
    (C.test_time_distributed_dense_chunked_equals_whole, ZeroStartEachCall, ALL),
    (C.test_time_distributed_dense_applies_its_kernel_at_every_timestep, DropsDenseBias, ALL),
    (
        C.test_bidirectional_stateful_chunks_run_forward_whole_and_backward_per_chunk,
        ZeroesBackwardStateBetweenCalls,
        ALL,
    ),
    (C.test_bidirectional_reset_zeroes_both_directions, ResetClearsForwardOnly, ALL),
    (C.test_stateful_bidirectional_returns_its_states, ReturnsDirectionsSwapped, ALL),
    (
        C.test_go_backwards_runs_each_chunk_reversed_from_the_carried_state,
        ProcessesChunksForward,
        ALL,
    ),
    (C.test_masked_steps_carry_the_state_unchanged, IgnoresMask, ALL),
    (C.test_masked_chunked_equals_whole_at_valid_steps, IgnoresMaskWhenStateful, ALL),
    (C.test_masked_chunked_equals_whole_at_padded_steps, ZeroOutputAtPaddedSteps, ALL),
    (C.test_unrolled_equals_rolled, UnrolledReversesTime, ALL),
    (C.test_unrolled_stateful_chunks_equal_rolled_whole, UnrolledReversesTime, ALL),
    (C.test_conv_lstm1d_chunked_equals_whole, ZeroStartEachCall, ("LSTM",)),
    (C.test_conv_lstm1d_reset_zeroes, ResetDoesNothing, ("LSTM",)),
    (C.test_mixed_precision_chunked_equals_whole, ZeroStartEachCall, ALL),
    (C.test_mixed_precision_matches_reference, TransposedRecurrentKernel, ALL),
]
PROPERTY_TESTS = sorted({fn for fn, _, _ in BITES}, key=lambda fn: fn.__name__)


def run(prop, target, layer_kind: str, max_examples: int):
    return run_property(prop, target, layer_kind, max_examples=max_examples)


@pytest.mark.parametrize(
    ("prop", "broken", "kinds"),
    BITES,
    ids=[f"{fn.__name__.removeprefix('test_')}-{cls.__name__}" for fn, cls, _ in BITES],
)
def test_composition_property_fails_on_broken_model(
    target, layer_kind, prop, broken, kinds, monkeypatch
):
    if layer_kind not in kinds:
        pytest.skip(f"{prop.__name__} runs under {', '.join(kinds)} only, not {layer_kind}")
    monkeypatch.setattr(composition, "model_runner", broken.build)
    with pytest.raises(PropertyFailure):
        run(prop, target, layer_kind, MAX_EXAMPLES_TO_FALSIFY)


@pytest.mark.parametrize("prop", PROPERTY_TESTS, ids=[fn.__name__ for fn in PROPERTY_TESTS])
def test_composition_property_passes_on_the_real_target(target, layer_kind, prop):
    known = find_known_failure(
        load_known_failures(KNOWN_FAILURES),
        property_id=property_id(prop),
        layer=layer_kind,
        target=target.name,
        versions=dict(target.versions()),
        test=prop.__name__,
    )
    try:
        evidence = run(prop, target, layer_kind, MAX_EXAMPLES_TO_PASS)
    except Exception:
        if known is None:
            raise
        # The real framework fails here: a finding, reviewed in harness/data/known_failures.toml.
        pytest.xfail(f"known failure of {target.name}: {known.reason}")
    assert evidence.examples == MAX_EXAMPLES_TO_PASS


def test_every_composition_test_has_a_bite():
    declared = {getattr(composition, n) for n in dir(composition) if n.startswith("test_")}
    assert declared == {fn for fn, _, _ in BITES}
