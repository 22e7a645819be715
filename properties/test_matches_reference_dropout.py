"""matches_reference under dropout: inference ignores it, and training still carries state.

A layer built with ``dropout`` and ``recurrent_dropout`` (each 0 or in (0, 0.5], at
least one non-zero) is the same layer at inference: a direct call or ``predict`` (drawn;
``training`` False) must match the float64 reference of the layer without dropout,
for a stateless run over the whole sequence and for a stateful run over it in chunks.

In training mode (``layer(x, training=True)``, ``harness.targets.training_call``) the
outputs are random, but the state bookkeeping is not: a stateful layer stores exactly
the final states its training call returns, row for row (sample i's state stays in row
i), the last output it returns is its returned first state (h), and the next call in
inference mode continues from those states as a stateless twin given them as
``initial_state`` does.

Could fail (``examples_that_could_fail``): the inference test, where running every
chunk from the zero state instead of the carried one would move the compared values by
more than the tolerance (``harness.sensitivity.chunked_equals_whole``); the training
test, where the inference call after the training calls would differ by more than the
tolerance had it started from zeros or from another sample's states. Every example has
two chunks or more and no all-zero inputs.
"""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import sensitivity
from harness.property_helpers import assert_stateful_chunks_match_reference, stateful_and_stateless
from harness.reference import keras_version_of, run_reference
from harness.specs import LAYER_KINDS
from harness.strategies import cases
from harness.targets.training_call import call_in_training

pytestmark = pytest.mark.rnn_property("matches_reference")
# A rare region, so a small share of the profile: a fifth of its examples per test (5
# under ci), at least this many. On JAX an example costs seconds (eager training calls).
MIN_EXAMPLES = 3
EXAMPLES = max(MIN_EXAMPLES, settings().max_examples // 5)

# A rate in (0, 0.5] in steps of 0.01 (readable in a counterexample); higher rates drop
# most of the signal and add nothing a state check could see.
_RATE = st.integers(1, 50).map(lambda n: n / 100)
RATES = st.one_of(
    st.tuples(_RATE, st.just(0.0)), st.tuples(st.just(0.0), _RATE), st.tuples(_RATE, _RATE)
)


def _case_with_dropout(data, layer_kind: str, *, return_state: bool | None):
    """A drawn case whose layer has drawn dropout rates (at least one non-zero)."""
    if layer_kind not in LAYER_KINDS:
        pytest.skip(f"dropout is drawn for {', '.join(LAYER_KINDS)} layers only")
    case = data.draw(
        cases(kind=layer_kind, min_chunks=2, return_state=return_state, zero_inputs=False),
        label="case",
    )
    dropout, recurrent_dropout = data.draw(RATES, label="dropout, recurrent_dropout")
    spec = case.spec.replace(dropout=dropout, recurrent_dropout=recurrent_dropout)
    return dataclasses.replace(case, spec=spec)


@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_dropout_changes_nothing_at_inference(target, layer_kind, check, data):
    case = _case_with_dropout(data, layer_kind, return_state=None)
    path = data.draw(st.sampled_from(("call", "predict")), label="stateless path")
    check.example(case=case, path=path)
    spec = case.spec
    stateful, stateless = stateful_and_stateless(target, case)
    tol = target.tolerance("reference")
    check.sensitive(sensitivity.chunked_equals_whole(case, tol))
    # The reference has no dropout: inference must be the layer without it.
    ref = run_reference(
        spec, case.weights, case.x, keras_version=keras_version_of(target.versions())
    )

    got = stateless(case.x, path=path)
    what = f"stateless {path} with dropout {spec.dropout}, {spec.recurrent_dropout}"
    check.assert_close(
        f"{what}: output vs reference", actual=got.output, expected=ref.output(spec), tol=tol
    )
    for i, (state, want) in enumerate(zip(got.states or [], ref.states, strict=spec.return_state)):
        check.assert_close(
            f"{what}: returned state {i} vs reference", actual=state, expected=want, tol=tol
        )

    where = f"chunks {list(case.splits)}, dropout {spec.dropout}, {spec.recurrent_dropout}"
    assert_stateful_chunks_match_reference(check, stateful, case, ref, tol, where)


@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_training_call_carries_its_state_per_sample(target, layer_kind, check, data):
    case = _case_with_dropout(data, layer_kind, return_state=True)
    check.example(case=case)
    spec = case.spec
    stateful = target.runner(spec, batch_size=case.batch_size, stateful=True)
    twin = target.runner(spec.replace(return_sequences=True), batch_size=None, stateful=False)
    stateful.set_weights(case.weights)
    twin.set_weights(case.weights)
    exact, tol = target.tolerance("exact"), target.tolerance("consistency")

    *trained, last = case.chunks()
    for k, chunk in enumerate(trained):
        got = call_in_training(stateful, chunk)
        for i, (stored, returned) in enumerate(zip(stateful.states(), got.states, strict=True)):
            check.assert_close(
                f"stored state {i} after training call {k} vs the state it returned",
                actual=stored,
                expected=returned,
                tol=exact,
            )
        last_output = got.output[:, -1] if spec.return_sequences else got.output
        check.assert_close(
            f"last output of training call {k} vs its returned state 0",
            actual=last_output,
            expected=got.states[0],
            tol=tol,
        )
    handed = got.states
    _sensitive_to_handoff(check, spec, case.weights, last, handed, tol)

    after = stateful(last)
    want = twin(last, initial_state=handed)
    where = f"after {len(trained)} training call(s) of chunks {list(case.splits)}"
    expected = want.output if spec.return_sequences else want.output[:, -1]
    check.assert_close(
        f"inference output {where} vs a stateless twin from the returned states",
        actual=after.output,
        expected=expected,
        tol=tol,
    )
    for i, (state, expected) in enumerate(zip(stateful.states(), want.states, strict=True)):
        check.assert_close(
            f"stored state {i} of the inference call {where} vs the twin's",
            actual=state,
            expected=expected,
            tol=tol,
        )


def _sensitive_to_handoff(check, spec, weights, chunk, handed, tol) -> None:
    """Count the example if starting ``chunk`` from zeros, or from the states of the next
    sample, instead of ``handed`` would move the compared values beyond ``tol``."""
    right = run_reference(spec, weights, chunk, initial_state=handed)
    margins = []
    for handoff in (sensitivity.dropped, sensitivity.handed_to_next_sample):
        wrong = run_reference(spec, weights, chunk, initial_state=handoff(handed))
        pairs = [(wrong.sequence, right.sequence), *zip(wrong.states, right.states, strict=True)]
        margins += [sensitivity.margin(a, b, tol) for a, b in pairs]
    check.sensitive(max(margins))
