"""Proof that every property bites: it fails on a deliberately broken target.

Each property is run, unchanged, against targets from ``broken_targets`` that
break one promise, and must fail with a ``PropertyFailure``; on the real
target it wraps, the same property must pass.
"""

import json

import pytest

from harness.check import PropertyCheck
from harness.errors import PropertyFailure
from harness.specs import LAYER_KINDS
from properties import (
    test_chunked_equals_whole as chunked,
)
from properties import (
    test_matches_reference as reference,
)
from properties import (
    test_reset_restores_zero_state as reset,
)
from properties import (
    test_stateless_batches_independent as stateless,
)
from tests.broken_targets import broken
from tests.property_runner import run_property

ALL = LAYER_KINDS
# Reached through their modules: a module-level name test_* would be collected here too.
CHUNKED = chunked.test_chunked_equals_whole
STATELESS = stateless.test_stateless_batches_independent
RESET = reset.test_reset_restores_zero_state
REFERENCE = reference.test_matches_reference
# (property test, broken behaviour, layer kinds on which that behaviour is a bug)
BITES = [
    (CHUNKED, "zero_start_each_call", ALL),
    (CHUNKED, "hands_state_to_next_sample", ALL),
    (CHUNKED, "scales_carried_state", ALL),
    (STATELESS, "stateless_remembers", ALL),
    (RESET, "reset_clears_first_state_only", ("LSTM",)),
    (RESET, "reset_does_nothing", ALL),
    (REFERENCE, "transposed_recurrent_kernel", ALL),
    (REFERENCE, "scales_carried_state", ALL),
]
PROPERTIES = sorted({fn for fn, _, _ in BITES}, key=lambda fn: fn.__name__)
# Enough generated examples for each break to show; every break here is found
# within the first few dozen examples of the derandomized search.
MAX_EXAMPLES_TO_FALSIFY = 100
MAX_EXAMPLES_TO_PASS = 10


@pytest.mark.parametrize(
    ("prop", "behaviour", "kinds"),
    BITES,
    ids=[f"{fn.__name__.removeprefix('test_')}-{b}" for fn, b, _ in BITES],
)
def test_property_fails_on_broken_target(target, layer_kind, prop, behaviour, kinds):
    if layer_kind not in kinds:
        pytest.skip(f"{behaviour} is not a bug for {layer_kind} (it has one state)")
    with pytest.raises(PropertyFailure):
        run_property(
            prop, broken(target, behaviour), layer_kind, max_examples=MAX_EXAMPLES_TO_FALSIFY
        )


@pytest.mark.parametrize("prop", PROPERTIES, ids=[fn.__name__ for fn in PROPERTIES])
def test_property_passes_on_the_real_target(target, layer_kind, prop):
    evidence = run_property(prop, target, layer_kind, max_examples=MAX_EXAMPLES_TO_PASS)
    assert evidence.examples == MAX_EXAMPLES_TO_PASS


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
    case = json.loads(json.dumps(evidence.counterexample()))["case"]
    # Starting each call from zeros only shows with a second chunk, in a batch of one.
    assert len(case["splits"]) == 2
    assert case["batch_size"] == 1
    assert len(case["x"]) == 1
    assert len(case["x"][0]) == sum(case["splits"])
