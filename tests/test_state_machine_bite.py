"""Proof that the state_machine property bites, and that its reproducer replays a program.

The state machine runs, unchanged, against targets from ``broken_targets`` (and a
few breaks of save/load and clone defined here). Each bite is differential: the
first program that fails on the break, by a check whose label matches what the
break must trip, is replayed step by step (``replay_test_state_machine``) on the
baseline, where it must pass. The baseline is the real target through a no-op
wrapper, or, where the real target fails the state machine as a reviewed known
failure says (JAX's predict never writes the state back), the real target with
that bug repaired. Every bite runs under every tolerance entry: the target's own
and a pretend GPU's. On the real target the machine must pass, unless the
framework has a reviewed known failure there, which this says instead.
"""

from __future__ import annotations

import json
import re
import runpy

import numpy as np
import pytest

from harness.check import PropertyCheck
from harness.errors import PropertyFailure
from harness.known_failures import recognise
from harness.reproducers import render_reproducer
from harness.targets.base import Target
from properties import test_state_machine as machine
from tests.broken_targets import (
    BROKEN_RUNNERS,
    BrokenTarget,
    TrainerPathsThroughCall,
    WrappedRunner,
    scales_carried_state,
)
from tests.property_runner import BiteError, known_entries, run_property
from tests.test_properties_bite import ENTRIES, SPATIAL_KIND, scale_for, under

PROPERTY_ID = "state_machine"
# Enough programs for each break to show; every break here shows within the first
# few dozen programs of the derandomized search.
MAX_EXAMPLES_TO_FALSIFY = 100
MAX_EXAMPLES_TO_PASS = 10


class CloneKeepsState(WrappedRunner):
    """A clone starts from the original's states instead of zeros."""

    def clone(self) -> WrappedRunner:
        twin = super().clone()
        twin.inner.set_states(self.inner.states())
        return twin


class LoadIgnoresFile(WrappedRunner):
    """load_weights silently does nothing: the model keeps the weights it had."""

    def load_weights(self, path: str) -> None:
        pass


class WeightsFileCarriesState(WrappedRunner):
    """Saving also writes the states beside the weights, and loading restores them."""

    def save_weights(self, path: str) -> None:
        super().save_weights(path)
        np.savez(f"{path}.states.npz", *self.inner.states())

    def load_weights(self, path: str) -> None:
        super().load_weights(path)
        with np.load(f"{path}.states.npz") as saved:
            self.inner.set_states([saved[f"arr_{i}"] for i in range(len(saved.files))])


# What the failing check of each break says: the step it shows at, and what is compared.
AFTER_STEP = r"^(outputs|returned state \d+|stored state \d+) after step \d+"
EXPECT = {
    "zero_start_each_call": AFTER_STEP,
    "scales_carried_state": AFTER_STEP,
    "reset_does_nothing": r"^stored state \d+ after step \d+ \(reset\)",
    "forgets_state_outside_call": r"^stored state \d+ after step \d+ \(predict",
    # save_and_load continues on a clone too (the framework's clone, then load_weights).
    "clone_keeps_state": r"^stored state \d+ after step \d+ \((clone|save_and_load)\)",
    "load_ignores_file": r"^loaded model's weight \d+ after step \d+ \(save_and_load\)",
    "weights_file_carries_state": r"^stored state \d+ after step \d+ \(save_and_load\)",
}

BREAKS: dict[str, type[WrappedRunner]] = {
    "zero_start_each_call": BROKEN_RUNNERS["zero_start_each_call"],
    "scales_carried_state": BROKEN_RUNNERS["scales_carried_state"],
    "reset_does_nothing": BROKEN_RUNNERS["reset_does_nothing"],
    "forgets_state_outside_call": BROKEN_RUNNERS["forgets_state_outside_call"],
    "clone_keeps_state": CloneKeepsState,
    "load_ignores_file": LoadIgnoresFile,
    "weights_file_carries_state": WeightsFileCarriesState,
}


def run(target: Target, layer_kind: str, **options) -> PropertyCheck:
    """The state machine on ``target``: ``run_property``'s derandomized programs and options."""
    return run_property(machine.run_state_machine, target, layer_kind, **options)


