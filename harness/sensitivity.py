"""Could this example have failed? The float64 reference, run with the bug a check is for.

A property's comparison proves something only where the relation it checks is
sensitive: where the break it guards against would move what it compares by more
than the tolerance. Each function here takes one drawn example, runs the float64
reference (``harness.reference``) once as the property expects and once with that
break, and returns the **margin**: the largest difference between the two, in units
of the tolerance (``|a - b| / (atol + rtol * |b|)``, as ``harness.tolerance.excess``
counts it). A margin above 1 means the check would have failed on the break: the
example could fail. Properties pass it to ``PropertyCheck.sensitive``; each
property's docstring says which break its margin measures.

The reference is cheap next to a framework call (a few hundred small float64
matmuls per example), and exact for the chunked runs it is compared with here:
chunked and whole reference runs do the same operations in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness.reference import ReferenceResult, run_reference, zero_states
from harness.specs import Case, LayerSpec
from harness.tolerance import Tolerance

States = list[np.ndarray]
# A break of the hand-off between chunks: the states the next chunk starts from.
Handoff = Callable[[States], States]


def margin(changed: np.ndarray, checked: np.ndarray, tol: Tolerance) -> float:
    """How many tolerances ``changed`` is from ``checked`` at most (> 1: a check fails).

    Example:
        >>> round(margin(np.array([1.0, 2.0]), np.array([1.0, 2.1]), Tolerance(0.0, 0.05)), 6)
        2.0
    """
    a = np.asarray(changed, dtype=np.float64)
    b = np.asarray(checked, dtype=np.float64)
    if a.size == 0:
        return 0.0
    allowed = tol.atol + tol.rtol * np.abs(b)
    return float(np.max(np.abs(a - b) / allowed))


def _margins(pairs: Sequence[tuple[np.ndarray, np.ndarray]], tol: Tolerance) -> float:
    return max((margin(a, b, tol) for a, b in pairs), default=0.0)


def run_chunks(
    spec: LayerSpec,
    weights: Sequence[np.ndarray],
    chunks: Sequence[np.ndarray],
    *,
    handoff: Handoff | None = None,
) -> ReferenceResult:
    """The reference over consecutive chunks, each starting from ``handoff(previous states)``.

    ``handoff=None`` carries the states unchanged: the same as one run over the whole
    sequence. Outputs are concatenated along time; the states are the last chunk's.
    """
    states = None
    sequences = []
    for i, chunk in enumerate(chunks):
        if i > 0 and handoff is not None:
            states = handoff(states)
        result = run_reference(spec, weights, chunk, initial_state=states)
        sequences.append(result.sequence)
        states = result.states
    return ReferenceResult(np.concatenate(sequences, axis=1), states)


def dropped(states: States) -> States:
    """The hand-off of a layer that forgets its state between calls: zeros."""
    return [np.zeros_like(s) for s in states]


def handed_to_next_sample(states: States) -> States:
    """The hand-off of a layer that gives sample i's state to sample i+1 (wrapping around)."""
    return [np.roll(s, 1, axis=0) for s in states]


def _compared_outputs(spec: LayerSpec, case: Case, result: ReferenceResult) -> np.ndarray:
    """What ``chunked_equals_whole`` compares: every step, or each chunk's last step."""
    if spec.return_sequences:
        return result.sequence
    return result.sequence[:, np.cumsum(case.splits) - 1]


def chunked_equals_whole(case: Case, tol: Tolerance) -> float:
    """Margin of a dropped carry: every chunk run from the zero state instead of the carried one.

    Compared as the property compares: outputs (every step, or each chunk's last step)
    and the final states. A single chunk has no carry: margin 0.
    """
    whole = run_chunks(case.spec, case.weights, [case.x])
    broken = run_chunks(case.spec, case.weights, case.chunks(), handoff=dropped)
    return _margins(
        [
            (_compared_outputs(case.spec, case, broken), _compared_outputs(case.spec, case, whole)),
            *zip(broken.states, whole.states, strict=True),
        ],
        tol,
    )


def permuted_rows(case: Case, permutation: Sequence[int], tol: Tolerance) -> float:
    """Margin of a state handed to the next sample, seen through a permutation of the rows.

    On a layer that hands sample i's state to sample i+1 at each chunk boundary, the
    outputs of the permuted rows and the permuted outputs differ unless the
    permutation commutes with that hand-off (the identity, a rotation, rows with
    equal data, or a carry too weak to matter).
    """
    perm = np.asarray(permutation)
    chunks = case.chunks()
    plain = run_chunks(case.spec, case.weights, chunks, handoff=handed_to_next_sample)
    permuted = run_chunks(
        case.spec, case.weights, [c[perm] for c in chunks], handoff=handed_to_next_sample
    )
    return _margins(
        [
            (permuted.sequence, plain.sequence[perm]),
            *((p, s[perm]) for p, s in zip(permuted.states, plain.states, strict=True)),
        ],
        tol,
    )


def own_history(case: Case, row: int, others: np.ndarray, tol: Tolerance) -> float:
    """Margin of a state handed to the next sample, seen from one row whose neighbours changed.

    The other rows' first chunk is replaced by ``others``; on a layer that hands
    sample i's state to sample i+1, row ``row``'s outputs after the first chunk and
    its final states then change with what row ``row - 1`` saw.
    """
    first = case.splits[0]
    altered = case.x.copy()
    mask = np.arange(case.batch_size) != row
    altered[mask, :first] = others[mask]
    plain = run_chunks(case.spec, case.weights, case.chunks(), handoff=handed_to_next_sample)
    changed = run_chunks(
        case.spec, case.weights, case.chunks(altered), handoff=handed_to_next_sample
    )
    keep = slice(row, row + 1)
    return _margins(
        [
            (changed.sequence[keep, first:], plain.sequence[keep, first:]),
            *((c[keep], p[keep]) for c, p in zip(changed.states, plain.states, strict=True)),
        ],
        tol,
    )


