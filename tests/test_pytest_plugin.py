"""The pytest plugin: header, profiles under CI=true, target validation, failure output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def pytest_run(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    for key in ("PYTEST_ADDOPTS", "RNN_HARNESS_PROFILE", "CI"):
        environ.pop(key, None)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_header_tells_how_to_replay_target_versions_profile_and_seed():
    result = pytest_run("--co", "properties", "--target", "keras3-torch")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "rnn-harness: target=keras3-torch layers=LSTM,GRU,SimpleRNN" in out
    assert "rnn-harness: versions: keras 3." in out
    assert "hypothesis profile=dev (max_examples=10)" in out
    assert "precision=strict" in out
    assert (
        "replay with: pytest --target keras3-torch --rnn-precision strict "
        "--hypothesis-profile dev" in out
    )


def test_precision_comes_from_the_option_and_a_bad_one_is_a_usage_error():
    result = pytest_run("--co", "properties", "--rnn-precision", "native")
    assert "precision=native" in result.stdout, result.stdout + result.stderr
    result = pytest_run("--co", "properties", "--rnn-precision", "tf32")
    assert result.returncode == 4
    assert "--rnn-precision='tf32' is not a precision mode; expected one of strict, native" in (
        result.stderr
    )


def test_ci_true_does_not_swap_in_hypothesis_own_ci_profile():
    result = pytest_run("--co", "properties", CI="true")
    assert "hypothesis profile=dev (max_examples=10)" in result.stdout


def test_profile_comes_from_the_environment_variable():
    result = pytest_run("--co", "properties", CI="true", RNN_HARNESS_PROFILE="ci")
    assert "hypothesis profile=ci (max_examples=25), seed=derandomized" in result.stdout


def test_an_explicit_seed_replaces_derandomization():
    result = pytest_run(
        "--co", "properties", "--hypothesis-profile", "ci", "--hypothesis-seed", "7"
    )
    assert "seed=7" in result.stdout
    assert "--hypothesis-seed 7" in result.stdout


def test_unknown_profile_in_the_environment_is_a_usage_error():
    result = pytest_run("--co", "properties", RNN_HARNESS_PROFILE="fast")
    assert result.returncode == 4
    assert "RNN_HARNESS_PROFILE='fast' is not a profile" in result.stderr


def test_unknown_target_is_a_usage_error():
    result = pytest_run("--co", "properties", "--target", "keras3-mlx")
    assert result.returncode == 4
    assert "Unknown target 'keras3-mlx'" in result.stderr


def test_layers_option_selects_the_parametrized_layers():
    result = pytest_run("--co", "-q", "properties", "--rnn-layers", "GRU")
    assert result.returncode == 0
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    # The layer is each test's first parameter; other parameters (a path) follow it.
    assert ids and all(line.endswith("[GRU]") or "[GRU-" in line for line in ids)


def test_failing_property_prints_message_and_shrunk_counterexample():
    result = pytest_run(
        "properties/test_reset_restores_zero_state.py",
        "--target",
        "keras3-tensorflow",
        "--rnn-layers",
        "LSTM",
        "-p",
        "tests.sabotage",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "PropertyFailure: [reset_restores_zero_state | LSTM | keras3-tensorflow]" in out
    assert "state 0 right after reset" in out
    assert "largest difference at (sample=" in out
    # Hypothesis names the shrunk example "Falsifying example" or "Failing test case".
    assert "Falsifying example" in out or "Failing test case" in out
    assert "'case': Case(spec=LayerSpec(kind='LSTM'" in out


FLAKY_PROPERTY = """
import pytest
from hypothesis import given, strategies as st

pytestmark = pytest.mark.rnn_property("chunked_equals_whole")
CALLS = []


@given(x=st.integers(0, 10))
def test_fails_only_the_first_time(target, layer_kind, check, x):
    check.example(x=x)
    CALLS.append(x)
    if len(CALLS) == 1:
        check.fail("a failure that depends on what ran before")
"""


def test_a_failure_that_does_not_replay_is_flaky_and_fails_the_gate(tmp_path: Path):
    import json

    from harness.report.model import exit_code, merge_payloads

    (tmp_path / "test_flaky_property.py").write_text(FLAKY_PROPERTY, encoding="utf-8")
    results = tmp_path / "results.json"
    result = pytest_run(
        str(tmp_path / "test_flaky_property.py"),
        "--rnn-layers=LSTM",
        f"--rnn-results={results}",
        "-p",
        "no:randomly",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    payload = json.loads(results.read_text())
    (row,) = payload["results"]
    assert row["status"] == "flaky"
    assert row["test"] == "test_fails_only_the_first_time"
    assert "a failure that depends on what ran before" in str(row["details"]["first_run"])
    assert row["details"]["replay"]["outcome"].startswith("passed")
    assert exit_code(merge_payloads([payload], profile="dev", seed=None)) == 1
