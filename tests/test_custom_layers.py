"""A user's own layers: ``rnn-harness run --layer MODULE:NAME`` (harness/custom_layers.py).

One run on TensorFlow, dev profile, three properties, without shrinking: the correct
two-state cell of tests/custom_cells.py passes, and each broken one fails the property
its break is about (and the gate).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import assert_layer_passes
from harness.check_layer import layer_name
from harness.custom_layers import check_name, is_custom
from harness.errors import HarnessUsageError
from harness.layer_kinds import not_applicable

ROOT = Path(__file__).resolve().parents[1]
MODULE = "tests.custom_cells"
# layer -> the properties its break must fail (and no other of the three). Forgetting the
# second state between calls also shows after a reset: the chunks fed after it differ
# from one fresh run over them.
EXPECTED_FAILURES = {
    "make_good": set(),
    "make_mixing": {"samples_independent_within_batch"},
    "make_leaky_reset": {"reset_restores_zero_state"},
    "make_forgets_second": {"chunked_equals_whole", "reset_restores_zero_state"},
}


def test_names_are_checked_before_anything_runs(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert is_custom("tests.custom_cells:make_good") and not is_custom("LSTM")
    assert check_name("tests.custom_cells:make_good") == "tests.custom_cells:make_good"
    with pytest.raises(HarnessUsageError, match="expected MODULE:NAME"):
        check_name("make_good")
    with pytest.raises(HarnessUsageError, match="no module 'nowhere_at_all'"):
        check_name("nowhere_at_all:make")
    with pytest.raises(HarnessUsageError, match=r"defines no 'make_god'.*Did you mean: make_good"):
        check_name("tests.custom_cells:make_god")


def test_a_name_is_found_however_the_module_binds_it(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bound.py").write_text(
        "import keras as k\nfrom functools import partial as p\nclass Cell: ...\n"
        "try:\n    def guarded(units, **kw): ...\nexcept ImportError:\n    pass\n"
        "made = lambda units, **kw: None\nif True:\n    twice = made\n",
        encoding="utf-8",
    )
    for attr in ("k", "p", "Cell", "guarded", "made", "twice"):
        assert check_name(f"bound:{attr}")
    with pytest.raises(HarnessUsageError, match="defines no 'nope'"):
        check_name("bound:nope")
    # Where the source cannot tell (a star import, a module __getattr__), importing decides.
    (tmp_path / "starry.py").write_text("from os.path import *\n", encoding="utf-8")
    (tmp_path / "lazy.py").write_text("def __getattr__(name): ...\n", encoding="utf-8")
    assert check_name("starry:nope") and check_name("lazy:nope")


def test_properties_that_need_a_reference_skip_on_a_users_layer():
    assert "has none" in not_applicable("matches_reference", "m:f")
    assert not_applicable("chunked_equals_whole", "m:f") is None
    assert not_applicable("state_machine", "m:f") is None


def test_a_bad_layer_name_is_a_one_line_usage_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--layer", "nowhere_at_all:make"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "no module 'nowhere_at_all'" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "mycells.py").write_text("def make_layer(units, **kw): ...\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--layer", "mycells:nope"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "defines no 'nope'" in proc.stderr and "Traceback" not in proc.stderr


def test_a_correct_cell_passes_and_each_broken_one_fails_its_property(tmp_path):
    out = tmp_path / "report"
    layers = [arg for name in EXPECTED_FAILURES for arg in ("--layer", f"{MODULE}:{name}")]
    properties = sorted(set().union(*EXPECTED_FAILURES.values()))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--targets",
            "keras3-tensorflow",
            *layers,
            "--properties",
            ",".join(properties),
            "--profile",
            "dev",
            "--no-shrink",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # the gate fails
    rows = json.loads((out / "report.json").read_text())["results"]
    status = {(r["layer"], r["property"]): r["status"] for r in rows}
    assert sorted({layer for layer, _ in status}) == sorted(
        f"{MODULE}:{name}" for name in EXPECTED_FAILURES
    )
    for name, broken in EXPECTED_FAILURES.items():
        for prop in properties:
            want = "failed" if prop in broken else "passed"
            assert status[(f"{MODULE}:{name}", prop)] == want, (name, prop, status)


def test_check_layer_names_module_level_callables_only():
    from tests import custom_cells

    assert layer_name(custom_cells.make_good) == "tests.custom_cells:make_good"
    with pytest.raises(HarnessUsageError, match="cannot be imported by another process"):
        layer_name(lambda units, **kw: None)


def test_assert_layer_passes_raises_with_the_failed_row(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    with pytest.raises(AssertionError, match="failed samples_independent_within_batch"):
        assert_layer_passes(
            "tests.custom_cells:make_mixing",
            properties=["samples_independent_within_batch"],
            profile="dev",
            shrink=False,
            out=tmp_path / "report",
        )
