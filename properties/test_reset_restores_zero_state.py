"""reset_restores_zero_state: reset returns every state to zero, also mid-sequence.

After feeding some chunks to a stateful layer and resetting it through the
framework's API, every stored state (both h and c for LSTM) is exactly zero,
and the chunks fed afterwards give what a fresh stateless layer gives on them.

Could fail (``examples_that_could_fail``): skipping the reset would leave a state
further from zero, or move the outputs after it, by more than the tolerance
(``harness.sensitivity.skipped_reset``).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import sensitivity
from harness.property_helpers import stateful_and_stateless
from harness.strategies import cases

pytestmark = pytest.mark.rnn_property("reset_restores_zero_state")


@given(data=st.data())
def test_reset_restores_zero_state(target, layer_kind, check, data):
    case = data.draw(cases(kind=layer_kind, min_chunks=2, return_sequences=True), label="case")
    reset_at = data.draw(st.integers(1, len(case.splits) - 1), label="reset before chunk")
    check.example(case=case, reset_at=reset_at)
    stateful, fresh = stateful_and_stateless(target, case)
    tol = target.tolerance("consistency")
    check.sensitive(sensitivity.skipped_reset(case, reset_at, tol))

    chunks = case.chunks()
    for chunk in chunks[:reset_at]:
        stateful(chunk)
    stateful.reset()
    for i, state in enumerate(stateful.states()):
        check.assert_close(
            f"state {i} right after reset (reset before chunk {reset_at})",
            actual=state,
            expected=np.zeros_like(state),
            tol=target.tolerance("exact"),  # a reset assigns zeros: no rounding
        )
    after = np.concatenate([stateful(chunk).output for chunk in chunks[reset_at:]], axis=1)
    expected = fresh(np.concatenate(chunks[reset_at:], axis=1)).output
    check.assert_close(
        f"outputs after reset vs a fresh layer (chunks {list(case.splits)}, reset before "
        f"chunk {reset_at})",
        actual=after,
        expected=expected,
        tol=tol,
    )
