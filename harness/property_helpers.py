"""Steps that several property modules share, so that each property still reads draw, build,
run, compare: a stateful and a stateless runner of one drawn layer, and a stateful chunked run
compared to the float64 reference.
"""

from __future__ import annotations

import numpy as np

from harness.check import PropertyCheck
from harness.reference import ReferenceResult
from harness.specs import Case
from harness.targets.base import Runner, Target
from harness.tolerance import Tolerance


def stateful_and_stateless(target: Target, case: Case) -> tuple[Runner, Runner]:
    """A stateful runner of ``case``'s layer (its batch size fixed) and a stateless one, both
    with ``case``'s weights.

    Args:
        target: the framework target that builds them.
        case: the drawn layer, weights and batch.
    """
    stateful = target.runner(case.spec, batch_size=case.batch_size, stateful=True)
    stateless = target.runner(case.spec, batch_size=None, stateful=False)
    stateful.set_weights(case.weights)
    stateless.set_weights(case.weights)
    return stateful, stateless


def assert_stateful_chunks_match_reference(
    check: PropertyCheck,
    stateful: Runner,
    case: Case,
    ref: ReferenceResult,
    tol: Tolerance,
    where: str,
) -> None:
    """Run ``case``'s chunks through ``stateful`` and compare to ``ref``, the reference over the
    whole sequence: the outputs (every timestep, or each chunk's last where the layer returns
    the last output only), then every stored state.

    Args:
        check: the example's evidence collector.
        stateful: the stateful runner, weights and starting states set.
        case: the drawn example; its ``splits`` cut the sequence into chunks.
        ref: ``harness.reference.run_reference`` over ``case.x`` from the same starting states.
        tol: the reference tolerance.
        where: what the check labels name in parentheses, e.g. ``chunks [2, 3]``.
    """
    __tracebackhide__ = True
    outputs = [stateful(chunk).output for chunk in case.chunks()]
    if case.spec.return_sequences:
        actual, expected = np.concatenate(outputs, axis=1), ref.sequence
    else:
        actual, expected = np.stack(outputs, axis=1), ref.sequence[:, np.cumsum(case.splits) - 1]
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
