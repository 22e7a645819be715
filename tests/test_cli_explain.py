"""harness/cli/explain.py: ``rnn-harness explain`` answers from a report, or says to run first."""

from __future__ import annotations

import json

from harness.cli import main
from tests.cli_helpers import one_row_report, usage_error


def test_explain_without_a_report_says_to_run_first(capsys, tmp_path):
    line = usage_error(capsys, ["explain", "--report", str(tmp_path / "none.json")])
    assert "Run `rnn-harness run` first" in line


def test_explain_answers_from_a_real_report(capsys, tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps(one_row_report("passed", "3.15.1")), encoding="utf-8")
    assert main(["explain", "--report", str(path)]) == 0
    text = capsys.readouterr().out
    assert "In stateful mode, what is carried between batches" in text
    assert "chunked_equals_whole held for LSTM over 3 examples" in text
