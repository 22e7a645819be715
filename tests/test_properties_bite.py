"""Proof that every property bites: it fails on a deliberately broken target.

Each property test is run, unchanged, against targets from ``broken_targets``
that break one promise, and must fail with a ``PropertyFailure``; on the real
target it wraps, the same property must pass — unless the real framework has a
reviewed known failure there, which this says instead of passing silently.
"""

import json

import pytest

from harness.check import PropertyCheck
from harness.errors import PropertyFailure
from harness.known_failures import (
    SHIPPED_KNOWN_FAILURES,
    find_known_failure,
    load_known_failures,
)
from harness.specs import LAYER_KINDS
from harness.targets.base import PATHS
from properties import (
    test_batch_size_mismatch_is_an_error as mismatch,
)
from properties import (
    test_chunked_equals_whole as chunked,
)
from properties import (
    test_initial_state_equals_carried_state as handover,
)
from properties import (
    test_matches_reference as reference,
)
from properties import (
    test_model_reset_states as model_reset,
)
from properties import (
    test_paths_agree as paths,
)
from properties import (
    test_refusal_leaves_model_intact as refusal,
)
from properties import (
    test_reset_restores_zero_state as reset,
)
from properties import (
    test_sample_i_continues_sample_i as sample_i,
)
from properties import (
    test_samples_independent_within_batch as within_batch,
)
from properties import (
    test_stateless_batches_independent as stateless,
)
from tests.broken_targets import broken
from tests.property_runner import Parametrized, property_id, run_property

ALL = LAYER_KINDS
LSTM_ONLY = ("LSTM",)
# Reached through their modules: a module-level name test_* would be collected here too.
CHUNKED = chunked.test_chunked_equals_whole
# (property test, broken behaviour, layer kinds on which that behaviour is a bug)
BITES = [
    (CHUNKED, "zero_start_each_call", ALL),
    (CHUNKED, "hands_state_to_next_sample", ALL),
    (CHUNKED, "scales_carried_state", ALL),
    (stateless.test_stateless_batches_independent, "stateless_remembers", ALL),
    (reset.test_reset_restores_zero_state, "reset_clears_first_state_only", LSTM_ONLY),
    (reset.test_reset_restores_zero_state, "reset_does_nothing", ALL),
    (reference.test_matches_reference, "transposed_recurrent_kernel", ALL),
    (reference.test_matches_reference, "scales_carried_state", ALL),
    (
        sample_i.test_permuted_rows_give_permuted_outputs_and_states,
        "hands_state_to_next_sample",
        ALL,
    ),
    (sample_i.test_a_row_continues_only_its_own_history, "hands_state_to_next_sample", ALL),
    (within_batch.test_samples_independent_within_batch, "leaks_batch_into_state", ALL),
    (handover.test_initial_state_equals_carried_state, "scales_carried_state", ALL),
    (handover.test_initial_state_equals_carried_state, "zero_start_each_call", ALL),
    *[
        (
            Parametrized(paths.test_state_evolves_through_one_path, path=path),
            "zero_start_each_call",
            ALL,
        )
        for path in PATHS
    ],
    (
        Parametrized(paths.test_state_evolves_through_one_path, path="predict"),
        "forgets_state_outside_call",
        ALL,
    ),
    (paths.test_state_evolves_the_same_through_mixed_paths, "forgets_state_outside_call", ALL),
    (paths.test_state_evolves_the_same_through_mixed_paths, "zero_start_each_call", ALL),
    (
        paths.test_one_predict_carries_state_from_batch_to_batch,
        "resets_between_predict_batches",
        ALL,
    ),
    (paths.test_stateless_fit_starts_every_sample_from_zero, "stateless_remembers", ALL),
    (mismatch.test_another_batch_size_is_refused, "accepts_any_batch_size", ALL),
    (mismatch.test_another_batch_size_is_refused, "zeroes_state_on_refusal", ALL),
    (mismatch.test_short_last_batch_in_predict_is_refused, "accepts_any_batch_size", ALL),
    (mismatch.test_short_last_batch_in_predict_is_refused, "zeroes_state_on_refusal", ALL),
    (model_reset.test_model_reset_states, "reset_does_nothing", ALL),
    *(
        (test, behaviour, ALL)
        for test in (
            refusal.test_a_refused_direct_call_leaves_weights_and_states_and_the_next_call_intact,
            refusal.test_a_refused_short_last_batch_leaves_the_model_intact,
            refusal.test_a_refused_wrong_feature_count_or_rank_leaves_the_model_intact,
        )
        for behaviour in ("corrupts_state_on_refusal", "unusable_after_refusal")
    ),
]
PROPERTY_TESTS = sorted(
    {fn.__name__: fn for fn, _, _ in BITES}.values(), key=lambda fn: fn.__name__
)
# Enough generated examples for each break to show; every break here is found
# within the first few dozen examples of the derandomized search.
MAX_EXAMPLES_TO_FALSIFY = 100
MAX_EXAMPLES_TO_PASS = 10
KNOWN_FAILURES = SHIPPED_KNOWN_FAILURES


