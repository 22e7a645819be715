"""Proof that the checks of a stateful layer given an explicit ``initial_state`` bite.

``test_stateful_layer_given_initial_state`` and
``test_two_input_model_with_a_stateful_layer_saves_and_loads`` (in
properties/test_initial_state_equals_carried_state.py) run, unchanged, on the real target
through a no-op wrapper and on the same target with one promise broken: a stateful call
given ``initial_state`` that starts from its stored states instead, one that does not
store its final states, and a loaded model that ignores its initial-state input. Each
bite is differential (``tests.property_runner.run_bite``): on the very same example the
property passes on the baseline and fails on the break, by the check the break must trip.
The breaks wrap the two-input model too (``initial_state_model``) and survive its save
and load. Where the real target fails a test as a reviewed known failure says (JAX's
``predict`` stores no state), the baseline is the real target with that bug repaired
(``StoresWhatPredictReturns``), so the bite shows in that cell too.
"""

from __future__ import annotations

import pytest

from properties import test_initial_state_equals_carried_state as handover
from tests.broken_targets import BrokenTarget, WrappedRunner
from tests.property_runner import (
    Parametrized,
    assert_bitten,
    known_entries,
    passes_on_real_target,
    run_bite,
)

LAYER = handover.test_stateful_layer_given_initial_state
MODEL = handover.test_two_input_model_with_a_stateful_layer_saves_and_loads
# The property tests bitten here (tests/test_properties_bite.py counts them as bitten).
BITTEN = (LAYER, MODEL)
MAX_EXAMPLES_TO_FALSIFY = 20
MAX_EXAMPLES_TO_PASS = 5


class Passes(WrappedRunner):
    """The no-op wrapper, for layer runners and two-input models alike (``path`` only)."""

    def __call__(self, x, **kwargs):
        return self.inner(x, **kwargs)

    def save_and_load(self, directory: str) -> Passes:
        """The loaded model, wrapped the same way: a break survives saving."""
        return type(self)(self.inner.save_and_load(directory), self.target)


class IgnoresGivenInitialState(Passes):
    """A stateful call given ``initial_state`` starts from its stored states instead."""

    def __call__(self, x, *, initial_state=None, **kwargs):
        if self.stateful and initial_state is not None:
            initial_state = self.inner.states()
        return self.inner(x, initial_state=initial_state, **kwargs)


class KeepsStoredStateWhenGiven(Passes):
    """A stateful call given ``initial_state`` leaves its stored states as they were."""

    def __call__(self, x, *, initial_state=None, **kwargs):
        if not (self.stateful and initial_state is not None):
            return self.inner(x, initial_state=initial_state, **kwargs)
        before = self.inner.states()
        out = self.inner(x, initial_state=initial_state, **kwargs)
        self.inner.set_states(before)
        return out


class LoadsIntoIgnoringInitialState(Passes):
    """Saving and loading gives a model that ignores its initial-state input."""

    def save_and_load(self, directory: str) -> IgnoresGivenInitialState:
        return IgnoresGivenInitialState(self.inner.save_and_load(directory), self.target)


class StoresWhatPredictReturns(Passes):
    """A repair of JAX's known failure: a stateful model's ``predict`` stores the final
    states it returns, as its direct call does."""

    def __call__(self, x, **kwargs):
        out = self.inner(x, **kwargs)
        if self.stateful and kwargs.get("path") == "predict":
            self.inner.set_states(out.states)
        return out


class WrapsModels(BrokenTarget):
    """``BrokenTarget`` whose two-input models are wrapped like its runners."""

    def initial_state_model(self, spec, *, batch_size):
        model = self.inner.initial_state_model(spec, batch_size=batch_size)
        return self.runner_cls(model, self.inner)


CALL = "a stateful call given initial_state after chunk 0"
BITES = [
    (LAYER, IgnoresGivenInitialState, rf"^outputs of {CALL} vs a stateless call from it$"),
    (LAYER, KeepsStoredStateWhenGiven, rf"^stored state \d+ after {CALL} vs its final state$"),
    *(
        (Parametrized(MODEL, path=path), cls, expect.format(path=path))
        for path in ("call", "predict")
        for cls, expect in (
            (IgnoresGivenInitialState, r"^outputs of the saved two-input model's {path} "),
            (
                KeepsStoredStateWhenGiven,
                r"^stored state \d+ after the saved two-input model's {path} ",
            ),
            (LoadsIntoIgnoringInitialState, r"^outputs of the loaded two-input model's {path} "),
        )
    ),
]


@pytest.mark.parametrize(
    ("prop", "break_cls", "expect"),
    BITES,
    ids=[f"{p.__name__.removeprefix('test_')}-{cls.__name__}" for p, cls, _ in BITES],
)
def test_the_check_fails_on_the_break_and_passes_without_it(
    target, layer_kind, prop, break_cls, expect
):
    # Where the real target fails this test as a reviewed entry says (JAX's predict), the
    # baseline is the real target with that bug repaired, and the break goes on top of it.
    repaired = bool(known_entries(target, prop, layer_kind))
    if repaired:
        baseline = WrapsModels(target, StoresWhatPredictReturns, "stores what predict returns")
    else:
        baseline = WrapsModels(target, Passes, "no-op")
    seen = run_bite(
        prop,
        baseline=baseline,
        broken=WrapsModels(baseline, break_cls, break_cls.__name__),
        layer_kind=layer_kind,
        expect=expect,
        max_examples=MAX_EXAMPLES_TO_FALSIFY,
    )
    assert_bitten(seen, break_cls.__name__)
    assert seen.failure is not None and seen.failure.check is not None
    assert seen.failure.check.startswith(("outputs of ", "stored state "))


@pytest.mark.parametrize(
    "prop",
    [LAYER, Parametrized(MODEL, path="call"), Parametrized(MODEL, path="predict")],
    ids=lambda p: p.__name__,
)
def test_the_property_passes_on_the_real_target(target, layer_kind, prop):
    evidence = passes_on_real_target(
        prop,
        target,
        layer_kind,
        max_examples=MAX_EXAMPLES_TO_PASS,
        match=r"stored state \d+ after the saved",
    )
    assert evidence.examples == MAX_EXAMPLES_TO_PASS
    assert evidence.sensitive_examples == MAX_EXAMPLES_TO_PASS
