"""initial_state_equals_carried_state: a returned state, passed back in, continues the sequence.

After chunk k of a stateful run, the state the layer returns (``return_state``)
given as ``initial_state`` to a stateless layer must give, on the remaining
chunks, exactly what the stateful layer gives by carrying its own state.

Could fail (``examples_that_could_fail``): ignoring ``initial_state`` (starting the
remaining chunks from zeros) would move the compared outputs or final states by more
than the tolerance (``harness.sensitivity.ignored_initial_state``).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import sensitivity
from harness.strategies import cases

pytestmark = pytest.mark.rnn_property("initial_state_equals_carried_state")


@given(data=st.data())
def test_initial_state_equals_carried_state(target, layer_kind, check, data):
    case = data.draw(
        cases(kind=layer_kind, min_chunks=2, return_sequences=True, return_state=True),
        label="case",
    )
    k = data.draw(st.integers(1, len(case.splits) - 1), label="hand over after chunk")
    check.example(case=case, k=k)
    stateful = target.runner(case.spec, batch_size=case.batch_size, stateful=True)
    stateless = target.runner(case.spec, batch_size=None, stateful=False)
    stateful.set_weights(case.weights)
    stateless.set_weights(case.weights)
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
