"""harness/cli/run.py: ``rnn-harness run`` end to end: the gate's exit codes, the reports,
reproducers, known failures, --precision and --no-shrink."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from tests.cli_helpers import REPO, RUN_ONE, run_cli
from tests.fake_property import known_failure_toml

# reproduce_<property>_<test>_<layer>_<target>.py, for RUN_ONE's one test
REPRODUCER = (
    "reproduce_reset_restores_zero_state_test_reset_restores_zero_state_SimpleRNN"
    "_keras3-tensorflow.py"
)


@pytest.fixture(scope="module")
def sabotaged_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("sabotaged")
    return run_cli([*RUN_ONE, "--out", str(out)], sabotage=True), out


def test_gate_passes_and_writes_all_four_formats_on_a_healthy_framework(tmp_path):
    result = run_cli([*RUN_ONE, "--out", str(tmp_path)], sabotage=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("report.json", "report.md", "report.html", "junit.xml"):
        assert (tmp_path / name).is_file()
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["passed"] == 1
    assert report["results"][0]["examples"] == 10  # the dev profile's max_examples
    assert "gate: pass" in result.stdout
    target = report["targets"][0]
    assert target["precision"] == "strict"  # the default
    assert target["device"] == target["device_details"]["kind"]
    assert target["device_details"]["precision_switches"]["tf.tensor_float_32_execution"] is False


def test_native_precision_is_passed_to_the_target_and_recorded(tmp_path):
    result = run_cli([*RUN_ONE, "--out", str(tmp_path), "--precision", "native"], sabotage=False)
    assert result.returncode == 0, result.stdout + result.stderr
    target = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["targets"][0]
    assert target["precision"] == "native"
    # native changes nothing: TensorFlow's own default (TF32 allowed) is what ran.
    assert target["device_details"]["precision_switches"]["tf.tensor_float_32_execution"] is True


def test_unknown_precision_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--precision", "tf32"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tf32'" in capsys.readouterr().err


def test_gate_fails_with_exit_1_when_keras_reset_is_broken(sabotaged_run):
    result, out = sabotaged_run
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    (row,) = report["results"]
    assert row["status"] == "failed"
    assert "state 0 right after reset" in row["message"]
    assert row["counterexample"]["reset_at"] >= 1
    assert row["reproducer"] == f"reproducers/{REPRODUCER}"
    assert "FAIL" in result.stdout


def test_generated_reproducer_reproduces_the_failure_and_only_that(sabotaged_run):
    _, out = sabotaged_run
    script = out / "reproducers" / REPRODUCER
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERAS_BACKEND", None)  # the script picks the backend it was recorded on
    broken = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import tests.sabotage as s, runpy; s.apply(); runpy.run_path({str(script)!r}, run_name='__main__')",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "REPRODUCED" in broken.stdout
    assert "state 0 right after reset" in broken.stdout  # the mismatch it replays
    healthy = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "NOT REPRODUCED" in healthy.stdout


def test_known_failure_turns_the_failure_into_a_pass_of_the_gate(tmp_path):
    reset = "reset_restores_zero_state"
    known = tmp_path / "kf.toml"
    known.write_text(
        known_failure_toml(
            reset,
            "SimpleRNN",
            reason="reset_state is a no-op (sabotaged)",
            check="state 0 right after reset",
        )
        + known_failure_toml("chunked_equals_whole", "LSTM", reason="not run here", check="x")
        + known_failure_toml(
            reset, "SimpleRNN", reason="a test that is gone", check="x", test="test_renamed"
        )
        + known_failure_toml(
            reset,
            "LSTM",
            keras="2.0.0",
            reason="another environment: not installed here",
            check="x",
        )
        + known_failure_toml(reset, "LSTM", reason="its layer was not part of this run", check="x"),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = run_cli([*RUN_ONE, "--out", str(out), "--known-failures", str(known)], sabotage=True)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [r["status"] for r in report["results"]] == ["known_failure"]
    # The project's file is applied with the reviewed one shipped in the package.
    shipped = str(REPO / "harness" / "data" / "known_failures.toml")
    assert report["known_failures"] == [shipped, str(known)]
    assert "kf.toml#2" not in result.stderr  # its property was not part of this run
    assert "kf.toml#3" in result.stderr and "matched no result" in result.stderr
    assert "kf.toml#4" not in result.stderr  # for versions other than those installed
    assert "kf.toml#5" not in result.stderr  # its layer was not part of this run


def test_no_shrink_keeps_the_first_counterexample_and_says_so(tmp_path):
    result = run_cli([*RUN_ONE, "--out", str(tmp_path), "--no-shrink"], sabotage=True)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["targets"][0]["shrink"] is False
    assert report["results"][0]["status"] == "failed"
    assert report["results"][0]["counterexample"] is not None
    # it stops at the first failure: no more examples than the profile's max_examples (10)
    assert report["results"][0]["examples"] <= 10
    assert "failures not shrunk" in (tmp_path / "report.md").read_text(encoding="utf-8")
