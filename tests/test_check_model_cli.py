"""harness.check_model.cli and report: the reports and gate of ``run``; bad input exits 2 in one line.

The command is driven in-process through its own argparse subparser
(``add_check_model_parser``), exactly as ``rnn-harness`` dispatches it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from harness.check_model.cli import add_check_model_parser
from harness.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from harness.report.model import SCHEMA
from harness.report.row import ResultRow

MAX_EXAMPLES = "6"  # the command's plumbing is under test here; test_check_model_check.py the check


def check_model_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rnn-harness")
    sub = parser.add_subparsers(dest="command", required=True)
    add_check_model_parser(sub)
    args = parser.parse_args(["check-model", *argv])
    return args.func(args)


def usage_error(capsys, argv: list[str]) -> str:
    """Run check-model; assert exit 2 with one line on stderr and no traceback; return it."""
    assert check_model_cli(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert lines[0].startswith("rnn-harness: error: ")
    return lines[0]


def save(model, path: Path) -> str:
    model.save(path)
    return str(path)


def lstm_model(name: str = "streamer"):
    import keras

    inputs = keras.Input((None, 2))
    x = keras.layers.LSTM(4, return_sequences=True)(inputs)
    return keras.Model(inputs, keras.layers.TimeDistributed(keras.layers.Dense(1))(x), name=name)


def read_report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def test_streamable_model_exits_0_with_the_reports_of_run(target, tmp_path, capsys):
    model = save(lstm_model(), tmp_path / "model.keras")
    out = tmp_path / "out"
    code = check_model_cli(
        [model, "--batch-size", "2", "--max-examples", MAX_EXAMPLES, "--out", str(out)]
    )
    stdout = capsys.readouterr().out
    assert code == EXIT_OK, stdout
    assert "verdict: streamable" in stdout
    report = read_report(out)
    assert report["schema"] == SCHEMA  # the schema of `rnn-harness run` reports
    assert report["profile"] == "ci"
    assert report["seed"] == 0
    assert [t["name"] for t in report["targets"]] == [target.name]
    assert report["targets"][0]["versions"]["keras"].startswith("3.")
    (row,) = report["results"]
    assert row["property"] == "streaming_equals_whole"
    assert row["test"] == "check_model"
    assert row["layer"] == "streamer"
    assert row["target"] == target.name
    assert row["status"] == "passed"
    assert row["examples"] >= int(MAX_EXAMPLES)
    assert isinstance(row["max_abs_error"], float)
    assert row["tolerance"] == {"rtol": 1e-5, "atol": 1e-6}
    assert row["message"] is None and row["counterexample"] is None
    assert row["reproducer"] is None
    assert [d["verdict"] for d in row["details"]["diagnosis"]] == ["streams", "streams"]
    assert ResultRow.from_dict(row).to_dict() == row
    assert report["summary"]["passed"] == 1
    for name in ("report.md", "report.html", "junit.xml"):
        assert (out / name).is_file(), name
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "streaming_equals_whole" in markdown
    # Replay: the check-model command with this check's options, not `rnn-harness run`
    assert f"rnn-harness check-model {model} --target {target.name} --batch-size 2" in markdown
    assert f"--max-examples {MAX_EXAMPLES}" in markdown and "rnn-harness run" not in markdown


def test_non_streamable_model_exits_1_with_the_diagnosis_and_no_examples(target, tmp_path, capsys):
    import keras

    inputs = keras.Input((None, 2))
    gru = keras.layers.GRU(3, return_sequences=True)
    x = keras.layers.Bidirectional(gru, name="both_ways")(inputs)
    model = save(keras.Model(inputs, x, name="bidi"), tmp_path / "bidi.keras")
    out = tmp_path / "out"
    assert check_model_cli([model, "--out", str(out)]) == EXIT_FAILED
    stdout = capsys.readouterr().out
    assert "verdict: not streamable" in stdout
    assert "needs the future" in stdout
    (row,) = read_report(out)["results"]
    assert row["status"] == "failed"
    assert row["details"]["verdict"] == "not streamable"
    assert row["examples"] == 0
    assert "both_ways (Bidirectional)" in row["message"]
    assert "<failure" in (out / "junit.xml").read_text(encoding="utf-8")


def test_numeric_failure_exits_1_and_writes_a_reproducer_beside_the_report(
    target, tmp_path, capsys
):
    import keras

    inputs = keras.Input((None, 2))
    x = keras.layers.Conv1D(2, 3, padding="causal")(inputs)
    x = keras.layers.GRU(2, return_sequences=True)(x)
    model = save(keras.Model(inputs, x, name="causal"), tmp_path / "causal.keras")
    out = tmp_path / "out"
    argv = [model, "--force", "--max-examples", MAX_EXAMPLES, "--out", str(out)]
    assert check_model_cli(argv) == EXIT_FAILED
    stdout = capsys.readouterr().out
    assert "verdict: streaming differs from whole" in stdout
    assert "first diverging timestep" in stdout
    (row,) = read_report(out)["results"]
    assert row["status"] == "failed"
    assert row["counterexample"]["divergence"]
    assert row["reproducer"] == (
        f"reproducers/reproduce_streaming_equals_whole_causal_{target.name}.py"
    )
    script = (out / row["reproducer"]).read_text(encoding="utf-8")
    assert f"MODEL_PATH = {str(Path(model).resolve())!r}" in script
    assert row["reproducer"] in (out / "report.md").read_text(encoding="utf-8")


def test_unsafe_opts_in_to_a_lambda_model(target, tmp_path, capsys):
    import keras

    inputs = keras.Input((None, 2))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.SimpleRNN(2, return_sequences=True)(x)
    model = save(keras.Model(inputs, x, name="lam"), tmp_path / "lam.keras")
    out = tmp_path / "out"
    code = check_model_cli([model, "--unsafe", "--max-examples", "3", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == EXIT_OK, stdout
    (row,) = read_report(out)["results"]
    lam = [d for d in row["details"]["diagnosis"] if d["class_name"] == "Lambda"]
    assert lam[0]["verdict"] == "unknown"


# --- usage errors: one line on stderr, exit 2, never a traceback -----------------------------


def test_missing_model_file(capsys, tmp_path):
    line = usage_error(capsys, [str(tmp_path / "nope.keras")])
    assert "No model file at" in line and "nope.keras" in line


def test_file_that_is_not_a_keras_model(capsys, tmp_path):
    fake = tmp_path / "fake.keras"
    fake.write_text("not a model", encoding="utf-8")
    line = usage_error(capsys, [str(fake)])
    assert "is not a Keras model" in line
    assert "model.save('model.keras')" in line


def test_file_of_another_format_that_is_not_a_model(target, capsys, tmp_path):
    other = tmp_path / "weights.npy"
    np.save(other, np.zeros(3))
    line = usage_error(capsys, [str(other)])
    assert "could not be loaded as a Keras model" in line


def test_model_without_a_recurrent_layer(target, capsys, tmp_path):
    import keras

    inputs = keras.Input((None, 2))
    model = save(keras.Model(inputs, keras.layers.Dense(1)(inputs)), tmp_path / "dense.keras")
    line = usage_error(capsys, [model])
    assert "has no recurrent layer" in line
    assert "LSTM, GRU, SimpleRNN" in line


def test_model_whose_input_has_no_time_axis(target, capsys, tmp_path):
    import keras

    inputs = keras.Input((4,))
    model = save(keras.Model(inputs, keras.layers.Dense(1)(inputs)), tmp_path / "flat.keras")
    line = usage_error(capsys, [model])
    assert "(None, 4), which has no time axis" in line
    assert "keras.Input(shape=(None, 3))" in line


def test_model_that_needs_safe_mode_off_is_refused_with_how_to_opt_in(target, capsys, tmp_path):
    import keras

    inputs = keras.Input((None, 2))
    x = keras.layers.Lambda(lambda t: t + 1.0)(inputs)
    model = save(keras.Model(inputs, keras.layers.GRU(2)(x)), tmp_path / "lambda.keras")
    line = usage_error(capsys, [model])
    assert "needs safe_mode=False" in line
    assert "Lambda" in line
    assert "--unsafe" in line


def test_data_of_the_wrong_shape_says_the_expected_shape(target, capsys, tmp_path):
    model = save(lstm_model(), tmp_path / "model.keras")
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((5, 7, 3), "float32"))
    line = usage_error(capsys, [model, "--data", str(data)])
    assert "--data has shape (5, 7, 3): expected (N, T, 2)" in line


def test_data_file_that_is_missing(target, capsys, tmp_path):
    model = save(lstm_model(), tmp_path / "model.keras")
    line = usage_error(capsys, [model, "--data", str(tmp_path / "nope.npy")])
    assert "No data file at" in line


def test_data_shorter_than_timesteps(target, capsys, tmp_path):
    model = save(lstm_model(), tmp_path / "model.keras")
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((5, 4, 2), "float32"))
    line = usage_error(capsys, [model, "--data", str(data), "--timesteps", "9"])
    assert "--timesteps 9 exceeds the 4 timesteps of --data" in line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--batch-size", "0"], "--batch-size 0 must be at least 1"),
        (["--timesteps", "1"], "--timesteps 1 must be at least 2"),
        (["--target", "keras4-mlx"], "Unknown target 'keras4-mlx' for check-model"),
        (["--target", "tf-keras"], "check-model loads .keras files, which need Keras 3"),
        (["--max-examples", "0"], "--max-examples 0 must be at least 1"),
    ],
)
def test_bad_arguments(capsys, tmp_path, argv, expected):
    line = usage_error(capsys, [str(tmp_path / "any.keras"), *argv])
    assert expected in line


def test_data_rows_are_streamed_from_the_command_line(target, tmp_path, capsys):
    model = save(lstm_model(), tmp_path / "model.keras")
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).uniform(-1, 1, (4, 6, 2)).astype("float32"))
    out = tmp_path / "out"
    argv = [model, "--data", str(data), "--batch-size", "3", "--max-examples", "3"]
    assert check_model_cli([*argv, "--out", str(out)]) == EXIT_OK
    capsys.readouterr()
    (row,) = read_report(out)["results"]
    assert row["status"] == "passed"
    assert row["details"]["batch_size"] == 3
