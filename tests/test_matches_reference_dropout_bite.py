"""The dropout property bites: it fails on a deliberately broken target, and only there.

``properties/test_matches_reference_dropout.py`` runs unchanged on targets whose layers
break one promise about dropout: dropout applied at inference, a training call that
stores other states than it returns (another sample's, or the states from before it),
one that neither stores nor returns its own, an inference call after training calls that starts from zeros. Each bite is
differential (``tests.property_runner.run_bite``): on the very same example the property
passes through a no-op wrapper and fails on the break, by the check the break must trip;
the breaks a tolerance judges also under a pretend GPU's (``strict`` and ``native``).
"""

import numpy as np
import pytest

from harness.errors import HarnessUsageError
from harness.specs import LAYER_KINDS, LayerSpec
from harness.targets.base import Output
from harness.targets.training_call import call_in_training
from properties import test_matches_reference_dropout as dropout
from tests.broken_targets import BrokenTarget, PretendsGpu, WrappedRunner, ZeroStartEachCall
from tests.property_runner import assert_bitten, run_bite, run_property

INFERENCE = dropout.test_dropout_changes_nothing_at_inference
TRAINING = dropout.test_training_call_carries_its_state_per_sample
# Bites stop at the first bitten example; a batch of one cannot show rows handed on.
MAX_EXAMPLES_TO_FALSIFY = 20
STORED_VS_RETURNED = r"^stored state \d+ after training call \d+ vs the state it returned$"
CONTINUATION = r"(^inference output|^stored state \d+ of the inference call) after .* twin"


class DropoutAtInference(WrappedRunner):
    """Every call without an initial state or a mask runs in training mode: dropout acts."""

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None, mask=None) -> Output:
        if initial_state is not None or mask is not None or path not in ("call", "predict"):
            return self.inner(
                x, initial_state=initial_state, path=path, batch_size=batch_size, mask=mask
            )
        return call_in_training(self.inner, x)


class TrainingStoresNextSampleState(WrappedRunner):
    """A training call returns its states, but stores sample i's in row i+1 (wrapping)."""

    def call_in_training(self, x) -> Output:
        out = call_in_training(self.inner, x)
        self.inner.set_states([np.roll(s, 1, axis=0) for s in self.inner.states()])
        return out


class TrainingStoresNothing(WrappedRunner):
    """A training call returns its states but leaves the stored ones as they were."""

    def call_in_training(self, x) -> Output:
        kept = self.inner.states()
        out = call_in_training(self.inner, x)
        self.inner.set_states(kept)
        return out


class TrainingStandsStill(WrappedRunner):
    """A training call neither stores nor returns its final states: those from before it."""

    def call_in_training(self, x) -> Output:
        kept = self.inner.states()
        out = call_in_training(self.inner, x)
        self.inner.set_states(kept)
        return Output(out.output, kept)


class InferenceStartsFromZeros(ZeroStartEachCall):
    """Training calls are right; each inference call of a stateful layer starts from zeros."""


# The breaks a tolerance judges (the others are caught by an exact comparison).
JUDGED = [
    (INFERENCE, DropoutAtInference, r" vs reference"),
    (TRAINING, TrainingStandsStill, r"^last output of training call \d+ vs its returned"),
    (TRAINING, InferenceStartsFromZeros, CONTINUATION),
]
EXACT = [
    (TRAINING, TrainingStoresNextSampleState, STORED_VS_RETURNED),
    (TRAINING, TrainingStoresNothing, STORED_VS_RETURNED),
]
BITES = [pytest.param(p, cls, e, id=cls.__name__) for p, cls, e in JUDGED + EXACT]


@pytest.mark.parametrize(("prop", "runner_cls", "expect"), BITES)
@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_fails_on_the_break_and_passes_without_it(target, prop, runner_cls, expect, kind):
    seen = run_bite(
        prop,
        baseline=BrokenTarget(target, WrappedRunner, "no-op"),
        broken=BrokenTarget(target, runner_cls, runner_cls.__name__),
        layer_kind=kind,
        expect=expect,
        max_examples=MAX_EXAMPLES_TO_FALSIFY,
    )
    assert_bitten(seen, runner_cls.__name__)


@pytest.mark.parametrize("precision", ("strict", "native"))
@pytest.mark.parametrize(
    ("prop", "runner_cls", "expect"), [pytest.param(*b, id=b[1].__name__) for b in JUDGED]
)
def test_bites_under_a_gpu_tolerance(target, prop, runner_cls, expect, precision):
    # The CPU's numbers judged by a GPU entry (LSTM: the layer a cuDNN kernel may take).
    baseline = PretendsGpu(target, WrappedRunner, precision=precision)
    try:
        baseline.tolerance("reference")
    except HarnessUsageError as exc:
        pytest.skip(f"no measured tolerance entry: {exc}")
    seen = run_bite(
        prop,
        baseline=baseline,
        broken=PretendsGpu(target, runner_cls, precision=precision),
        layer_kind="LSTM",
        expect=expect,
        max_examples=MAX_EXAMPLES_TO_FALSIFY,
    )
    assert_bitten(seen, runner_cls.__name__, entry=precision)


@pytest.mark.parametrize("prop", [INFERENCE, TRAINING], ids=lambda f: f.__name__)
def test_skips_a_kind_without_drawn_dropout_with_its_reason(target, prop):
    with pytest.raises(pytest.skip.Exception, match="dropout is drawn for LSTM, GRU, SimpleRNN"):
        run_property(prop, target, "ConvLSTM1D", max_examples=1)


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_training_calls_apply_dropout_and_inference_calls_do_not(target, kind):
    # Without this the training test could pass on calls that never reach training mode.
    # Half of 8 x 4 inputs (and 8 x 4 recurrent units) are dropped: an all-ones mask has
    # odds 2**-32 per call.
    spec = LayerSpec(kind, units=4, features=4, dropout=0.5, recurrent_dropout=0.5)
    rng = np.random.default_rng(0)
    runner = target.runner(spec, batch_size=None, stateful=False)
    runner.set_weights([rng.uniform(-1, 1, s).astype(np.float32) for s in spec.weight_shapes()])
    x = rng.uniform(-1, 1, (8, 3, 4)).astype(np.float32)
    inference = runner(x).output
    np.testing.assert_array_equal(runner(x).output, inference)
    trained = call_in_training(runner, x).output
    assert np.abs(trained - inference).max() > 1e-3