def known_failure(target, prop, layer_kind):
    """The reviewed known failure of the real ``target`` for this property test, if any."""
    versions = dict(target.versions())
    return find_known_failure(
        load_known_failures(KNOWN_FAILURES),
        property_id=property_id(prop),
        layer=layer_kind,
        target=target.name,
        versions=versions,
        test=prop.__name__,
    )


@pytest.mark.parametrize(
    ("prop", "behaviour", "kinds"),
    BITES,
    ids=[f"{fn.__name__.removeprefix('test_')}-{b}" for fn, b, _ in BITES],
)
def test_property_fails_on_broken_target(target, layer_kind, prop, behaviour, kinds):
    if layer_kind not in kinds:
        pytest.skip(f"{behaviour} is not a bug for {layer_kind} (it has one state)")
    known = known_failure(target, prop, layer_kind)
    if known is not None:
        pytest.skip(
            f"the real {target.name} already fails here ({known.reason}); "
            "this bite is shown on the targets and layers where it passes"
        )
    with pytest.raises(PropertyFailure):
        run_property(
            prop, broken(target, behaviour), layer_kind, max_examples=MAX_EXAMPLES_TO_FALSIFY
        )


@pytest.mark.parametrize("prop", PROPERTY_TESTS, ids=[fn.__name__ for fn in PROPERTY_TESTS])
def test_property_passes_on_the_real_target(target, layer_kind, prop):
    known = known_failure(target, prop, layer_kind)
    if known is not None:
        # The real framework fails here: that is a finding, reviewed in harness/data/known_failures.toml.
        with pytest.raises(Exception):  # noqa: B017 - a failure or a framework crash
            run_property(prop, target, layer_kind, max_examples=MAX_EXAMPLES_TO_PASS)
        pytest.xfail(f"known failure of {target.name}: {known.reason}")
    evidence = run_property(prop, target, layer_kind, max_examples=MAX_EXAMPLES_TO_PASS)
    assert evidence.examples == MAX_EXAMPLES_TO_PASS


@pytest.mark.parametrize("behaviour", ["corrupts_state_on_refusal", "unusable_after_refusal"])
def test_short_last_batch_bites_where_short_batches_are_refused_up_front(
    target, layer_kind, behaviour
):
    # Every Keras 3 target fails this test for real (known failures), so the bites in
    # BITES are skipped there: here they are shown against the same target with its
    # short-batch refusals repaired, on which the property passes.
    prop = refusal.test_a_refused_short_last_batch_leaves_the_model_intact
    repaired = broken(target, "refuses_up_front")
    run_property(prop, repaired, layer_kind, max_examples=MAX_EXAMPLES_TO_PASS)
    with pytest.raises(PropertyFailure):
        run_property(
            prop, broken(target, behaviour), layer_kind, max_examples=MAX_EXAMPLES_TO_FALSIFY
        )


def test_every_property_module_has_a_bite():
    modules = {fn.__module__ for fn, _, _ in BITES}
    ids = {property_id(fn) for fn, _, _ in BITES}
    tests = {getattr(fn, "fn", fn) for fn, _, _ in BITES}
    for module in modules:
        import sys

        declared = {
            getattr(sys.modules[module], name)
            for name in dir(sys.modules[module])
            if name.startswith("test_")
        }
        assert declared <= tests, f"{module} has property tests with no bite: {declared - tests}"
    assert len(ids) == len(modules)


def test_failure_message_names_property_layer_target_location_and_tolerance(target):
    with pytest.raises(PropertyFailure) as excinfo:
        run_property(
            CHUNKED,
            broken(target, "zero_start_each_call"),
            "LSTM",
            max_examples=MAX_EXAMPLES_TO_FALSIFY,
            shrink=True,
        )
    message = str(excinfo.value)
    assert message.startswith(
        f"[chunked_equals_whole | LSTM | broken[zero_start_each_call]:{target.name}]"
    )
    assert "chunks [" in message
    assert "largest difference at (sample=" in message
    assert "timestep=" in message
    assert "rtol=1e-05, atol=1e-06" in message
    assert "actual=" in message
    assert "expected=" in message


def test_shrunk_counterexample_is_minimal_plain_data(target):
    evidence = PropertyCheck("chunked_equals_whole", "GRU", "broken")
    with pytest.raises(PropertyFailure):
        run_property(
            CHUNKED,
            broken(target, "zero_start_each_call"),
            "GRU",
            max_examples=MAX_EXAMPLES_TO_FALSIFY,
            shrink=True,
            check=evidence,
        )
    counterexample = json.loads(json.dumps(evidence.counterexample()))
    case = counterexample["case"]
    # Starting each call from zeros only shows with a second chunk, in a batch of one.
    assert len(case["splits"]) == 2
    assert case["batch_size"] == 1
    assert len(case["x"]) == 1
    assert len(case["x"][0]) == sum(case["splits"])
    # Where along time the runs part: the plot in the HTML report draws this.
    diff = counterexample["abs_diff_per_timestep"]
    assert len(diff) == sum(case["splits"])
    assert diff[0] == 0.0 and max(diff) > 0.0
