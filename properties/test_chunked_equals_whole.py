"""chunked_equals_whole: stateful chunks equal one stateless pass over the whole sequence.

A stateful layer fed consecutive chunks (any number, any lengths, length 1
included) must produce, at every timestep, the output a stateless layer with
the same weights produces on the whole sequence, and end in the same states.
With ``return_sequences=False`` each chunk's output must equal the whole run's
output at that chunk's last timestep.

Could fail (``examples_that_could_fail``): running every chunk from the zero state
instead of the carried one would move the compared outputs or final states by more
than the tolerance (``harness.sensitivity.chunked_equals_whole``). Examples have two
chunks or more: one chunk carries nothing.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import sensitivity
from harness.strategies import cases

pytestmark = pytest.mark.rnn_property("chunked_equals_whole")


@given(data=st.data())
def test_chunked_equals_whole(target, layer_kind, check, data):
    case = data.draw(cases(kind=layer_kind, min_chunks=2), label="case")
    check.example(case=case)
    spec = case.spec
    stateful = target.runner(spec, batch_size=case.batch_size, stateful=True)
    whole = target.runner(
        spec.replace(return_sequences=True, return_state=True), batch_size=None, stateful=False
    )
    stateful.set_weights(case.weights)
    whole.set_weights(case.weights)
    tol = target.tolerance("consistency")
    check.sensitive(sensitivity.chunked_equals_whole(case, tol))

    expected = whole(case.x)
    chunk_outputs = [stateful(chunk) for chunk in case.chunks()]

    where = f"chunks {list(case.splits)}"
    if spec.return_sequences:
        actual = np.concatenate([o.output for o in chunk_outputs], axis=1)
        check.assert_close(
            f"chunked vs whole outputs ({where})", actual=actual, expected=expected.output, tol=tol
        )
    else:
        ends = np.cumsum(case.splits) - 1
        actual = np.stack([o.output for o in chunk_outputs], axis=1)
        check.assert_close(
            f"each chunk's last output vs whole output at its last timestep ({where})",
            actual=actual,
            expected=expected.output[:, ends],
            tol=tol,
        )
    for i, (state, want) in enumerate(zip(stateful.states(), expected.states, strict=True)):
        check.assert_close(
            f"stored state {i} after the last chunk vs whole ({where})",
            actual=state,
            expected=want,
            tol=tol,
        )
    if spec.return_state:
        for i, (state, want) in enumerate(
            zip(chunk_outputs[-1].states, expected.states, strict=True)
        ):
            check.assert_close(
                f"returned state {i} of the last chunk vs whole ({where})",
                actual=state,
                expected=want,
                tol=tol,
            )
