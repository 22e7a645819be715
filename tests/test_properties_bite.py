"""Proof that every property bites: it fails on a deliberately broken target, and only there.

Each property test runs, unchanged, against a target from ``broken_targets`` that
breaks one promise. A bite is differential (``tests.property_runner.run_bite``): on
the very same example the property passes on the baseline and fails on the break,
by a check whose label matches what the break must trip, never by a crash. The
baseline is the real target through a no-op wrapper, or, where the real target
fails that test as a reviewed known failure says, the real target with that bug
repaired (``broken_targets.REPAIRS``): bites are shown in known cells too.

Every bite runs under every tolerance entry of the backend under test: its own
(the CPU's here), and a pretend GPU's (the CPU's numbers judged by the GPU
entries, ``strict`` and ``native``). Under ``native`` a carried state scaled by
1.001 is below what the tolerance can see; its bite uses the detection floor
that ``harness.tolerance.detection_floor`` states, and every bite of a scaled
carried state is shown to catch it (the factor below it that slips past is a
measurement, ``scripts/measure_tolerances.py --only floor``, with its source).
"""

import json

import pytest

from harness.check import PropertyCheck
from harness.errors import HarnessUsageError, PropertyFailure
from harness.specs import LAYER_KINDS
from harness.targets.base import PATHS
from harness.tolerance import detection_floor
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
from tests import test_initial_state_on_stateful_bite as stateful_initial_state
from tests.broken_targets import (
    BROKEN_RUNNERS,
    REPAIRS,
    BrokenTarget,
    PretendsGpu,
    WrappedRunner,
    broken,
    scales_carried_state,
)
from tests.property_runner import (
    Parametrized,
    assert_bitten,
    known_entries,
    passes_on_real_target,
    property_id,
    run_bite,
    run_property,
)

ALL = LAYER_KINDS
LSTM_ONLY = ("LSTM",)
# Reached through their modules: a module-level name test_* would be collected here too.
CHUNKED = chunked.test_chunked_equals_whole
REFERENCE = reference.test_matches_reference
HANDOVER = handover.test_initial_state_equals_carried_state
# What the failing check of each property says (its PropertyFailure.check label).
VS_WHOLE = r"(chunked vs whole|vs whole output|after the last chunk vs whole|last chunk vs whole)"
STATEFUL_VS_REFERENCE = r"^stateful (chunked outputs|stored state \d+) vs reference"
VIA_PATH = r"(outputs after|loss reported by|stored state \d+ after) chunk \d+ via "
# A call that raised: "after the refused <call>" or "after the <call> (which raised <type>)".
REFUSED_STATE = r"^stored state \d+ after the (refused |.*\(which raised)"
# The next call fails where the twin's did not, or leaves other states than the twin's.
TWIN_RETURNED = r"(the twin returned normally|vs a twin's that never saw it)"
HANDED_OVER = r"from the state returned after chunk \d+ .* vs the stateful continuation"


class Bite:
    """One bite: a property test, the break, what its failure says, where it is a bug.

    ``repair`` names the baseline (``broken_targets.REPAIRS``) used where the real
    target fails this test as a reviewed known failure says; ``None``: no repair
    exists, and the bite is shown on the examples the real target passes.
    ``comparison``: the tolerance the expected check is judged by (``None``: no
    tolerance, the check fails or passes whatever the entry).
    """

    def __init__(
        self,
        prop,
        behaviour,
        expect,
        *,
        kinds=ALL,
        repair=None,
        comparison="consistency",
        below_native_floor=None,
    ):
        self.prop, self.behaviour, self.expect = prop, behaviour, expect
        self.kinds, self.repair, self.comparison = kinds, repair, comparison
        # Why the break is smaller than a GPU's native tolerance (its bite is shown under
        # the others), or None.
        self.below_native_floor = below_native_floor

    @property
    def id(self) -> str:
        return f"{self.prop.__name__.removeprefix('test_')}-{self.behaviour}"


