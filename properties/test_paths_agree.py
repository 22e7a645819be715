"""paths_agree: the state evolves the same through every execution path.

Each chunk of a stateful run goes through a path — ``__call__``, ``predict``,
``predict_on_batch``, ``evaluate``, ``test_on_batch``, ``fit`` or
``train_on_batch`` (training with a zero learning rate, so weights cannot move
and mask what happens to the state): every chunk through one path, a test per
path, and chunks through a drawn mix of paths. After every chunk the stored states, and
the outputs or the loss the path reports, must match the float64 reference
carried over the chunks so far. One ``predict`` over N*B samples with
``batch_size=B`` must carry state from batch k's row i to batch k+1's row i.
A stateless ``fit`` must start every sample from zeros.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.reference import keras_version_of, run_reference
from harness.strategies import cases, layer_inputs
from harness.targets.base import PATHS
from harness.tolerance import excess

pytestmark = pytest.mark.rnn_property("paths_agree")
MAX_PREDICT_BATCHES = 3  # two hand-offs inside one predict show any carry-over bug
# Each path has a test of its own; together they get about twice the profile's examples
# (predict and fit build and trace a model per example), and each path at least this many.
MIN_EXAMPLES_PER_PATH = 5


def expected_loss(spec, ref) -> float:
    """Keras's mse against all-zero targets: mean(output**2), summed over the outputs."""
    loss = float(np.mean(ref.output(spec) ** 2))
    if spec.return_state:
        loss += sum(float(np.mean(s**2)) for s in ref.states)
    return loss


