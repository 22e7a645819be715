"""model_reset_states: the model-level reset exists and zeroes every stateful layer.

Keras 2 users reset a stateful model with ``model.reset_states()``. Where a
target has no such API that is reported as this property failing (a removed
API is a finding for anyone upgrading), never as a crash of the harness.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.strategies import cases
from harness.targets.base import ApiMissing

pytestmark = pytest.mark.rnn_property("model_reset_states")


@given(data=st.data())
def test_model_reset_states(target, layer_kind, check, data):
    case = data.draw(cases(kind=layer_kind, max_chunks=1), label="case")
    check.example(case=case)
    runner = target.runner(case.spec, batch_size=case.batch_size, stateful=True)
    runner.set_weights(case.weights)
    tol = target.tolerance("exact")  # a reset assigns zeros: no rounding

    runner(case.x)
    try:
        runner.model_reset()
    except ApiMissing as exc:
        check.fail(f"no model-level reset: {exc}")
    for i, state in enumerate(runner.states()):
        check.assert_close(
            f"state {i} after the model-level reset",
            actual=state,
            expected=np.zeros_like(state),
            tol=tol,
        )
