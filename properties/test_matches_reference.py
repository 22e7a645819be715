"""matches_reference: the framework agrees with an independent float64 NumPy reference.

The layer's own weights are fed to ``harness.reference``; outputs and final
states must agree within the reference tolerance for the dtype and device —
for a stateless run over the whole sequence (from zeros or a drawn
``initial_state``) and for a stateful run over the same sequence in chunks.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.reference import keras_version_of, run_reference
from harness.strategies import cases, layer_states

pytestmark = pytest.mark.rnn_property("matches_reference")


@given(data=st.data())
def test_matches_reference(target, layer_kind, check, data):
    case = data.draw(cases(kind=layer_kind), label="case")
    use_initial = data.draw(st.booleans(), label="initial_state given")
    initial = data.draw(layer_states(case.spec, case.batch_size)) if use_initial else None
    check.example(case=case, initial_state=initial)
    spec = case.spec
    stateless = target.runner(spec, batch_size=None, stateful=False)
    stateful = target.runner(spec, batch_size=case.batch_size, stateful=True)
    stateless.set_weights(case.weights)
    stateful.set_weights(case.weights)
    tol = target.tolerance("reference")
    keras = keras_version_of(target.versions())
    ref = run_reference(spec, case.weights, case.x, initial_state=initial, keras_version=keras)

    got = stateless(case.x, initial_state=initial)
    check.assert_close(
        "stateless output vs reference", actual=got.output, expected=ref.output(spec), tol=tol
    )
    if spec.return_state:
        for i, (state, want) in enumerate(zip(got.states, ref.states, strict=True)):
            check.assert_close(
                f"stateless returned state {i} vs reference", actual=state, expected=want, tol=tol
            )

    if initial is not None:
        stateful.set_states(initial)
    chunk_outputs = [stateful(chunk).output for chunk in case.chunks()]
    where = f"chunks {list(case.splits)}"
    if spec.return_sequences:
        actual = np.concatenate(chunk_outputs, axis=1)
        expected = ref.sequence
    else:
        actual = np.stack(chunk_outputs, axis=1)
        expected = ref.sequence[:, np.cumsum(case.splits) - 1]
    check.assert_close(
        f"stateful chunked outputs vs reference ({where})",
        actual=actual,
        expected=expected,
        tol=tol,
    )
    for i, (state, want) in enumerate(zip(stateful.states(), ref.states, strict=True)):
        check.assert_close(
            f"stateful stored state {i} vs reference ({where})",
            actual=state,
            expected=want,
            tol=tol,
        )