def baseline_for(judged: Target, layer_kind: str) -> BrokenTarget:
    """The no-op wrapper, or predict repaired where the real target fails here as known."""
    known = known_entries(judged, machine.test_state_machine, layer_kind)
    return BrokenTarget(judged, TrainerPathsThroughCall if known else WrappedRunner, "baseline")


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("label", list(BREAKS))
def test_state_machine_fails_on_broken_target_and_passes_without_the_break(
    target, layer_kind, label, entry
):
    assert_machine_bites(target, layer_kind, label, entry)


@pytest.mark.parametrize("label", list(BREAKS))
def test_state_machine_fails_on_broken_target_with_spatial_inputs(target, label):
    """Its chunks are drawn spatial for a ConvLSTM (see test_properties_bite.SPATIAL_KIND)."""
    assert_machine_bites(target, SPATIAL_KIND, label, "own")


def assert_machine_bites(target, layer_kind: str, label: str, entry: str) -> None:
    """The first program failing on ``label``'s break fails by its check, and passes the baseline."""
    judged = under(target, entry)
    baseline = baseline_for(judged, layer_kind)
    runner_cls = BREAKS[label]
    if label == "scales_carried_state":  # by the entry's detection floor where 1.001 is not seen
        runner_cls = scales_carried_state(scale_for(judged))
    broken = BrokenTarget(baseline, runner_cls, label)
    check = PropertyCheck(PROPERTY_ID, layer_kind, broken.name, on_example=broken.new_example)
    with pytest.raises(PropertyFailure) as failure:
        run(broken, layer_kind, max_examples=MAX_EXAMPLES_TO_FALSIFY, check=check)
    if not re.search(EXPECT[label], failure.value.check):
        raise BiteError(f"{label} failed another check: {failure.value.check}")
    # The failing program, replayed step by step on the baseline, passes there.
    program = {"case": check.example_data["case"], "program": check.example_data["program"]}
    replay = PropertyCheck(PROPERTY_ID, layer_kind, baseline.name, on_example=baseline.new_example)
    try:
        machine.replay_test_state_machine(baseline, layer_kind, replay, program)
    except Exception as exc:
        known = known_entries(judged, machine.test_state_machine, layer_kind)
        which = "a known failure" if recognise(known, exc) else "a failure no entry describes"
        raise BiteError(f"the failing program fails the baseline too ({which}): {exc}") from exc
    finally:
        baseline.clear()


def test_state_machine_passes_on_the_real_target(target, layer_kind):
    known = known_entries(target, machine.test_state_machine, layer_kind)
    if known:
        # The real framework fails here: that is a finding, reviewed in known_failures.toml.
        with pytest.raises(Exception):  # noqa: B017 - a failure or a framework crash
            run(target, layer_kind, max_examples=MAX_EXAMPLES_TO_PASS)
        pytest.xfail(f"known failure of {target.name}: {known[0].reason}")
    evidence = run(target, layer_kind, max_examples=MAX_EXAMPLES_TO_PASS)
    assert evidence.examples == MAX_EXAMPLES_TO_PASS


def test_shrunk_counterexample_is_the_whole_program_as_plain_data(target):
    baseline = baseline_for(target, "GRU")  # predict repaired where it is a known failure
    broken = BrokenTarget(baseline, BREAKS["reset_does_nothing"], "reset_does_nothing")
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
    assert str(target.tolerance("reference")) in message
    case = counterexample["case"]
    assert case["spec"]["kind"] == "GRU"
    assert len(case["weights"]) == (3 if case["spec"]["use_bias"] else 2)
    assert counterexample["tolerances"]["reference"] == target.tolerance("reference").to_dict()


def test_reproducer_replays_the_program_and_reproduces_only_a_real_failure(
    target, tmp_path, monkeypatch, capsys
):
    from keras.src.layers.rnn.rnn import RNN

    known = known_entries(target, machine.test_state_machine, "SimpleRNN")
    if known:
        # The script replays the real framework: its own known failure would show first.
        pytest.skip(f"the real {target.name} fails the state machine already: {known[0].reason}")

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
