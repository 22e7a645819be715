"""batch_size_mismatch_is_an_error: a stateful layer refuses another batch size, loudly.

A stateful layer built for batch size B holds B states. Given a larger or
smaller batch — directly, or as a short last batch inside ``predict`` — it must
raise an error that names both batch sizes (as a batch size or as the batch
dimension of a shape), and leave its states unchanged. A silent success is a
failure of the property.
"""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.strategies import MAX_BATCH, cases, layer_inputs, layer_states

pytestmark = pytest.mark.rnn_property("batch_size_mismatch_is_an_error")


def check_refused(check, runner, x, *, expected: int, received: int, how: str, tol) -> None:
    before = runner.states()
    try:
        runner(x, path="predict" if "predict" in how else "call")
    except Exception as exc:  # the framework's own error type is not ours to prescribe
        message = str(exc)
        numbers = set(re.findall(r"\d+", message))
        named = "batch" in message.lower() or "shape" in message.lower()
        raised = type(exc).__name__  # what the call did; full batches may have run before it
        if not named or not {str(expected), str(received)} <= numbers:
            check.fail(
                f"{how}: the error does not name the batch sizes (expected {expected}, "
                f"received {received}): {type(exc).__name__}: {message[:300]}"
            )
    else:
        check.fail(
            f"{how}: a stateful layer built for batch size {expected} accepted "
            f"{received} samples silently; expected an error"
        )
    for i, (state, want) in enumerate(zip(runner.states(), before, strict=True)):
        check.assert_close(
            f"state {i} after the {how} (which raised {raised})",
            actual=state,
            expected=want,
            tol=tol,
        )


@given(data=st.data())
def test_another_batch_size_is_refused(target, layer_kind, check, data):
    case = data.draw(cases(kind=layer_kind, max_chunks=1), label="case")
    wrong = data.draw(
        st.integers(1, MAX_BATCH + 2).filter(lambda n: n != case.batch_size), label="wrong size"
    )
    x = data.draw(
        layer_inputs(case.spec, batch_size=wrong, timesteps=case.timesteps),
        label="wrong batch",
    )
    states = data.draw(layer_states(case.spec, case.batch_size), label="states before")
    check.example(case=case, wrong=wrong, wrong_batch=x, states=states)
    runner = target.runner(case.spec, batch_size=case.batch_size, stateful=True)
    runner.set_weights(case.weights)
    runner.set_states(states)
    tol = target.tolerance("exact")  # a refused call must not touch the states
    check_refused(
        check, runner, x, expected=case.batch_size, received=wrong, how="direct call", tol=tol
    )


@given(data=st.data())
def test_short_last_batch_in_predict_is_refused(target, layer_kind, check, data):
    case = data.draw(cases(kind=layer_kind, max_chunks=1, min_batch=2), label="case")
    full = data.draw(st.integers(0, 2), label="full batches before the short one")
    short = data.draw(st.integers(1, case.batch_size - 1), label="short batch size")
    n = full * case.batch_size + short
    x = data.draw(
        layer_inputs(case.spec, batch_size=n, timesteps=case.timesteps),
        label="predict input",
    )
    check.example(case=case, short=short, n=n, predict_x=x)
    runner = target.runner(case.spec, batch_size=case.batch_size, stateful=True)
    runner.set_weights(case.weights)
    runner.set_states([np.zeros(s.shape, np.float32) for s in runner.states()])
    tol = target.tolerance("exact")  # a refused call must not touch the states
    check_refused(
        check,
        runner,
        x,
        expected=case.batch_size,
        received=short,
        how=f"predict over {n} samples (last batch {short} of {case.batch_size})",
        tol=tol,
    )
