"""The extra built-in layer kinds (harness/layer_kinds.py): specs, references, draws, skips.

The ConvLSTM reference is checked against the LSTM reference (a 1-wide kernel makes a
ConvLSTM an LSTM at every position), and every extra kind's reference against Keras
itself on TensorFlow, in a subprocess (one backend per process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cli.selection import resolve_layers
from harness.errors import HarnessUsageError
from harness.layer_kinds import flat, nest, not_applicable, scale_recurrent
from harness.reference import run_reference
from harness.specs import CONV_LSTM_RANKS, EXTRA_LAYER_KINDS, LAYER_KINDS, LayerSpec
from harness.strategies import cases, layer_inputs

ROOT = Path(__file__).resolve().parents[1]


def test_default_layers_stay_the_classic_three_and_extra_kinds_run_when_named():
    assert resolve_layers(None) == list(LAYER_KINDS)
    assert resolve_layers("ConvLSTM2D,StackedRNNCells") == ["ConvLSTM2D", "StackedRNNCells"]
    with pytest.raises(HarnessUsageError, match="ConvLSTM4D"):
        resolve_layers("ConvLSTM4D")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "ConvLSTM2D", "spatial": (3,)}, "expected 2 spatial sizes"),
        ({"kind": "LSTM", "spatial": (3,)}, "expected 0 spatial sizes"),
        ({"kind": "ConvLSTM1D", "spatial": (3,), "kernel_size": 2}, "must be odd"),
        ({"kind": "StackedRNNCells"}, "StackedRNNCells needs"),
        ({"kind": "StackedRNNCells", "cells": (("LSTM", 2),)}, "StackedRNNCells needs"),
        ({"kind": "StackedRNNCells", "cells": (("GRUCell", 3),)}, "the last with units=2"),
    ],
)
def test_specs_of_extra_kinds_are_validated(changes, message):
    with pytest.raises(HarnessUsageError, match=message):
        LayerSpec(**{"kind": "LSTM", "units": 2, "features": 1, **changes})


def test_shapes_of_a_stack_are_its_cells_in_order():
    spec = LayerSpec(
        "StackedRNNCells", units=3, features=2, cells=(("LSTMCell", 2), ("GRUCell", 3))
    )
    assert spec.n_states == 3
    assert spec.state_shapes(5) == [(5, 2), (5, 2), (5, 3)]
    # LSTM kernel, recurrent, bias; then GRU (reset_after) kernel fed the LSTM's 2 units.
    assert spec.weight_shapes() == [(2, 8), (2, 8), (8,), (2, 9), (3, 9), (2, 9)]
    assert nest(spec, [1, 2, 3]) == [[1, 2], 3]  # a one-state cell's state is bare
    assert flat([[1, 2], [3]]) == [1, 2, 3]
    assert LayerSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_conv_lstm_shapes_and_round_trip():
    spec = LayerSpec("ConvLSTM2D", units=3, features=2, spatial=(4, 5), kernel_size=3)
    assert spec.input_shape == (4, 5, 2)
    assert spec.state_shapes(2) == [(2, 4, 5, 3)] * 2
    assert spec.weight_shapes() == [(3, 3, 2, 12), (3, 3, 3, 12), (12,)]
    assert LayerSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert "spatial" not in LayerSpec("LSTM", units=1, features=1).to_dict()


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_a_one_wide_conv_lstm_is_an_lstm_at_every_position(data):
    rank = data.draw(st.integers(1, 3))
    spatial = data.draw(st.tuples(*[st.integers(1, 3)] * rank))
    units, features = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    spec = LayerSpec(
        f"ConvLSTM{rank}D", units=units, features=features, spatial=spatial, use_bias=True
    )
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    weights = [rng.uniform(-1, 1, size=s) for s in spec.weight_shapes()]
    x = rng.uniform(-2, 2, size=(2, 3, *spec.input_shape))
    conv = run_reference(spec, weights, x)
    lstm = LayerSpec("LSTM", units=units, features=features)
    cells = int(np.prod(spatial))
    # Every position is one more sample of an LSTM with the 1x...x1 kernels as matrices.
    per_position = np.moveaxis(x, 1, -2).reshape(2 * cells, 3, features)
    plain = run_reference(lstm, [w.reshape(w.shape[-2:] or w.shape) for w in weights], per_position)
    expected = np.moveaxis(plain.sequence.reshape(2, *spatial, 3, units), -2, 1)
    np.testing.assert_allclose(conv.sequence, expected, rtol=1e-12, atol=1e-12)
    for got, want in zip(conv.states, plain.states, strict=True):
        np.testing.assert_allclose(got, want.reshape(2, *spatial, units), rtol=1e-12, atol=1e-12)


def test_a_conv_lstm_with_a_3_wide_kernel_sees_its_neighbours():
    spec = LayerSpec("ConvLSTM1D", units=1, features=1, spatial=(3,), kernel_size=3)
    rng = np.random.default_rng(0)
    weights = [rng.uniform(-1, 1, size=s) for s in spec.weight_shapes()]
    x = np.zeros((1, 1, 3, 1))
    moved = x.copy()
    moved[0, 0, 0, 0] = 1.0  # a change at position 0 reaches position 1, not position 2
    a, b = run_reference(spec, weights, x), run_reference(spec, weights, moved)
    changed = np.abs(a.sequence - b.sequence)[0, 0, :, 0] > 0
    assert changed.tolist() == [True, True, False]


def test_a_stack_is_the_composition_of_its_cells():
    spec = LayerSpec(
        "StackedRNNCells", units=2, features=1, cells=(("GRUCell", 3), ("SimpleRNNCell", 2))
    )
    rng = np.random.default_rng(1)
    weights = [rng.uniform(-1, 1, size=s) for s in spec.weight_shapes()]
    x = rng.uniform(-1, 1, size=(2, 4, 1))
    gru, rnn = spec.cell_specs()
    first = run_reference(gru, weights[:3], x)
    second = run_reference(rnn, weights[3:], first.sequence)
    stacked = run_reference(spec, weights, x)
    np.testing.assert_array_equal(stacked.sequence, second.sequence)
    assert [s.shape for s in stacked.states] == [(2, 3), (2, 2)]


def test_recurrent_kernels_are_scaled_to_the_gain_per_gate_block():
    kernel = np.random.default_rng(2).uniform(-3, 3, size=(3, 3, 2, 8))
    scaled = scale_recurrent(kernel, 4, 0.5)
    for block in np.split(scaled, 4, axis=-1):
        taps = block.reshape(-1, 2, 2)
        assert sum(np.linalg.norm(t, 2) for t in taps) == pytest.approx(0.5)


@pytest.mark.parametrize("kind", EXTRA_LAYER_KINDS)
def test_cases_of_every_extra_kind_have_inputs_weights_and_states_that_fit(kind):
    @settings(max_examples=10, deadline=None, database=None)
    @given(case=cases(kind=kind, min_chunks=2, zero_inputs=False), data=st.data())
    def check(case, data):
        assert case.spec.kind == kind
        assert case.x.shape == (case.batch_size, sum(case.splits), *case.spec.input_shape)
        assert np.any(case.x != 0)  # zero_inputs=False holds for extra kinds too
        assert [w.shape for w in case.weights] == case.spec.weight_shapes()
        more = data.draw(layer_inputs(case.spec, batch_size=3, timesteps=2))
        assert more.shape == (3, 2, *case.spec.input_shape)
        assert more.dtype == np.float32

    check()


def test_properties_that_do_not_apply_say_why():
    assert not_applicable("cudnn_matches_generic", "LSTM") is None
    assert "no cuDNN kernel" in not_applicable("cudnn_matches_generic", "LSTMCell")
    assert "ModelSpec" in not_applicable("composition", "StackedRNNCells")
    assert not_applicable("paths_agree", "GRUCell") is None
    assert not_applicable("chunked_equals_whole", "ConvLSTM3D") is None


# Properties that draw inputs beyond the case's own (layer_inputs: spatial for ConvLSTM).
EXTRA_INPUT_PROPERTIES = (
    "batch_size_mismatch_is_an_error",
    "paths_agree",
    "refusal_leaves_model_intact",
    "sample_i_continues_sample_i",
    "state_machine",
    "stateless_batches_independent",
)


@pytest.mark.parametrize("kind", CONV_LSTM_RANKS)
def test_properties_that_draw_more_inputs_run_on_conv_lstm(kind):
    for property_id in EXTRA_INPUT_PROPERTIES:
        assert not_applicable(property_id, kind) is None, property_id


KERAS_AGREES = """
import json, sys
import numpy as np
from hypothesis import HealthCheck, given, settings
from harness.reference import run_reference
from harness.strategies import cases
from harness.targets import get_target

