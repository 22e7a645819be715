"""The Hypothesis strategies and the ``LayerSpec`` / ``Case`` data they build.

Four families: arguments are validated with a message that names them; every
drawn value respects its documented bounds; every regime the strategies promise
(zeros, saturating inputs, single-step chunks, each layer flag) is actually
reachable, shown with ``hypothesis.find``; and the examples the core properties
draw could fail, counted over derandomized draws (deterministic) on the float64
reference target.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from hypothesis import find, given, seed, settings
from hypothesis import strategies as st

from harness import reference, seeds
from harness.check import PropertyCheck
from harness.errors import HarnessUsageError
from harness.profiles import profile_settings
from harness.pytest_plugin import LAYER_FIXTURE
from harness.specs import ACTIVATIONS, GATES, LAYER_KINDS, RECURRENT_ACTIVATIONS, Case, LayerSpec
from harness.strategies import (
    FULLY_MASKED_ODDS,
    LONG_SEQUENCE,
    MAX_ABS_INPUT,
    MAX_ABS_STATE,
    MAX_BATCH,
    MAX_CHUNK_LENGTH,
    MAX_CHUNKS,
    MAX_FEATURES,
    MAX_RECURRENT_GAIN,
    MAX_UNITS,
    MAX_WEIGHT_SCALE,
    MIN_RECURRENT_GAIN,
    MIN_WEIGHT_SCALE,
    RARE_ODDS,
    WIDE_UNITS,
    ZERO_ODDS,
    batch_sizes,
    cases,
    chunk_splits,
    is_rotation,
    layer_specs,
    layer_states,
    masks,
    row_permutations,
    sequences,
    weights,
)
from harness.targets.base import Output
from properties import (
    test_chunked_equals_whole,
    test_matches_reference,
    test_reset_restores_zero_state,
    test_sample_i_continues_sample_i,
    test_stateless_batches_independent,
)
from tests import reference_target
from tests.property_runner import property_id
from tests.reference_target import ReferenceRunner, ReferenceTarget

EXAMPLES = settings(max_examples=50, deadline=None)
# find() stops at the first match; the budget only bounds a search that would fail.
FIND = settings(max_examples=1000, database=None, deadline=None)


# --- Argument validation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "fragments"),
    [
        (lambda: batch_sizes(min_size=0), ["min_size=0", "at least 1"]),
        (lambda: batch_sizes(max_size=65), ["max_size=65", "at most 64"]),
        (lambda: batch_sizes(min_size=5, max_size=3), ["min_size=5", "max_size=3"]),
        (lambda: chunk_splits(min_chunks=3, max_chunks=2), ["min_chunks=3", "max_chunks=2"]),
        (lambda: chunk_splits(min_chunks=0), ["min_chunks=0"]),
        (lambda: chunk_splits(min_length=0), ["min_length=0"]),
        (lambda: chunk_splits(min_length=4, max_length=2), ["min_length=4", "max_length=2"]),
        (lambda: layer_specs(kinds=["Dense"]), ["'Dense'", "LSTM"]),
        (lambda: layer_specs(kinds=["LSTM", "Conv1D"]), ["'Conv1D'"]),
        (lambda: layer_specs(kinds=[]), ["kinds=[]"]),
        (lambda: layer_specs(min_units=0), ["min_units=0"]),
        (lambda: layer_specs(min_features=3, max_features=2), ["min_features=3", "max_features=2"]),
    ],
)
def test_invalid_strategy_arguments_raise_a_usage_error_naming_them(build, fragments) -> None:
    with pytest.raises(HarnessUsageError) as info:
        build()
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"batch_size": 0, "timesteps": 2, "features": 1}, "batch_size=0"),
        ({"batch_size": 1, "timesteps": 0, "features": 1}, "timesteps=0"),
        ({"batch_size": 1, "timesteps": 2, "features": -1}, "features=-1"),
    ],
)
def test_invalid_sequence_shapes_raise_a_usage_error_naming_them(kwargs, fragment) -> None:
    # sequences() is a composite strategy, so it may check when building or when drawing.
    with pytest.raises(HarnessUsageError, match=fragment):
        find(sequences(**kwargs), lambda _: True, settings=FIND)


# --- Bounds of drawn values -----------------------------------------------------------


@EXAMPLES
@given(batch_sizes(min_size=2, max_size=5))
def test_batch_sizes_stay_within_the_requested_range(size: int) -> None:
    assert 2 <= size <= 5


@EXAMPLES
@given(batch_sizes())
def test_batch_sizes_default_to_one_through_max_batch(size: int) -> None:
    assert 1 <= size <= MAX_BATCH


@EXAMPLES
@given(chunk_splits(min_chunks=2, max_chunks=3, min_length=2, max_length=4))
def test_chunk_splits_respect_count_and_length_bounds(splits: tuple[int, ...]) -> None:
    assert isinstance(splits, tuple)
    assert 2 <= len(splits) <= 3
    assert all(2 <= n <= 4 for n in splits)


@EXAMPLES
@given(chunk_splits())
def test_chunk_splits_default_bounds_are_the_named_constants(splits: tuple[int, ...]) -> None:
    assert 1 <= len(splits) <= MAX_CHUNKS
    assert all(1 <= n <= MAX_CHUNK_LENGTH for n in splits)


@EXAMPLES
@given(st.data())
def test_sequences_are_bounded_finite_float32_of_the_requested_shape(data: st.DataObject) -> None:
    batch = data.draw(st.integers(1, 4))
    timesteps = data.draw(st.integers(1, 7))
    features = data.draw(st.integers(1, 3))
    x = data.draw(sequences(batch_size=batch, timesteps=timesteps, features=features))
    assert x.shape == (batch, timesteps, features)
    assert x.dtype == np.float32
    assert np.isfinite(x).all()
    assert np.abs(x).max() <= MAX_ABS_INPUT


@EXAMPLES
@given(layer_specs(min_units=2, max_units=3, return_sequences=False, return_state=True))
def test_layer_specs_respect_bounds_and_pinned_flags(spec: LayerSpec) -> None:
    assert spec.kind in LAYER_KINDS
    assert 2 <= spec.units <= 3
    assert 1 <= spec.features <= MAX_FEATURES
    assert spec.return_sequences is False
    assert spec.return_state is True


@EXAMPLES
@given(layer_specs(kinds=["GRU"]))
def test_layer_specs_draw_only_the_requested_kinds(spec: LayerSpec) -> None:
    assert spec.kind == "GRU"
    assert 1 <= spec.units <= MAX_UNITS


@EXAMPLES
@given(layer_specs().flatmap(lambda spec: st.tuples(st.just(spec), weights(spec))))
def test_weights_match_spec_shapes_and_stay_within_the_scale(pair) -> None:
    spec, ws = pair
    assert [w.shape for w in ws] == spec.weight_shapes()
    assert all(w.dtype == np.float32 for w in ws)
    assert all(np.isfinite(w).all() for w in ws)
    assert max(float(np.abs(w).max()) for w in ws) <= MAX_WEIGHT_SCALE


def test_weights_are_not_all_tiny() -> None:
    # Weights are uniform in [-s, s] with s >= MIN_WEIGHT_SCALE: one example can still be
    # small by chance (2 elements: 1 in 4), so the claim is about many examples.
    maxima: list[float] = []

    @settings(max_examples=50, database=None, derandomize=True, deadline=None)
    @given(layer_specs().flatmap(weights))
    def collect(ws: list[np.ndarray]) -> None:
        maxima.append(max(float(np.abs(w).max()) for w in ws))

    collect()
    assert len(maxima) >= 25
    large = [m for m in maxima if m > MIN_WEIGHT_SCALE / 2]
    assert len(large) >= len(maxima) // 2


@EXAMPLES
@given(st.data())
def test_layer_states_have_one_bounded_array_per_state(data: st.DataObject) -> None:
    spec = data.draw(layer_specs(max_units=4))
    batch = data.draw(batch_sizes(max_size=3))
    states = data.draw(layer_states(spec, batch))
    assert len(states) == spec.n_states
    for s in states:
        assert s.shape == (batch, spec.units)
        assert s.dtype == np.float32
        assert np.abs(s).max() <= MAX_ABS_STATE


# --- Every regime is reachable --------------------------------------------------------


def test_an_all_zero_sequence_is_reachable() -> None:
    x = find(sequences(batch_size=2, timesteps=3, features=2), lambda a: not a.any(), settings=FIND)
    assert x.shape == (2, 3, 2)
    assert not x.any()


def test_a_saturating_sequence_is_reachable() -> None:
    x = find(
        sequences(batch_size=2, timesteps=3, features=2),
        lambda a: np.abs(a).max() > 5.0,
        settings=FIND,
    )
    assert np.abs(x).max() > 5.0


def test_a_small_nonzero_sequence_is_reachable() -> None:
    x = find(
        sequences(batch_size=2, timesteps=3, features=2),
        lambda a: 0.0 < np.abs(a).max() <= 0.1,
        settings=FIND,
    )
    assert 0.0 < np.abs(x).max() <= 0.1


def test_a_split_with_a_single_step_chunk_is_reachable() -> None:
    splits = find(chunk_splits(min_chunks=2), lambda s: 1 in s and max(s) > 1, settings=FIND)
    assert 1 in splits
    assert len(splits) >= 2


def test_a_split_with_max_chunks_chunks_is_reachable() -> None:
    splits = find(chunk_splits(), lambda s: len(s) == MAX_CHUNKS, settings=FIND)
    assert len(splits) == MAX_CHUNKS


def test_a_split_with_max_chunk_length_is_reachable() -> None:
    splits = find(chunk_splits(), lambda s: MAX_CHUNK_LENGTH in s, settings=FIND)
    assert MAX_CHUNK_LENGTH in splits


@pytest.mark.parametrize(
    ("description", "condition"),
    [
        ("return_state True", lambda s: s.return_state),
        ("return_state False", lambda s: not s.return_state),
        ("return_sequences True", lambda s: s.return_sequences),
        ("return_sequences False", lambda s: not s.return_sequences),
        ("GRU reset_after False", lambda s: s.kind == "GRU" and not s.reset_after),
        ("GRU reset_after True", lambda s: s.kind == "GRU" and s.reset_after),
        ("no bias", lambda s: not s.use_bias),
        ("max units", lambda s: s.units == MAX_UNITS),
        ("max features", lambda s: s.features == MAX_FEATURES),
        *[(f"kind {k}", lambda s, k=k: s.kind == k) for k in LAYER_KINDS],
        *[(f"activation {a}", lambda s, a=a: s.activation == a) for a in ACTIVATIONS],
        *[
            (f"recurrent activation {a}", lambda s, a=a: s.recurrent_activation == a)
            for a in RECURRENT_ACTIVATIONS
        ],
    ],
)
def test_every_layer_spec_regime_is_reachable(description: str, condition) -> None:
    spec = find(layer_specs(), condition, settings=FIND)
    assert condition(spec), description


# --- cases() and Case -----------------------------------------------------------------


@EXAMPLES
@given(st.data())
@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_cases_draw_consistent_inputs_weights_and_splits(kind: str, data: st.DataObject) -> None:
    case = data.draw(cases(kind=kind, max_batch=3))
    assert case.spec.kind == kind
    assert 1 <= case.batch_size <= 3
    assert case.x.shape == (case.batch_size, sum(case.splits), case.spec.features)
    assert case.timesteps == sum(case.splits)
    assert [w.shape for w in case.weights] == case.spec.weight_shapes()
    chunks = case.chunks()
    assert [c.shape[1] for c in chunks] == list(case.splits)
    np.testing.assert_array_equal(np.concatenate(chunks, axis=1), case.x)


@EXAMPLES
@given(cases(kind="LSTM", min_chunks=2, max_chunks=3, return_sequences=True, return_state=False))
def test_cases_pass_chunk_and_flag_bounds_through(case: Case) -> None:
    assert 2 <= len(case.splits) <= 3
    assert case.spec.return_sequences is True
    assert case.spec.return_state is False


def _hand_made_case(splits: tuple[int, ...]) -> Case:
    spec = LayerSpec("SimpleRNN", units=1, features=2)
    t = sum(splits)
    x = np.arange(2 * t * 2, dtype=np.float32).reshape(2, t, 2)
    return Case(spec, 2, splits, x, [np.ones((2, 1)), np.ones((1, 1)), np.zeros(1)])


def test_case_boundaries_are_the_starts_of_all_chunks_but_the_first() -> None:
    assert _hand_made_case((3, 1, 2)).boundaries() == [3, 4]
    assert _hand_made_case((1, 1, 1, 1)).boundaries() == [1, 2, 3]
    assert _hand_made_case((5,)).boundaries() == []


def test_case_chunks_cut_time_at_the_boundaries() -> None:
    case = _hand_made_case((3, 1, 2))
    first, second, third = case.chunks()
    np.testing.assert_array_equal(first, case.x[:, 0:3])
    np.testing.assert_array_equal(second, case.x[:, 3:4])
    np.testing.assert_array_equal(third, case.x[:, 4:6])
    assert case.timesteps == 6


def test_case_to_dict_is_json_serialisable_and_keeps_the_arrays() -> None:
    case = _hand_made_case((2, 1))
    data = json.loads(json.dumps(case.to_dict()))
    assert LayerSpec.from_dict(data["spec"]) == case.spec
    assert data["splits"] == [2, 1]
    np.testing.assert_array_equal(np.array(data["x"], dtype=np.float32), case.x)


# --- LayerSpec ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"kind": "LSTM", "units": 0, "features": 1}, "units=0"),
        ({"kind": "LSTM", "units": 1, "features": 0}, "features=0"),
        ({"kind": "Dense", "units": 1, "features": 1}, "kind='Dense'"),
        ({"kind": "GRU", "units": 1, "features": 1, "activation": "elu"}, "activation='elu'"),
        (
            {"kind": "GRU", "units": 1, "features": 1, "recurrent_activation": "hard_silu"},
            "recurrent_activation='hard_silu'",
        ),
    ],
)
def test_invalid_layer_specs_raise_a_usage_error_naming_the_value(kwargs, fragment) -> None:
    with pytest.raises(HarnessUsageError) as info:
        LayerSpec(**kwargs)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("spec", "shapes"),
    [
        (LayerSpec("LSTM", units=2, features=3), [(3, 8), (2, 8), (8,)]),
        (LayerSpec("GRU", units=2, features=3, reset_after=True), [(3, 6), (2, 6), (2, 6)]),
        (LayerSpec("GRU", units=2, features=3, reset_after=False), [(3, 6), (2, 6), (6,)]),
        (LayerSpec("SimpleRNN", units=2, features=3), [(3, 2), (2, 2), (2,)]),
        (LayerSpec("LSTM", units=2, features=3, use_bias=False), [(3, 8), (2, 8)]),
        (LayerSpec("GRU", units=2, features=3, use_bias=False), [(3, 6), (2, 6)]),
        (LayerSpec("SimpleRNN", units=2, features=3, use_bias=False), [(3, 2), (2, 2)]),
        # reset_after means nothing outside GRU: the bias stays one row.
        (LayerSpec("LSTM", units=1, features=1, reset_after=True), [(1, 4), (1, 4), (4,)]),
    ],
)
def test_weight_shapes_follow_keras_layout(spec: LayerSpec, shapes: list) -> None:
    assert spec.weight_shapes() == shapes


def test_layer_specs_are_hashable_by_value() -> None:
    a = LayerSpec("GRU", units=3, features=2, reset_after=False)
    b = LayerSpec("GRU", units=3, features=2, reset_after=False)
    c = a.replace(reset_after=True)
    assert hash(a) == hash(b)
    assert len({a, b, c}) == 2
    assert {a: "cached"}[b] == "cached"


@EXAMPLES
@given(layer_specs())
def test_layer_specs_round_trip_through_a_json_dict(spec: LayerSpec) -> None:
    data = json.loads(json.dumps(spec.to_dict()))
    again = LayerSpec.from_dict(data)
    assert again == spec
    assert hash(again) == hash(spec)


@given(layer_specs().flatmap(lambda spec: st.tuples(st.just(spec), weights(spec))))
def test_recurrent_gate_blocks_are_contractive_but_not_tiny(pair) -> None:
    spec, drawn = pair
    for block in np.split(drawn[1].astype(np.float64), GATES[spec.kind], axis=1):
        norm = np.linalg.norm(block, 2)
        # float32 storage moves the norm by a few ulps at most
        assert MIN_RECURRENT_GAIN * (1 - 1e-5) <= norm <= MAX_RECURRENT_GAIN * (1 + 1e-5)


@given(layer_specs(kinds=["SimpleRNN", "LSTM"]))
def test_fields_that_do_not_apply_to_a_kind_are_canonical(spec: LayerSpec) -> None:
    assert spec.reset_after is True
    if spec.kind == "SimpleRNN":
        assert spec.recurrent_activation == "sigmoid"


def test_kinds_given_as_a_string_is_a_usage_error_with_a_fix() -> None:
    with pytest.raises(HarnessUsageError, match=r"kinds='LSTM' must be a list"):
        layer_specs(kinds="LSTM")


def test_cases_validate_their_arguments_when_built() -> None:
    with pytest.raises(HarnessUsageError, match="min_chunks=3 must not exceed max_chunks=2"):
        cases(kind="GRU", min_chunks=3, max_chunks=2)
    with pytest.raises(HarnessUsageError, match="batch_size=0"):
        sequences(batch_size=0, timesteps=1, features=1)


# --- Examples that could fail ---------------------------------------------------------


def sampled(strategy: st.SearchStrategy, n: int) -> list:
    """``n`` derandomized draws of ``strategy``: the same list on every run."""
    drawn: list = []

    @settings(max_examples=n, database=None, derandomize=True, deadline=None)
    @given(strategy)
    def collect(value) -> None:
        drawn.append(value)

    collect()
    return drawn


def test_all_zero_sequences_are_a_small_deliberate_share() -> None:
    xs = sampled(sequences(batch_size=2, timesteps=3, features=2), 300)
    zeros = sum(not x.any() for x in xs)
    # About one in ZERO_ODDS (20): present, and far from the 42-55% drawn before.
    assert 0 < zeros <= 3 * len(xs) // ZERO_ODDS


def test_failures_shrink_to_unit_inputs_not_to_zeros() -> None:
    x = find(sequences(batch_size=2, timesteps=3, features=2), lambda a: True, settings=FIND)
    assert 0.5 < np.abs(x).max() <= 1.0


def test_all_zero_states_are_a_small_deliberate_share() -> None:
    states = sampled(layer_states(LayerSpec("GRU", units=2, features=1), 2), 300)
    zeros = sum(not s[0].any() for s in states)
    assert 0 < zeros <= 3 * len(states) // ZERO_ODDS


@pytest.mark.parametrize(
    ("permutation", "rotation"),
    [
        ((0, 1, 2), True),
        ((1, 2, 0), True),
        ((2, 0, 1), True),
        ((1, 0), True),
        ((0, 2, 1), False),
        ((1, 0, 2, 3), False),
        ((3, 0, 1, 2), True),
    ],
)
def test_is_rotation_tells_shifts_from_other_orders(permutation, rotation) -> None:
    assert is_rotation(permutation) is rotation


@EXAMPLES
@given(st.data())
def test_row_permutations_are_never_rotations_from_three_rows_on(data: st.DataObject) -> None:
    size = data.draw(st.integers(2, MAX_BATCH))
    perm = data.draw(row_permutations(size=size))
    assert sorted(perm) == list(range(size))
    if size == 2:
        assert perm == (1, 0)
    else:
        assert not is_rotation(perm)


def test_row_permutations_shrink_to_the_swap_of_the_first_two_rows() -> None:
    perm = find(row_permutations(size=4), lambda p: True, settings=FIND)
    assert perm == (1, 0, 2, 3)


def test_row_permutations_of_one_row_are_a_usage_error() -> None:
    with pytest.raises(HarnessUsageError, match="size=1 must be at least 2"):
        row_permutations(size=1)


@EXAMPLES
@given(cases(kind="LSTM", min_chunks=2))
def test_carry_cases_have_at_least_two_chunks(case: Case) -> None:
    assert len(case.splits) >= 2


CORE_TESTS = [
    test_chunked_equals_whole.test_chunked_equals_whole,
    test_sample_i_continues_sample_i.test_permuted_rows_give_permuted_outputs_and_states,
    test_sample_i_continues_sample_i.test_a_row_continues_only_its_own_history,
    test_reset_restores_zero_state.test_reset_restores_zero_state,
    test_stateless_batches_independent.test_stateless_batches_independent,
]


def ci_examples(test, kind: str) -> PropertyCheck:
    """``test``'s examples in the ci profile, seeded as the pytest plugin seeds them (run
    seed 0, harness.seeds), drawn by the property's own code on the reference target."""
    target = ReferenceTarget()
    check = PropertyCheck(property_id(test), kind, target.name)
    key = seeds.key(test.__module__, test.__name__, {LAYER_FIXTURE: kind})

    @seed(seeds.derive_seed(0, key))
    @seeds.seeded_settings(profile_settings("ci"), database=None)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        test.hypothesis.inner_test(target=target, layer_kind=kind, check=check, data=data)

    run()
    return check


