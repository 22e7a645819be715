"""The pytest plugin: inert in other projects; header, profiles under CI=true, target
validation, failure output, option values."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.known_failures import SHIPPED_KNOWN_FAILURES

REPO = Path(__file__).resolve().parent.parent
# A directory of property tests gives them their short fixture names in its conftest.
CONFTEST = "from harness.property_fixtures import check, layer_kind, target  # noqa: F401\n"


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
    assert f"rnn-harness: known failures: {SHIPPED_KNOWN_FAILURES}" in out
    assert (
        "replay with: pytest properties --target keras3-torch --rnn-layers=LSTM,GRU,SimpleRNN "
        "--rnn-precision strict --hypothesis-profile dev --rnn-seed " in out
    )


def test_the_replay_line_carries_paths_layers_known_failures_and_shrinking(tmp_path):
    own = tmp_path / "own known.toml"
    own.write_text("", encoding="utf-8")
    result = pytest_run(
        "--co",
        "properties/test_chunked_equals_whole.py",
        "--target",
        "keras3-torch",
        "--rnn-layers=GRU",
        f"--rnn-known-failures={own}",
        "--rnn-no-shipped-known-failures",
        "--rnn-no-shrink",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The dev profile draws a random seed each session; the line names the one it drew.
    assert re.search(
        r"replay with: pytest properties/test_chunked_equals_whole\.py --target keras3-torch "
        r"--rnn-layers=GRU --rnn-precision strict --hypothesis-profile dev --rnn-seed \d+ "
        + re.escape(f"--rnn-no-shipped-known-failures --rnn-known-failures='{own}'")
        + r" --rnn-no-shrink\n",
        result.stdout,
    ), result.stdout


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
    assert "hypothesis profile=ci (max_examples=25), seed=0 (each test and layer" in result.stdout


def test_an_explicit_seed_is_the_run_seed_and_the_replay_command_names_it():
    for option in ("--rnn-seed=7", "--hypothesis-seed=7"):
        result = pytest_run("--co", "properties", "--hypothesis-profile", "ci", option)
        assert "seed=7 (each test and layer" in result.stdout, result.stdout + result.stderr
        assert "--rnn-seed 7" in result.stdout


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
    from harness.report.model import exit_code, merge_payloads

    (tmp_path / "test_flaky_property.py").write_text(FLAKY_PROPERTY, encoding="utf-8")
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
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


# --- inert in another project ------------------------------------------------------------

# A project of a user's own, with rnn-harness installed: its own `target` and `check`
# fixtures, and a Hypothesis test that should run as Hypothesis runs it anywhere.
USER_CONFTEST = """
import pytest


@pytest.fixture
def target():
    return "the project's own target"


@pytest.fixture
def check():
    return "the project's own check"
"""
USER_TESTS = """
import json
import os
import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

DRAWN = []


def test_its_own_fixtures(target, check):
    assert target == "the project's own target"
    assert check == "the project's own check"


@given(st.integers())
def test_with_hypothesis(x):
    DRAWN.append(x)


def test_what_the_session_looked_like():
    def registered(name):
        try:
            return settings.get_profile(name).max_examples
        except InvalidArgument:
            return None

    seen = {
        "profile": settings.get_current_profile_name(),
        "max_examples": settings().max_examples,
        "derandomize": settings().derandomize,
        "examples_run": len(DRAWN),
        "registered": {name: registered(name) for name in ("ci", "dev", "thorough", "survey")},
        "environ": {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        "keras_imported": "keras" in sys.modules,
    }
    with open(os.environ["SEEN"], "w") as stream:
        json.dump(seen, stream)
"""


# What makes Hypothesis load its own `ci` profile (hypothesis._settings.is_in_ci).
HYPOTHESIS_CI_VARIABLES = (
    *("CI", "TF_BUILD", "BUILDKITE", "CIRCLECI", "CIRRUS_CI", "CODEBUILD_BUILD_ID"),
    *("GITHUB_ACTIONS", "GITLAB_CI", "HEROKU_TEST_RUN_ID", "TEAMCITY_VERSION"),
)


@pytest.mark.parametrize("ci", [False, True], ids=["local", "CI=true"])
def test_another_projects_session_is_left_as_pytest_and_hypothesis_make_it(tmp_path, ci):
    """The installed plugin (entry point pytest11) does nothing in a project that does not ask
    for it: Hypothesis's own default (or, under CI=true, its own ``ci``) profile, 100
    examples, the environment as given, the project's own fixtures."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (project / "conftest.py").write_text(USER_CONFTEST, encoding="utf-8")
    (project / "test_user.py").write_text(USER_TESTS, encoding="utf-8")
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RNN_HARNESS_", "KERAS_", "TF_", "PYTEST_", "PYTHONPATH"))
        and k not in HYPOTHESIS_CI_VARIABLES
    }
    environ["SEEN"] = str(tmp_path / "seen.json")
    if ci:
        environ["CI"] = "true"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-v"],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rnn-harness-0.1.0" in result.stdout  # the plugin is loaded
    assert "rnn-harness:" not in result.stdout  # no header of its own
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["profile"] == ("ci" if ci else "default")
    assert seen["max_examples"] == seen["examples_run"] == 100
    assert seen["derandomize"] is ci
    # Hypothesis's own `ci` profile (100 examples), not the harness's (25); no others.
    assert seen["registered"] == {"ci": 100, "dev": None, "thorough": None, "survey": None}
    assert seen["environ"] == {k: v for k, v in environ.items() if not k.startswith("PYTEST_")}
    assert seen["keras_imported"] is False


# --- option values --------------------------------------------------------------------------


def test_a_known_failures_path_as_a_separate_token_that_would_move_the_rootdir_is_refused(
    tmp_path,
):
    """pytest picks its rootdir and config file before it knows plugin options: a path
    given as a separate token elsewhere is taken for a test path. Refused with how to write
    it; in one token it is applied, added to the shipped file."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (elsewhere / "kf.toml").write_text("", encoding="utf-8")
    (project / "test_x.py").write_text("def test_x():\n    pass\n", encoding="utf-8")
    common = ["-m", "pytest", "--co", "-p", "no:cacheprovider", "test_x.py"]
    environ = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    environ.pop("PYTEST_ADDOPTS", None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *common, *args],
            cwd=project,
            env=environ,
            capture_output=True,
            text=True,
            timeout=600,
        )

    refused = run("--rnn-known-failures", "../elsewhere/kf.toml")
    assert refused.returncode == 4
    assert (
        "Write --rnn-known-failures=../elsewhere/kf.toml (one token)"
        in refused.stderr.strip().splitlines()[-1]
    ), refused.stderr
    applied = run("--rnn-known-failures=../elsewhere/kf.toml")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (
        f"rnn-harness: known failures: {SHIPPED_KNOWN_FAILURES}, {(elsewhere / 'kf.toml').resolve()}"
        in applied.stdout
    )
    assert f"rootdir: {project}" in applied.stdout
