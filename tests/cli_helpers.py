"""What the command-line tests share: the in-process usage-error check and a real run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.cli import main
from harness.errors import EXIT_USAGE

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
    assert main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("rnn-harness: error: ")
    return lines[0]


def run_cli(args: list[str], *, sabotage: bool) -> subprocess.CompletedProcess:
    """``python -m harness ARGS`` from the repository, with Keras's reset sabotaged if asked."""
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


def one_row_report(status: str, keras: str) -> dict:
    """A report of one chunked_equals_whole LSTM result on keras3-tensorflow."""
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
