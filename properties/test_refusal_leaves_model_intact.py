"""refusal_leaves_model_intact: a refused call leaves the layer as it found it.

A stateful layer built for batch size B refuses some calls: another batch size,
a short last batch inside ``predict``, ``evaluate`` or ``fit``, inputs with the
wrong number of features or the wrong rank. Whether it refuses is
batch_size_mismatch_is_an_error's concern; this property asks what a refusal
leaves behind. After a call that raised, the weights and every stored state must
be readable and exactly as before (a refused call must not touch anything), and
the next valid call, on any path, must give what a twin that never saw the bad
call gives: the same outputs, returned states or loss, the same stored states
afterwards — or the same exception type. The twin is the same runner, run from
the same weights and states before the bad call is made. A bad call that is
accepted is no refusal: the example records ``accepted`` and checks nothing.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.strategies import MAX_BATCH, MAX_FEATURES, cases, layer_inputs, layer_states
from harness.targets.base import PATHS, Output

pytestmark = pytest.mark.rnn_property("refusal_leaves_model_intact")
BATCHING_PATHS = ("predict", "evaluate", "fit")  # the paths that cut their input into batches
MAX_FULL_BATCHES = 2  # full batches before the short one: state moves before the refusal


def attempt(runner, x: np.ndarray, path: str) -> Output | Exception:
    """What one call gave: its ``Output``, or the exception it raised."""
    try:
        return runner(x, path=path)
    except Exception as exc:  # the framework's own error type is not ours to prescribe
        return exc


def start(runner, weights, states) -> None:
    """Load ``weights`` and ``states``: the same starting point for the twin and the runner."""
    runner.set_weights(weights)
    runner.set_states(states)


def read(check, what: str, getter):
    """``getter()``; that it raises is a failure: the layer is no longer usable."""
    try:
        return getter()
    except Exception as exc:  # the framework's own error type is not ours to prescribe
        check.fail(f"{what} cannot be read: {type(exc).__name__}: {str(exc)[:300]}")


def describe(outcome: Output | Exception) -> str:
    if isinstance(outcome, Exception):
        return f"raised {type(outcome).__name__}: {str(outcome)[:300]}"
    return "returned normally"


def check_same_outcome(check, what: str, *, actual, expected, tol) -> None:
    """The same exception type, or the same outputs, returned states and loss."""
    if isinstance(actual, Exception) or isinstance(expected, Exception):
        if type(actual) is not type(expected):
            check.fail(f"{what}: it {describe(actual)}; the twin {describe(expected)}")
        return
    pairs = [("outputs", actual.output, expected.output), ("loss", actual.loss, expected.loss)]
    pairs += [
        (f"returned state {i}", a, e)
        for i, (a, e) in enumerate(zip(actual.states or [], expected.states or [], strict=True))
    ]
    for name, a, e in pairs:
        if e is not None:
            check.assert_close(
                f"{name} of {what}",
                actual=np.asarray(a, np.float64),
                expected=np.asarray(e, np.float64),
                tol=tol,
            )


def check_refusal_leaves_intact(
    check, target, case, states, *, bad_x, bad_path: str, how: str, path: str
) -> None:
    """Run the twin, then the bad call and the same valid call, and compare what is left."""
    runner = target.runner(case.spec, batch_size=case.batch_size, stateful=True)
    start(runner, case.weights, states)
    twin = attempt(runner, case.x, path)
    twin_states = runner.states()
    start(runner, case.weights, states)
    weights_before, states_before = runner.get_weights(), runner.states()
    refusal = attempt(runner, bad_x, bad_path)
    if not isinstance(refusal, Exception):
        check.diagnostics["accepted"] = True  # no refusal: nothing for this property to check
        return
    # What the call did, not a verdict: it raised, possibly after running full batches.
    where = f"after the {how} (which raised {type(refusal).__name__})"
    exact = target.tolerance("exact")  # a refused call must not touch anything
    weights_after = read(check, f"the weights {where}", runner.get_weights)
    for i, (got, want) in enumerate(zip(weights_after, weights_before, strict=True)):
        check.assert_close(f"weight {i} {where}", actual=got, expected=want, tol=exact)
    states_after = read(check, f"the stored states {where}", runner.states)
    for i, (got, want) in enumerate(zip(states_after, states_before, strict=True)):
        check.assert_close(f"stored state {i} {where}", actual=got, expected=want, tol=exact)
    after = attempt(runner, case.x, path)
    what = f"the next {path} {where} vs a twin's that never saw it"
    tol = target.tolerance("consistency")
    check_same_outcome(check, what, actual=after, expected=twin, tol=tol)
    states_after = read(check, f"the stored states after {what}", runner.states)
    for i, (got, want) in enumerate(zip(states_after, twin_states, strict=True)):
        check.assert_close(f"stored state {i} after {what}", actual=got, expected=want, tol=tol)


@given(data=st.data())
def test_a_refused_direct_call_leaves_weights_and_states_and_the_next_call_intact(
    target, layer_kind, check, data
):
    case = data.draw(cases(kind=layer_kind, max_chunks=1), label="case")
    wrong = data.draw(
        st.integers(1, MAX_BATCH + 2).filter(lambda n: n != case.batch_size), label="wrong size"
    )
    bad_x = data.draw(
        layer_inputs(case.spec, batch_size=wrong, timesteps=case.timesteps),
        label="wrong batch",
    )
    states = data.draw(layer_states(case.spec, case.batch_size), label="states before")
    path = data.draw(st.sampled_from(PATHS), label="path of the next call")
    check.example(case=case, wrong=wrong, bad_x=bad_x, states=states, path=path)
    how = f"direct call with {wrong} samples (batch size {case.batch_size})"
    check_refusal_leaves_intact(
        check, target, case, states, bad_x=bad_x, bad_path="call", how=how, path=path
    )


@given(data=st.data())
def test_a_refused_short_last_batch_leaves_the_model_intact(target, layer_kind, check, data):
    case = data.draw(cases(kind=layer_kind, max_chunks=1, min_batch=2), label="case")
    bad_path = data.draw(st.sampled_from(BATCHING_PATHS), label="path of the short batch")
    full = data.draw(st.integers(0, MAX_FULL_BATCHES), label="full batches before the short one")
    short = data.draw(st.integers(1, case.batch_size - 1), label="short batch size")
    n = full * case.batch_size + short
    bad_x = data.draw(
        layer_inputs(case.spec, batch_size=n, timesteps=case.timesteps),
        label="input with a short last batch",
    )
    states = data.draw(layer_states(case.spec, case.batch_size), label="states before")
    path = data.draw(st.sampled_from(PATHS), label="path of the next call")
    check.example(case=case, bad_path=bad_path, n=n, bad_x=bad_x, states=states, path=path)
    how = f"{bad_path} over {n} samples (last batch {n % case.batch_size} of {case.batch_size})"
    check_refusal_leaves_intact(
        check, target, case, states, bad_x=bad_x, bad_path=bad_path, how=how, path=path
    )


@given(data=st.data())
def test_a_refused_wrong_feature_count_or_rank_leaves_the_model_intact(
    target, layer_kind, check, data
):
    case = data.draw(cases(kind=layer_kind, max_chunks=1), label="case")
    features = data.draw(
        st.integers(1, MAX_FEATURES + 1).filter(lambda n: n != case.spec.features),
        label="wrong features",
    )
    x = data.draw(
        layer_inputs(
            case.spec.replace(features=features),
            batch_size=case.batch_size,
            timesteps=case.timesteps,
        ),
        label="input with the wrong features",
    )
    bad_x = data.draw(
        st.sampled_from([x, case.x[:, 0]]), label="bad input (or one step without its time axis)"
    )
    states = data.draw(layer_states(case.spec, case.batch_size), label="states before")
    path = data.draw(st.sampled_from(PATHS), label="path of the next call")
    check.example(case=case, bad_x=bad_x, states=states, path=path)
    how = f"direct call with input shape {bad_x.shape} (step shape {case.spec.input_shape})"
    check_refusal_leaves_intact(
        check, target, case, states, bad_x=bad_x, bad_path="call", how=how, path=path
    )
