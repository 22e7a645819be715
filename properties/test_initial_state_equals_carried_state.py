"""initial_state_equals_carried_state: a returned state, passed back in, continues the sequence.

After chunk k of a stateful run, the state the layer returns (``return_state``)
given as ``initial_state`` to a stateless layer must give, on the remaining
chunks, exactly what the stateful layer gives by carrying its own state.

Could fail (``examples_that_could_fail``): ignoring ``initial_state`` (starting the
remaining chunks from zeros) would move the compared outputs or final states by more
than the tolerance (``harness.sensitivity.ignored_initial_state``).

A stateful layer given an explicit ``initial_state`` (Keras 3's ``RNN.call`` uses the
stored states only when it is None, and a stateful layer always stores its final states;
TensorFlow, JAX and PyTorch agree) starts from the given state, not from its stored one,
and stores the call's final states: the next call without ``initial_state`` continues
from them. ``test_stateful_layer_given_initial_state`` checks it on the layer, mid-sequence;
``test_two_input_model_with_a_stateful_layer_saves_and_loads`` on a functional model with
two inputs (the sequences and the initial states) through ``model(...)`` or ``predict``,
before and after ``model.save`` + ``keras.models.load_model``. Keras 3.15.1's JAX
``predict`` stores no final state (its trainer leaves the RNN state variables out, as for
``paths_agree``): a known failure. Could fail: starting from the stored states, or not
storing the final ones, would move what they compare by more than the tolerance
(``harness.sensitivity.stored_state_instead_of_given``).
"""

import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import sensitivity
from harness.custom_layers import is_custom
from harness.property_helpers import stateful_and_stateless
from harness.strategies import cases, layer_states

pytestmark = pytest.mark.rnn_property("initial_state_equals_carried_state")
MIN_MODEL_EXAMPLES = 3


@given(data=st.data())
def test_initial_state_equals_carried_state(target, layer_kind, check, data):
    case = data.draw(
        cases(kind=layer_kind, min_chunks=2, return_sequences=True, return_state=True),
        label="case",
    )
    k = data.draw(st.integers(1, len(case.splits) - 1), label="hand over after chunk")
    check.example(case=case, k=k)
    stateful, stateless = stateful_and_stateless(target, case)
    tol = target.tolerance("consistency")
    check.sensitive(sensitivity.ignored_initial_state(case, k, tol))

    chunks = case.chunks()
    returned = None
    for chunk in chunks[:k]:
        returned = stateful(chunk).states
    carried = [stateful(chunk) for chunk in chunks[k:]]
    handed = stateless(np.concatenate(chunks[k:], axis=1), initial_state=returned)

    where = f"state returned after chunk {k} of {list(case.splits)}"
    check.assert_close(
        f"stateless outputs from the {where} vs the stateful continuation",
        actual=handed.output,
        expected=np.concatenate([c.output for c in carried], axis=1),
        tol=tol,
    )
    for i, (got, want) in enumerate(zip(handed.states, carried[-1].states, strict=True)):
        check.assert_close(
            f"final state {i} from the {where} vs the stateful continuation",
            actual=got,
            expected=want,
            tol=tol,
        )


def assert_states_close(check, what: str, actual, expected, tol) -> None:
    for i, (got, want) in enumerate(zip(actual, expected, strict=True)):
        check.assert_close(what.format(i=i), actual=got, expected=want, tol=tol)


def assert_call_like_stateless(check, call: str, got, runner, want, tol) -> None:
    """``got``, what ``call`` on ``runner`` returned, vs ``want``, a stateless call's from the
    same initial state: the outputs, the returned states, then ``runner``'s stored states."""
    check.assert_close(
        f"outputs of {call} vs a stateless call from it",
        actual=got.output,
        expected=want.output,
        tol=tol,
    )
    assert_states_close(
        check, f"returned state {{i}} of {call} vs a stateless call's", got.states, want.states, tol
    )
    assert_states_close(
        check,
        f"stored state {{i}} after {call} vs its final state",
        runner.states(),
        want.states,
        tol,
    )


