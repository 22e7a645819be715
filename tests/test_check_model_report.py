"""harness/check_model/report.py: a check-model report replays with the check-model command."""

from __future__ import annotations

import argparse
import json
import shlex

from harness.check_model.report import replay_command, replay_options, write_report
from harness.check_model.result import StreamingResult


def streamable(model_path: str = "models/my model.keras") -> StreamingResult:
    return StreamingResult(
        passed=True,
        diagnosis=[],
        max_abs_error=0.0,
        counterexample=None,
        message=None,
        model_name="streamer",
        model_path=model_path,
        target="keras3-torch",
        batch_size=2,
        examples=5,
    )


def test_the_replay_command_carries_every_option_that_changes_the_check():
    args = argparse.Namespace(
        data="x.npy", timesteps=12, max_examples=40, unsafe=True, force=False, out="elsewhere"
    )
    command = replay_command(streamable(), profile="dev", run_seed=7, **replay_options(args))
    assert shlex.split(command) == [
        "rnn-harness",
        "check-model",
        "models/my model.keras",
        "--target",
        "keras3-torch",
        "--batch-size",
        "2",
        "--data",
        "x.npy",
        "--timesteps",
        "12",
        "--profile",
        "dev",
        "--max-examples",
        "40",
        "--seed",
        "7",
        "--unsafe",
    ]


def test_a_check_model_report_shows_the_check_model_command_not_run_or_pytest(tmp_path):
    paths = write_report(streamable(), tmp_path, profile="ci", run_seed=0, options={"timesteps": 9})
    expected = (
        "rnn-harness check-model 'models/my model.keras' --target keras3-torch --batch-size 2 "
        "--timesteps 9 --profile ci --seed 0"
    )
    report = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert report["replay_commands"] == [expected]
    for kind in ("markdown", "html"):
        text = paths[kind].read_text(encoding="utf-8")
        assert expected.replace("'", "&#39;" if kind == "html" else "'") in text, kind
        assert "rnn-harness run" not in text and "pytest properties" not in text, kind
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert f"```sh\n{expected}\n```" in markdown
