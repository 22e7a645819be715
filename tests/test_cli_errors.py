"""Bad input to ``rnn-harness``: one line on stderr, exit 2, before any work or framework.

Each case runs the installed console script in a process of its own, as a user
would, from an empty directory: stdout stays empty (nothing started), stderr
is exactly one line, with none of TensorFlow's absl/oneDNN start-up lines.
Validation imports no framework, so each case takes a fraction of a second;
only the model-dependent check-model case has to load Keras.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.errors import EXIT_USAGE
from tests.cli_helpers import REPO, one_row_report

SCRIPT = Path(sys.executable).with_name("rnn-harness")
COMMAND = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "harness"]
FRAMEWORK_CHATTER = ("absl", "oneDNN", "I0000", "W0000", "Traceback")
SPEC = str(REPO / "matrix" / "upgrade.toml")


def usage_error(args: list[str], cwd: Path, *, timeout: float = 60) -> str:
    """Run ``rnn-harness ARGS`` in ``cwd``; assert a one-line usage error; return the line."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run(
        [*COMMAND, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == EXIT_USAGE, result.stdout + result.stderr
    assert result.stdout == "", "work started before the error: " + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rnn-harness"), lines[0]
    assert not [word for word in FRAMEWORK_CHATTER if word in result.stderr], result.stderr
    return lines[0]


@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a directory", encoding="utf-8")
    return path


@pytest.fixture
def fake_model(tmp_path) -> Path:
    """A zip archive named .keras: it passes the file checks, and is never loaded when a
    check before Keras fails."""
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
    return path


# run


@pytest.mark.parametrize("workers", ["abc", "0", "-3", "1.5"])
def test_run_refuses_workers_that_are_not_a_positive_number_or_auto(tmp_path, workers):
    line = usage_error(["run", "-n", workers], tmp_path)
    assert f"Received: {workers!r}" in line and "-n auto" in line


def test_run_refuses_an_out_directory_under_a_file(tmp_path, a_file):
    line = usage_error(["run", "--out", str(a_file / "reports")], tmp_path)
    assert "--out" in line and "Not a directory" in line


def test_run_refuses_an_out_directory_that_is_a_file(tmp_path, a_file):
    line = usage_error(["run", "--out", str(a_file)], tmp_path)
    assert f"fails: {str(a_file)!r} is a file" in line


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs Linux's /proc")
def test_run_refuses_an_out_directory_that_cannot_be_created(tmp_path):
    line = usage_error(["run", "--out", "/proc/rnn-harness"], tmp_path)
    assert "--out '/proc/rnn-harness'" in line


def test_run_refuses_an_empty_out(tmp_path):
    line = usage_error(["run", "--out", ""], tmp_path)
    assert "--out is empty: expected a path" in line


def test_the_out_probe_leaves_no_directory_behind_after_another_error(tmp_path):
    usage_error(["run", "--out", str(tmp_path / "new" / "reports"), "--layers", "Dense"], tmp_path)
    assert not (tmp_path / "new").exists()


def test_run_refuses_an_option_given_twice(tmp_path):
    line = usage_error(["run", "--layers", "LSTM", "--layers=GRU"], tmp_path)
    assert "--layers given twice ('LSTM', then 'GRU'); give it once with a comma list" in line


def test_run_refuses_a_name_listed_twice(tmp_path):
    line = usage_error(["run", "--targets", "keras3-tensorflow,keras3-tensorflow"], tmp_path)
    assert "'keras3-tensorflow' named more than once" in line


def test_run_refuses_an_empty_comma_list(tmp_path):
    line = usage_error(["run", "--properties", " , "], tmp_path)
    assert "empty list" in line


def test_run_refuses_an_unknown_layer(tmp_path):
    line = usage_error(["run", "--layers", "LSTM,Dense"], tmp_path)
    assert "'Dense'" in line and "LSTM, GRU, SimpleRNN" in line


def test_run_refuses_an_unknown_target(tmp_path):
    line = usage_error(["run", "--targets", "keras4-mlx"], tmp_path)
    assert "'keras4-mlx'" in line and "keras3-jax" in line


def test_run_refuses_an_unknown_property(tmp_path):
    line = usage_error(["run", "--properties", "chunked_equals_hole"], tmp_path)
    assert "'chunked_equals_hole'" in line and "chunked_equals_whole" in line


def test_run_refuses_an_unknown_profile(tmp_path):
    line = usage_error(["run", "--profile", "fast"], tmp_path)
    assert "invalid choice: 'fast'" in line and "'ci'" in line


def test_run_refuses_a_seed_that_is_not_a_number(tmp_path):
    line = usage_error(["run", "--seed", "x"], tmp_path)
    assert "--seed='x' is not a seed" in line and "expected an integer" in line


def test_run_refuses_an_option_without_its_value(tmp_path):
    line = usage_error(["run", "--workers"], tmp_path)
    assert "expected one argument" in line and "rnn-harness run --help" in line


def test_run_refuses_a_missing_known_failures_file(tmp_path):
    line = usage_error(["run", "--known-failures", str(tmp_path / "none.toml")], tmp_path)
    assert "none.toml" in line


def test_run_refuses_a_malformed_known_failures_file(tmp_path):
    bad = tmp_path / "known.toml"
    bad.write_text("[[known_failure]\n", encoding="utf-8")
    line = usage_error(["run", "--known-failures", str(bad)], tmp_path)
    assert "not valid TOML" in line


# the command itself


def test_no_command_is_a_one_line_error(tmp_path):
    line = usage_error([], tmp_path)
    assert "required: COMMAND" in line


def test_an_unknown_command_names_the_commands(tmp_path):
    line = usage_error(["known"], tmp_path)
    assert "invalid choice: 'known'" in line and "'check-model'" in line


def test_an_unknown_argument_is_a_one_line_error(tmp_path):
    line = usage_error(["run", "--colour"], tmp_path)
    assert "unrecognized arguments: --colour" in line


# compare


def test_compare_needs_two_reports(tmp_path):
    line = usage_error(["compare", "old.json"], tmp_path)
    assert "required: new" in line


def test_compare_refuses_a_report_that_is_not_json(tmp_path):
    junk = tmp_path / "report.json"
    junk.write_text("{not json", encoding="utf-8")
    line = usage_error(["compare", str(junk), str(junk)], tmp_path)
    assert "is not JSON" in line


def test_compare_refuses_html_into_a_directory(tmp_path):
    report = tmp_path / "report.json"
    report.write_text(json.dumps(one_row_report("passed", "3.15.1")), encoding="utf-8")
    line = usage_error(["compare", str(report), str(report), "--html", str(tmp_path)], tmp_path)
    assert "--html" in line and "Received a directory" in line


def test_compare_refuses_html_under_a_file(tmp_path, a_file):
    report = tmp_path / "report.json"
    report.write_text(json.dumps(one_row_report("passed", "3.15.1")), encoding="utf-8")
    html = str(a_file / "c.html")
    line = usage_error(["compare", str(report), str(report), "--html", html], tmp_path)
    assert "--html" in line and f"fails: {str(a_file)!r} is a file" in line


# matrix (a check that failed to stop it would install environments: short timeouts)


def test_matrix_refuses_a_spec_that_is_not_text(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_bytes(b"\xf0\x28\x8c\x28")
    line = usage_error(["matrix", str(spec)], tmp_path)
    assert "cannot be read as UTF-8 TOML" in line


def test_matrix_refuses_malformed_toml(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text("profile = [\n", encoding="utf-8")
    line = usage_error(["matrix", str(spec)], tmp_path)
    assert "is not valid TOML" in line


@pytest.mark.parametrize("jobs", ["0", "two"])
def test_matrix_refuses_jobs_below_one(tmp_path, jobs):
    line = usage_error(["matrix", SPEC, "--jobs", jobs], tmp_path, timeout=30)
    assert f"--jobs: expected a whole number of at least 1. Received: {jobs!r}" in line


def test_matrix_refuses_an_out_directory_under_a_file(tmp_path, a_file):
    args = ["matrix", SPEC, "--out", str(a_file / "m"), "--cache", str(tmp_path / "cache")]
    line = usage_error(args, tmp_path, timeout=30)
    assert "--out" in line and "Not a directory" in line
    assert not (tmp_path / "cache").exists()


def test_matrix_refuses_a_cache_directory_under_a_file(tmp_path, a_file):
    args = ["matrix", SPEC, "--out", str(tmp_path / "m"), "--cache", str(a_file / "cache")]
    line = usage_error(args, tmp_path, timeout=30)
    assert "--cache" in line and "Not a directory" in line


# explain


def test_explain_refuses_two_reports(tmp_path):
    line = usage_error(["explain", "--report", "a.json", "--report", "b.json"], tmp_path)
    assert "--report given twice ('a.json', then 'b.json'); give it once." in line


def test_explain_refuses_a_report_that_is_not_a_report(tmp_path):
    report = tmp_path / "report.json"
    report.write_text("[]", encoding="utf-8")
    line = usage_error(["explain", "--report", str(report)], tmp_path)
    assert "not an rnn-harness report" in line


# check-model: every check that needs no model comes before Keras loads


def test_check_model_refuses_an_out_directory_under_a_file(tmp_path, a_file, fake_model):
    line = usage_error(["check-model", str(fake_model), "--out", str(a_file / "r")], tmp_path)
    assert "--out" in line and "Not a directory" in line


def test_check_model_refuses_a_file_keras_cannot_read_before_loading_keras(tmp_path):
    weights = tmp_path / "weights.npy"
    weights.write_bytes(b"\x93NUMPY")
    line = usage_error(["check-model", str(weights)], tmp_path)
    assert "expected a .keras file" in line and "'.npy'" in line


def test_check_model_refuses_data_that_is_not_a_numpy_file(tmp_path, fake_model):
    data = tmp_path / "data.npy"
    data.write_text("1,2,3\n", encoding="utf-8")
    line = usage_error(["check-model", str(fake_model), "--data", str(data)], tmp_path)
    assert "is not a NumPy array file" in line


def test_check_model_refuses_data_of_several_arrays(tmp_path, fake_model):
    import numpy as np

    data = tmp_path / "data.npz"
    np.savez(data, x=np.zeros((2, 4, 3)))
    line = usage_error(["check-model", str(fake_model), "--data", str(data)], tmp_path)
    assert "holds several arrays (.npz)" in line


def test_check_model_refuses_data_that_is_not_sequences(tmp_path, fake_model):
    import numpy as np

    data = tmp_path / "data.npy"
    np.save(data, np.zeros(5))
    line = usage_error(["check-model", str(fake_model), "--data", str(data)], tmp_path)
    assert "--data has shape (5,)" in line


def test_check_model_refuses_timesteps_that_are_not_a_number(tmp_path, fake_model):
    line = usage_error(["check-model", str(fake_model), "--timesteps", "many"], tmp_path)
    assert "--timesteps: invalid int value: 'many'" in line


def test_check_model_refuses_an_unknown_target(tmp_path, fake_model):
    line = usage_error(["check-model", str(fake_model), "--target", "tf-keras"], tmp_path)
    assert "Unknown target 'tf-keras'" in line


def test_check_model_error_found_in_the_model_has_no_framework_lines_before_it(tmp_path):
    """The one case that must load Keras: the data's shape is wrong for this model only."""
    make = (
        "import keras, numpy as np;"
        "keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(2)]).save('m.keras');"
        "np.save('d.npy', np.zeros((2, 5, 7), 'float32'))"
    )
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", make], cwd=tmp_path, env=env, check=True, timeout=300)
    line = usage_error(["check-model", "m.keras", "--data", "d.npy"], tmp_path, timeout=300)
    assert "--data has shape (2, 5, 7): expected (N, T, 3)" in line
