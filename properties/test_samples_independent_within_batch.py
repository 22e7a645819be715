"""samples_independent_within_batch: a stateless sample's output ignores its batch-mates.

In stateless mode each sample of a batch starts from zeros and never sees the
other samples: its output is the same alone, inside any batch, in any order
and at any batch size.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.strategies import MAX_BATCH, cases, row_permutations

pytestmark = pytest.mark.rnn_property("samples_independent_within_batch")


@given(data=st.data())
def test_samples_independent_within_batch(target, layer_kind, check, data):
    case = data.draw(cases(kind=layer_kind, max_chunks=1, min_batch=2), label="case")
    rows = data.draw(
        st.lists(st.integers(0, case.batch_size - 1), min_size=1, max_size=MAX_BATCH),
        label="rows of another batch (any order, repeats, any size)",
    )
    perm = data.draw(row_permutations(size=case.batch_size), label="row permutation")
    alone = data.draw(st.integers(0, case.batch_size - 1), label="sample run alone")
    check.example(case=case, rows=rows, permutation=perm, alone=alone)
    runner = target.runner(case.spec, batch_size=None, stateful=False)
    runner.set_weights(case.weights)
    tol = target.tolerance("consistency")

    full = runner(case.x)
    for label, index in (
        (f"sample {alone} alone", [alone]),
        (f"rows {list(rows)} as a batch of {len(rows)}", list(rows)),
        (f"the batch permuted as {list(perm)}", list(perm)),
    ):
        got = runner(case.x[index])
        check.assert_close(
            f"outputs of {label} vs the same rows of the full batch",
            actual=got.output,
            expected=full.output[index],
            tol=tol,
        )
        for i, (state, want) in enumerate(zip(got.states or [], full.states or [], strict=True)):
            check.assert_close(
                f"returned state {i} of {label} vs the full batch",
                actual=state,
                expected=np.asarray(want)[index],
                tol=tol,
            )