@given(data=st.data())
def test_stateful_layer_given_initial_state(target, layer_kind, check, data):
    case = data.draw(
        cases(kind=layer_kind, min_chunks=3, return_sequences=True, return_state=True),
        label="case",
    )
    # Drawn, never a state the layer computes: it differs from the one chunk 0 stores.
    given_state = data.draw(layer_states(case.spec, case.batch_size), label="initial_state")
    check.example(case=case, initial_state=given_state)
    stateful, stateless = stateful_and_stateless(target, case)
    tol = target.tolerance("consistency")
    check.sensitive(sensitivity.given_after_carried(case, given_state, tol))

    first, second, *rest = case.chunks()
    rest = np.concatenate(rest, axis=1)
    stateful(first)  # the stored states the given initial_state must override
    got = stateful(second, initial_state=given_state)
    want = stateless(second, initial_state=given_state)
    call = "a stateful call given initial_state after chunk 0"
    assert_call_like_stateless(check, call, got, stateful, want, tol)
    later = stateful(rest)
    continued = stateless(rest, initial_state=want.states)
    check.assert_close(
        f"outputs of the next call without initial_state after {call} vs a stateless "
        "continuation from its final state",
        actual=later.output,
        expected=continued.output,
        tol=tol,
    )
    assert_states_close(
        check,
        f"final state {{i}} of the next call without initial_state after {call} vs a "
        "stateless continuation's",
        later.states,
        continued.states,
        tol,
    )


def differs(states, other) -> bool:
    return any(not np.array_equal(a, b) for a, b in zip(states, other, strict=True))


# One path per test: a bug recorded for one path (JAX's predict) cannot hide the other.
# Each example builds, saves and loads a model (seconds on JAX): a fifth of the examples.
@pytest.mark.parametrize("path", ("call", "predict"))
@settings(max_examples=max(MIN_MODEL_EXAMPLES, settings().max_examples // 5))
@given(data=st.data())
def test_two_input_model_with_a_stateful_layer_saves_and_loads(
    target, layer_kind, check, data, path
):
    if is_custom(layer_kind):
        pytest.skip(f"a user's layer ({layer_kind}) loads only with its own custom_objects")
    case = data.draw(
        cases(kind=layer_kind, min_chunks=2, return_sequences=True, return_state=True),
        label="case",
    )
    states = layer_states(case.spec, case.batch_size)
    given_state = data.draw(states, label="initial_state")
    # The states each model holds before its first call: never the given ones.
    stored = data.draw(states.filter(lambda s: differs(s, given_state)), label="stored states")
    check.example(case=case, initial_state=given_state, stored=stored, path=path)
    model = target.initial_state_model(case.spec, batch_size=case.batch_size)
    stateless = target.runner(case.spec, batch_size=None, stateful=False)
    model.set_weights(case.weights)
    stateless.set_weights(case.weights)
    tol = target.tolerance("consistency")
    check.sensitive(sensitivity.given_over_stored(case, given_state, stored, tol))

    first, *rest = case.chunks()
    rest = np.concatenate(rest, axis=1)
    want = stateless(first, initial_state=given_state)
    continued = stateless(rest, initial_state=want.states)

    def run(runner, which: str) -> None:
        runner.set_states(stored)
        got = runner(first, initial_state=given_state, path=path)
        call = f"the {which} two-input model's {path} with initial_state as its second input"
        assert_call_like_stateless(check, call, got, runner, want, tol)
        later = runner(rest, initial_state=runner.states(), path=path)
        check.assert_close(
            f"outputs of {call}, fed its stored state back, vs a stateless continuation",
            actual=later.output,
            expected=continued.output,
            tol=tol,
        )

    run(model, "saved")
    with tempfile.TemporaryDirectory() as tmp:
        loaded = model.save_and_load(tmp)
    for i, (got, want_w) in enumerate(zip(loaded.get_weights(), case.weights, strict=True)):
        check.assert_close(
            f"loaded two-input model's weight {i} vs the saved one's",
            actual=got,
            expected=want_w,
            tol=target.tolerance("exact"),
        )
    run(loaded, "loaded")
