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

from harness.property_helpers import assert_stateful_chunks_match_reference, stateful_and_stateless
from harness.reference import keras_version_of, run_reference
from harness.specs import LAYER_KINDS
from harness.strategies import cases, layer_states, masks

pytestmark = pytest.mark.rnn_property("matches_reference")


def _set_up(target, case):
    """The stateless and the stateful runner of ``case``'s layer, both with its weights; the
    reference tolerance; the Keras version whose semantics the reference follows."""
    stateful, stateless = stateful_and_stateless(target, case)
    keras = keras_version_of(target.versions())
    return stateless, stateful, target.tolerance("reference"), keras


def _assert_whole_call(check, spec, got, ref, tol, what: str) -> None:
    """One call over the whole sequence: its output, and its returned states, vs the reference."""
    check.assert_close(
        f"{what} output vs reference", actual=got.output, expected=ref.output(spec), tol=tol
    )
    if spec.return_state:
        for i, (state, want) in enumerate(zip(got.states, ref.states, strict=True)):
            check.assert_close(
                f"{what} returned state {i} vs reference", actual=state, expected=want, tol=tol
            )


@given(data=st.data())
def test_matches_reference(target, layer_kind, check, data):
    case = data.draw(cases(kind=layer_kind), label="case")
    use_initial = data.draw(st.booleans(), label="initial_state given")
    initial = data.draw(layer_states(case.spec, case.batch_size)) if use_initial else None
    check.example(case=case, initial_state=initial)
    spec = case.spec
    stateless, stateful, tol, keras = _set_up(target, case)
    ref = run_reference(spec, case.weights, case.x, initial_state=initial, keras_version=keras)

    _assert_whole_call(check, spec, stateless(case.x, initial_state=initial), ref, tol, "stateless")

    if initial is not None:
        stateful.set_states(initial)
    where = f"chunks {list(case.splits)}"
    assert_stateful_chunks_match_reference(check, stateful, case, ref, tol, where)


@given(data=st.data())
def test_masked_steps_match_reference(target, layer_kind, check, data):
    # A mask passed to the layer itself, stateless and stateful: a masked step keeps every
    # state and repeats the previous output (zeros before a call's first valid step).
    if layer_kind not in LAYER_KINDS:
        pytest.skip(f"masks: the float64 reference takes a mask for {', '.join(LAYER_KINDS)} only")
    case = data.draw(cases(kind=layer_kind), label="case")
    mask = data.draw(masks(batch_size=case.batch_size, timesteps=case.timesteps), label="mask")
    check.example(case=case, mask=mask)
    spec = case.spec
    stateless, stateful, tol, keras = _set_up(target, case)
    ref = run_reference(spec, case.weights, case.x, keras_version=keras, mask=mask)

    _assert_whole_call(check, spec, stateless(case.x, mask=mask), ref, tol, "masked")

    carried = None
    chunk_masks = np.split(mask, np.cumsum(case.splits)[:-1], axis=1)
    for k, (chunk, m) in enumerate(zip(case.chunks(), chunk_masks, strict=True)):
        want = run_reference(spec, case.weights, chunk, carried, keras_version=keras, mask=m)
        carried = want.states
        check.assert_close(
            f"stateful masked output of chunk {k} of {list(case.splits)} vs reference",
            actual=stateful(chunk, mask=m).output,
            expected=want.output(spec),
            tol=tol,
        )
    for i, (state, want_state) in enumerate(zip(stateful.states(), carried, strict=True)):
        check.assert_close(
            f"stateful stored state {i} after masked chunks vs reference",
            actual=state,
            expected=want_state,
            tol=tol,
        )