@pytest.mark.parametrize("kind", LAYER_KINDS)
@pytest.mark.parametrize("test", CORE_TESTS, ids=lambda t: t.__name__)
def test_nine_in_ten_core_examples_could_fail_in_the_ci_profile(test, kind: str) -> None:
    # The reference target passes every example; the property counts the sensitive ones
    # itself, as the report's examples_that_could_fail does.
    check = ci_examples(test, kind)
    assert check.examples == profile_settings("ci").max_examples
    assert check.sensitive_examples is not None
    assert check.sensitive_examples >= 0.9 * check.examples


def test_the_sensitivity_count_is_none_where_a_property_does_not_count() -> None:
    check = PropertyCheck("model_reset_states", "LSTM", "numpy-reference")
    check.example(case=None)
    assert check.sensitive_examples is None
    check.sensitive(False)
    assert check.sensitive_examples == 0


# --- Rare regions: wide layers, long sequences, states beyond 1 ------------------------


def _wide_and_long(case: Case) -> bool:
    return case.spec.units > MAX_UNITS and case.timesteps > MAX_CHUNKS * MAX_CHUNK_LENGTH


def test_wide_layers_over_long_sequences_are_reachable() -> None:
    case = find(cases(kind="LSTM", min_chunks=2), _wide_and_long, settings=FIND)
    assert MAX_UNITS < case.spec.units <= WIDE_UNITS
    assert MAX_CHUNKS * MAX_CHUNK_LENGTH < case.timesteps <= LONG_SEQUENCE
    assert case.x.shape == (case.batch_size, case.timesteps, case.spec.features)
    assert [w.shape for w in case.weights] == case.spec.weight_shapes()


