"""Reproducers: a script for every property test, derived from the test itself.

For each property test one real example is drawn on the session's target and its
reproducer rendered; the scripts then run outside the harness (from another
directory, with every ``harness`` module served from the script itself: an
import the script does not bundle fails). On a healthy framework a script must
say NOT REPRODUCED (exit 0) — unless the target has a reviewed known failure for
that test, which one drawn example may or may not hit. On a framework broken on
purpose, the same kind of script must reproduce (see ``test_cli_run``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.check import PropertyCheck
from harness.errors import HarnessUsageError
from harness.known_failures import (
    SHIPPED_KNOWN_FAILURES,
    find_known_failure,
    load_known_failures,
)
from harness.reproducers import render_reproducer, replay_source
from properties import test_state_machine as machine_module
from tests.broken_targets import PretendsGpu
from tests.property_runner import Parametrized, property_id, run_property

REPO = Path(__file__).resolve().parent.parent
RUNNER = """
import runpy, sys, json
codes = {}
for path in sys.argv[1:]:
    try:
        runpy.run_path(path, run_name="__main__")
        codes[path] = 0
    except SystemExit as exc:
        codes[path] = exc.code or 0
print("CODES " + json.dumps(codes))
"""


def property_tests():
    """Every @given property test, module by module; a parametrized one with its first values."""
    tests = []
    for path in sorted((REPO / "properties").glob("test_*.py")):
        module = importlib.import_module(f"properties.{path.stem}")
        for name in sorted(dir(module)):
            fn = getattr(module, name)
            if name.startswith("test_") and hasattr(fn, "hypothesis"):
                marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
                params = {m.args[0]: m.args[1][0] for m in marks}
                tests.append(Parametrized(fn, **params) if params else fn)
    return tests


def test_replay_is_the_tests_own_code_after_its_draws():
    source = (REPO / "properties" / "test_chunked_equals_whole.py").read_text()
    replay = replay_source(source, "test_chunked_equals_whole")
    assert replay.startswith("def replay(target, layer_kind, check, example):")
    assert "    case = example['case']\n    check.example(**example)\n" in replay
    assert "stateful = target.runner(spec, batch_size=case.batch_size, stateful=True)" in replay
    assert "data.draw" not in replay


def test_a_test_that_draws_after_check_example_is_refused_not_half_replayed():
    source = (
        "def test_x(target, layer_kind, check, data):\n"
        "    case = data.draw(cases())\n"
        "    check.example(case=case)\n"
        "    more = data.draw(cases())\n"
    )
    with pytest.raises(HarnessUsageError, match=r"draws after check\.example"):
        replay_source(source, "test_x")


def test_every_property_test_can_be_replayed():
    for fn in property_tests():
        source = Path(sys.modules[fn.__module__].__file__).read_text()
        replay_source(source, fn.__name__)  # raises for a test it cannot cut


def _row(prop, test, layer, target, check):
    return {
        "property": prop,
        "layer": layer,
        "target": target.name,
        "test": test,
        "counterexample": json.loads(json.dumps(check.counterexample())),
    }


def test_reproducers_recreate_real_examples_and_reproduce_only_known_failures(target, tmp_path):
    known = load_known_failures(SHIPPED_KNOWN_FAILURES)
    rows = []
    for fn in property_tests():
        prop, layer = property_id(fn), "LSTM"  # ConvLSTM1D tests run under LSTM only
        check = PropertyCheck(prop, layer, target.name, on_example=target.new_example)
        # cuDNN properties skip off a GPU: draw their example on a pass-through target that
        # says "gpu" (on a CPU, use_cudnn="auto" falls back and the script must agree).
        on = PretendsGpu(target) if prop == "cudnn_matches_generic" else target
        # A known framework failure may raise here; the example is recorded all the same.
        with contextlib.suppress(Exception, pytest.skip.Exception):
            run_property(fn, on, layer, max_examples=1, check=check)
        rows.append(_row(prop, fn.__name__, layer, target, check))
    check = PropertyCheck("state_machine", "LSTM", target.name, on_example=target.new_example)
    with contextlib.suppress(Exception):
        machine_module.run_state_machine(
            target, "LSTM", check, machine_module.settings(max_examples=1, database=None)
        )
    rows.append(_row("state_machine", "test_state_machine", "LSTM", target, check))

    scripts, expected = [], {}
    for row in rows:
        path = tmp_path / f"{row['property']}-{row['test']}.py"
        path.write_text(render_reproducer(row, target.info(), path.name), encoding="utf-8")
        scripts.append(str(path))
        expected[str(path)] = find_known_failure(
            known,
            property_id=row["property"],
            layer=row["layer"],
            target=target.name,
            versions=target.versions(),
            test=row["test"],
        )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, *scripts],
        capture_output=True,
        text=True,
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
        cwd=elsewhere,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    codes = json.loads(result.stdout.split("CODES ", 1)[1])
    for path, code in codes.items():
        if expected[path] is None:
            assert code == 0, (
                f"{Path(path).name} reproduced on a healthy target:\n{result.stdout[-4000:]}"
                f"\n{result.stderr[-4000:]}"
            )
    assert len(codes) == len(scripts) >= 30
    assert "is not bundled" not in result.stdout + result.stderr


def test_a_row_whose_reproducer_cannot_be_made_keeps_the_report_and_says_why(tmp_path):
    from harness.reproducers import write_reproducers

    row = {
        "property": "chunked_equals_whole",
        "test": "test_that_was_renamed",
        "layer": "LSTM",
        "target": "keras3-tensorflow",
        "status": "failed",
        "counterexample": {"x": 1, "_names": ["x"], "_types": {}},
    }
    report = {"targets": [], "results": [row]}
    assert write_reproducers(report, tmp_path) == 0
    assert "no test function 'test_that_was_renamed'" in row["details"]["reproducer_error"]
    assert row.get("reproducer") is None
