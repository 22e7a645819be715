"""The float64 NumPy reference against tiny cases worked out by hand.

Every expected number is written out with ``math.tanh`` / ``math.exp`` next to
its derivation, never computed by the reference itself. Weights follow Keras
layout: kernel ``(features, gates * units)``, recurrent ``(units, gates * units)``,
gate blocks contiguous in the order LSTM i, f, c, o and GRU z, r, h.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.reference import ACTIVATION_FUNCTIONS, keras_version_of, run_reference, zero_states
from harness.specs import LayerSpec

RTOL = 1e-12  # float64 against float64 written out by hand: only rounding differs


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def assert_close(actual: np.ndarray, expected: object) -> None:
    __tracebackhide__ = True
    np.testing.assert_allclose(actual, np.asarray(expected, dtype=np.float64), rtol=RTOL, atol=0)


def col(*values: float) -> np.ndarray:
    """One sample, one feature per timestep: shape ``(1, timesteps, 1)``."""
    return np.array(values, dtype=np.float64).reshape(1, -1, 1)


# --- SimpleRNN, 1 unit, 1 feature: W = 0.5, U = 0.3, b = 0.1, x = (1, -2) ----------

SRNN_W = np.array([[0.5]])
SRNN_U = np.array([[0.3]])
SRNN_B = np.array([0.1])
SRNN_X = col(1.0, -2.0)


def test_simple_rnn_with_bias_matches_two_steps_by_hand() -> None:
    spec = LayerSpec("SimpleRNN", units=1, features=1)
    result = run_reference(spec, [SRNN_W, SRNN_U, SRNN_B], SRNN_X)
    # h1 = tanh(0.5*1 + 0.3*0 + 0.1) = tanh(0.6) = 0.5370495669980353
    h1 = math.tanh(0.6)
    # h2 = tanh(0.5*-2 + 0.3*h1 + 0.1) = tanh(-0.7388851299005894) = -0.6284711107388834
    h2 = math.tanh(0.5 * -2.0 + 0.3 * h1 + 0.1)
    assert_close(result.sequence, [[[h1], [h2]]])
    assert_close(result.states[0], [[h2]])
    assert_close(h2, -0.6284711107388834)


def test_simple_rnn_without_bias_takes_two_weight_arrays() -> None:
    spec = LayerSpec("SimpleRNN", units=1, features=1, use_bias=False)
    result = run_reference(spec, [SRNN_W, SRNN_U], SRNN_X)
    # h1 = tanh(0.5*1 + 0.3*0) = tanh(0.5) = 0.46211715726000974
    h1 = math.tanh(0.5)
    # h2 = tanh(0.5*-2 + 0.3*h1) = tanh(-0.861364852821997) = -0.6969602112764054
    h2 = math.tanh(-1.0 + 0.3 * h1)
    assert_close(result.sequence, [[[h1], [h2]]])
    assert_close(h2, -0.6969602112764054)


def test_simple_rnn_starts_from_the_given_initial_state() -> None:
    spec = LayerSpec("SimpleRNN", units=1, features=1)
    h0 = np.array([[0.8]])
    result = run_reference(spec, [SRNN_W, SRNN_U, SRNN_B], SRNN_X, initial_state=[h0])
    # h1 = tanh(0.5*1 + 0.3*0.8 + 0.1) = tanh(0.84) = 0.6858090622290947
    h1 = math.tanh(0.84)
    # h2 = tanh(0.5*-2 + 0.3*h1 + 0.1) = tanh(-0.6942572813312716) = -0.6007099913048654
    h2 = math.tanh(-0.9 + 0.3 * h1)
    assert_close(result.sequence, [[[h1], [h2]]])
    assert_close(h1, 0.6858090622290947)
    # The caller's array is copied, not updated in place.
    assert h0[0, 0] == 0.8


def test_simple_rnn_relu_clips_the_negative_second_step_to_zero() -> None:
    spec = LayerSpec("SimpleRNN", units=1, features=1, activation="relu")
    result = run_reference(spec, [SRNN_W, SRNN_U, SRNN_B], SRNN_X)
    # h1 = relu(0.5*1 + 0.3*0 + 0.1) = relu(0.6) = 0.6
    # h2 = relu(0.5*-2 + 0.3*0.6 + 0.1) = relu(-0.72) = 0.0
    assert_close(result.sequence, [[[0.6], [0.0]]])


def test_simple_rnn_sigmoid_activation_matches_by_hand() -> None:
    spec = LayerSpec("SimpleRNN", units=1, features=1, activation="sigmoid")
    result = run_reference(spec, [SRNN_W, SRNN_U, SRNN_B], SRNN_X)
    # h1 = 1 / (1 + exp(-0.6)) = 0.6456563062257954
    h1 = 1.0 / (1.0 + math.exp(-0.6))
    # h2 = 1 / (1 + exp(-(0.5*-2 + 0.3*h1 + 0.1))) = 1 / (1 + exp(0.7063031081322614))
    #    = 0.330416232141971
    h2 = 1.0 / (1.0 + math.exp(-(-0.9 + 0.3 * h1)))
    assert_close(result.sequence, [[[h1], [h2]]])
    assert_close(h2, 0.330416232141971)


@pytest.mark.parametrize("return_sequences", [True, False])
def test_output_follows_return_sequences(return_sequences: bool) -> None:
    spec = LayerSpec("SimpleRNN", units=1, features=1, return_sequences=return_sequences)
    result = run_reference(spec, [SRNN_W, SRNN_U, SRNN_B], SRNN_X)
    # Same case as the bias test: h1 = tanh(0.6), h2 = tanh(-0.9 + 0.3*h1).
    h1 = math.tanh(0.6)
    h2 = math.tanh(-0.9 + 0.3 * h1)
    out = result.output(spec)
    if return_sequences:
        assert out.shape == (1, 2, 1)
        assert_close(out, [[[h1], [h2]]])
    else:
        assert out.shape == (1, 1)
        assert_close(out, [[h2]])


# --- LSTM, 1 unit, 1 feature; kernel/recurrent/bias columns are i, f, c, o ----------

LSTM_W = np.array([[0.5, -0.3, 0.8, 0.2]])
LSTM_U = np.array([[0.1, 0.4, -0.6, 0.7]])
LSTM_B = np.array([0.05, 1.0, -0.1, 0.2])

# Step 1, x = 1, h0 = c0 = 0:
#   i1 = sigmoid(0.5 + 0.05) = sigmoid(0.55) = 0.6341355910108007
#   f1 = sigmoid(-0.3 + 1.0) = sigmoid(0.7)  = 0.6681877721681662 (multiplies c0 = 0)
#   g1 = tanh(0.8 - 0.1)     = tanh(0.7)     = 0.6043677771171636
#   o1 = sigmoid(0.2 + 0.2)  = sigmoid(0.4)  = 0.598687660112452
#   c1 = f1*0 + i1*g1        = 0.38325111753007646
#   h1 = o1 * tanh(c1)       = 0.2188368296704452
LSTM_I1, LSTM_F1 = sigmoid(0.55), sigmoid(0.7)
LSTM_G1, LSTM_O1 = math.tanh(0.7), sigmoid(0.4)
LSTM_C1 = LSTM_F1 * 0.0 + LSTM_I1 * LSTM_G1
LSTM_H1 = LSTM_O1 * math.tanh(LSTM_C1)
# Step 2, x = 0.5:
#   i2 = sigmoid(0.5*0.5 + 0.1*h1 + 0.05)  = sigmoid(0.3218836829670445)  = 0.5797832514023313
#   f2 = sigmoid(-0.3*0.5 + 0.4*h1 + 1.0)  = sigmoid(0.9375347318681782)  = 0.7186014158740607
#   g2 = tanh(0.8*0.5 - 0.6*h1 - 0.1)      = tanh(0.16869790219773292)    = 0.16711558864086276
#   o2 = sigmoid(0.2*0.5 + 0.7*h1 + 0.2)   = sigmoid(0.45318578076931165) = 0.6113964143458914
#   c2 = f2*c1 + i2*g2 = 0.3722956150346429
#   h2 = o2 * tanh(c2) = 0.21765591891691596
LSTM_I2 = sigmoid(0.25 + 0.1 * LSTM_H1 + 0.05)
LSTM_F2 = sigmoid(-0.15 + 0.4 * LSTM_H1 + 1.0)
LSTM_G2 = math.tanh(0.4 - 0.6 * LSTM_H1 - 0.1)
LSTM_O2 = sigmoid(0.1 + 0.7 * LSTM_H1 + 0.2)
LSTM_C2 = LSTM_F2 * LSTM_C1 + LSTM_I2 * LSTM_G2
LSTM_H2 = LSTM_O2 * math.tanh(LSTM_C2)


def test_lstm_hidden_and_cell_state_after_one_step_match_by_hand() -> None:
    spec = LayerSpec("LSTM", units=1, features=1)
    result = run_reference(spec, [LSTM_W, LSTM_U, LSTM_B], col(1.0))
    h, c = result.states
    assert_close(h, [[LSTM_H1]])
    assert_close(c, [[LSTM_C1]])
    assert_close(LSTM_C1, 0.38325111753007646)
    assert_close(LSTM_H1, 0.2188368296704452)


def test_lstm_hidden_and_cell_state_after_two_steps_match_by_hand() -> None:
    spec = LayerSpec("LSTM", units=1, features=1)
    result = run_reference(spec, [LSTM_W, LSTM_U, LSTM_B], col(1.0, 0.5))
    h, c = result.states
    assert_close(result.sequence, [[[LSTM_H1], [LSTM_H2]]])
    assert_close(h, [[LSTM_H2]])
    assert_close(c, [[LSTM_C2]])
    assert_close(LSTM_C2, 0.3722956150346429)
    assert_close(LSTM_H2, 0.21765591891691596)


def test_lstm_relu_activation_applies_to_candidate_and_cell() -> None:
    spec = LayerSpec("LSTM", units=1, features=1, activation="relu")
    result = run_reference(spec, [LSTM_W, LSTM_U, LSTM_B], col(1.0))
    # g1 = relu(0.8 - 0.1) = 0.7; c1 = f1*0 + i1*0.7 = 0.6341355910108007*0.7 = 0.4438949137075605
    c1 = sigmoid(0.55) * 0.7
    # h1 = o1 * relu(c1) = 0.598687660112452 * 0.4438949137075605 = 0.2657544072233982
    h1 = sigmoid(0.4) * c1
    assert_close(result.states[1], [[c1]])
    assert_close(result.states[0], [[h1]])
    assert_close(h1, 0.2657544072233982)


def _constant_gate_lstm(bias: list[float]) -> tuple[LayerSpec, list[np.ndarray]]:
    """Zero kernel and recurrent weights, so every gate is its bias, whatever x and h are."""
    spec = LayerSpec("LSTM", units=1, features=1)
    return spec, [np.zeros((1, 4)), np.zeros((1, 4)), np.array(bias)]


def test_lstm_open_forget_gate_and_shut_input_gate_keep_the_cell_state() -> None:
    # bias i = -30, f = +30, c = 0.5, o = 0; c0 = 0.9, h0 = 0.3 (h0 is ignored: U = 0).
    spec, weights = _constant_gate_lstm([-30.0, 30.0, 0.5, 0.0])
    state = [np.array([[0.3]]), np.array([[0.9]])]
    result = run_reference(spec, weights, col(2.0, -1.0), initial_state=state)
    # f = sigmoid(30) = 0.9999999999999065, i = sigmoid(-30) = 9.357622968839299e-14,
    # g = tanh(0.5) = 0.46211715726000974
    f, i, g = sigmoid(30.0), sigmoid(-30.0), math.tanh(0.5)
    c1 = f * 0.9 + i * g
    c2 = f * c1 + i * g
    # h2 = sigmoid(0) * tanh(c2) = 0.5 * tanh(c2)
    assert_close(result.states[1], [[c2]])
    assert_close(result.states[0], [[0.5 * math.tanh(c2)]])
    # Behaviourally: the cell state survives two steps unchanged to 1e-12.
    assert abs(result.states[1][0, 0] - 0.9) < 1e-12


def test_lstm_shut_forget_gate_discards_the_previous_cell_state() -> None:
    # bias i = +30, f = -30, c = 0.5, o = 0; c0 = 0.9.
    spec, weights = _constant_gate_lstm([30.0, -30.0, 0.5, 0.0])
    state = [np.array([[0.3]]), np.array([[0.9]])]
    result = run_reference(spec, weights, col(2.0), initial_state=state)
    # c1 = sigmoid(-30)*0.9 + sigmoid(30)*tanh(0.5) = 0.46211715726005076 (c0 all but gone)
    c1 = sigmoid(-30.0) * 0.9 + sigmoid(30.0) * math.tanh(0.5)
    assert_close(result.states[1], [[c1]])
    assert abs(result.states[1][0, 0] - math.tanh(0.5)) < 1e-12


def test_lstm_half_open_forget_gate_halves_the_cell_state_each_step() -> None:
    # bias all 0 except c = 0.5: i = f = o = sigmoid(0) = 0.5 exactly, g = tanh(0.5).
    spec, weights = _constant_gate_lstm([0.0, 0.0, 0.5, 0.0])
    state = [np.zeros((1, 1)), np.array([[0.9]])]
    result = run_reference(spec, weights, col(0.0, 0.0), initial_state=state)
    g = math.tanh(0.5)
    # c1 = 0.5*0.9 + 0.5*g = 0.6810585786300049; c2 = 0.5*c1 + 0.5*g = 0.5715878679450073
    c1 = 0.5 * 0.9 + 0.5 * g
    c2 = 0.5 * c1 + 0.5 * g
    assert_close(result.sequence, [[[0.5 * math.tanh(c1)], [0.5 * math.tanh(c2)]]])
    assert_close(result.states[1], [[c2]])


def test_lstm_gate_blocks_are_contiguous_per_unit() -> None:
    # 2 units; kernel columns i0 i1 | f0 f1 | c0 c1 | o0 o1, recurrent zero, no bias, x = 1.
    spec = LayerSpec("LSTM", units=2, features=1, use_bias=False)
    kernel = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]])
    state = [np.zeros((1, 2)), np.array([[0.5, -0.5]])]
    result = run_reference(spec, [kernel, np.zeros((2, 8))], col(1.0), initial_state=state)
    # unit 0: c = sigmoid(0.3)*0.5 + sigmoid(0.1)*tanh(0.5) = 0.529823148144267,
    #         h = sigmoid(0.7)*tanh(c) = 0.3242353718791666
    c0 = sigmoid(0.3) * 0.5 + sigmoid(0.1) * math.tanh(0.5)
    # unit 1: c = sigmoid(0.4)*-0.5 + sigmoid(0.2)*tanh(0.6) = -0.0040557198787607995,
    #         h = sigmoid(0.8)*tanh(c) = -0.002798327875859113
    c1 = sigmoid(0.4) * -0.5 + sigmoid(0.2) * math.tanh(0.6)
    assert_close(result.states[1], [[c0, c1]])
    assert_close(result.states[0], [[sigmoid(0.7) * math.tanh(c0), sigmoid(0.8) * math.tanh(c1)]])


# --- GRU, 1 unit, 1 feature; columns are z, r, h ------------------------------------

GRU_W = np.array([[0.5, -0.4, 0.8]])
GRU_U = np.array([[0.3, 0.6, -0.7]])
GRU_B_IN = np.array([0.1, 0.2, 0.3])
GRU_B_REC = np.array([-0.1, 0.05, 0.4])
GRU_X = col(1.0, -0.5)

# reset_after=True, bias rows (input, recurrent):
#   z1 = sigmoid(0.5*1 + 0.1 + 0.3*0 - 0.1) = sigmoid(0.5)   = 0.6224593312018546
#   r1 = sigmoid(-0.4*1 + 0.2 + 0.6*0 + 0.05) = sigmoid(-0.15) = 0.46257015465625045
#   hh1 = tanh(0.8*1 + 0.3 + r1*(-0.7*0 + 0.4)) = tanh(1.2850280618625003) = 0.857818804463812
#   h1 = z1*0 + (1 - z1)*hh1 = 0.3238614851448931
#   z2 = sigmoid(0.5*-0.5 + 0.1 + 0.3*h1 - 0.1) = sigmoid(-0.15284155445653208) = 0.46186382264093273
#   r2 = sigmoid(-0.4*-0.5 + 0.2 + 0.6*h1 + 0.05) = sigmoid(0.6443168910869359) = 0.6557286467439865
#   hh2 = tanh(0.8*-0.5 + 0.3 + r2*(-0.7*h1 + 0.4)) = tanh(0.013635781327003701)
#       = 0.013634936268978862
#   h2 = z2*h1 + (1 - z2)*hh2 = 0.15691735601751278
GRU_AFTER_R1 = sigmoid(-0.15)
GRU_AFTER_H1 = (1 - sigmoid(0.5)) * math.tanh(1.1 + GRU_AFTER_R1 * 0.4)
_z2 = sigmoid(-0.25 + 0.3 * GRU_AFTER_H1)
_r2 = sigmoid(0.45 + 0.6 * GRU_AFTER_H1)
GRU_AFTER_H2 = _z2 * GRU_AFTER_H1 + (1 - _z2) * math.tanh(-0.1 + _r2 * (-0.7 * GRU_AFTER_H1 + 0.4))

# reset_after=False, one bias row b = b_in + b_rec = (0.0, 0.25, 0.7), so z and r see
# the same pre-activations as above and only the candidate differs:
#   z1 = sigmoid(0.5 + 0.0) = 0.6224593312018546; r1 = sigmoid(-0.4 + 0.25) = sigmoid(-0.15)
#   hh1 = tanh(0.8*1 + 0.7 + (r1*0)*-0.7) = tanh(1.5) = 0.9051482536448664
#   h1 = (1 - z1)*hh1 = 0.3417302770425562
#   z2 = sigmoid(0.5*-0.5 + 0.0 + 0.3*h1) = sigmoid(-0.14748091688723314) = 0.4631964549377847
#   r2 = sigmoid(-0.4*-0.5 + 0.25 + 0.6*h1) = sigmoid(0.6550381662255338) = 0.6581449021261787
#   hh2 = tanh(0.8*-0.5 + 0.7 + (r2*h1)*-0.7) = tanh(0.14256437218359244) = 0.14160630573422586
#   h2 = z2*h1 + (1 - z2)*hh2 = 0.23430301979231544
GRU_BEFORE_H1 = (1 - sigmoid(0.5)) * math.tanh(1.5)
_z2b = sigmoid(-0.25 + 0.3 * GRU_BEFORE_H1)
_r2b = sigmoid(0.45 + 0.6 * GRU_BEFORE_H1)
GRU_BEFORE_H2 = _z2b * GRU_BEFORE_H1 + (1 - _z2b) * math.tanh(0.3 + (_r2b * GRU_BEFORE_H1) * -0.7)


def test_gru_reset_after_true_matches_two_steps_by_hand() -> None:
    spec = LayerSpec("GRU", units=1, features=1, reset_after=True)
    bias = np.stack([GRU_B_IN, GRU_B_REC])
    assert bias.shape == tuple(spec.weight_shapes()[2])
    result = run_reference(spec, [GRU_W, GRU_U, bias], GRU_X)
    assert_close(result.sequence, [[[GRU_AFTER_H1], [GRU_AFTER_H2]]])
    assert_close(GRU_AFTER_H1, 0.3238614851448931)
    assert_close(GRU_AFTER_H2, 0.15691735601751278)


def test_gru_reset_after_false_matches_two_steps_by_hand() -> None:
    spec = LayerSpec("GRU", units=1, features=1, reset_after=False)
    bias = GRU_B_IN + GRU_B_REC
    assert bias.shape == tuple(spec.weight_shapes()[2])
    result = run_reference(spec, [GRU_W, GRU_U, bias], GRU_X)
    assert_close(result.sequence, [[[GRU_BEFORE_H1], [GRU_BEFORE_H2]]])
    assert_close(GRU_BEFORE_H1, 0.3417302770425562)
    assert_close(GRU_BEFORE_H2, 0.23430301979231544)


def test_gru_reset_after_changes_the_candidate_state() -> None:
    # Same kernel, recurrent and summed bias; reset_after=True multiplies the recurrent
    # candidate bias 0.4 by r1, reset_after=False does not: the pre-activations differ by
    # (1 - r1)*0.4 = 0.21497193813749985 at step 1.
    after = run_reference(
        LayerSpec("GRU", units=1, features=1, reset_after=True),
        [GRU_W, GRU_U, np.stack([GRU_B_IN, GRU_B_REC])],
        GRU_X,
    )
    before = run_reference(
        LayerSpec("GRU", units=1, features=1, reset_after=False),
        [GRU_W, GRU_U, GRU_B_IN + GRU_B_REC],
        GRU_X,
    )
    assert abs(GRU_BEFORE_H1 - GRU_AFTER_H1) > 0.01
    assert np.all(np.abs(after.sequence - before.sequence) > 0.01)
    assert_close(after.sequence[0, :, 0], [GRU_AFTER_H1, GRU_AFTER_H2])
    assert_close(before.sequence[0, :, 0], [GRU_BEFORE_H1, GRU_BEFORE_H2])


def test_gru_without_bias_with_two_units_applies_the_reset_gate_where_configured() -> None:
    # 1 feature, 2 units; kernel columns z0 z1 | r0 r1 | h0 h1. x = 1, h0 = (0.6, -0.8).
    kernel = np.array([[0.2, -0.1, 0.5, -0.5, 0.3, 0.6]])
    uz = [[0.1, 0.2], [0.3, -0.2]]
    ur = [[0.4, -0.3], [0.2, 0.5]]
    uh = [[0.5, -0.4], [0.9, 0.1]]
    recurrent = np.hstack([uz, ur, uh])
    h0 = [0.6, -0.8]
    wz, wr, wh = kernel[0, 0:2], kernel[0, 2:4], kernel[0, 4:6]

    def rec(u: list[list[float]], k: int, h: list[float]) -> float:
        # (h @ U)[k], written out: rows of U index the previous state.
        return h[0] * u[0][k] + h[1] * u[1][k]

    # z_k = sigmoid(Wz_k + (h0 @ Uz)_k); r0 = sigmoid(0.5 + 0.24 - 0.16) = sigmoid(0.58),
    # r1 = sigmoid(-0.5 - 0.18 - 0.4) = sigmoid(-1.08): unequal, so where r applies matters.
    z = [sigmoid(wz[k] + rec(uz, k, h0)) for k in range(2)]
    r = [sigmoid(wr[k] + rec(ur, k, h0)) for k in range(2)]
    # reset_after=True:  hh_k = tanh(Wh_k + r_k * (h0 @ Uh)_k)
    hh_after = [math.tanh(wh[k] + r[k] * rec(uh, k, h0)) for k in range(2)]
    # reset_after=False: hh_k = tanh(Wh_k + ((r * h0) @ Uh)_k)
    rh = [r[0] * h0[0], r[1] * h0[1]]
    hh_before = [math.tanh(wh[k] + rec(uh, k, rh)) for k in range(2)]
    after = [z[k] * h0[k] + (1 - z[k]) * hh_after[k] for k in range(2)]
    before = [z[k] * h0[k] + (1 - z[k]) * hh_before[k] for k in range(2)]

    state = [np.array([h0])]
    for reset_after, expected in ((True, after), (False, before)):
        spec = LayerSpec("GRU", units=2, features=1, reset_after=reset_after, use_bias=False)
        result = run_reference(spec, [kernel, recurrent], col(1.0), initial_state=state)
        assert_close(result.states[0], [expected])
    assert max(abs(a - b) for a, b in zip(after, before, strict=True)) > 0.01


# --- Shared properties --------------------------------------------------------------

ALL_SPECS = [
    LayerSpec("SimpleRNN", units=2, features=3, use_bias=False),
    LayerSpec("LSTM", units=2, features=3, use_bias=False),
    LayerSpec("GRU", units=2, features=3, use_bias=False, reset_after=True),
    LayerSpec("GRU", units=2, features=3, use_bias=False, reset_after=False),
]


def _random_weights(spec: LayerSpec, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, size=shape) for shape in spec.weight_shapes()]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: f"{s.kind}-{s.reset_after}")
def test_zero_input_zero_state_and_no_bias_give_zero(spec: LayerSpec) -> None:
    # Every pre-activation is 0: tanh(0) = 0, so h = 0 (SimpleRNN), c = i*0 = 0 and
    # h = o*tanh(0) = 0 (LSTM), and h = z*0 + (1 - z)*tanh(0) = 0 (GRU), at every step.
    result = run_reference(spec, _random_weights(spec, 1), np.zeros((2, 3, 3)))
    assert result.sequence.shape == (2, 3, 2)
    assert not result.sequence.any()
    assert len(result.states) == spec.n_states
    assert all(not s.any() for s in result.states)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: f"{s.kind}-{s.reset_after}")
def test_each_sample_of_a_batch_runs_as_if_alone(spec: LayerSpec) -> None:
    spec = spec.replace(use_bias=True)
    weights = _random_weights(spec, 2)
    rng = np.random.default_rng(3)
    x = rng.uniform(-2.0, 2.0, size=(2, 4, 3))
    states = [rng.uniform(-1.0, 1.0, size=(2, 2)) for _ in range(spec.n_states)]
    batch = run_reference(spec, weights, x, initial_state=states)
    for i in range(2):
        alone = run_reference(spec, weights, x[i : i + 1], [s[i : i + 1] for s in states])
        assert_close(batch.sequence[i : i + 1], alone.sequence)
        for got, want in zip(batch.states, alone.states, strict=True):
            assert_close(got[i : i + 1], want)
    # The two samples differ, so the comparison above is not between equal rows.
    assert np.abs(batch.sequence[0] - batch.sequence[1]).max() > 1e-3


def test_sigmoid_is_exact_and_silent_for_large_magnitudes() -> None:
    sigmoid_fn = ACTIVATION_FUNCTIONS["sigmoid"]
    # Underflow (exp(-1000) -> 0) is the right answer; overflow or 0/0 would be a bug.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = sigmoid_fn(np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0]))
        spec = LayerSpec("SimpleRNN", units=1, features=1, activation="sigmoid")
        run = run_reference(spec, [SRNN_W, SRNN_U, SRNN_B], col(2000.0, -2000.0))
    # sigmoid(-1000) = exp(-1000)/(1 + exp(-1000)) = 0 in float64; sigmoid(1000) = 1.
    # sigmoid(+-30) = 1/(1 + exp(-+30)); sigmoid(0) = 0.5.
    assert_close(out, [0.0, sigmoid(-30.0), 0.5, sigmoid(30.0), 1.0])
    # h1 = sigmoid(0.5*2000 + 0.1) = 1.0; h2 = sigmoid(0.5*-2000 + 0.3*1 + 0.1) = 0.0
    assert_close(run.sequence, [[[1.0], [0.0]]])


def test_lstm_stays_finite_with_saturating_inputs() -> None:
    spec = LayerSpec("LSTM", units=1, features=1)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        result = run_reference(spec, [LSTM_W, LSTM_U, LSTM_B], col(1000.0, -1000.0))
    # Step 1, x = 1000: i = sigmoid(500.05) = 1.0, o = sigmoid(200.2) = 1.0 and
    # g = tanh(799.9) = 1.0 in float64; f = sigmoid(-299) multiplies c0 = 0.
    # c1 = f*0 + 1*1 = 1, h1 = 1*tanh(1) = 0.7615941559557649.
    assert_close(result.sequence[0, 0], [math.tanh(1.0)])
    assert np.isfinite(result.sequence).all()


def test_simple_rnn_with_two_units_uses_x_at_kernel_and_h_at_recurrent() -> None:
    # features = 2, units = 2. Rows of the kernel index features, rows of recurrent index
    # the previous state; both matrices are non-symmetric, so a transpose changes results.
    spec = LayerSpec("SimpleRNN", units=2, features=2)
    kernel = np.array([[0.5, -0.2], [0.1, 0.4]])
    recurrent = np.array([[0.3, 0.8], [-0.5, 0.2]])
    bias = np.array([0.05, -0.1])
    x = np.array([[[1.0, 2.0], [-1.0, 0.5]]])
    # Step 1: a0 = 1*0.5 + 2*0.1 + 0.05 = 0.75; a1 = 1*-0.2 + 2*0.4 - 0.1 = 0.5
    #         h1 = (tanh(0.75), tanh(0.5)) = (0.6351489523872873, 0.46211715726000974)
    h1 = [math.tanh(0.75), math.tanh(0.5)]
    # Step 2: a0 = -1*0.5 + 0.5*0.1 + h1_0*0.3 + h1_1*-0.5 + 0.05 = -0.4 + 0.3*h1_0 - 0.5*h1_1
    #         a1 = -1*-0.2 + 0.5*0.4 + h1_0*0.8 + h1_1*0.2 - 0.1 = 0.3 + 0.8*h1_0 + 0.2*h1_1
    #         h2 = (tanh(-0.4405138929138187), tanh(0.9005425933618317))
    #            = (-0.4140703165720052, 0.71656196565809)
    h2 = [
        math.tanh(-0.4 + 0.3 * h1[0] - 0.5 * h1[1]),
        math.tanh(0.3 + 0.8 * h1[0] + 0.2 * h1[1]),
    ]
    result = run_reference(spec, [kernel, recurrent, bias], x)
    assert_close(result.sequence, [[h1, h2]])
    # The check is sharp: transposing either matrix moves the result well away from it.
    for k, u in ((kernel.T, recurrent), (kernel, recurrent.T)):
        wrong = run_reference(spec, [k, u, bias], x)
        assert np.abs(wrong.sequence[0, 1] - np.array(h2)).max() > 0.05


def test_zero_states_has_one_zero_array_per_state() -> None:
    lstm = zero_states(LayerSpec("LSTM", units=3, features=1), batch_size=2)
    gru = zero_states(LayerSpec("GRU", units=3, features=1), batch_size=2)
    assert [s.shape for s in lstm] == [(2, 3), (2, 3)]
    assert [s.shape for s in gru] == [(2, 3)]
    assert all(not s.any() for s in lstm + gru)


# --- Activations beyond tanh and sigmoid -----------------------------------------------

HARD_SIGMOID_POINTS = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 2.5, 3.0, 4.0])


def test_hard_sigmoid_is_keras_3s_by_default() -> None:
    # Keras 3's definition (keras/src/activations/activations.py): 0 for x <= -3, 1 for
    # x >= 3, x / 6 + 0.5 in between (keras-team/keras#19477).
    got = ACTIVATION_FUNCTIONS["hard_sigmoid"](HARD_SIGMOID_POINTS)
    assert_close(got, [0.0, 0.0, 0.25, 0.5, 0.75, 2.5 / 6 + 0.5, 1.0, 1.0])


def test_hard_sigmoid_is_keras_2s_where_the_target_runs_keras_2() -> None:
    # tf-keras's backend.hard_sigmoid: clip(0.2 * x + 0.5, 0, 1), flat past |x| = 2.5.
    spec = LayerSpec("GRU", units=1, features=1, recurrent_activation="hard_sigmoid")
    w = [np.ones((1, 3)), np.zeros((1, 3)), np.zeros((2, 3))]
    x = col(1.5)
    keras3 = run_reference(spec, w, x).states[0]
    keras2 = run_reference(spec, w, x, keras_version="2.15.1").states[0]
    # z = hs(1.5), hh = tanh(1.5), h = (1 - z) * hh from a zero state.
    assert_close(keras3, [[(1 - 0.75) * math.tanh(1.5)]])
    assert_close(keras2, [[(1 - 0.8) * math.tanh(1.5)]])
    assert keras_version_of({"keras": "2.15.1"}) == "2.15.1"
    assert keras_version_of({"numpy": "2.0"}) == "3"


def test_softsign_cell_matches_by_hand() -> None:
    spec = LayerSpec("SimpleRNN", units=1, features=1, activation="softsign")
    run = run_reference(spec, [SRNN_W, SRNN_U, SRNN_B], col(1.0, 2.0))
    h1 = 0.6 / 1.6  # softsign(0.5 * 1 + 0.1) = 0.6 / (1 + 0.6)
    z2 = 0.5 * 2.0 + 0.3 * h1 + 0.1
    assert_close(run.sequence, [[[h1], [z2 / (1 + z2)]]])


def test_the_lstm_cell_state_grows_past_one_from_a_large_initial_state() -> None:
    # An open forget gate and a shut input gate keep c: a set state of 3 stays 3, and h is
    # o * tanh(3); the reference takes states beyond 1 as they are.
    spec = LayerSpec("LSTM", units=1, features=1, use_bias=True)
    b = np.array([-50.0, 50.0, 0.0, 0.0])  # i shut, f open, o = 0.5
    run = run_reference(
        spec,
        [np.zeros((1, 4)), np.zeros((1, 4)), b],
        col(1.0),
        [np.zeros((1, 1)), np.full((1, 1), 3.0)],
    )
    h, c = run.states
    assert_close(c, [[3.0]])
    assert_close(h, [[0.5 * math.tanh(3.0)]])


# --- Masks -----------------------------------------------------------------------------


def test_a_masked_step_keeps_the_state_and_repeats_the_previous_output() -> None:
    # Keras's RNN loop (keras/src/backend/*/rnn.py): where the mask is False the states
    # stay and the output is the previous step's, zeros before the first valid step.
    spec = LayerSpec("SimpleRNN", units=1, features=1)
    w = [SRNN_W, SRNN_U, SRNN_B]
    x = np.array([[[1.0], [-2.0], [3.0]], [[1.0], [-2.0], [3.0]]])
    mask = np.array([[False, True, False], [True, False, True]])
    run = run_reference(spec, w, x, mask=mask)
    h = math.tanh(-2.0 * 0.5 + 0.1)  # row 0: only step 1 runs, from zeros
    assert_close(run.sequence[0], [[0.0], [h], [h]])
    assert_close(run.states[0][0], [h])
    h1 = math.tanh(0.6)  # row 1: steps 0 and 2 run; step 1 repeats h1
    h3 = math.tanh(3.0 * 0.5 + 0.3 * h1 + 0.1)
    assert_close(run.sequence[1], [[h1], [h1], [h3]])
    assert_close(run.states[0][1], [h3])


def test_a_fully_masked_row_outputs_zeros_and_keeps_its_initial_state() -> None:
    spec = LayerSpec("LSTM", units=2, features=1)
    rng = np.random.default_rng(0)
    w = [rng.normal(size=s) for s in spec.weight_shapes()]
    start = [np.full((1, 2), 3.0), np.full((1, 2), -2.0)]
    run = run_reference(spec, w, col(1.0, 2.0), start, mask=np.zeros((1, 2), dtype=bool))
    assert_close(run.sequence, np.zeros((1, 2, 2)))
    for got, want in zip(run.states, start, strict=True):
        assert_close(got, want)


def test_an_all_valid_mask_changes_nothing() -> None:
    spec = LayerSpec("GRU", units=2, features=1, reset_after=False)
    rng = np.random.default_rng(1)
    w = [rng.normal(size=s) for s in spec.weight_shapes()]
    x = rng.normal(size=(3, 4, 1))
    plain = run_reference(spec, w, x)
    masked = run_reference(spec, w, x, mask=np.ones((3, 4), dtype=bool))
    assert_close(masked.sequence, plain.sequence)
    assert_close(masked.states[0], plain.states[0])
