"""stateless_batches_independent: nothing survives from one stateless call to the next.

A stateless layer (``stateful=False``) starts every call from the zero state:
a batch's outputs are the same whether it runs first, after another batch, or
again, and equal a run given an explicit all-zero ``initial_state``.

Could fail (``examples_that_could_fail``): a layer that started each call from the
previous call's final states would move the repeated call's outputs or states by
more than the tolerance (``harness.sensitivity.remembered_call``). Outputs are
compared at every step: a remembered state fades along the sequence, and the last
step alone often could not show it (28 of 200 SimpleRNN examples, drawn with
``return_sequences`` both ways, could not fail; samples_independent_within_batch
runs the last-step path in stateless mode).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import sensitivity
from harness.strategies import cases, layer_inputs

pytestmark = pytest.mark.rnn_property("stateless_batches_independent")


@given(data=st.data())
def test_stateless_batches_independent(target, layer_kind, check, data):
    case = data.draw(cases(kind=layer_kind, max_chunks=1, return_sequences=True), label="case")
    other = data.draw(
        layer_inputs(case.spec, batch_size=case.batch_size, timesteps=case.timesteps),
        label="other batch",
    )
    check.example(case=case, other=other)
    spec = case.spec.replace(return_state=True)
    runner = target.runner(spec, batch_size=None, stateful=False)
    runner.set_weights(case.weights)
    tol = target.tolerance("consistency")
    check.sensitive(sensitivity.remembered_call(case, other, tol))

    first = runner(case.x)
    runner(other)
    again = runner(case.x)
    zeros = [np.zeros(shape, np.float32) for shape in spec.state_shapes(case.batch_size)]
    explicit = runner(case.x, initial_state=zeros)

    for label, run in (("after another batch", again), ("with an explicit zero state", explicit)):
        check.assert_close(
            f"output {label} vs first call", actual=run.output, expected=first.output, tol=tol
        )
        for i, (state, want) in enumerate(zip(run.states, first.states, strict=True)):
            check.assert_close(
                f"returned state {i} {label} vs first call", actual=state, expected=want, tol=tol
            )