@pytest.mark.parametrize("max_chunks", [1, MAX_CHUNKS])
def test_wide_and_long_cases_are_a_small_share_within_their_bounds(max_chunks: int) -> None:
    drawn = sampled(cases(kind="GRU", max_chunks=max_chunks), 300)
    rare = [c for c in drawn if c.spec.units > MAX_UNITS]
    # About one in RARE_ODDS (12): present, yet a small share of the budget.
    assert 0 < len(rare) <= 3 * len(drawn) // RARE_ODDS
    assert all(c.spec.units <= WIDE_UNITS and c.timesteps <= LONG_SEQUENCE for c in rare)
    assert any(c.timesteps > MAX_CHUNKS * MAX_CHUNK_LENGTH for c in rare)
    common = [c for c in drawn if c.spec.units <= MAX_UNITS]
    assert all(max(c.splits) <= MAX_CHUNK_LENGTH for c in common)


def test_failures_shrink_out_of_the_wide_and_long_region() -> None:
    case = find(cases(kind="SimpleRNN"), lambda c: True, settings=FIND)
    assert case.spec.units == 1
    assert case.timesteps == 1


class _WideKernelBugRunner(ReferenceRunner):
    """A kernel switch gone wrong: for a layer wider than 32 units or a call longer than
    64 steps, a stateless layer starts each call from the previous call's final states."""

    last: list | None = None

    def __call__(self, x, *, initial_state=None, **kwargs):
        if not self.stateful and (self.spec.units > 32 or x.shape[1] > 64):
            same_batch = self.last is not None and len(self.last[0]) == len(x)
            if initial_state is None and same_batch:
                initial_state = self.last
        out = super().__call__(x, initial_state=initial_state, **kwargs)
        self.last = out.states
        return out