ONE_PATH = paths.test_state_evolves_through_one_path
BITES = [
    Bite(CHUNKED, "zero_start_each_call", VS_WHOLE),
    Bite(CHUNKED, "hands_state_to_next_sample", VS_WHOLE),
    Bite(CHUNKED, "scales_carried_state", VS_WHOLE),
    Bite(CHUNKED, "eager_call_forgets_state", VS_WHOLE),
    Bite(stateless.test_stateless_batches_independent, "stateless_remembers", r"vs first call$"),
    Bite(
        reset.test_reset_restores_zero_state,
        "reset_clears_first_state_only",
        r"(state 1 right after reset|after reset vs a fresh layer)",
        kinds=LSTM_ONLY,
    ),
    Bite(
        reset.test_reset_restores_zero_state,
        "reset_does_nothing",
        r"(right after reset|after reset vs a fresh layer)",
    ),
    Bite(REFERENCE, "transposed_recurrent_kernel", r"vs reference", comparison="reference"),
    Bite(REFERENCE, "scales_carried_state", STATEFUL_VS_REFERENCE, comparison="reference"),
    Bite(REFERENCE, "eager_call_forgets_state", STATEFUL_VS_REFERENCE, comparison="reference"),
    Bite(
        reference.test_masked_steps_match_reference,
        "ignores_mask",
        r"masked .*vs reference",
        comparison="reference",
    ),
    Bite(
        sample_i.test_permuted_rows_give_permuted_outputs_and_states,
        "hands_state_to_next_sample",
        r"of permuted rows vs permuted",
    ),
    Bite(
        sample_i.test_a_row_continues_only_its_own_history,
        "hands_state_to_next_sample",
        r"^row's (outputs after the first chunk|final state \d+)",
    ),
    Bite(
        within_batch.test_samples_independent_within_batch,
        "leaks_batch_into_state",
        r"vs (the same rows of )?the full batch",
    ),
    *(
        Bite(HANDOVER, behaviour, HANDED_OVER)
        for behaviour in ("scales_carried_state", "zero_start_each_call")
    ),
    *(
        Bite(
            Parametrized(ONE_PATH, path=path),
            "zero_start_each_call",
            VIA_PATH + path,
            repair="trainer_paths_through_call",
            comparison="reference",
        )
        for path in PATHS
    ),
    Bite(
        Parametrized(ONE_PATH, path="predict"),
        "forgets_state_outside_call",
        VIA_PATH + "predict",
        repair="trainer_paths_through_call",
        comparison="reference",
    ),
    *(
        Bite(
            paths.test_state_evolves_the_same_through_mixed_paths,
            behaviour,
            VIA_PATH,
            repair="trainer_paths_through_call",
            comparison="reference",
        )
        for behaviour in ("forgets_state_outside_call", "zero_start_each_call")
    ),
    Bite(
        paths.test_one_predict_carries_state_from_batch_to_batch,
        "resets_between_predict_batches",
        r"^one predict over \d+ batches",
        repair="trainer_paths_through_call",
        comparison="reference",
    ),
    Bite(
        paths.test_stateless_fit_starts_every_sample_from_zero,
        "stateless_remembers",
        r"^stateless fit loss",
        comparison="reference",
    ),
    Bite(  # Keras 3.0-3.1's loss gets its own label, which its reviewed entry names
        paths.test_stateless_fit_starts_every_sample_from_zero,
        "unweighted_fit_loss",
        r"^stateless fit loss with batch_size=\d+ is the unweighted mean of its \d+ batches",
        comparison="reference",
        below_native_floor="the unweighted and the sample-weighted mean loss differ by "
        "about 1e-3 in most draws, below a GPU's native tolerance (unseen in 113 JAX examples)",
    ),
    Bite(
        mismatch.test_another_batch_size_is_refused,
        "accepts_any_batch_size",
        r"accepted \d+ samples silently",
        comparison=None,
    ),
    Bite(
        mismatch.test_another_batch_size_is_refused,
        "zeroes_state_on_refusal",
        r"^state \d+ after the (refused )?direct call",
        comparison="exact",
    ),
    # Its states start at zero, so a refusal that zeroes them changes nothing: the break
    # that matters is one that moves them before refusing (what TF and torch do).
    *(
        Bite(
            mismatch.test_short_last_batch_in_predict_is_refused,
            behaviour,
            expect,
            repair="refuses_up_front",
            comparison=comparison,
        )
        for behaviour, expect, comparison in (
            ("accepts_any_batch_size", r"accepted \d+ samples silently", None),
            ("advances_state_before_refusing", r"^state \d+ after the (refused )?predict", "exact"),
        )
    ),
    Bite(
        model_reset.test_model_reset_states,
        "reset_does_nothing",
        r"^state \d+ after the model-level reset",
        repair="model_reset_by_layers",
        comparison="exact",
    ),
    *(
        Bite(test, behaviour, expect, repair="refuses_up_front", comparison=comparison)
        for test in (
            refusal.test_a_refused_direct_call_leaves_weights_and_states_and_the_next_call_intact,
            refusal.test_a_refused_short_last_batch_leaves_the_model_intact,
            refusal.test_a_refused_wrong_feature_count_or_rank_leaves_the_model_intact,
        )
        for behaviour, expect, comparison in (
            ("corrupts_state_on_refusal", REFUSED_STATE, "exact"),
            ("unusable_after_refusal", TWIN_RETURNED, None),
        )
    ),
]
PROPERTY_TESTS = sorted(
    {b.prop.__name__: b.prop for b in BITES}.values(), key=lambda fn: fn.__name__
)
# Enough generated examples for each break to show; every break here is found
# within the first few dozen examples of the derandomized search.
MAX_EXAMPLES_TO_FALSIFY = 100
MAX_EXAMPLES_TO_PASS = 10
# The tolerance entries every bite runs under: the target's own, and a pretend GPU's.
ENTRIES = ("own", "pretend-gpu-strict", "pretend-gpu-native")


