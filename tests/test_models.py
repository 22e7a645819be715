"""``ModelSpec`` and its strategies (``harness.strategies.models``), and the Keras 3 model runner.

Four families: bad specs and strategy arguments raise ``HarnessUsageError`` naming
the argument and the value received; specs are hashable and survive JSON; drawn
values respect their documented bounds and every promised shape is reachable; and
the runner built from a spec loads, reads, sets and resets what the spec says.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from harness.errors import HarnessUsageError
from harness.specs import GATES, LAYER_KINDS, ConvLSTM1DLayer, LayerSpec, ModelSpec, RecurrentLayer
from harness.strategies import MAX_RECURRENT_GAIN, MIN_RECURRENT_GAIN
from harness.strategies.models import (
    MAX_DENSE_UNITS,
    MAX_LAYERS,
    MAX_MODEL_BATCH,
    MAX_MODEL_FEATURES,
    MAX_MODEL_TIMESTEPS,
    MAX_MODEL_UNITS,
    conv_lstm1d_model_specs,
    model_cases,
    model_inputs,
    model_specs,
    model_weights,
)
from harness.targets.keras3_models import model_runner

EXAMPLES = settings(max_examples=50, deadline=None)
# find() stops at the first match; the budget only bounds a search that would fail.
FIND = settings(max_examples=1000, database=None, deadline=None)

LSTM = RecurrentLayer(LayerSpec("LSTM", units=2, features=1))
GRU_2_TO_3 = RecurrentLayer(LayerSpec("GRU", units=3, features=2))
CONV = ConvLSTM1DLayer(filters=2, kernel_size=2, rows=3, channels=1)


def any_specs() -> st.SearchStrategy[ModelSpec]:
    return st.one_of(
        model_specs(return_sequences=None, bidirectional=None, go_backwards=None, dense_head=None),
        model_specs(mask_value=0.0, dtype="mixed_float16", return_state=True),
        model_specs(bidirectional=None, dense_head=None, dtype="mixed_bfloat16"),
        model_specs(go_backwards=None, mask_value=0.0, dtype="bfloat16", return_state=True),
        conv_lstm1d_model_specs(),
    )


# --- Validation of specs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "fragments"),
    [
        (lambda: ModelSpec(layers=()), ["layers=()", "at least one"]),
        (lambda: ModelSpec(layers="LSTM"), ["layers='LSTM'", "tuple"]),
        (lambda: ModelSpec(layers=("LSTM",)), ["layers[0]='LSTM'", "RecurrentLayer"]),
        (
            lambda: ModelSpec(layers=(LSTM, RecurrentLayer(LayerSpec("GRU", 3, features=3)))),
            ["layers[1].layer.features=3", "width of layers[0] (2)"],
        ),
        (
            lambda: ModelSpec(
                layers=(
                    RecurrentLayer(LayerSpec("LSTM", 2, 1, return_sequences=False)),
                    GRU_2_TO_3,
                )
            ),
            ["layers[0] has return_sequences=False"],
        ),
        (lambda: ModelSpec(layers=(LSTM,), dense_units=0), ["dense_units=0"]),
        (
            lambda: ModelSpec(
                layers=(RecurrentLayer(LayerSpec("LSTM", 2, 1, return_sequences=False)),),
                dense_units=2,
            ),
            ["dense_units", "return_sequences=False"],
        ),
        (lambda: ModelSpec(layers=(LSTM,), mask_value=float("nan")), ["mask_value=nan"]),
        (lambda: ModelSpec(layers=(LSTM,), mask_value="0"), ["mask_value='0'"]),
        (lambda: ModelSpec(layers=(LSTM,), timesteps=0), ["timesteps=0"]),
        (
            lambda: ModelSpec(layers=(RecurrentLayer(LSTM.layer, unroll=True),)),
            ["unroll=True", "timesteps=None"],
        ),
        (lambda: ModelSpec(layers=(LSTM,), dtype="float16"), ["dtype='float16'", "mixed"]),
        (lambda: ModelSpec(layers=(CONV, CONV)), ["ConvLSTM1DLayer must be the only layer"]),
        (lambda: ModelSpec(layers=(CONV,), mask_value=0.0), ["mask_value=0.0", "ConvLSTM1D"]),
        (lambda: ModelSpec(layers=(CONV,), dense_units=1), ["dense_units=1", "ConvLSTM1D"]),
        (lambda: RecurrentLayer("LSTM"), ["layer='LSTM'", "LayerSpec"]),
        (
            lambda: RecurrentLayer(LSTM.layer, bidirectional=True, go_backwards=True),
            ["bidirectional=True", "go_backwards=True"],
        ),
        (
            lambda: RecurrentLayer(LSTM.layer.replace(return_state=True)),
            ["layer.return_state=True", "ModelSpec(return_state=True)"],
        ),
        (lambda: ConvLSTM1DLayer(0, 1, 1, 1), ["filters=0"]),
        (lambda: ConvLSTM1DLayer(1, 1, 1, 0), ["channels=0"]),
        (lambda: ConvLSTM1DLayer(1, 1, 1, 1, padding="causal"), ["padding='causal'"]),
        (
            lambda: ConvLSTM1DLayer(1, kernel_size=3, rows=2, channels=1, padding="valid"),
            ["kernel_size=3", "rows=2", "padding='same'"],
        ),
    ],
)
def test_invalid_specs_raise_a_usage_error_naming_the_argument(build, fragments) -> None:
    with pytest.raises(HarnessUsageError) as info:
        build()
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("build", "fragments"),
    [
        (lambda: model_specs(first_kind="Dense"), ["'Dense'", "LSTM"]),
        (lambda: model_specs(kinds="LSTM"), ["kinds='LSTM'", "not a string"]),
        (lambda: model_specs(kinds=[]), ["kinds=[]"]),
        (lambda: model_specs(min_layers=0), ["min_layers=0"]),
        (lambda: model_specs(max_layers=MAX_LAYERS + 1), [f"max_layers={MAX_LAYERS + 1}"]),
        (lambda: model_specs(min_layers=3, max_layers=2), ["min_layers=3", "max_layers=2"]),
        (lambda: model_specs(max_units=MAX_MODEL_UNITS + 1), [f"max_units={MAX_MODEL_UNITS + 1}"]),
        (lambda: model_specs(max_features=0), ["max_features=0"]),
        (lambda: model_specs(bidirectional="yes"), ["bidirectional='yes'"]),
        (lambda: model_specs(bidirectional=True, go_backwards=True), ["go_backwards=True"]),
        (lambda: model_specs(dtype="float16"), ["dtype='float16'"]),
        (lambda: model_cases(model_specs(), max_chunks=4), ["max_chunks=4"]),
        (lambda: model_cases(model_specs(), min_chunks=0), ["min_chunks=0"]),
        (lambda: model_cases(model_specs(), max_chunk_length=5), ["max_chunk_length=5"]),
        (lambda: model_cases(model_specs(), max_batch=5), ["max_batch=5"]),
        (lambda: model_inputs(ModelSpec((LSTM,)), batch_size=0, timesteps=1), ["batch_size=0"]),
        (lambda: model_inputs(ModelSpec((LSTM,)), batch_size=1, timesteps=0), ["timesteps=0"]),
        (
            lambda: model_inputs(ModelSpec((LSTM,)), batch_size=1, timesteps=1, magnitudes=[-1]),
            ["magnitudes=[-1]"],
        ),
    ],
)
def test_invalid_strategy_arguments_raise_a_usage_error_naming_them(build, fragments) -> None:
    with pytest.raises(HarnessUsageError) as info:
        build()
    for fragment in fragments:
        assert fragment in str(info.value)


def test_split_weights_refuses_a_list_of_the_wrong_length() -> None:
    with pytest.raises(HarnessUsageError, match="weights has 1 arrays; this model has 3"):
        ModelSpec((LSTM,)).split_weights([np.zeros((1, 8))])


# --- Plain data --------------------------------------------------------------------------


@EXAMPLES
@given(any_specs())
def test_specs_are_hashable_and_survive_json(spec: ModelSpec) -> None:
    again = ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert hash(again) == hash(spec)


def test_a_list_of_layers_becomes_a_tuple() -> None:
    spec = ModelSpec(layers=[LSTM, GRU_2_TO_3])
    assert spec.layers == (LSTM, GRU_2_TO_3)
    assert hash(spec) == hash(ModelSpec(layers=(LSTM, GRU_2_TO_3)))


def test_shapes_of_a_bidirectional_stack_with_a_head() -> None:
    spec = ModelSpec(
        layers=(
            RecurrentLayer(LayerSpec("LSTM", units=2, features=1), bidirectional=True),
            RecurrentLayer(LayerSpec("GRU", units=3, features=4, use_bias=False)),
        ),
        dense_units=2,
    )
    assert spec.weight_shapes() == [
        *[(1, 8), (2, 8), (8,)] * 2,
        (4, 9),
        (3, 9),
        (3, 2),
        (2,),
    ]
    assert spec.state_shapes(5) == [(5, 2)] * 4 + [(5, 3)]
    groups = [(g.layer, g.direction, g.start, g.count) for g in spec.state_groups()]
    assert groups == [(0, "forward", 0, 2), (0, "backward", 2, 2), (1, "forward", 4, 1)]
    pieces = spec.split_weights([np.zeros(s) for s in spec.weight_shapes()])
    assert [[p.shape for p in piece] for piece in pieces] == [
        [(1, 8), (2, 8), (8,)],
        [(1, 8), (2, 8), (8,)],
        [(4, 9), (3, 9)],
        [(3, 2), (2,)],
    ]


def test_conv_lstm1d_shapes() -> None:
    layer = ConvLSTM1DLayer(filters=3, kernel_size=2, rows=4, channels=2, padding="valid")
    spec = ModelSpec((layer,))
    assert spec.input_shape == (4, 2)
    assert spec.weight_shapes() == [(2, 2, 12), (2, 3, 12), (12,)]
    assert spec.state_shapes(1) == [(1, 3, 3), (1, 3, 3)]


def test_returning_everything_and_layer_options() -> None:
    last = RecurrentLayer(LayerSpec("GRU", units=3, features=2, return_sequences=False))
    spec = ModelSpec((LSTM, last), timesteps=4)
    whole = spec.returning_everything()
    assert whole.return_state and whole.layers[-1].return_sequences
    assert whole.layers[0] == LSTM
    assert all(e.unroll for e in spec.with_layer_options(unroll=True).layers)


# --- Bounds of drawn values ------------------------------------------------------------


@EXAMPLES
@given(model_specs(first_kind="GRU", min_layers=2, max_units=3, dense_head=None))
def test_model_specs_respect_bounds_and_chain_their_layers(spec: ModelSpec) -> None:
    assert 2 <= len(spec.layers) <= MAX_LAYERS
    assert spec.layers[0].layer.kind == "GRU"
    assert 1 <= spec.layers[0].features <= MAX_MODEL_FEATURES
    for before, after in zip(spec.layers, spec.layers[1:], strict=False):
        assert after.features == before.width
        assert before.return_sequences
    for entry in spec.layers:
        assert 1 <= entry.layer.units <= 3
        assert not (entry.bidirectional or entry.go_backwards or entry.unroll)
    assert spec.dense_units is None or 1 <= spec.dense_units <= MAX_DENSE_UNITS
    assert spec.timesteps is None and spec.mask_value is None and spec.dtype == "float32"


@EXAMPLES
@given(model_specs(bidirectional=True, mask_value=0.0, dtype="mixed_float16", return_state=True))
def test_model_specs_pin_what_they_are_asked_to(spec: ModelSpec) -> None:
    assert all(e.bidirectional for e in spec.layers)
    assert spec.mask_value == 0.0
    assert spec.dtype == "mixed_float16"
    assert spec.return_state


@EXAMPLES
@given(any_specs().flatmap(lambda spec: st.tuples(st.just(spec), model_weights(spec))))
def test_model_weights_match_the_spec_and_keep_the_recurrence_contractive(pair) -> None:
    spec, weights = pair
    assert [w.shape for w in weights] == spec.weight_shapes()
    assert all(w.dtype == np.float32 and np.isfinite(w).all() for w in weights)
    start = 0
    for entry in spec.layers:
        per_direction = len(entry.weight_shapes()) // getattr(entry, "directions", 1)
        for first in range(start, start + len(entry.weight_shapes()), per_direction):
            recurrent = weights[first + 1].astype(np.float64)
            if isinstance(entry, ConvLSTM1DLayer):
                k, f = entry.kernel_size, entry.filters
                blocks = [b.reshape(k * f, f) for b in np.split(recurrent, 4, axis=2)]
            else:
                blocks = np.split(recurrent, GATES[entry.layer.kind], axis=1)
            for block in blocks:
                norm = np.linalg.norm(block, 2)
                assert MIN_RECURRENT_GAIN - 1e-5 <= norm <= MAX_RECURRENT_GAIN + 1e-5
        start += len(entry.weight_shapes())


@EXAMPLES
@given(model_cases(any_specs()))
def test_model_cases_respect_bounds(case) -> None:
    assert 1 <= case.batch_size <= MAX_MODEL_BATCH
    assert 1 <= case.timesteps <= MAX_MODEL_TIMESTEPS
    assert case.x.shape == (case.batch_size, case.timesteps, *case.spec.input_shape)
    assert case.x.dtype == np.float32
    assert [c.shape[1] for c in case.chunks()] == list(case.splits)
    json.dumps(case.to_dict())


@EXAMPLES
@given(
    model_cases(
        model_specs(),
        min_chunks=2,
        equal_chunks=True,
        magnitudes=(0.5,),
        prepare=lambda spec, splits: spec.replace(timesteps=splits[0]),
    )
)
def test_model_cases_can_cut_equal_chunks_and_prepare_the_spec(case) -> None:
    assert len(case.splits) >= 2 and len(set(case.splits)) == 1
    assert case.spec.timesteps == case.splits[0]
    assert np.abs(case.x).max() <= 0.5


# --- Every shape is reachable ----------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "condition"),
    [
        (model_specs(), lambda s: len(s.layers) == MAX_LAYERS),
        (
            model_specs(min_layers=2),
            lambda s: len({e.layer.kind for e in s.layers}) == len(s.layers),
        ),
        (model_specs(bidirectional=None), lambda s: any(e.bidirectional for e in s.layers)),
        (model_specs(go_backwards=None), lambda s: any(e.go_backwards for e in s.layers)),
        (model_specs(dense_head=None), lambda s: s.dense_units == MAX_DENSE_UNITS),
        (model_specs(return_sequences=None), lambda s: not s.layers[-1].return_sequences),
        (conv_lstm1d_model_specs(), lambda s: s.layers[0].padding == "valid"),
        (conv_lstm1d_model_specs(), lambda s: s.layers[0].kernel_size == 3),
    ],
)
def test_every_promised_shape_is_reachable(strategy, condition) -> None:
    assert condition(find(strategy, condition, settings=FIND))


def test_every_layer_kind_can_follow_the_first() -> None:
    for kind in LAYER_KINDS:
        spec = find(
            model_specs(first_kind="LSTM", min_layers=2),
            lambda s, kind=kind: s.layers[1].layer.kind == kind,
            settings=FIND,
        )
        assert spec.layers[0].layer.kind == "LSTM"


# --- The Keras 3 model runner ------------------------------------------------------------


@pytest.fixture
def fresh_models(target):
    yield
    target.clear()


def test_runner_loads_reads_sets_and_resets_what_the_spec_says(target, fresh_models) -> None:
    spec = ModelSpec(
        (
            RecurrentLayer(LayerSpec("LSTM", 2, 1), bidirectional=True),
            RecurrentLayer(LayerSpec("GRU", 3, 4)),
        ),
        dense_units=1,
    )
    weights = find(model_weights(spec), lambda _: True, settings=FIND)
    runner = model_runner(target, spec, batch_size=2, stateful=True)
    runner.set_weights(weights)
    for got, want in zip(runner.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)
    assert [s.shape for s in runner.states()] == spec.state_shapes(2)

    out = runner(np.ones((2, 3, 1), np.float32))
    assert out.output.shape == (2, 3, 1)
    assert [a.shape for a in out.layers] == [(2, 3, 4), (2, 3, 3), (2, 3, 1)]
    assert out.states is None
    assert all(np.abs(s).max() > 0 for s in runner.states())

    runner.reset()
    assert all(not s.any() for s in runner.states())
    assert runner.reset_api in ("model.reset_states()", "layer.reset_state()")
    runner.set_states([np.full(s, 0.5) for s in spec.state_shapes(2)])
    assert all((s == 0.5).all() for s in runner.states())


@pytest.mark.parametrize(
    ("policy", "state_dtype"), [("mixed_bfloat16", "float32"), ("bfloat16", "bfloat16")]
)
def test_bfloat16_runners_build_run_and_hold_states_of_their_dtype(
    target, fresh_models, policy, state_dtype
) -> None:
    # A plain bfloat16 layer's default Orthogonal recurrent initializer cannot run in
    # bfloat16 on a CPU (keras3_models' docstring); the runner builds one anyway.
    layers = tuple(
        RecurrentLayer(LayerSpec(kind, 2, 2 if i else 1)) for i, kind in enumerate(LAYER_KINDS)
    )
    spec = ModelSpec(layers, dense_units=1, dtype=policy)
    runner = model_runner(target, spec, batch_size=2, stateful=True)
    runner.set_weights(find(model_weights(spec), lambda _: True, settings=FIND))
    out = runner(np.ones((2, 3, 1), np.float32))
    assert out.output.shape == (2, 3, 1)
    assert np.isfinite(out.output.astype(np.float64)).all()
    # Whether the state is stored is the composition property's to check (torch never
    # stores a mixed-precision one: a reviewed known failure).
    assert [str(s.dtype) for s in runner.states()] == [state_dtype] * len(spec.state_shapes(2))


def test_a_runner_reused_within_an_example_comes_back_with_zero_states(target, fresh_models):
    spec = ModelSpec((LSTM,))
    runner = model_runner(target, spec, batch_size=1, stateful=True)
    runner.set_states([np.ones(s) for s in spec.state_shapes(1)])
    again = model_runner(target, spec, batch_size=1, stateful=True)
    assert again is runner
    assert all(not s.any() for s in again.states())


def test_the_next_example_gets_fresh_runners(target, fresh_models) -> None:
    spec = ModelSpec((LSTM,))
    model = model_runner(target, spec, batch_size=1, stateful=True)
    layer = target.runner(LSTM.layer, batch_size=1, stateful=True)
    target.new_example()
    assert model_runner(target, spec, batch_size=1, stateful=True) is not model
    assert target.runner(LSTM.layer, batch_size=1, stateful=True) is not layer


def test_stateless_runner_returns_every_layers_states_and_refuses_state_calls(
    target, fresh_models
) -> None:
    spec = ModelSpec((LSTM, GRU_2_TO_3), return_state=True)
    runner = model_runner(target, spec, batch_size=None, stateful=False)
    out = runner(np.ones((3, 2, 1), np.float32))
    assert [s.shape for s in out.states] == spec.state_shapes(3)
    with pytest.raises(HarnessUsageError, match="stateful"):
        runner.states()
    with pytest.raises(HarnessUsageError, match="stateful"):
        runner.reset()


def test_model_runner_refuses_bad_arguments(target) -> None:
    with pytest.raises(HarnessUsageError, match="needs a fixed batch_size"):
        model_runner(target, ModelSpec((LSTM,)), batch_size=None, stateful=True)
    with pytest.raises(HarnessUsageError, match="must be a ModelSpec"):
        model_runner(target, LSTM.layer, batch_size=None, stateful=False)
    runner = model_runner(target, ModelSpec((LSTM,)), batch_size=None, stateful=False)
    with pytest.raises(HarnessUsageError, match="expects"):
        runner.set_weights([np.zeros((1, 8))])
    target.new_example()
