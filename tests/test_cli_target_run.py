"""harness/cli/target_run.py: one target's pytest process, Ctrl-C, and rows for what never ran."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.cli import target_run
from harness.report.row import ResultRow
from tests.cli_helpers import REPO


def test_ctrl_c_writes_a_report_of_what_finished_and_exits_130(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTEST_ADDOPTS", None)
    targets, layers = ["keras3-tensorflow", "keras3-torch"], ["SimpleRNN", "LSTM", "GRU"]
    properties = ["reset_restores_zero_state", "chunked_equals_whole", "matches_reference"]
    args = ["run", "--profile", "dev", "--out", str(tmp_path)]
    args += ["--targets", ",".join(targets), "--layers", ",".join(layers)]
    args += ["--properties", ",".join(properties)]
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group, as a terminal's Ctrl-C reaches
        # A job started in the background (`cmd &` in a script, as CI may run us) inherits
        # SIGINT ignored, and Python then keeps ignoring it: give the run a terminal's default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    progress = tmp_path / "logs" / "keras3-tensorflow.progress.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and '"finish"' not in (
        progress.read_text(encoding="utf-8") if progress.exists() else ""
    ):
        time.sleep(0.2)
    # Twice, as `timeout -s INT` does (the process, then its group): the second must not
    # cut short the collection of what finished. The first target has 8 tests left and
    # the second has not started, so the run is surely still going.
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stdout + stderr
    assert "the report holds what finished; the rest is 'not run'" in stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    rows = report["results"]
    # nothing lost: a row for every cell; nothing invented: only passes and "not run"
    assert {(r["property"], r["layer"], r["target"]) for r in rows} == {
        (p, layer, t) for p in properties for layer in layers for t in targets
    }
    assert any(r["status"] == "passed" for r in rows)
    not_run = [r for r in rows if r["status"] != "passed"]
    assert not_run and all(r["status"] == "not_run" for r in not_run)
    assert all(r["message"].startswith("not run: the run was interrupted") for r in not_run)
    headline = (tmp_path / "report.md").read_text(encoding="utf-8").splitlines()[2]
    assert headline.startswith("**INCOMPLETE: ") and " 0 error, " in headline, headline


def test_pytest_runs_in_the_work_directory_with_absolute_paths(tmp_path, monkeypatch):
    """A checkout's harness/ (and its pytest config) near the caller must not shadow the
    installed package: pytest gets its own directory, config file and rootdir."""
    seen = {}

    class FakePopen:
        def __init__(self, command, **kwargs):
            seen["command"], seen["cwd"] = command, kwargs.get("cwd")
            seen["env"] = kwargs.get("env")
            self.returncode = 0

        def poll(self):
            return self.returncode

    monkeypatch.setattr(target_run.subprocess, "Popen", FakePopen)
    monkeypatch.chdir(tmp_path)
    target_run.run_target(
        "keras3-tensorflow",
        properties=["chunked_equals_whole"],
        layers=["LSTM"],
        profile="dev",
        seed=0,
        known_failures=[],
        workers="1",
        work=Path("reports") / "logs",  # relative, as the default --out gives it
    )
    work = tmp_path / "reports" / "logs"
    assert Path(seen["cwd"]) == work
    # pytest's config comes from the run, not from a pyproject.toml near the caller
    assert f"--config-file={work / 'pytest.ini'}" in seen["command"]
    assert f"--rootdir={work}" in seen["command"]
    for arg in seen["command"]:
        for prefix in ("--rnn-results=", "--rnn-progress="):
            if arg.startswith(prefix):
                assert Path(arg.removeprefix(prefix)).is_absolute(), arg
        if arg.endswith(".py"):
            assert Path(arg).is_absolute(), arg
    assert seen["env"]["KERAS_BACKEND"] == "tensorflow"  # the target's own backend


def test_rows_for_tests_that_never_ran_are_result_rows_named_by_the_property():
    payload = target_run.not_run_payload("keras3-jax", ["chunked_equals_whole"], ["GRU"], "strict")
    (row,) = payload["results"]
    assert ResultRow.from_dict(row).to_dict() == row  # a well-formed schema row
    assert row["test"] == "chunked_equals_whole"  # the test function is unknown
    assert (row["layer"], row["target"], row["status"]) == ("GRU", "keras3-jax", "not_run")
    assert row["message"] == "not run: the run was interrupted before this target started"
    assert payload["interrupted"] is True


def test_verdicts_printed_before_pytest_died_survive_an_interrupt(tmp_path, monkeypatch):
    """pytest killed after Ctrl-C, before writing its results: what it had finished stays,
    the rest is 'not run'."""
    work = tmp_path / "logs"
    work.mkdir()
    finish = {
        "event": "finish",
        "nodeid": "test_chunked_equals_whole.py::test_chunked_equals_whole[LSTM]",
        "property": "chunked_equals_whole",
        "layer": "LSTM",
        "status": "failed",
        "examples": 4,
        "duration_s": 1.5,
    }

    class InterruptedPopen:
        def __init__(self, command, **kwargs):
            # what the dying pytest had written (run_target clears stale files first)
            progress = work / "keras3-tensorflow.progress.jsonl"
            progress.write_text(json.dumps(finish) + "\n", encoding="utf-8")
            self.returncode = None

        def poll(self):
            raise KeyboardInterrupt

        def wait(self, timeout=None):
            self.returncode = -9
            return self.returncode

    monkeypatch.setattr(target_run.subprocess, "Popen", InterruptedPopen)
    monkeypatch.setattr(target_run.signal, "signal", lambda *_: None)  # keep this process's
    payload = target_run.run_target(
        "keras3-tensorflow",
        properties=["chunked_equals_whole"],
        layers=["LSTM", "GRU"],
        profile="dev",
        seed=0,
        known_failures=[],
        workers="1",
        work=work,
    )
    assert payload["interrupted"] is True
    kept, lost = payload["results"]
    assert ResultRow.from_dict(kept).to_dict() == kept
    assert (kept["layer"], kept["status"], kept["examples"], kept["duration_s"]) == (
        "LSTM",
        "failed",
        4,
        1.5,
    )
    assert kept["message"].startswith("pytest was stopped before writing its results")
    assert (lost["layer"], lost["status"]) == ("GRU", "not_run")
    assert lost["message"] == "not run: the run was interrupted before this test finished"


def test_an_interrupt_marks_every_collected_test_that_did_not_finish_not_run(tmp_path, monkeypatch):
    """pytest wrote its results after Ctrl-C: one test finished; the other collected tests of
    that cell and the cells it never collected read "not run", each test by its own name."""
    work = tmp_path / "logs"
    work.mkdir()
    tests = ["test_stacked_chunked_equals_whole", "test_unrolled_equals_rolled", "test_x[fit]"]
    collected = {
        "event": "collected",
        "tests": [
            {"nodeid": f"c.py::{t}[LSTM]", "property": "composition", "test": t, "layer": "LSTM"}
            for t in tests
        ],
    }
    finished = ResultRow("composition", tests[0], "LSTM", "keras3-tensorflow", "passed", 5)

    class InterruptedPopen:
        def __init__(self, command, **kwargs):
            progress = work / "keras3-tensorflow.progress.jsonl"
            progress.write_text(json.dumps(collected) + "\n", encoding="utf-8")
            results = {"target": {"name": "keras3-tensorflow"}, "results": [finished.to_dict()]}
            (work / "keras3-tensorflow.results.json").write_text(json.dumps(results))
            self.returncode = None

        def poll(self):
            raise KeyboardInterrupt

        def wait(self, timeout=None):
            self.returncode = 2
            return self.returncode

    monkeypatch.setattr(target_run.subprocess, "Popen", InterruptedPopen)
    monkeypatch.setattr(target_run.signal, "signal", lambda *_: None)
    payload = target_run.run_target(
        "keras3-tensorflow",
        properties=["composition"],
        layers=["LSTM", "GRU"],
        profile="dev",
        seed=0,
        known_failures="",
        workers="1",
        work=work,
    )
    statuses = {(r["test"], r["layer"]): r["status"] for r in payload["results"]}
    assert statuses == {
        (tests[0], "LSTM"): "passed",
        (tests[1], "LSTM"): "not_run",
        (tests[2], "LSTM"): "not_run",
        ("composition", "GRU"): "not_run",  # never collected: the property stands for its tests
    }
