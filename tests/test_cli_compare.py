"""harness/cli/compare.py: ``rnn-harness compare`` exits 1 on a regression, 2 on bad input."""

from __future__ import annotations

import json

from harness.cli import main
from tests.cli_helpers import one_row_report, usage_error


def test_compare_of_a_missing_report_is_a_usage_error(capsys, tmp_path):
    usage_error(capsys, ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])


def test_compare_of_a_file_that_is_not_a_report_is_a_usage_error(capsys, tmp_path):
    junk = tmp_path / "a.json"
    junk.write_text("{not json", encoding="utf-8")
    usage_error(capsys, ["compare", str(junk), str(junk)])


def test_compare_exits_1_when_an_upgrade_breaks_a_property(capsys, tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(one_row_report("passed", "3.14.0")), encoding="utf-8")
    new.write_text(json.dumps(one_row_report("failed", "3.15.1")), encoding="utf-8")
    assert main(["compare", str(old), str(new), "--html", str(tmp_path / "c.html")]) == 1
    markdown = capsys.readouterr().out
    assert "3.14.0" in markdown and "3.15.1" in markdown
    assert "chunked_equals_whole" in markdown
    assert (tmp_path / "c.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert main(["compare", str(new), str(old)]) == 0
