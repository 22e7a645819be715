"""``harness.sensitivity``: the margins that say whether an example could have failed.

Each margin is checked against an example built by hand where the answer is known:
a break that cannot show (one chunk, zero inputs without bias, a rotation of the
rows) gives 0, one that must show gives more than 1.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import sensitivity
from harness.specs import Case, LayerSpec
from harness.tolerance import Tolerance

TOL = Tolerance(rtol=1e-5, atol=1e-6)


def simple_case(x: np.ndarray, splits: tuple[int, ...], *, bias: bool = True) -> Case:
    """A one-unit SimpleRNN, h = tanh(x + 0.5 h + 0.1): the carry visibly matters."""
    spec = LayerSpec("SimpleRNN", units=1, features=1, use_bias=bias)
    weights = [np.array([[1.0]]), np.array([[0.5]])] + ([np.array([0.1])] if bias else [])
    return Case(spec, len(x), splits, x.astype(np.float32), weights)


def ramp(batch: int, timesteps: int) -> np.ndarray:
    return np.linspace(-1, 1, batch * timesteps).reshape(batch, timesteps, 1)


def test_margin_counts_differences_in_units_of_the_tolerance() -> None:
    tol = Tolerance(rtol=0.1, atol=0.5)
    # allowed = 0.5 + 0.1 * |10| = 1.5; |13 - 10| = 3 is two tolerances
    assert sensitivity.margin(np.array([13.0]), np.array([10.0]), tol) == pytest.approx(2.0)
    assert sensitivity.margin(np.array([]), np.array([]), tol) == 0.0


def test_one_chunk_has_no_carry_to_drop() -> None:
    case = simple_case(ramp(2, 4), (4,))
    assert sensitivity.chunked_equals_whole(case, TOL) == 0.0


def test_a_dropped_carry_shows_when_the_carry_matters() -> None:
    case = simple_case(ramp(2, 4), (2, 2))
    assert sensitivity.chunked_equals_whole(case, TOL) > 1


def test_zero_inputs_without_bias_carry_nothing() -> None:
    case = simple_case(np.zeros((2, 4, 1)), (2, 2), bias=False)
    assert sensitivity.chunked_equals_whole(case, TOL) == 0.0
    assert sensitivity.skipped_reset(case, 1, TOL) == 0.0
    assert sensitivity.ignored_initial_state(case, 1, TOL) == 0.0


def test_a_rotation_of_the_rows_commutes_with_a_state_handed_to_the_next_sample() -> None:
    case = simple_case(ramp(3, 4), (2, 2))
    assert sensitivity.permuted_rows(case, [1, 2, 0], TOL) < 1e-9
    assert sensitivity.permuted_rows(case, [0, 2, 1], TOL) > 1


def test_equal_rows_make_any_permutation_invisible() -> None:
    x = np.repeat(ramp(1, 4), 3, axis=0)
    case = simple_case(x, (2, 2))
    assert sensitivity.permuted_rows(case, [0, 2, 1], TOL) == 0.0


def test_a_row_sees_its_neighbours_history_only_through_a_misrouted_state() -> None:
    case = simple_case(ramp(3, 4), (2, 2))
    others = -case.x[:, :2]
    assert sensitivity.own_history(case, 1, others, TOL) > 1
    # unchanged neighbours: nothing to see
    assert sensitivity.own_history(case, 1, case.x[:, :2], TOL) == 0.0


def test_a_skipped_reset_shows_in_the_states_and_the_outputs_after() -> None:
    case = simple_case(ramp(2, 4), (2, 2))
    assert sensitivity.skipped_reset(case, 1, TOL) > 1


def test_a_remembered_call_shows_unless_nothing_is_remembered() -> None:
    case = simple_case(ramp(2, 3), (3,))
    assert sensitivity.remembered_call(case, -case.x, TOL) > 1
    silent = simple_case(np.zeros((2, 3, 1)), (3,), bias=False)
    assert sensitivity.remembered_call(silent, silent.x, TOL) == 0.0
