"""harness/cli/matrix.py: ``rnn-harness matrix SPEC`` with and without a known-failures file.

Installing environments and running inside them is replaced by fakes: what is checked
is the command each entry runs and what the matrix command writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import matrix
from harness.cli import main
from tests.cli_helpers import one_row_report

SPEC = """
profile = "dev"
properties = ["chunked_equals_whole"]
[[entry]]
name = "keras3"
packages = ["keras==3.15.1"]
targets = ["keras3-tensorflow"]
"""


@pytest.fixture
def fake_environments(tmp_path, monkeypatch) -> list[list[str]]:
    """No installs; each entry's `rnn-harness run` writes a one-row report. Returns the
    commands run. The working directory is empty: only the shipped known failures apply."""
    commands: list[list[str]] = []

    def fake_run(command: list[str], log: Path, **kwargs) -> int:
        commands.append(command)
        out = Path(command[command.index("--out") + 1])
        out.mkdir(parents=True, exist_ok=True)
        report = json.dumps(one_row_report("passed", "3.15.1"))
        (out / "report.json").write_text(report, encoding="utf-8")
        return 0

    monkeypatch.setattr(matrix, "install_entry", lambda *_: None)
    monkeypatch.setattr(matrix, "_run", fake_run)
    monkeypatch.setattr(matrix, "harness_fingerprint", lambda *_: "fingerprint")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").write_text(SPEC, encoding="utf-8")
    return commands


def test_matrix_runs_without_a_known_failures_file(fake_environments, tmp_path):
    assert main(["matrix", "spec.toml", "--out", "out", "--cache", "cache"]) == 0
    (command,) = fake_environments
    assert "--known-failures" not in command
    assert command[command.index("--properties") + 1] == "chunked_equals_whole"
    merged = json.loads((tmp_path / "out" / "matrix.json").read_text(encoding="utf-8"))
    assert [c["status"] for c in merged["columns"]] == ["ok"]
    assert merged["rows"][0]["cells"] == {"keras3": "passed"}
    assert (tmp_path / "out" / "keras3" / "report.json").is_file()


def test_matrix_passes_the_known_failures_file_on_as_an_absolute_path(fake_environments, tmp_path):
    known = tmp_path / "kf.toml"
    known.write_text(
        '[[known_failure]]\nproperty = "chunked_equals_whole"\ntest = "test_chunked_equals_whole"\n'
        'layer = "LSTM"\ntarget = "keras3-jax"\nversions = { keras = "==3.15.1" }\n'
        "reason = \"x\"\nsignature = { check = 'x' }\n",
        encoding="utf-8",
    )
    argv = ["matrix", "spec.toml", "--out", "out", "--cache", "cache"]
    assert main([*argv, "--known-failures", "kf.toml"]) == 0
    (command,) = fake_environments
    assert command[command.index("--known-failures") + 1] == str(known.resolve())
