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
    assert "### Does feeding a sequence in chunks equal feeding it whole?" in text
    assert "✅ holds: a stateful run over consecutive chunks" in text
    assert "chunked_equals_whole [LSTM] 3 examples" in text


def test_explain_answers_every_question_per_target_from_a_crafted_report(capsys, tmp_path):
    from harness.explain import QUESTIONS
    from harness.report import merge_payloads

    def row(prop, test, status, **extra):
        return {"property": prop, "test": test, "layer": "GRU", "status": status, **extra}

    jax = [
        row(
            "paths_agree", "test_stateless_fit_starts_every_sample_from_zero", "passed", examples=9
        ),
        row(
            "paths_agree",
            "test_state_evolves_through_one_path[fit]",
            "known_failure",
            known_failure="fit never writes the state back",
        ),
        row("chunked_equals_whole", "test_chunked_equals_whole", "failed", message="differs"),
        row(
            "cudnn_matches_generic", "test_masked_sequences_match_generic", "skipped", message="GPU"
        ),
    ]
    payloads = [
        {"target": {"name": name, "versions": {}, "device": "cpu"}, "results": rows}
        for name, rows in (("keras3-jax", jax), ("keras3-torch", []))
    ]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(merge_payloads(payloads, profile="ci", seed=0)), encoding="utf-8")
    assert main(["explain", "--report", str(path)]) == 0
    text = capsys.readouterr().out
    for q in QUESTIONS:
        block = text.split(f"### {q.question}\n", 1)[1].split("\n### ", 1)[0]
        assert "**keras3-jax** — " in block and "**keras3-torch** — " in block, q.question
    assert "paths_agree · test_stateless_fit_starts_every_sample_from_zero [GRU] 9 examples" in text
    assert "known framework bug: fit never writes the state back" in text
    assert "[GRU] — new failure: differs" in text
    assert "[GRU] — skipped: GPU" in text
    assert text.count("**keras3-torch** — No evidence: ") == len(QUESTIONS)
