"""Reuse that cannot be seen: every property gives the same rows with and without runner reuse.

A runner lives for one example at most (``Keras3Target.cached``); within an
example a property may ask for the same runner twice. Run every property test
over the same derandomized examples with reuse on and off, each backend in a
fresh process, and require identical results: status, example count, largest
error and message. A runner that carried anything from one use to the next
(states, metric trackers, optimizer iterations, compiled functions) would show
up as a difference here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = 3  # enough to draw several configurations and paths per test
SCRIPT = """
import contextlib, importlib, json, sys
from pathlib import Path
import pytest
from hypothesis import settings
from harness.check import PropertyCheck
from harness.targets.keras3 import Keras3Target
from tests.property_runner import property_id, run_property
from properties import test_state_machine as machine

class LeakyReuse(Keras3Target):
    # Broken on purpose: runners outlive their example and come back as they were left.

    def new_example(self):
        pass

    def cached(self, key, build):
        if key not in self._runners:
            self._runners[key] = build()
        return self._runners[key]


backend, examples, modes = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
results = {}
for mode in modes:
    if mode == "leaky":
        target = LeakyReuse(backend)
    else:
        target = Keras3Target(backend, cache=mode == "reuse")
    rows = {}
    for path in sorted(Path("properties").glob("test_*.py")):
        module = importlib.import_module(f"properties.{path.stem}")
        tests = [getattr(module, n) for n in sorted(dir(module)) if n.startswith("test_")]
        for fn in tests:
            check = PropertyCheck(
                path.stem.removeprefix("test_"), "LSTM", target.name,
                on_example=target.new_example,
            )
            try:
                if fn.__name__ == "test_state_machine":
                    base = settings(max_examples=examples, derandomize=True, database=None)
                    machine.run_state_machine(target, "LSTM", check, base)
                else:
                    run_property(fn, target, "LSTM", max_examples=examples, check=check)
                status, message = "passed", None
            except pytest.skip.Exception as exc:
                status, message = "skipped", str(exc)
            except Exception as exc:
                status, message = type(exc).__name__, str(exc)[:500]
            rows[fn.__name__] = [status, check.examples, check.max_abs_error, message]
    results[mode] = rows
print("RESULTS " + json.dumps(results))
"""


def run_every_property(backend: str, modes: str, tmp_path: Path) -> dict:
    """Rows per test for each runner mode (``reuse``, ``fresh``, ``leaky``) on ``backend``."""
    env = dict(os.environ, PYTHONPATH=str(REPO), KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["RNN_HARNESS_JAX_CACHE"] = str(tmp_path / "jax-cache")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, backend, str(EXAMPLES), modes],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.split("RESULTS ", 1)[1])


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_every_property_gives_the_same_rows_with_and_without_runner_reuse(backend, tmp_path):
    results = run_every_property(backend, "reuse,fresh", tmp_path)
    reused, fresh = results["reuse"], results["fresh"]
    assert len(reused) >= 30
    assert reused == fresh
    ran = [name for name, (status, *_rest) in reused.items() if status != "skipped"]
    assert len(ran) >= 25, reused


def test_the_comparison_sees_runners_that_outlive_their_example(tmp_path):
    results = run_every_property("torch", "fresh,leaky", tmp_path)
    fresh, leaky = results["fresh"], results["leaky"]
    differ = [name for name in fresh if fresh[name] != leaky[name]]
    assert differ, "runners carrying states from example to example went unnoticed"
