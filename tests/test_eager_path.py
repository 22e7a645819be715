"""The path users run is the path checked: direct calls go through the eager ``layer(x)``.

On JAX the harness also compiles ``layer(x)`` and ``model(x)`` (``jax.jit`` under a
``StatelessScope``, the new states written back by the harness) for speed. A property
that ran only that path would check a path of the harness's own making, never the
eager call users make. ``EagerAndCompiled`` takes the two in turns, so both are
checked, and the hand-off between them. Shown here with a break of the eager call
alone (``eager_call_forgets_state``): the core properties fail on it, on every
backend; on JAX a harness that ran only its compiled path would have passed it.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.specs import LayerSpec, ModelSpec, RecurrentLayer
from harness.targets import jax_call
from harness.targets.keras3_models import model_runner
from properties import test_chunked_equals_whole as chunked
from properties import test_initial_state_equals_carried_state as handover
from properties import test_matches_reference as reference
from properties import test_reset_restores_zero_state as reset
from tests.broken_targets import BrokenTarget, WrappedRunner, broken
from tests.property_runner import run_bite, run_property

MAX_EXAMPLES = 100
# The core properties that carry a state through direct calls, and what their failing
# check says when a call does not keep its state.
CORE = [
    (chunked.test_chunked_equals_whole, r"vs whole"),
    (
        reference.test_matches_reference,
        r"^stateful (chunked outputs|stored state \d+) vs reference",
    ),
    (handover.test_initial_state_equals_carried_state, r"vs the stateful continuation"),
    (reset.test_reset_restores_zero_state, r"after reset vs a fresh layer"),
]


@pytest.mark.parametrize(("prop", "expect"), CORE, ids=[p.__name__ for p, _ in CORE])
def test_core_properties_fail_when_the_eager_call_forgets_the_state(
    target, layer_kind, prop, expect
):
    seen = run_bite(
        prop,
        baseline=BrokenTarget(target, WrappedRunner, "no-op"),
        broken=broken(target, "eager_call_forgets_state"),
        layer_kind=layer_kind,
        expect=expect,
        max_examples=MAX_EXAMPLES,
    )
    assert seen.bitten == 1, seen


def _jax_only(target) -> None:
    if target.backend != "jax" or not getattr(target, "compiled", False):
        pytest.skip("only JAX runs a compiled path of the harness's own beside the eager one")


def test_on_jax_a_harness_checking_only_its_compiled_path_would_miss_it(target, monkeypatch):
    _jax_only(target)
    monkeypatch.setattr(jax_call.EagerAndCompiled, "__call__", lambda self, x: self.compiled(x))
    evidence = run_property(
        chunked.test_chunked_equals_whole,
        broken(target, "eager_call_forgets_state"),
        "LSTM",
        max_examples=20,
    )
    assert evidence.examples == 20


def test_on_jax_both_paths_run_and_hand_the_state_to_each_other(target):
    _jax_only(target)
    before = {k: target.stats.get(k, 0) for k in ("eager_calls", "compiled_calls")}
    run_property(chunked.test_chunked_equals_whole, target, "GRU", max_examples=10)
    ran = {k: target.stats.get(k, 0) - v for k, v in before.items()}
    assert ran["eager_calls"] > 0 and ran["compiled_calls"] > 0, ran


def test_turns_alternate_and_the_first_input_decides_which_comes_first():
    seen = []
    turns = jax_call.EagerAndCompiled(
        lambda x: seen.append("eager"), lambda x: seen.append("compiled"), stats={}
    )
    x = np.zeros((2, 3, 1), np.float32)
    for _ in range(4):
        turns(x)
    assert seen in (["eager", "compiled"] * 2, ["compiled", "eager"] * 2)
    assert turns.stats == {"eager_calls": 2, "compiled_calls": 2}
    again = []
    replay = jax_call.EagerAndCompiled(
        lambda x: again.append("eager"), lambda x: again.append("compiled")
    )
    replay(x)
    assert again == seen[:1]  # a replayed example takes the same turns
    firsts = set()
    for k in range(16):
        order = []
        turns = jax_call.EagerAndCompiled(
            lambda x, o=order: o.append("eager"), lambda x, o=order: o.append("compiled")
        )
        turns(np.full((1, 1, 1), k, np.float32))
        firsts.add(order[0])
    assert firsts == {"eager", "compiled"}  # some examples start with each


def test_on_jax_a_stateful_model_carries_its_state_through_both_paths(target):
    _jax_only(target)
    spec = ModelSpec(
        layers=(RecurrentLayer(LayerSpec("GRU", units=3, features=2)),), dense_units=None
    )
    runner = model_runner(target, spec, batch_size=2, stateful=True)
    rng = np.random.default_rng(0)
    runner.set_weights([rng.normal(size=s).astype(np.float32) for s in spec.weight_shapes()])
    x = rng.normal(size=(2, 6, 2)).astype(np.float32)
    chunked_out = np.concatenate([runner(x[:, :3]).output, runner(x[:, 3:]).output], axis=1)
    assert runner._jit.stats == {"eager_calls": 1, "compiled_calls": 1}
    whole = model_runner(target, spec, batch_size=None, stateful=False)
    whole.set_weights(runner.get_weights())
    np.testing.assert_allclose(
        chunked_out, whole(x).output, **target.tolerance("consistency").to_dict()
    )
    target.new_example()