class _WideKernelBugTarget(ReferenceTarget):
    def runner(self, spec: LayerSpec, *, batch_size: int | None, stateful: bool):
        return _WideKernelBugRunner(spec, batch_size=batch_size, stateful=stateful)


def test_the_ci_profile_reaches_a_bug_only_wide_or_long_layers_have() -> None:
    # Without the rare region every layer has at most MAX_UNITS units and every call at
    # most MAX_CHUNK_LENGTH steps here: this target would pass.
    test = test_stateless_batches_independent.test_stateless_batches_independent
    target = _WideKernelBugTarget()
    check = PropertyCheck(property_id(test), "LSTM", target.name)
    key = seeds.key(test.__module__, test.__name__, {LAYER_FIXTURE: "LSTM"})
    drawn: list[Case] = []

    @seed(seeds.derive_seed(0, key))
    @seeds.seeded_settings(profile_settings("ci"), database=None)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        recording = _Recording(check, drawn)
        test.hypothesis.inner_test(target=target, layer_kind="LSTM", check=recording, data=data)

    with pytest.raises(AssertionError, match="after another batch vs first call"):
        run()
    assert any(c.spec.units > 32 or c.timesteps > 64 for c in drawn)


class _Recording:
    """A ``PropertyCheck`` that also keeps every case it is shown."""

    def __init__(self, check: PropertyCheck, drawn: list):
        self.check, self.drawn = check, drawn

    def example(self, **data) -> None:
        self.drawn.append(data["case"])
        self.check.example(**data)

    def __getattr__(self, name: str):
        return getattr(self.check, name)