def assert_state_evolves_through(target, check, case, paths) -> None:
    """Each chunk through its path; outputs or loss, and stored states, vs the reference."""
    __tracebackhide__ = True
    spec = case.spec
    runner = target.runner(spec, batch_size=case.batch_size, stateful=True)
    runner.set_weights(case.weights)
    tol = target.tolerance("reference")
    keras = keras_version_of(target.versions())

    carried = None
    for k, (chunk, path) in enumerate(zip(case.chunks(), paths, strict=True)):
        ref = run_reference(spec, case.weights, chunk, initial_state=carried, keras_version=keras)
        carried = ref.states
        got = runner(chunk, path=path)
        where = f"chunk {k} via {path} (paths {paths}, chunks {list(case.splits)})"
        if got.output is not None:
            check.assert_close(
                f"outputs after {where}", actual=got.output, expected=ref.output(spec), tol=tol
            )
        # The stored states before the loss: a wrong state makes the loss wrong too, and a
        # recorded bug in the reported loss alone (Keras 3.0-3.14's running-mean loss of
        # test_on_batch/train_on_batch) must not stand in for a state bug on those releases.
        for i, (state, want) in enumerate(zip(runner.states(), ref.states, strict=True)):
            check.assert_close(
                f"stored state {i} after {where}", actual=state, expected=want, tol=tol
            )
        if got.loss is not None:
            check.assert_close(
                f"loss reported by {where}",
                actual=np.float64(got.loss),
                expected=np.float64(expected_loss(spec, ref)),
                tol=tol,
            )


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=max(MIN_EXAMPLES_PER_PATH, settings().max_examples // len(PATHS) * 2))
@given(data=st.data())
def test_state_evolves_through_one_path(target, layer_kind, check, data, path):
    # One path per test: a bug recorded for one path cannot stand in for another's.
    case = data.draw(cases(kind=layer_kind), label="case")
    paths = [path] * len(case.splits)
    check.example(case=case, paths=paths)
    assert_state_evolves_through(target, check, case, paths)


@given(data=st.data())
def test_state_evolves_the_same_through_mixed_paths(target, layer_kind, check, data):
    case = data.draw(cases(kind=layer_kind, min_chunks=2), label="case")
    paths = data.draw(
        st.lists(st.sampled_from(PATHS), min_size=len(case.splits), max_size=len(case.splits)),
        label="path of each chunk",
    )
    check.example(case=case, paths=paths)
    assert_state_evolves_through(target, check, case, paths)


@given(data=st.data())
def test_one_predict_carries_state_from_batch_to_batch(target, layer_kind, check, data):
    case = data.draw(cases(kind=layer_kind, max_chunks=1, return_sequences=True), label="case")
    n = data.draw(st.integers(2, MAX_PREDICT_BATCHES), label="batches in one predict")
    rest = data.draw(
        layer_inputs(case.spec, batch_size=case.batch_size * (n - 1), timesteps=case.timesteps),
        label="later batches",
    )
    x = np.concatenate([case.x, rest], axis=0)
    check.example(case=case, batches=n, x_predict=x)
    runner = target.runner(case.spec, batch_size=case.batch_size, stateful=True)
    runner.set_weights(case.weights)
    tol = target.tolerance("reference")

    got = runner(x, path="predict", batch_size=case.batch_size).output
    # Batch k, row i continues batch k-1, row i: one long sequence per row.
    b = case.batch_size
    as_sequence = np.concatenate([x[k * b : (k + 1) * b] for k in range(n)], axis=1)
    keras = keras_version_of(target.versions())
    ref = run_reference(case.spec, case.weights, as_sequence, keras_version=keras).sequence
    t = case.timesteps
    expected = np.concatenate([ref[:, k * t : (k + 1) * t] for k in range(n)], axis=0)
    check.assert_close(
        f"one predict over {n} batches of {b} vs row i of each batch continuing row i",
        actual=got,
        expected=expected,
        tol=tol,
    )


@given(data=st.data())
def test_stateless_fit_starts_every_sample_from_zero(target, layer_kind, check, data):
    # Two or more batches, so that a state kept from one batch to the next would show.
    case = data.draw(
        cases(kind=layer_kind, max_chunks=1, min_batch=2, return_state=False, zero_inputs=False),
        label="case",
    )
    fit_batch = data.draw(st.integers(1, case.batch_size - 1), label="fit batch_size")
    check.example(case=case, fit_batch_size=fit_batch)
    runner = target.runner(case.spec, batch_size=None, stateful=False)
    runner.set_weights(case.weights)
    tol = target.tolerance("reference")

    got = runner(case.x, path="fit", batch_size=fit_batch)
    keras = keras_version_of(target.versions())
    ref = run_reference(case.spec, case.weights, case.x, keras_version=keras)
    expected = expected_loss(case.spec, ref)
    # Keras 3.0-3.1 reported the unweighted mean of the batches' losses (keras-team/keras
    # #19363): that one wrong loss gets a label of its own, so that a reviewed entry for it
    # cannot stand in for a state kept from batch to batch, whose loss is another number.
    n, batches = case.x.shape[0], -(-case.x.shape[0] // fit_batch)
    unweighted = unweighted_batch_loss(case, fit_batch, keras)
    if not _within(got.loss, expected, tol) and _within(got.loss, unweighted, tol):
        check.fail(
            f"stateless fit loss with batch_size={fit_batch} is the unweighted mean of its "
            f"{batches} batches' losses (last batch {n - (batches - 1) * fit_batch} "
            f"of {fit_batch}): {float(got.loss)!r}, not the mean over samples {expected!r}"
        )
    check.assert_close(
        f"stateless fit loss with batch_size={fit_batch} vs every sample from zeros",
        actual=np.float64(got.loss),
        expected=np.float64(expected),
        tol=tol,
    )


def unweighted_batch_loss(case, fit_batch: int, keras: str = "3") -> float:
    """The loss Keras 3.0-3.1's fit reported: the unweighted mean of its batches' losses."""
    return float(
        np.mean(
            [
                expected_loss(
                    case.spec,
                    run_reference(
                        case.spec, case.weights, case.x[i : i + fit_batch], keras_version=keras
                    ),
                )
                for i in range(0, case.x.shape[0], fit_batch)
            ]
        )
    )


def _within(actual, expected: float, tol) -> bool:
    return bool(excess(np.float64(actual), np.float64(expected), tol).max() <= 0)
