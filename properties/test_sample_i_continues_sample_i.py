"""sample_i_continues_sample_i: in stateful mode, row i's state seeds row i of the next batch.

A stateful layer keeps one state per batch row. Permuting the rows of every
batch consistently must permute the outputs and states the same way, and the
continuation of row i must depend on row i's own history only: changing what
the other rows saw earlier changes nothing for row i.

Could fail (``examples_that_could_fail``): a layer that hands sample i's state to
sample i+1 at every chunk boundary would move what is compared by more than the
tolerance. For the permutation: the permuted rows' outputs or states against the
permuted ones (``harness.sensitivity.permuted_rows``). A rotation of the rows
commutes with that break, and all-zero inputs make every row alike, so the
permutation is drawn with 3 rows or more and is no rotation, and the inputs are
never all zero. For one row: its outputs after the first chunk or its final states
(``harness.sensitivity.own_history``).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import sensitivity
from harness.strategies import cases, layer_inputs, row_permutations

pytestmark = pytest.mark.rnn_property("sample_i_continues_sample_i")


def run_chunks(runner, chunks):
    """Outputs of every chunk, concatenated along time, and the final stored states."""
    outputs = np.concatenate([runner(chunk).output for chunk in chunks], axis=1)
    return outputs, runner.states()


@given(data=st.data())
def test_permuted_rows_give_permuted_outputs_and_states(target, layer_kind, check, data):
    case = data.draw(
        cases(kind=layer_kind, min_chunks=2, min_batch=3, return_sequences=True, zero_inputs=False),
        label="case",
    )
    perm = np.array(data.draw(row_permutations(size=case.batch_size), label="row permutation"))
    check.example(case=case, permutation=perm)
    runner = target.runner(case.spec, batch_size=case.batch_size, stateful=True)
    runner.set_weights(case.weights)
    tol = target.tolerance("consistency")
    check.sensitive(sensitivity.permuted_rows(case, perm, tol))

    outputs, states = run_chunks(runner, case.chunks())
    runner.set_states([np.zeros_like(s) for s in states])
    permuted, permuted_states = run_chunks(runner, [c[perm] for c in case.chunks()])

    where = f"rows {perm.tolist()}, chunks {list(case.splits)}"
    check.assert_close(
        f"outputs of permuted rows vs permuted outputs ({where})",
        actual=permuted,
        expected=outputs[perm],
        tol=tol,
    )
    for i, (got, want) in enumerate(zip(permuted_states, states, strict=True)):
        check.assert_close(
            f"state {i} of permuted rows vs permuted state ({where})",
            actual=got,
            expected=want[perm],
            tol=tol,
        )


@given(data=st.data())
def test_a_row_continues_only_its_own_history(target, layer_kind, check, data):
    case = data.draw(
        cases(kind=layer_kind, min_chunks=2, min_batch=2, return_sequences=True), label="case"
    )
    row = data.draw(st.integers(0, case.batch_size - 1), label="row")
    first = case.splits[0]
    others = data.draw(
        layer_inputs(case.spec, batch_size=case.batch_size, timesteps=first),
        label="other rows' first chunk",
    )
    check.example(case=case, row=row, first=first, others=others)
    runner = target.runner(case.spec, batch_size=case.batch_size, stateful=True)
    runner.set_weights(case.weights)
    tol = target.tolerance("consistency")
    check.sensitive(sensitivity.own_history(case, row, others, tol))

    outputs, states = run_chunks(runner, case.chunks())
    altered = case.x.copy()
    mask = np.arange(case.batch_size) != row
    altered[mask, :first] = others[mask]
    runner.set_states([np.zeros_like(s) for s in states])
    chunks = np.split(altered, case.boundaries(), axis=1)
    altered_outputs, altered_states = run_chunks(runner, chunks)

    where = f"row {row}, other rows' first chunk replaced, chunks {list(case.splits)}"
    check.assert_close(
        f"row's outputs after the first chunk ({where})",
        actual=altered_outputs[row : row + 1, first:],
        expected=outputs[row : row + 1, first:],
        tol=tol,
    )
    for i, (got, want) in enumerate(zip(altered_states, states, strict=True)):
        check.assert_close(
            f"row's final state {i} ({where})",
            actual=got[row : row + 1],
            expected=want[row : row + 1],
            tol=tol,
        )
