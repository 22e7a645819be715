"""Reproducers: a script for every property test, that recreates the example in plain Keras.

For each property test, one real example is drawn on the session's target and its
reproducer rendered; all scripts then run in one fresh process. On a healthy
framework a script must say NOT REPRODUCED (exit 0) — unless the target has a
reviewed known failure for that test, which one drawn example may or may not hit.
(The state machine's reproducer is run by tests/test_state_machine_bite.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

from harness.check import PropertyCheck
from harness.known_failures import find_known_failure, load_known_failures
from harness.reproducers import BODIES, render_reproducer, supports
from tests.broken_targets import PretendsGpu
from tests.property_runner import property_id, run_property

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
    import importlib

    tests = []
    for path in sorted((REPO / "properties").glob("test_*.py")):
        module = importlib.import_module(f"properties.{path.stem}")
        for name in sorted(dir(module)):
            fn = getattr(module, name)
            if (
                name.startswith("test_")
                and hasattr(fn, "hypothesis")
                and supports(property_id(fn), name)
            ):
                tests.append(fn)
    return tests


def test_every_reproducer_body_names_a_real_property_test():
    names = {f"{property_id(fn)}:{fn.__name__}" for fn in property_tests()}
    ids = {property_id(fn) for fn in property_tests()}
    for key in set(BODIES) - {"state_machine"}:  # not a @given test; see its bite tests
        assert key in names or key in ids, f"reproducer body {key!r} matches no property test"


def test_reproducers_recreate_real_examples_and_reproduce_only_known_failures(target, tmp_path):
    known = load_known_failures(REPO / "known_failures.toml")
    scripts, expected = [], {}
    for fn in property_tests():
        prop, layer = property_id(fn), "GRU"
        check = PropertyCheck(prop, layer, target.name, on_example=target.new_example)
        # cuDNN properties skip off a GPU: draw their example on a pass-through target that
        # says "gpu" (on a CPU, use_cudnn="auto" falls back and the script must agree).
        on = PretendsGpu(target) if prop == "cudnn_matches_generic" else target
        # A known framework failure may raise here; the example is recorded all the same.
        with contextlib.suppress(Exception):
            run_property(fn, on, layer, max_examples=1, check=check)
        row = {
            "property": prop,
            "layer": layer,
            "target": target.name,
            "test": fn.__name__,
            "counterexample": json.loads(json.dumps(check.counterexample())),
            "tolerance": check.tolerance.to_dict() if check.tolerance else None,
        }
        path = tmp_path / f"{prop}-{fn.__name__}.py"
        path.write_text(render_reproducer(row, target.info(), path.name), encoding="utf-8")
        scripts.append(str(path))
        entry = find_known_failure(
            known,
            property_id=prop,
            layer=layer,
            target=target.name,
            versions=target.versions(),
            test=fn.__name__,
        )
        expected[str(path)] = entry
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    env["KERAS_BACKEND"] = target.name.removeprefix("keras3-")
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, *scripts],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    codes = json.loads(result.stdout.split("CODES ", 1)[1])
    for path, code in codes.items():
        if expected[path] is None:
            assert code == 0, (
                f"{Path(path).name} reproduced on a healthy target:\n{result.stdout[-4000:]}"
            )
    assert len(codes) == len(scripts) >= 14