def test_states_beyond_one_are_reachable_and_failures_shrink_inside_one() -> None:
    spec = LayerSpec("LSTM", units=2, features=1)
    big = find(layer_states(spec, 2), lambda s: np.abs(s[1]).max() > 1.0, settings=FIND)
    assert 1.0 < np.abs(big[1]).max() <= MAX_ABS_STATE
    first = find(layer_states(spec, 2), lambda s: True, settings=FIND)
    assert 0.5 < np.abs(first[0]).max() <= 1.0


def test_gates_other_than_sigmoid_are_a_small_share_and_never_cudnn() -> None:
    specs = sampled(layer_specs(kinds=["LSTM", "GRU"]), 300)
    hard = sum(s.recurrent_activation == "hard_sigmoid" for s in specs)
    # About one in 2 * OTHER_GATE_ODDS (6): present, and a minority.
    assert 0 < hard <= len(specs) // 3
    eligible = sampled(layer_specs(kinds=["LSTM", "GRU"], cudnn_eligible=True), 100)
    assert all(s.recurrent_activation == "sigmoid" and s.cudnn_eligible for s in eligible)


def test_the_ci_profile_tells_keras_2s_hard_sigmoid_from_keras_3s(monkeypatch) -> None:
    # A target computing Keras 2's hard_sigmoid while it says it runs Keras 3: it differs
    # from the reference only where a layer draws hard_sigmoid gates.
    keras2 = functools.partial(reference.run_reference, keras_version="2.15.1")
    monkeypatch.setattr(reference_target, "run_reference", keras2)
    test = test_matches_reference.test_matches_reference
    target = ReferenceTarget()
    check = PropertyCheck(property_id(test), "GRU", target.name)
    key = seeds.key(test.__module__, test.__name__, {LAYER_FIXTURE: "GRU"})

    @seed(seeds.derive_seed(0, key))
    @seeds.seeded_settings(profile_settings("ci"), database=None)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        test.hypothesis.inner_test(target=target, layer_kind="GRU", check=check, data=data)

    with pytest.raises(AssertionError, match="vs reference"):
        run()
    assert check.example_data["case"].spec.recurrent_activation == "hard_sigmoid"


