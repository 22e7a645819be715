"""rnn-harness explain: answers come from the report's rows, failures are cited."""

from __future__ import annotations

from harness.explain import QUESTIONS, explain
from harness.report import merge_payloads


def report_with(rows: list[dict], targets=("keras3-tensorflow",)) -> dict:
    payloads = [
        {
            "target": {"name": t, "versions": {"keras": "3.15.1"}, "device": "cpu"},
            "results": [dict(r, target=t) for r in rows if r.get("target", t) == t],
        }
        for t in targets
    ]
    return merge_payloads(payloads, profile="ci", seed=0)


def row(prop: str, status: str = "passed", layer: str = "LSTM", **extra) -> dict:
    return {"property": prop, "layer": layer, "status": status, "examples": 25, **extra}


def test_every_question_cites_only_catalogue_properties():
    from harness.catalogue import PROPERTY_IDS

    for question in QUESTIONS:
        assert set(question.properties) <= set(PROPERTY_IDS)


def test_a_held_answer_states_the_evidence_and_example_count():
    text = explain(
        report_with(
            [row("reset_restores_zero_state"), row("reset_restores_zero_state", layer="GRU")]
        )
    )
    assert "reset_state() (reset_states() in Keras 2)" in text
    assert "reset_restores_zero_state held for GRU, LSTM over 50 examples" in text


def test_a_failed_property_is_cited_with_its_message_and_reproducer():
    rows = [
        row(
            "paths_agree",
            "failed",
            message="[paths_agree | LSTM | keras3-jax] stored state 0 after chunk 0 via predict\nmore",
            reproducer="reproducers/reproduce_paths_agree_LSTM_keras3-jax.py",
            test="test_state_evolves_the_same_through_every_path",
        )
    ]
    text = explain(report_with(rows, targets=("keras3-jax",)))
    assert "No: some execution paths handle the state differently" in text
    assert "stored state 0 after chunk 0 via predict" in text
    assert "more" not in text.split("via predict")[1].split("\n")[0]
    assert "reproducers/reproduce_paths_agree_LSTM_keras3-jax.py" in text


def test_a_known_failure_is_called_a_known_framework_bug_with_its_reason():
    rows = [
        row(
            "batch_size_mismatch_is_an_error",
            "known_failure",
            known_failure="accepts a short batch",
        )
    ]
    text = explain(report_with(rows))
    assert "known framework bug: accepts a short batch" in text


def test_properties_that_did_not_run_limit_the_claim():
    text = explain(report_with([row("chunked_equals_whole")]))
    assert (
        "Only partly checked: sample_i_continues_sample_i, initial_state_equals_carried_state"
        in text
    )
    assert "not checked in this run (needs matches_reference)" in text


def test_targets_with_the_same_answer_are_grouped():
    text = explain(report_with([row("matches_reference")], targets=("keras3-jax", "keras3-torch")))
    assert "**keras3-jax, keras3-torch**: Yes: outputs and final states match" in text
