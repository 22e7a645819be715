"""Proof that the front-layer composition properties bite: they fail on a broken model.

``properties/test_composition_front_layers.py`` obtains its models through the
module-level name ``front_model_runner``. Here it is swapped for one that wraps each
real ``FrontModel`` in a model that breaks one promise (the recurrent layer's state
zeroed before every call, the carried state handed to the wrong rows, a reset that
does nothing) or in a no-op wrapper. Each bite is differential
(``tests.property_runner.run_bite``): on the same example the property passes on the
no-op model and fails on the broken one, by a check whose label matches what the
break must trip, under every tolerance entry: the target's own and a pretend GPU's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from properties import test_composition_front_layers as front_layers
from tests.broken_targets import BrokenTarget, WrappedRunner
from tests.property_runner import assert_bitten, passes_on_real_target, real_target, run_bite
from tests.test_properties_bite import ENTRIES, skip_unless_judged_otherwise, under

# A break shows within the first few examples of the derandomized search; the budget
# only bounds a search that would fail.
MAX_EXAMPLES_TO_FALSIFY = 40
MAX_EXAMPLES_TO_PASS = 5
real_front_model_runner = front_layers.front_model_runner


class WrappedFrontModel:
    """Delegates everything to a real ``FrontModel``; subclasses break one behaviour."""

    def __init__(self, inner):
        self.inner = inner
        self.stateful = inner.stateful

    def __call__(self, x: np.ndarray):
        return self.inner(x)

    def chunkwise(self, chunks: Sequence[np.ndarray]):
        return self.inner.chunkwise(chunks)

    def states(self) -> list[np.ndarray]:
        return self.inner.states()

    def set_states(self, states: Sequence[np.ndarray]) -> None:
        self.inner.set_states(states)

    def reset(self) -> None:
        self.inner.reset()

    def set_weights(self, front_weights, weights) -> None:
        self.inner.set_weights(front_weights, weights)


class ZeroStartEachCall(WrappedFrontModel):
    """The recurrent layer's state is zeroed before every stateful call: never carried."""

    def __call__(self, x):
        if self.stateful:
            self.inner.set_states([np.zeros_like(s) for s in self.inner.states()])
        return self.inner(x)


class HandsStateToNextSample(WrappedFrontModel):
    """After each stateful call, sample i's state seeds sample i+1 (wrapping around)."""

    def __call__(self, x):
        out = self.inner(x)
        if self.stateful:
            self.inner.set_states([np.roll(s, 1, axis=0) for s in self.inner.states()])
        return out


class ResetDoesNothing(WrappedFrontModel):
    """Reset is a no-op."""

    def reset(self) -> None:
        pass


class FrontTarget(BrokenTarget):
    """A target whose front-layer models come wrapped in ``model_cls`` (see ``dispatch``)."""

    def __init__(self, inner, model_cls: type[WrappedFrontModel]):
        super().__init__(inner, WrappedRunner, model_cls.__name__)
        self.model_cls = model_cls


def dispatch(target, case, *, stateful):
    """``front_model_runner`` as the properties call it: the target's model class wraps it."""
    return target.model_cls(real_front_model_runner(real_target(target), case, stateful=stateful))


F = front_layers  # reached through the module: a module-level test_* would be collected here
CHUNKED_VS_WHOLE = r"(after the last chunk vs whole|chunked vs whole)"
AFTER_RESET = r"(right after reset|after reset vs a fresh)"
BITES = [
    (
        F.test_front_layer_then_stateful_rnn_chunked_equals_whole,
        ZeroStartEachCall,
        CHUNKED_VS_WHOLE,
    ),
    (
        F.test_front_layer_then_stateful_rnn_chunked_equals_whole,
        HandsStateToNextSample,
        CHUNKED_VS_WHOLE,
    ),
    (F.test_front_layer_then_stateful_rnn_reset_zeroes_the_state, ResetDoesNothing, AFTER_RESET),
]
PROPERTY_TESTS = sorted({prop for prop, _, _ in BITES}, key=lambda fn: fn.__name__)


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize(
    ("prop", "broken", "expect"),
    BITES,
    ids=[f"{p.__name__.removeprefix('test_')}-{b.__name__}" for p, b, _ in BITES],
)
def test_front_layer_property_fails_on_broken_model_and_passes_without_the_break(
    target, layer_kind, prop, broken, expect, entry, monkeypatch
):
    judged = under(target, entry)
    skip_unless_judged_otherwise("consistency", judged, target)
    monkeypatch.setattr(front_layers, "front_model_runner", dispatch)
    seen = run_bite(
        prop,
        baseline=FrontTarget(judged, WrappedFrontModel),
        broken=FrontTarget(judged, broken),
        layer_kind=layer_kind,
        expect=expect,
        max_examples=MAX_EXAMPLES_TO_FALSIFY,
    )
    assert_bitten(seen, broken.__name__, entry=entry)


@pytest.mark.parametrize("prop", PROPERTY_TESTS, ids=[fn.__name__ for fn in PROPERTY_TESTS])
def test_front_layer_property_passes_on_the_real_target(target, layer_kind, prop):
    evidence = passes_on_real_target(
        prop, target, layer_kind, max_examples=MAX_EXAMPLES_TO_PASS, known_may_pass=True
    )
    assert evidence.examples == MAX_EXAMPLES_TO_PASS
    assert evidence.sensitive_examples > 0  # the examples could have failed


def test_every_front_layer_test_has_a_bite():
    declared = {getattr(front_layers, n) for n in dir(front_layers) if n.startswith("test_")}
    assert declared == set(PROPERTY_TESTS)


def test_a_reproducer_replays_the_front_layer_tests_from_their_own_module():
    from harness.reproducers import property_module_path, replay_source

    for fn in PROPERTY_TESTS:
        path = property_module_path("composition", f"{fn.__name__}[LSTM]")
        assert path.name == "test_composition_front_layers.py"
        replay = replay_source(path.read_text(encoding="utf-8"), fn.__name__)
        assert f"replay_{fn.__name__}(target, layer_kind, check, example)" in replay
    assert property_module_path("composition", "test_stacked_reset_zeroes_every_layer").name == (
        "test_composition.py"
    )
