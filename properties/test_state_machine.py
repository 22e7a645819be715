"""state_machine: random programs of operations agree with the reference after every step.

A Hypothesis ``RuleBasedStateMachine`` drives one stateful layer (a drawn spec,
batch size and weights) through a random program, and keeps a float64 model of
its state: the list of state arrays, starting at zeros.

- ``feed``: a chunk of 1..MAX_CHUNK_LENGTH steps through ``__call__``; outputs
  and new states equal ``run_reference`` from the modelled state.
- ``predict``: the same through ``model.predict``: same expectation.
- ``reset``: the framework's reset API; the modelled state becomes zeros.
- ``set_states``: drawn states assigned explicitly; the model becomes them.
- ``save_and_load``: ``save_weights`` to a ``.weights.h5`` file, then a fresh
  stateful model of the same spec (the framework's clone, its weights zeroed so
  that only ``load_weights`` can restore them) loads it and carries on. A
  weights file holds weights, not RNN state (Keras keeps the layer's states out
  of its saved variables), so the fresh model starts from the zero state:
  checked, not assumed, by the state comparison right after the switch. The
  loaded weights must equal the saved ones, and saving must not move the state.
- ``clone``: the framework's clone has the same weights and starts from the
  zero state, and cloning leaves the original's state alone; the program
  carries on with the clone.

After every step the stored states, and the outputs of a step that produced
them, are compared with the reference. The whole program is the counterexample:
``case`` (spec, batch size, weights; its ``x`` is a placeholder, the inputs are in
the program) and ``program``, one plain dict per step.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
from hypothesis import seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from harness.check import PropertyCheck
from harness.reference import keras_version_of, run_reference, zero_states
from harness.specs import Case
from harness.strategies import (
    MAX_CHUNK_LENGTH,
    batch_sizes,
    layer_inputs,
    layer_specs,
    layer_states,
    weights,
)
from harness.targets.base import Target

pytestmark = pytest.mark.rnn_property("state_machine")
# The build plus seven operations: enough for a save/load or a clone between fed chunks
# and a reset, while every run still builds a model or two; longer programs add time.
STEPS_PER_PROGRAM = 8


def state_machine(
    target: Target, layer_kind: str, check: PropertyCheck
) -> type[RuleBasedStateMachine]:
    """A state machine class whose runs drive stateful ``layer_kind`` layers of ``target``.

    Args:
        target: the framework target under test.
        layer_kind: ``"LSTM"``, ``"GRU"`` or ``"SimpleRNN"``.
        check: the evidence collector; each run is one example, its program the data.

    Example:
        >>> machine = state_machine(target, "GRU", check)  # doctest: +SKIP
        >>> run_state_machine_as_test(machine)  # doctest: +SKIP
    """
    reference_tol = target.tolerance("reference")
    keras = keras_version_of(target.versions())
    # Weights go through a file or a clone unchanged: the framework against itself.
    weights_tol = target.tolerance("consistency")

    class StatefulLayerMachine(RuleBasedStateMachine):
        @initialize(spec=layer_specs(kinds=[layer_kind]), batch_size=batch_sizes(), data=st.data())
        def build(self, spec, batch_size, data):
            self.spec, self.batch_size = spec, batch_size
            self.weights = data.draw(weights(spec), label="weights")
            self.runner = target.runner(spec, batch_size=batch_size, stateful=True)
            self.runner.set_weights(self.weights)
            self.expected = zero_states(spec, batch_size)
            self.program: list[dict] = []
            placeholder = np.zeros((batch_size, 1, *spec.input_shape), np.float32)
            case = Case(spec, batch_size, (1,), placeholder, self.weights)
            check.example(
                case=case,
                program=self.program,
                tolerances={"reference": reference_tol, "weights": weights_tol},
            )

        def where(self) -> str:
            """The last step and the program so far, for failure messages."""
            if not self.program:
                return "the build, before any step"
            ops = [f"{s['op']}({s['x'].shape[1]})" if "x" in s else s["op"] for s in self.program]
            return f"step {len(ops) - 1} ({ops[-1]}) of program [{', '.join(ops)}]"

        def run_chunk(self, op: str, path: str, data) -> None:
            length = data.draw(st.integers(1, MAX_CHUNK_LENGTH), label="chunk length")
            x = data.draw(
                layer_inputs(self.spec, batch_size=self.batch_size, timesteps=length),
                label="chunk",
            )
            self.program.append({"op": op, "x": x})
            ref = run_reference(
                self.spec, self.weights, x, initial_state=self.expected, keras_version=keras
            )
            self.expected = ref.states
            got = self.runner(x, path=path)
            check.assert_close(
                f"outputs after {self.where()}",
                actual=got.output,
                expected=ref.output(self.spec),
                tol=reference_tol,
            )
            if not self.spec.return_state:
                return
            if got.states is None:
                check.fail(f"{op} with return_state=True returned no states at {self.where()}")
            for i, (state, want) in enumerate(zip(got.states, ref.states, strict=True)):
                check.assert_close(
                    f"returned state {i} after {self.where()}",
                    actual=state,
                    expected=want,
                    tol=reference_tol,
                )

        def assert_states(self, runner, what: str) -> None:
            for i, (state, want) in enumerate(zip(runner.states(), self.expected, strict=True)):
                check.assert_close(
                    f"{what} state {i} after {self.where()}",
                    actual=state,
                    expected=want,
                    tol=reference_tol,
                )

        def assert_weights(self, runner, what: str) -> None:
            got = runner.get_weights()
            if len(got) != len(self.weights):
                check.fail(
                    f"{what} after {self.where()}: expected {len(self.weights)} weight arrays. "
                    f"Received: {len(got)}"
                )
            for i, (weight, want) in enumerate(zip(got, self.weights, strict=True)):
                check.assert_close(
                    f"{what} weight {i} after {self.where()}",
                    actual=weight,
                    expected=want,
                    tol=weights_tol,
                )

        @rule(data=st.data())
        def feed(self, data):
            self.run_chunk("feed", "call", data)

        @rule(data=st.data())
        def predict(self, data):
            self.run_chunk("predict", "predict", data)

        @rule()
        def reset(self):
            self.program.append({"op": "reset"})
            self.runner.reset()
            self.expected = zero_states(self.spec, self.batch_size)

        @rule(data=st.data())
        def set_states(self, data):
            states = data.draw(layer_states(self.spec, self.batch_size), label="states")
            self.program.append({"op": "set_states", "states": states})
            self.runner.set_states(states)
            self.expected = [s.astype(np.float64) for s in states]

        @rule()
        def save_and_load(self):
            self.program.append({"op": "save_and_load"})
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "layer.weights.h5")
                self.runner.save_weights(path)
                self.assert_states(self.runner, "saved model's")
                fresh = self.runner.clone()
                # Zeroed first, so that weights equal to the saved ones prove the load.
                fresh.set_weights([np.zeros_like(w) for w in self.weights])
                fresh.load_weights(path)
            self.assert_weights(fresh, "loaded model's")
            self.runner = fresh
            self.expected = zero_states(self.spec, self.batch_size)

        @rule()
        def clone(self):
            self.program.append({"op": "clone"})
            twin = self.runner.clone()
            self.assert_states(self.runner, "original's")
            self.assert_weights(twin, "clone's")
            self.runner = twin
            self.expected = zero_states(self.spec, self.batch_size)

        @invariant()
        def stored_states_match_reference(self):
            self.assert_states(self.runner, "stored")

    return StatefulLayerMachine


def run_state_machine(
    target: Target, layer_kind: str, check: PropertyCheck, base: settings
) -> PropertyCheck:
    """Run the state machine for ``base.max_examples`` programs; return the evidence.

    Args:
        target: the framework target under test.
        layer_kind: ``"LSTM"``, ``"GRU"`` or ``"SimpleRNN"``.
        check: the evidence collector; after a failure it holds the failing program.
        base: Hypothesis settings (a profile); the program length is set here.
    """
    machine = state_machine(target, layer_kind, check)
    # In a seeded run each test draws from its own seed (harness.seeds); imported here,
    # where the plugin runs, not in a reproducer that replays a recorded program.
    from harness.seeds import current_seed

    if current_seed() is not None:
        machine = seed(current_seed())(machine)
    run_state_machine_as_test(
        machine,
        settings=settings(
            base,
            stateful_step_count=STEPS_PER_PROGRAM,
            # One program, one message: comparison sites of one bug would otherwise come
            # back as an ExceptionGroup, which the report would file as a harness error.
            report_multiple_bugs=False,
        ),
    )
    return check


class _Recorded:
    """Stands in for Hypothesis's ``data`` in a replay: hands out recorded draws in order."""

    def __init__(self, values):
        self.values = list(values)

    def draw(self, strategy, label=None):
        return self.values.pop(0)


def replay_test_state_machine(target, layer_kind, check, example):
    """Replay a recorded program through the machine's own rules and invariant.

    Used by reproducers: ``example`` holds ``case`` (spec, batch size, weights) and
    ``program`` (one dict per step, as the machine recorded it).
    """
    case = example["case"]
    machine = state_machine(target, layer_kind, check)()
    machine.build(spec=case.spec, batch_size=case.batch_size, data=_Recorded([case.weights]))
    machine.stored_states_match_reference()
    for step in example["program"]:
        op = step["op"]
        if op in ("feed", "predict"):
            x = np.asarray(step["x"], dtype=np.float32)
            getattr(machine, op)(data=_Recorded([x.shape[1], x]))
        elif op == "set_states":
            states = [np.asarray(s, dtype=np.float32) for s in step["states"]]
            machine.set_states(data=_Recorded([states]))
        else:
            getattr(machine, op)()
        machine.stored_states_match_reference()


def test_state_machine(target, layer_kind, check):
    run_state_machine(target, layer_kind, check, settings())