target = get_target("keras3-tensorflow")
worst = {}
for kind in sys.argv[1:]:
    @settings(max_examples=3, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=cases(kind=kind, min_chunks=2))
    def run(case):
        target.new_example()
        spec = case.spec.replace(return_sequences=True, return_state=True)
        runner = target.runner(spec, batch_size=case.batch_size, stateful=True)
        runner.set_weights(case.weights)
        outs = [runner(chunk) for chunk in case.chunks()]
        ref = run_reference(spec, case.weights, case.x)
        pairs = [(np.concatenate([o.output for o in outs], axis=1), ref.sequence)]
        pairs += list(zip(runner.states(), ref.states, strict=True))
        pairs += list(zip(outs[-1].states, ref.states, strict=True))
        for got, want in pairs:
            assert got.shape == want.shape, (got.shape, want.shape)
            worst[kind] = max(worst.get(kind, 0.0), float(np.abs(got - want).max()))
    run()
print("WORST " + json.dumps(worst))
"""


def test_keras_agrees_with_the_reference_for_every_extra_kind():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    proc = subprocess.run(
        [sys.executable, "-c", KERAS_AGREES, *EXTRA_LAYER_KINDS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(s for s in proc.stdout.splitlines() if s.startswith("WORST "))
    worst = json.loads(line.removeprefix("WORST "))
    assert sorted(worst) == sorted(EXTRA_LAYER_KINDS)
    # float32 Keras against the float64 reference over at most 24 contractive steps
    # (harness.tolerance's consistency budget is of the same order).
    assert max(worst.values()) < 1e-3, worst
