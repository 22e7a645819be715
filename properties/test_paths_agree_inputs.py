"""paths_agree, as users feed data: one call over several batches carries the state.

A stateful layer built for batch size B is given k*B samples (k from 2 to
``MAX_BATCHES``) in ONE ``predict``, ``evaluate`` or ``fit`` call, in order
(``shuffle=False``). Keras's stateful contract: sample i of batch j continues
sample i of batch j-1, so row i of the k batches is one long sequence. The
outputs (predict), the loss (evaluate, fit: Keras's mse against all-zero targets,
averaged over the equal batches) and the stored states after the call must match
the float64 reference carried batch to batch; ``fit`` trains with a zero learning
rate, and its weights must come out exactly as they went in (what makes its loss
comparable without modelling an optimizer). Each test varies one thing users vary:

- ``evaluate`` and ``fit`` over NumPy arrays (one ``predict`` over arrays is
  ``test_paths_agree.test_one_predict_carries_state_from_batch_to_batch``);
- the input given as a Python generator, a ``keras.utils.PyDataset`` or a
  ``tf.data.Dataset`` (Keras 3 takes ``tf.data`` on every backend; it needs
  TensorFlow installed), into a drawn one of the three calls;
- the model compiled with ``jit_compile`` False or True (XLA on TensorFlow and
  JAX, ``torch.compile`` on PyTorch); Keras's default ``"auto"`` resolves to one of
  the two (False on a CPU with TensorFlow or PyTorch, True on JAX) and is what the
  other paths_agree tests run.

The examples are sensitive as ``chunked_equals_whole``'s are: the margin recorded is
that of batches started from zeros instead of the carried state.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import sensitivity
from harness.reference import keras_version_of, run_reference
from harness.specs import Case
from harness.strategies import cases, layer_inputs
from harness.targets.keras3_feeding import FEED_PATHS, SOURCES, source_unavailable
from properties.test_paths_agree import expected_loss

pytestmark = pytest.mark.rnn_property("paths_agree")
MIN_BATCHES = 2  # one hand-off inside the call: the least that shows a carry-over bug
MAX_BATCHES = 4  # three hand-offs; more add time (a trace per call), not coverage
# Each test builds, compiles and traces a model per example: an eighth of the profile's
# examples per test (3 under ci, 37 under thorough), at least this many.
MIN_EXAMPLES = 3
EXAMPLES = max(MIN_EXAMPLES, settings().max_examples // 8)
# Measured 2026-12-05 (torch 2.13.0, 2 CPU cores): 5 examples took 59-105 s per layer kind.
TORCH_COMPILE_ON_CPU = (
    "jit_compile=True is torch.compile (inductor) on PyTorch: it compiles every new model "
    "anew, 12-20 s an example on a CPU, past the ci budget; it runs where the target is a GPU"
)
FED_SOURCES = tuple(s for s in SOURCES if s != "arrays")  # arrays: the first test


def draw_batches(data, layer_kind):
    """A case (its first batch), how many batches, and all k*B samples in batch order."""
    case = data.draw(cases(kind=layer_kind, max_chunks=1), label="case")
    k = data.draw(st.integers(MIN_BATCHES, MAX_BATCHES), label="batches in one call")
    rest = data.draw(
        layer_inputs(case.spec, batch_size=case.batch_size * (k - 1), timesteps=case.timesteps),
        label="later batches",
    )
    return case, k, np.concatenate([case.x, rest], axis=0)


def assert_one_call_carries_state(target, check, case, k, x, *, path, source, jit_compile):
    """One ``path`` call over the k batches vs the reference carried from batch to batch."""
    __tracebackhide__ = True
    spec, b, t = case.spec, case.batch_size, case.timesteps
    batches = [x[j * b : (j + 1) * b] for j in range(k)]
    # Row i of every batch, one after the other: one long sequence per row.
    chained = Case(spec, b, (t,) * k, np.concatenate(batches, axis=1), case.weights)
    check.sensitive(sensitivity.chunked_equals_whole(chained, target.tolerance("consistency")))
    runner = target.runner(spec, batch_size=b, stateful=True)
    runner.set_weights(case.weights)
    tol = target.tolerance("reference")
    keras = keras_version_of(target.versions())
    refs, carried = [], None
    for batch in batches:
        refs.append(
            run_reference(spec, case.weights, batch, initial_state=carried, keras_version=keras)
        )
        carried = refs[-1].states

    got = runner.feed(x, path=path, batch_size=b, source=source, jit_compile=jit_compile)
    where = f"one {path} over {k} batches of {b} ({source}, jit_compile={jit_compile})"
    continuing = "vs row i of each batch continuing row i"
    if got.output is not None:
        expected = np.concatenate([r.output(spec) for r in refs], axis=0)
        check.assert_close(
            f"outputs of {where} {continuing}", actual=got.output, expected=expected, tol=tol
        )
    for i, state in enumerate(got.states or []):
        expected = np.concatenate([r.states[i] for r in refs], axis=0)
        check.assert_close(
            f"returned state {i} of {where} {continuing}", actual=state, expected=expected, tol=tol
        )
    if got.loss is not None:
        # Keras averages the batch losses, weighted by batch size: here all equal.
        expected = np.mean([expected_loss(spec, r) for r in refs])
        check.assert_close(
            f"loss reported by {where} {continuing}",
            actual=np.float64(got.loss),
            expected=np.float64(expected),
            tol=tol,
        )
    for i, (state, want) in enumerate(zip(runner.states(), carried, strict=True)):
        check.assert_close(
            f"stored state {i} after {where} {continuing}", actual=state, expected=want, tol=tol
        )
    if path == "fit":
        for i, (w, want) in enumerate(zip(runner.get_weights(), case.weights, strict=True)):
            check.assert_close(
                f"weight {i} after {where} with learning rate 0",
                actual=w,
                expected=np.asarray(want, np.float32),
                tol=target.tolerance("exact"),
            )


@pytest.mark.parametrize("path", ("evaluate", "fit"))
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_one_call_carries_state_from_batch_to_batch(target, layer_kind, check, data, path):
    case, k, x = draw_batches(data, layer_kind)
    check.example(case=case, batches=k, x_feed=x, path=path)
    assert_one_call_carries_state(
        target, check, case, k, x, path=path, source="arrays", jit_compile=None
    )


@pytest.mark.parametrize("source", FED_SOURCES)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_each_input_kind_carries_state_from_batch_to_batch(target, layer_kind, check, data, source):
    why = source_unavailable(source)
    if why is not None:
        pytest.skip(f"{source} cannot be built here: {why}")
    case, k, x = draw_batches(data, layer_kind)
    path = data.draw(st.sampled_from(FEED_PATHS), label="path")
    check.example(case=case, batches=k, x_feed=x, path=path, source=source)
    assert_one_call_carries_state(
        target, check, case, k, x, path=path, source=source, jit_compile=None
    )


@pytest.mark.parametrize("jit_compile", (False, True))
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_jit_compiled_model_carries_state_from_batch_to_batch(
    target, layer_kind, check, data, jit_compile
):
    if jit_compile and target.backend == "torch" and target.device == "cpu":
        pytest.skip(TORCH_COMPILE_ON_CPU)
    case, k, x = draw_batches(data, layer_kind)
    path = data.draw(st.sampled_from(FEED_PATHS), label="path")
    check.example(case=case, batches=k, x_feed=x, path=path, jit_compile=jit_compile)
    assert_one_call_carries_state(
        target, check, case, k, x, path=path, source="arrays", jit_compile=jit_compile
    )