# --- Masks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "condition"),
    [
        ("left-padded: a masked first step", lambda m: not m[:, 0].all() and m[:, -1].all()),
        ("right-padded: a masked last step", lambda m: m[:, 0].all() and not m[:, -1].all()),
        (
            "a hole: valid, masked, valid",
            lambda m: any("101" in "".join(map(str, r)) for r in m * 1),
        ),
        ("a fully masked row", lambda m: not m.any(axis=1).all()),
    ],
)
def test_every_mask_regime_is_reachable(description: str, condition) -> None:
    mask = find(masks(batch_size=3, timesteps=5), condition, settings=FIND)
    assert mask.shape == (3, 5) and mask.dtype == bool
    assert condition(mask), description


def test_masks_shrink_to_left_padding_with_every_row_valid_somewhere() -> None:
    mask = find(masks(batch_size=3, timesteps=4), lambda m: True, settings=FIND)
    assert mask.any(axis=1).all()
    for row in mask:  # left-padded: once valid, valid to the end
        assert row[np.argmax(row) :].all()


def test_fully_masked_rows_are_a_small_share() -> None:
    drawn = sampled(masks(batch_size=2, timesteps=3), 300)
    fully = sum(not m.any(axis=1).all() for m in drawn)
    assert 0 < fully <= len(drawn) // 2  # about one in FULLY_MASKED_ODDS (4)
    assert fully >= len(drawn) // (3 * FULLY_MASKED_ODDS)


