"""The command line: usage errors exit 2 in one line, the gate's exit codes, reproducers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import cli

REPO = Path(__file__).resolve().parent.parent
RUN_ONE = [
    "run",
    "--targets",
    "keras3-tensorflow",
    "--properties",
    "reset_restores_zero_state",
    "--layers",
    "SimpleRNN",
    "--profile",
    "dev",
]


def usage_error(capsys, argv: list[str]) -> str:
    """Run the CLI in-process; assert exit 2 with one line on stderr; return that line."""
    assert cli.main(argv) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("rnn-harness: error: ")
    return lines[0]


def test_unknown_target_is_a_usage_error_listing_the_valid_ones(capsys):
    line = usage_error(capsys, ["run", "--targets", "keras4-mlx"])
    assert "'keras4-mlx'" in line
    assert "keras3-tensorflow, keras3-jax, keras3-torch" in line


def test_unknown_property_is_a_usage_error(capsys):
    line = usage_error(capsys, ["run", "--properties", "chunked_equals_whole,nope"])
    assert "'nope'" in line


def test_catalogue_property_without_a_module_is_a_usage_error_naming_what_exists(
    capsys, monkeypatch
):
    monkeypatch.setattr(cli, "implemented_properties", lambda: ["chunked_equals_whole"])
    line = usage_error(capsys, ["run", "--properties", "state_machine"])
    assert "state_machine not implemented" in line
    assert "Available: chunked_equals_whole" in line


def test_unknown_layer_is_a_usage_error(capsys):
    line = usage_error(capsys, ["run", "--layers", "LSTM,Dense"])
    assert "'Dense'" in line


def test_target_whose_framework_is_missing_says_how_to_install_it(capsys, monkeypatch):
    monkeypatch.setattr(cli, "installed_targets", lambda **_: ["keras3-tensorflow"])
    line = usage_error(capsys, ["run", "--targets", "keras3-jax"])
    assert "needs 'jax', which is not installed" in line
    assert "pip install 'rnn-harness[jax]'" in line


def test_missing_known_failures_file_is_a_usage_error(capsys, tmp_path):
    line = usage_error(capsys, ["run", "--known-failures", str(tmp_path / "nope.toml")])
    assert "does not exist" in line


def test_malformed_known_failures_file_is_a_usage_error(capsys, tmp_path):
    bad = tmp_path / "kf.toml"
    bad.write_text("[[known_failure]\nproperty = ", encoding="utf-8")
    line = usage_error(capsys, ["run", "--known-failures", str(bad)])
    assert "is not valid TOML" in line


def test_known_failure_naming_an_unknown_property_is_a_usage_error(capsys, tmp_path):
    bad = tmp_path / "kf.toml"
    bad.write_text(
        '[[known_failure]]\nproperty = "chunked"\nlayer = "*"\ntarget = "*"\nreason = "x"\n',
        encoding="utf-8",
    )
    line = usage_error(capsys, ["run", "--known-failures", str(bad)])
    assert "unknown property 'chunked'" in line


def test_compare_of_a_missing_report_is_a_usage_error(capsys, tmp_path):
    usage_error(capsys, ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])


def test_compare_of_a_file_that_is_not_a_report_is_a_usage_error(capsys, tmp_path):
    junk = tmp_path / "a.json"
    junk.write_text("{not json", encoding="utf-8")
    usage_error(capsys, ["compare", str(junk), str(junk)])


def _report(status: str, keras: str) -> dict:
    from harness.report import merge_payloads

    row = {
        "property": "chunked_equals_whole",
        "layer": "LSTM",
        "target": "keras3-tensorflow",
        "status": status,
        "examples": 3,
        "duration_s": 0.1,
    }
    target = {"name": "keras3-tensorflow", "versions": {"keras": keras}, "device": "cpu"}
    return merge_payloads([{"target": target, "results": [row]}], profile="ci", seed=0)


def test_compare_exits_1_when_an_upgrade_breaks_a_property(capsys, tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_report("passed", "3.14.0")), encoding="utf-8")
    new.write_text(json.dumps(_report("failed", "3.15.1")), encoding="utf-8")
    assert cli.main(["compare", str(old), str(new), "--html", str(tmp_path / "c.html")]) == 1
    markdown = capsys.readouterr().out
    assert "3.14.0" in markdown and "3.15.1" in markdown
    assert "chunked_equals_whole" in markdown
    assert (tmp_path / "c.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert cli.main(["compare", str(new), str(old)]) == 0


def _run_cli(args: list[str], *, sabotage: bool) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTEST_ADDOPTS", None)
    if sabotage:
        env["PYTEST_ADDOPTS"] = "-p tests.sabotage"
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def sabotaged_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("sabotaged")
    return _run_cli([*RUN_ONE, "--out", str(out)], sabotage=True), out


def test_gate_passes_and_writes_all_four_formats_on_a_healthy_framework(tmp_path):
    result = _run_cli([*RUN_ONE, "--out", str(tmp_path)], sabotage=False)
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
    result = _run_cli([*RUN_ONE, "--out", str(tmp_path), "--precision", "native"], sabotage=False)
    assert result.returncode == 0, result.stdout + result.stderr
    target = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["targets"][0]
    assert target["precision"] == "native"
    # native changes nothing: TensorFlow's own default (TF32 allowed) is what ran.
    assert target["device_details"]["precision_switches"]["tf.tensor_float_32_execution"] is True


def test_unknown_precision_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--precision", "tf32"])
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
    assert row["reproducer"] == (
        "reproducers/reproduce_reset_restores_zero_state_SimpleRNN_keras3-tensorflow.py"
    )
    assert "FAIL" in result.stdout


def test_generated_reproducer_reproduces_the_failure_and_only_that(sabotaged_run):
    _, out = sabotaged_run
    script = out / "reproducers/reproduce_reset_restores_zero_state_SimpleRNN_keras3-tensorflow.py"
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
    assert "MISMATCH state 0 right after reset" in broken.stdout
    healthy = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "NOT REPRODUCED" in healthy.stdout


def test_known_failure_turns_the_failure_into_a_pass_of_the_gate(tmp_path):
    known = tmp_path / "kf.toml"
    known.write_text(
        '[[known_failure]]\nproperty = "reset_restores_zero_state"\nlayer = "SimpleRNN"\n'
        'target = "keras3-tensorflow"\nversions = { keras = ">=3.0" }\n'
        'reason = "reset_state is a no-op (sabotaged)"\n'
        '[[known_failure]]\nproperty = "chunked_equals_whole"\nlayer = "*"\n'
        'target = "keras3-tensorflow"\nreason = "not run here"\n'
        '[[known_failure]]\nproperty = "reset_restores_zero_state"\nlayer = "LSTM"\n'
        'target = "keras3-tensorflow"\nreason = "matches nothing in this run"\n'
        '[[known_failure]]\nproperty = "reset_restores_zero_state"\nlayer = "LSTM"\n'
        'target = "keras3-tensorflow"\nversions = { keras = "==2.0.0" }\n'
        'reason = "another environment: not installed here"\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = _run_cli([*RUN_ONE, "--out", str(out), "--known-failures", str(known)], sabotage=True)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [r["status"] for r in report["results"]] == ["known_failure"]
    assert "kf.toml#2" not in result.stderr  # its property was not part of this run
    assert "kf.toml#3" in result.stderr and "matched no result" in result.stderr
    assert "kf.toml#4" not in result.stderr  # for versions other than those installed


def test_explain_without_a_report_says_to_run_first(capsys, tmp_path):
    line = usage_error(capsys, ["explain", "--report", str(tmp_path / "none.json")])
    assert "Run `rnn-harness run` first" in line


def test_explain_answers_from_a_real_report(capsys, tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps(_report("passed", "3.15.1")), encoding="utf-8")
    assert cli.main(["explain", "--report", str(path)]) == 0
    text = capsys.readouterr().out
    assert "In stateful mode, what is carried between batches" in text
    assert "chunked_equals_whole held for LSTM over 3 examples" in text


def test_no_shrink_keeps_the_first_counterexample_and_says_so(tmp_path):
    result = _run_cli([*RUN_ONE, "--out", str(tmp_path), "--no-shrink"], sabotage=True)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["targets"][0]["shrink"] is False
    assert report["results"][0]["status"] == "failed"
    assert report["results"][0]["counterexample"] is not None
    # it stops at the first failure: no more examples than the profile's max_examples (10)
    assert report["results"][0]["examples"] <= 10
    assert "failures not shrunk" in (tmp_path / "report.md").read_text(encoding="utf-8")


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
    assert "the report holds what finished" in stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    rows = report["results"]
    # nothing lost: a row for every cell; nothing invented: only passes and "not run"
    assert {(r["property"], r["layer"], r["target"]) for r in rows} == {
        (p, layer, t) for p in properties for layer in layers for t in targets
    }
    assert any(r["status"] == "passed" for r in rows)
    not_run = [r for r in rows if r["status"] != "passed"]
    assert not_run and all(r["status"] == "error" for r in not_run)
    assert all(r["message"].startswith("not run: the run was interrupted") for r in not_run)


def test_pytest_runs_in_the_work_directory_with_absolute_paths(tmp_path, monkeypatch):
    """A checkout's harness/ (and its pytest config) near the caller must not shadow the
    installed package: pytest gets its own directory, config file and rootdir."""
    seen = {}

    class FakePopen:
        def __init__(self, command, **kwargs):
            seen["command"], seen["cwd"] = command, kwargs.get("cwd")
            self.returncode = 0

        def poll(self):
            return self.returncode

    monkeypatch.setattr(cli.subprocess, "Popen", FakePopen)
    monkeypatch.chdir(tmp_path)
    cli.run_target(
        "keras3-tensorflow",
        properties=["chunked_equals_whole"],
        layers=["LSTM"],
        profile="dev",
        seed=0,
        known_failures="",
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