def under(target, entry: str):
    """``target`` judged by one tolerance entry; skips where the backend has no such entry."""
    if entry == "own":
        return target
    if target.device == "gpu":
        pytest.skip("a real GPU: its own entry is the GPU's")
    judged = PretendsGpu(target, precision=entry.removeprefix("pretend-gpu-"))
    try:
        judged.tolerance("consistency")
    except HarnessUsageError as exc:
        pytest.skip(f"no measured tolerance entry: {exc}")
    return judged


def skip_unless_judged_otherwise(comparison: str | None, judged, target) -> None:
    """Skip a bite under an entry that judges its check as the target's own entry does."""
    if judged is target:
        return
    if comparison is None:
        pytest.skip("its check is judged by no tolerance: the entry changes nothing")
    if judged.tolerance(comparison) == target.tolerance(comparison):
        pytest.skip(f"the entry's {comparison} tolerance is the target's own")


def break_under(bite: Bite, judged) -> str:
    """The break's label; a scaled carried state is scaled by the entry's detection floor."""
    if bite.behaviour != "scales_carried_state":
        return bite.behaviour
    factor = scale_for(judged)
    return f"scales_carried_state x{factor}" if factor != 1.001 else bite.behaviour


def scale_for(judged) -> float:
    """1.001 where the entry sees it; under an entry that does not, its detection floor."""
    floor = detection_floor(
        backend=judged.backend, device=judged.device, precision=judged.precision
    )
    return 1.001 if floor is None else floor.caught


def baseline_for(bite: Bite, judged, layer_kind: str) -> BrokenTarget:
    """The no-op wrapper, or the repair where the real target fails this test as known."""
    repaired = bite.repair is not None and known_entries(judged, bite.prop, layer_kind)
    cls = REPAIRS[bite.repair] if repaired else WrappedRunner
    return BrokenTarget(judged, cls, bite.repair if repaired else "no-op")


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("bite", BITES, ids=[b.id for b in BITES])
def test_property_fails_on_broken_target_and_passes_without_the_break(
    target, layer_kind, bite, entry
):
    if layer_kind not in bite.kinds:
        pytest.skip(f"{bite.behaviour} is not a bug for {layer_kind} (it has one state)")
    if entry == "pretend-gpu-native" and bite.below_native_floor:
        pytest.skip(f"{bite.behaviour} under the native tolerance: {bite.below_native_floor}")
    assert_bites(bite, target, layer_kind, entry)


# The properties that draw inputs beyond the case's own (``strategies.layer_inputs``)
# draw them spatial for a ConvLSTM: their bites run on one too, under the target's own
# entry (the entries differ in tolerances, which the layer kind does not change).
SPATIAL_KIND = "ConvLSTM1D"
SPATIAL_BITES = [
    b
    for b in BITES
    if property_id(b.prop)
    in (
        "batch_size_mismatch_is_an_error",
        "paths_agree",
        "refusal_leaves_model_intact",
        "sample_i_continues_sample_i",
        "stateless_batches_independent",
    )
]


@pytest.mark.parametrize("bite", SPATIAL_BITES, ids=[b.id for b in SPATIAL_BITES])
def test_property_fails_on_broken_target_with_spatial_inputs(target, bite):
    assert_bites(bite, target, SPATIAL_KIND, "own")


def assert_bites(bite: Bite, target, layer_kind: str, entry: str) -> None:
    """``bite`` shows on ``layer_kind`` under ``entry``: a differential ``run_bite``."""
    judged = under(target, entry)
    skip_unless_judged_otherwise(bite.comparison, judged, target)
    baseline = baseline_for(bite, judged, layer_kind)
    runner_cls = BROKEN_RUNNERS[bite.behaviour]
    if bite.behaviour == "scales_carried_state":
        runner_cls = scales_carried_state(scale_for(judged))
    breaks = BrokenTarget(baseline, runner_cls, break_under(bite, judged))
    seen = run_bite(
        bite.prop,
        baseline=baseline,
        broken=breaks,
        layer_kind=layer_kind,
        expect=bite.expect,
        max_examples=MAX_EXAMPLES_TO_FALSIFY,
    )
    assert_bitten(seen, bite.behaviour, entry=entry)


