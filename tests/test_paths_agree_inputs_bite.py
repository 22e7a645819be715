"""Proof that properties/test_paths_agree_inputs.py bites: each test fails on a target
whose one-call predict/evaluate/fit breaks the batch-to-batch carry, and passes, on the
very same example, on the baseline (``tests.property_runner.run_bite``).

The breaks run every batch of the call as a call of its own (the same path, input kind
and ``jit_compile``), and between batches either zero the stored states (a trainer that
resets between batches) or hand sample i's states to sample i+1 (batch j's rows given to
the wrong samples). The baseline is the real target through a no-op wrapper; where the
real target fails the test as a reviewed known failure says (JAX never writes the state
back from its trainer; PyTorch's fit crashes on a stateful LSTM or GRU; TensorFlow
cannot evaluate or fit a batch of one from a dataset), it is ``FeedThroughCall``: the
one call made of direct calls, batch by batch, as the trainer promises.
"""

import numpy as np
import pytest

from harness.targets.base import Output
from properties import test_paths_agree_inputs as inputs
from tests.broken_targets import BrokenTarget, TrainerPathsThroughCall, WrappedRunner
from tests.property_runner import Parametrized, assert_bitten, known_entries, run_bite

MAX_EXAMPLES_TO_FALSIFY = 30  # each break shows within the first few examples
ONE_CALL = inputs.test_one_call_carries_state_from_batch_to_batch
INPUT_KIND = inputs.test_each_input_kind_carries_state_from_batch_to_batch
JIT = inputs.test_jit_compiled_model_carries_state_from_batch_to_batch
# What the failing check says: the outputs, loss or states of the one call vs the carry.
CARRY = (
    r"^(outputs of|returned state \d+ of|loss reported by|stored state \d+ after) one "
    r"(predict|evaluate|fit) over \d+ batches .* vs row i of each batch continuing row i$"
)


class FeedThroughCall(TrainerPathsThroughCall):
    """A repair: one predict/evaluate/fit call is made of direct calls, batch by batch,
    each from the state the last one left (``TrainerPathsThroughCall``); the input kind
    and ``jit_compile`` are the trainer's business, not the layer's."""

    def feed(self, x, *, path, batch_size=None, source="arrays", jit_compile=None) -> Output:
        return self(x, path=path, batch_size=batch_size)


class FeedsBatchByBatch(WrappedRunner):
    """Each batch of a one-call predict/evaluate/fit goes through a call of its own;
    ``between`` breaks the stored states from one batch to the next."""

    def between(self, states: list[np.ndarray]) -> list[np.ndarray]:
        return states

    def feed(self, x, *, path, batch_size=None, **options) -> Output:
        b = batch_size or self.batch_size
        runs = []
        for start in range(0, len(x), b):
            if start:
                self.inner.set_states(self.between(self.inner.states()))
            runs.append(self.inner.feed(x[start : start + b], path=path, batch_size=b, **options))
        if runs[0].loss is not None:
            return Output(None, loss=float(np.mean([r.loss for r in runs])))
        states = None
        if runs[0].states is not None:
            states = [
                np.concatenate(s, axis=0) for s in zip(*(r.states for r in runs), strict=True)
            ]
        return Output(np.concatenate([r.output for r in runs], axis=0), states)


class ResetsBetweenFedBatches(FeedsBatchByBatch):
    """The trainer resets the states between the batches of one call."""

    def between(self, states):
        return [np.zeros_like(s) for s in states]


class HandsFedRowsToWrongSamples(FeedsBatchByBatch):
    """Between the batches of one call, sample i's states seed sample i+1 (wrapping)."""

    def between(self, states):
        return [np.roll(s, 1, axis=0) for s in states]


BITES = [
    *((Parametrized(ONE_CALL, path=path), ResetsBetweenFedBatches) for path in ("evaluate", "fit")),
    (Parametrized(ONE_CALL, path="fit"), HandsFedRowsToWrongSamples),
    *(
        (Parametrized(INPUT_KIND, source=source), ResetsBetweenFedBatches)
        for source in inputs.FED_SOURCES
    ),
    (Parametrized(INPUT_KIND, source="pydataset"), HandsFedRowsToWrongSamples),
    *((Parametrized(JIT, jit_compile=jit), ResetsBetweenFedBatches) for jit in (False, True)),
]


def baseline_for(target, prop, layer_kind: str) -> BrokenTarget:
    """The no-op wrapper, or the repair where the real target fails this test as known."""
    if known_entries(target, prop, layer_kind):
        return BrokenTarget(target, FeedThroughCall, "feed_through_call")
    return BrokenTarget(target, WrappedRunner, "no-op")


@pytest.mark.parametrize(
    ("prop", "behaviour"), BITES, ids=[f"{p.__name__}-{b.__name__}" for p, b in BITES]
)
def test_paths_agree_inputs_fails_on_broken_target_and_passes_without_the_break(
    target, layer_kind, prop, behaviour
):
    why = inputs.source_unavailable(prop.params.get("source", "arrays"))
    if why is not None:
        pytest.skip(why)
    baseline = baseline_for(target, prop, layer_kind)
    seen = run_bite(
        prop,
        baseline=baseline,
        broken=BrokenTarget(baseline, behaviour, behaviour.__name__),
        layer_kind=layer_kind,
        expect=CARRY,
        max_examples=MAX_EXAMPLES_TO_FALSIFY,
    )
    assert_bitten(seen, behaviour.__name__, baseline=baseline.name)