class _MaskedRunner(ReferenceRunner):
    """The reference runner with masks, as Keras runs them (``run_reference(mask=...)``);
    ``restart_empty_rows`` is a bug: a row masked at every step of a call loses its state."""

    restart_empty_rows = False

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None, mask=None):
        if mask is None:
            return super().__call__(x, initial_state=initial_state, path=path)
        start = self.stored if self.stateful else None
        if self.restart_empty_rows and start:
            empty = ~np.asarray(mask).any(axis=1)[:, None]
            start = [np.where(empty, 0.0, s) for s in start]
        result = reference.run_reference(self.spec, self.weights, x, start, mask=mask)
        if self.stateful:
            self.stored = result.states
        states = [s.copy() for s in result.states] if self.spec.return_state else None
        return Output(result.output(self.spec), states)


class _MaskedTarget(ReferenceTarget):
    def __init__(self, *, restart_empty_rows: bool):
        super().__init__()
        self.restart_empty_rows = restart_empty_rows

    def runner(self, spec: LayerSpec, *, batch_size: int | None, stateful: bool):
        runner = _MaskedRunner(spec, batch_size=batch_size, stateful=stateful)
        runner.restart_empty_rows = self.restart_empty_rows
        return runner


def _masked_ci_run(target, kind: str) -> PropertyCheck:
    test = test_matches_reference.test_masked_steps_match_reference
    check = PropertyCheck(property_id(test), kind, target.name)
    key = seeds.key(test.__module__, test.__name__, {LAYER_FIXTURE: kind})

    @seed(seeds.derive_seed(0, key))
    @seeds.seeded_settings(profile_settings("ci"), database=None)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        test.hypothesis.inner_test(target=target, layer_kind=kind, check=check, data=data)

    run()
    return check


def test_the_masked_property_passes_keras_masks_and_catches_a_state_lost_on_an_empty_row() -> None:
    assert _masked_ci_run(_MaskedTarget(restart_empty_rows=False), "LSTM").examples == 25
    with pytest.raises(AssertionError, match=r"stored state|masked output"):
        _masked_ci_run(_MaskedTarget(restart_empty_rows=True), "LSTM")