@pytest.mark.parametrize("prop", PROPERTY_TESTS, ids=[fn.__name__ for fn in PROPERTY_TESTS])
def test_property_passes_on_the_real_target(target, layer_kind, prop):
    evidence = passes_on_real_target(prop, target, layer_kind, max_examples=MAX_EXAMPLES_TO_PASS)
    assert evidence.examples == MAX_EXAMPLES_TO_PASS


@pytest.mark.parametrize("prop", [CHUNKED, REFERENCE], ids=["chunked", "reference"])
def test_a_carried_state_scaled_by_1_001_is_caught_under_the_cpu_entry(target, layer_kind, prop):
    if target.device != "cpu":
        pytest.skip("the CPU entry is the one asked about")
    seen = run_bite(
        prop,
        baseline=BrokenTarget(target, WrappedRunner, "no-op"),
        broken=broken(target, "scales_carried_state"),
        layer_kind=layer_kind,
        expect=VS_WHOLE if prop is CHUNKED else STATEFUL_VS_REFERENCE,
        max_examples=MAX_EXAMPLES_TO_FALSIFY,
    )
    assert BROKEN_RUNNERS["scales_carried_state"].factor == 1.001
    assert seen.bitten == 1


# The bites of a scaled carried state, as scripts/measure_tolerances.py measures their floor.
FLOOR_BITES = {
    "test_chunked_equals_whole": (CHUNKED, VS_WHOLE),
    "test_matches_reference": (REFERENCE, STATEFUL_VS_REFERENCE),
    "test_initial_state_equals_carried_state": (HANDOVER, HANDED_OVER),
}


def floor_bite(judged, prop, expect, layer_kind: str, factor: float):
    return run_bite(
        prop,
        baseline=BrokenTarget(judged, WrappedRunner, "no-op"),
        broken=BrokenTarget(judged, scales_carried_state(factor), f"x{factor}"),
        layer_kind=layer_kind,
        expect=expect,
        max_examples=MAX_EXAMPLES_TO_FALSIFY,
    )


@pytest.mark.parametrize("test_name", list(FLOOR_BITES))
def test_the_native_detection_floor_is_caught_by_every_bite(target, layer_kind, test_name):
    # The floor the report states for native GPU runs (harness.tolerance.DETECTION_FLOORS).
    judged = under(target, "pretend-gpu-native")
    floor = detection_floor(backend=judged.backend, device="gpu", precision="native")
    assert floor is not None, "a native GPU entry needs a stated detection floor"
    prop, expect = FLOOR_BITES[test_name]
    assert floor_bite(judged, prop, expect, layer_kind, floor.caught).bitten == 1


def test_every_property_module_has_a_bite():
    import sys

    modules = {b.prop.__module__ for b in BITES}
    ids = {property_id(b.prop) for b in BITES}
    tests = {getattr(b.prop, "fn", b.prop) for b in BITES} | set(stateful_initial_state.BITTEN)
    for module in modules:
        declared = {
            getattr(sys.modules[module], name)
            for name in dir(sys.modules[module])
            if name.startswith("test_")
        }
        assert declared <= tests, f"{module} has property tests with no bite: {declared - tests}"
    assert len(ids) == len(modules)


def test_a_crash_is_never_taken_for_a_bite(target):
    class Crashes(WrappedRunner):
        def __call__(self, x, **kwargs):
            raise RuntimeError("the break itself is broken")

    with pytest.raises(AssertionError, match="not by a check matching"):
        run_bite(
            CHUNKED,
            baseline=BrokenTarget(target, WrappedRunner, "no-op"),
            broken=BrokenTarget(target, Crashes, "crashes"),
            layer_kind="LSTM",
            expect=VS_WHOLE,
            max_examples=5,
        )


def test_a_failure_of_another_check_is_no_bite(target):
    with pytest.raises(AssertionError, match="not by a check matching"):
        run_bite(
            CHUNKED,
            baseline=BrokenTarget(target, WrappedRunner, "no-op"),
            broken=broken(target, "zero_start_each_call"),
            layer_kind="LSTM",
            expect=r"^a check this property does not have$",
            max_examples=MAX_EXAMPLES_TO_FALSIFY,
        )


def test_a_break_the_baseline_shares_is_no_bite(target):
    # The baseline itself broken as the break is: every failing example is the
    # baseline's own, never set aside as known, so the bite fails loudly.
    same = BrokenTarget(target, BROKEN_RUNNERS["zero_start_each_call"], "baseline-broken")
    with pytest.raises(AssertionError, match="no reviewed entry describes"):
        run_bite(
            CHUNKED,
            baseline=same,
            broken=BrokenTarget(same, WrappedRunner, "no-op"),
            layer_kind="LSTM",
            expect=VS_WHOLE,
            max_examples=MAX_EXAMPLES_TO_FALSIFY,
        )


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
    assert f"({target.tolerance('consistency')})" in message
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
