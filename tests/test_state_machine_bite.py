"""Proof that the state_machine property bites, and that its reproducer replays a program.

The state machine runs, unchanged, against targets from ``broken_targets`` (and a
few breaks of save/load and clone defined here) and must fail with a
``PropertyFailure``; on the real target it must pass, unless the real framework
has a reviewed known failure there, which this says instead of passing silently.
"""

from __future__ import annotations

import json
import runpy

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings

from harness.check import PropertyCheck
from harness.errors import PropertyFailure
from harness.known_failures import (
    SHIPPED_KNOWN_FAILURES,
    find_known_failure,
    load_known_failures,
)
from harness.reproducers import render_reproducer
from harness.targets.base import Target
from properties import test_state_machine as machine
from tests.broken_targets import BROKEN_RUNNERS, BrokenTarget, WrappedRunner

PROPERTY_ID = "state_machine"
# Enough programs for each break to show; every break here shows within the first
# few dozen programs of the derandomized search.
MAX_EXAMPLES_TO_FALSIFY = 100
MAX_EXAMPLES_TO_PASS = 10
KNOWN_FAILURES = SHIPPED_KNOWN_FAILURES


class Persisting(WrappedRunner):
    """Saves, loads and clones through the real runner; a clone keeps the break."""

    def save_weights(self, path: str) -> None:
        self.inner.save_weights(path)

    def load_weights(self, path: str) -> None:
        self.inner.load_weights(path)

    def clone(self) -> WrappedRunner:
        return type(self)(self.inner.clone(), self.target)


class CloneKeepsState(Persisting):
    """A clone starts from the original's states instead of zeros."""

    def clone(self) -> WrappedRunner:
        twin = super().clone()
        twin.inner.set_states(self.inner.states())
        return twin


class LoadIgnoresFile(Persisting):
    """load_weights silently does nothing: the model keeps the weights it had."""

    def load_weights(self, path: str) -> None:
        pass


class WeightsFileCarriesState(Persisting):
    """Saving also writes the states beside the weights, and loading restores them."""

    def save_weights(self, path: str) -> None:
        super().save_weights(path)
        np.savez(f"{path}.states.npz", *self.inner.states())

    def load_weights(self, path: str) -> None:
        super().load_weights(path)
        with np.load(f"{path}.states.npz") as saved:
            self.inner.set_states([saved[f"arr_{i}"] for i in range(len(saved.files))])


def persisting(label: str) -> type[WrappedRunner]:
    """The broken runner ``label`` of ``broken_targets``, able to save, load and clone."""
    base = BROKEN_RUNNERS[label]
    return type(f"Persisting{base.__name__}", (Persisting, base), {})


BREAKS: dict[str, type[WrappedRunner]] = {
    "zero_start_each_call": persisting("zero_start_each_call"),
    "scales_carried_state": persisting("scales_carried_state"),
    "reset_does_nothing": persisting("reset_does_nothing"),
    "forgets_state_outside_call": persisting("forgets_state_outside_call"),
    "clone_keeps_state": CloneKeepsState,
    "load_ignores_file": LoadIgnoresFile,
    "weights_file_carries_state": WeightsFileCarriesState,
}


def run(
    target: Target,
    layer_kind: str,
    *,
    max_examples: int,
    shrink: bool = False,
    check: PropertyCheck | None = None,
) -> PropertyCheck:
    """Run the state machine for ``max_examples`` derandomized programs on ``target``.

    Returns the evidence (``check``, or a new one); raises whatever the property
    raises, after shrinking when ``shrink`` is set. Pass your own ``check`` to read
    the failing program after a failure.
    """
    if check is None:
        check = PropertyCheck(PROPERTY_ID, layer_kind, target.name, on_example=target.new_example)
    base = settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.generate, Phase.shrink) if shrink else (Phase.generate,),
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    try:
        machine.run_state_machine(target, layer_kind, check, base)
    finally:
        target.clear()
    return check


@pytest.mark.parametrize("label", list(BREAKS))
def test_state_machine_fails_on_broken_target(target, layer_kind, label):
    broken = BrokenTarget(target, BREAKS[label], label)
    with pytest.raises(PropertyFailure):
        run(broken, layer_kind, max_examples=MAX_EXAMPLES_TO_FALSIFY)


def test_state_machine_passes_on_the_real_target(target, layer_kind):
    known = find_known_failure(
        load_known_failures(KNOWN_FAILURES),
        property_id=PROPERTY_ID,
        layer=layer_kind,
        target=target.name,
        versions=dict(target.versions()),
        test="test_state_machine",
    )
    if known is not None:
        # The real framework fails here: that is a finding, reviewed in harness/data/known_failures.toml.
        with pytest.raises(Exception):  # noqa: B017 - a failure or a framework crash
            run(target, layer_kind, max_examples=MAX_EXAMPLES_TO_PASS)
        pytest.xfail(f"known failure of {target.name}: {known.reason}")
    evidence = run(target, layer_kind, max_examples=MAX_EXAMPLES_TO_PASS)
    assert evidence.examples == MAX_EXAMPLES_TO_PASS


def test_shrunk_counterexample_is_the_whole_program_as_plain_data(target):
    broken = BrokenTarget(target, BREAKS["reset_does_nothing"], "reset_does_nothing")
    check = PropertyCheck(PROPERTY_ID, "GRU", broken.name, on_example=broken.new_example)
    with pytest.raises(PropertyFailure) as excinfo:
        run(broken, "GRU", max_examples=MAX_EXAMPLES_TO_FALSIFY, shrink=True, check=check)
    counterexample = json.loads(json.dumps(check.counterexample()))
    # A reset that does nothing shows with a state to lose, then the reset: two steps.
    program = counterexample["program"]
    assert [step["op"] for step in program][1:] == ["reset"]
    assert program[0]["op"] in ("feed", "predict", "set_states")
    message = str(excinfo.value)
    assert message.startswith(f"[state_machine | GRU | {broken.name}] stored state 0 after step 1")
    assert "rtol=0.0001, atol=2e-05" in message
    case = counterexample["case"]
    assert case["spec"]["kind"] == "GRU"
    assert len(case["weights"]) == (3 if case["spec"]["use_bias"] else 2)
    assert counterexample["tolerances"]["reference"] == {"rtol": 1e-4, "atol": 2e-5}


def test_reproducer_replays_the_program_and_reproduces_only_a_real_failure(
    target, tmp_path, monkeypatch, capsys
):
    from keras.src.layers.rnn.rnn import RNN

    # Break Keras itself (as tests/sabotage.py does), so the standalone script sees it too.
    monkeypatch.setattr(RNN, "reset_state", lambda self: None)
    check = PropertyCheck(PROPERTY_ID, "SimpleRNN", target.name, on_example=target.new_example)
    with pytest.raises(PropertyFailure):
        run(target, "SimpleRNN", max_examples=MAX_EXAMPLES_TO_FALSIFY, shrink=True, check=check)
    row = {
        "property": PROPERTY_ID,
        "test": "test_state_machine",
        "layer": "SimpleRNN",
        "target": target.name,
        "counterexample": check.counterexample(),
        "tolerance": check.tolerance.to_dict(),
    }
    script = tmp_path / "reproduce_state_machine.py"
    script.write_text(render_reproducer(row, target.info(), script.name), encoding="utf-8")

    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert exit_info.value.code == 1, out
    assert "stored state 0 after step 1 (reset)" in out
    assert "REPRODUCED: the property fails on this example" in out

    monkeypatch.undo()
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out
    assert "NOT REPRODUCED" in out and "REPRODUCED: the" not in out, out