def skipped_reset(case: Case, reset_at: int, tol: Tolerance) -> float:
    """Margin of a reset that does nothing: the states right after it, and the outputs after.

    The states before chunk ``reset_at`` stay where the reset should have zeroed
    them, and the later chunks continue from them instead of from zero.
    """
    chunks = case.chunks()
    before = run_chunks(case.spec, case.weights, chunks[:reset_at])
    rest = np.concatenate(chunks[reset_at:], axis=1)
    kept = run_reference(case.spec, case.weights, rest, initial_state=before.states)
    fresh = run_reference(case.spec, case.weights, rest)
    zeros = zero_states(case.spec, case.batch_size)
    return _margins([(kept.sequence, fresh.sequence), *zip(before.states, zeros, strict=True)], tol)


def remembered_call(case: Case, other: np.ndarray, tol: Tolerance) -> float:
    """Margin of a stateless layer that starts each call from the previous call's states.

    The property runs ``x``, then ``other``, then ``x`` again: with the break, the
    second run of ``x`` starts from the states ``other`` ended in.
    """
    spec = case.spec
    first = run_reference(spec, case.weights, case.x)
    after_other = run_reference(spec, case.weights, other, initial_state=first.states)
    again = run_reference(spec, case.weights, case.x, initial_state=after_other.states)
    return _margins(
        [(again.output(spec), first.output(spec)), *zip(again.states, first.states, strict=True)],
        tol,
    )


def ignored_initial_state(case: Case, k: int, tol: Tolerance) -> float:
    """Margin of an ``initial_state`` that is ignored: the chunks after ``k`` run from zero."""
    chunks = case.chunks()
    handed = run_chunks(case.spec, case.weights, chunks[:k]).states
    rest = np.concatenate(chunks[k:], axis=1)
    given = run_reference(case.spec, case.weights, rest, initial_state=handed)
    ignored = run_reference(case.spec, case.weights, rest)
    return _margins(
        [(ignored.sequence, given.sequence), *zip(ignored.states, given.states, strict=True)],
        tol,
    )


def stored_state_instead_of_given(
    case: Case, x: np.ndarray, rest: np.ndarray, given: States, stored: States, tol: Tolerance
) -> float:
    """Margin of a stateful call given ``initial_state`` that starts from its stored states
    ``stored`` instead, or that does not store its final states (the next run, of ``rest``,
    then starts from ``stored``): its outputs and states, and those of the next run."""
    spec, weights = case.spec, case.weights
    right = run_reference(spec, weights, x, initial_state=given)
    after = run_reference(spec, weights, rest, initial_state=right.states)
    ignored = run_reference(spec, weights, x, initial_state=stored)
    not_stored = run_reference(spec, weights, rest, initial_state=stored)
    return _margins(
        [
            (ignored.sequence, right.sequence),
            *zip(ignored.states, right.states, strict=True),
            (not_stored.sequence, after.sequence),
            *zip(not_stored.states, after.states, strict=True),
        ],
        tol,
    )


def given_after_carried(case: Case, given: States, tol: Tolerance) -> float:
    """``stored_state_instead_of_given`` where the stored states are those chunk 0 left, the
    call given ``initial_state`` runs chunk 1 and the next run the chunks after it."""
    first, second, *rest = case.chunks()
    stored = run_reference(case.spec, case.weights, first).states
    return stored_state_instead_of_given(
        case, second, np.concatenate(rest, axis=1), given, stored, tol
    )


def given_over_stored(case: Case, given: States, stored: States, tol: Tolerance) -> float:
    """``stored_state_instead_of_given`` where the stored states were set to ``stored``, the
    call given ``initial_state`` runs chunk 0 and the next run the chunks after it."""
    first, *rest = case.chunks()
    return stored_state_instead_of_given(
        case, first, np.concatenate(rest, axis=1), given, stored, tol
    )


# Each counting test's margin from its example's data (what it passes to ``check.example``),
# by test function name: to measure draws outside the property itself
# (scripts/measure_sensitivity.py, benchmarks/bench.py), also those of revisions whose
# properties did not count yet.
BY_TEST: dict[str, Callable[[dict, Tolerance], float]] = {
    "test_chunked_equals_whole": lambda d, tol: chunked_equals_whole(d["case"], tol),
    "test_permuted_rows_give_permuted_outputs_and_states": lambda d, tol: permuted_rows(
        d["case"], d["permutation"], tol
    ),
    "test_a_row_continues_only_its_own_history": lambda d, tol: own_history(
        d["case"], d["row"], d["others"], tol
    ),
    "test_reset_restores_zero_state": lambda d, tol: skipped_reset(d["case"], d["reset_at"], tol),
    "test_stateless_batches_independent": lambda d, tol: remembered_call(
        d["case"], d["other"], tol
    ),
    "test_initial_state_equals_carried_state": lambda d, tol: ignored_initial_state(
        d["case"], d["k"], tol
    ),
    "test_stateful_layer_given_initial_state": lambda d, tol: given_after_carried(
        d["case"], d["initial_state"], tol
    ),
    "test_two_input_model_with_a_stateful_layer_saves_and_loads": lambda d, tol: given_over_stored(
        d["case"], d["initial_state"], d["stored"], tol
    ),
}
