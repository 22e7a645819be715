"""harness/explain.py: every README question answered per target, from the rows that bear on
it only; examples counted from passing rows only; skipped means no evidence."""

from __future__ import annotations

import ast
import re

import pytest

from harness.explain import QUESTIONS, Question, explain
from harness.report import merge_payloads
from tests.cli_helpers import REPO


def report_with(rows: list[dict], targets=("keras3-tensorflow",)) -> dict:
    payloads = [
        {
            "target": {"name": t, "versions": {"keras": "3.15.1"}, "device": "cpu"},
            "results": [dict(r, target=t) for r in rows if r.get("target", t) == t],
        }
        for t in targets
    ]
    return merge_payloads(payloads, profile="ci", seed=0)


def row(prop: str, test: str, status: str = "passed", layer: str = "LSTM", **extra) -> dict:
    base = {"property": prop, "test": test, "layer": layer, "status": status, "examples": 25}
    return {**base, **extra}


def section(text: str, question: Question, target: str = "keras3-tensorflow") -> str:
    """The lines answering ``question`` for ``target``."""
    block = text.split(f"### {question.question}\n", 1)[1].split("\n### ", 1)[0]
    return block.split(f"**{target}** — ", 1)[1].split("\n**", 1)[0]


def question(text: str) -> Question:
    return next(q for q in QUESTIONS if q.question.startswith(text))


STATELESS = question("Does a stateless LSTM")
PATHS = question("Do predict, evaluate and fit")
RESET = question("Does reset_state()")
MODELS = question("Does it hold in real models")


# --- coverage: every README question, every property test -------------------------------


def test_explain_asks_exactly_the_questions_readme_lists_in_its_order():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("| question | what the harness checks | property ids |", 1)[1]
    rows = [line for line in table.split("\n\n", 1)[0].splitlines()[2:] if line.startswith("|")]
    asked = [re.sub(r"[*`]", "", line.split("|")[1]).strip() for line in rows]
    assert asked == [q.question for q in QUESTIONS]
    for line, q in zip(rows, QUESTIONS, strict=True):
        listed = set(re.findall(r"`(\w+)`", line.split("|")[3]))
        assert listed <= set(q.properties), q.question


def property_tests() -> list[tuple[str, str]]:
    """(property id, test function) for every test of every module in properties/."""
    found = []
    for path in sorted((REPO / "properties").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        marker = re.search(r'rnn_property\("(\w+)"\)', path.read_text(encoding="utf-8"))
        assert marker, path
        found += [
            (marker.group(1), node.name)
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        ]
    return found


@pytest.mark.parametrize(("prop", "test"), property_tests())
def test_every_property_test_is_evidence_for_a_claim(prop, test):
    assert any(c.rows([row(prop, test)]) for q in QUESTIONS for c in q.claims)


# --- one test per question: passed, failed, known failure, skipped ---------------------------


def evidence_rows(q: Question, status: str, **extra) -> list[dict]:
    """A row with ``status`` on LSTM and GRU for every claim of ``q`` that names its tests."""
    rows = []
    for claim in q.claims:
        if claim.only_if_present:
            continue
        for e in claim.evidence:
            test = f"{e.tests[0]}_x" if e.tests else f"test_{e.property}"
            rows += [row(e.property, test, status, layer, **extra) for layer in ("LSTM", "GRU")]
    return rows


@pytest.mark.parametrize("q", QUESTIONS, ids=[q.question for q in QUESTIONS])
def test_each_question_holds_when_its_tests_passed_counting_their_examples(q):
    text = explain(report_with(evidence_rows(q, "passed")))
    answer = section(text, q)
    assert answer.startswith(q.yes)
    claims = [c for c in q.claims if not c.only_if_present]
    assert answer.count("✅ holds: ") == len(claims)
    assert answer.count("[GRU, LSTM] 50 examples") == sum(len(c.evidence) for c in claims)
    assert "no evidence" not in answer and "does not hold" not in answer


@pytest.mark.parametrize("q", QUESTIONS, ids=[q.question for q in QUESTIONS])
def test_each_question_cites_a_new_failure_and_counts_no_examples_beside_it(q):
    rows = evidence_rows(q, "passed")
    failed = dict(rows[0], layer="LSTM", status="failed", reproducer="reproducers/r.py")
    failed["message"] = "[p | LSTM | keras3-tensorflow] the check that broke\ndetails"
    text = explain(report_with([failed, *rows[1:]]))
    answer = section(text, q)
    assert answer.startswith(f"No: {q.no}")
    broken = answer.split("❌ does not hold: ", 1)[1].split("\n- ", 1)[0]
    assert "new failure: [p | LSTM | keras3-tensorflow] the check that broke" in broken
    assert "details" not in broken and "`reproducers/r.py`" in broken
    assert "examples" not in broken  # evidence is never counted beside a failure
    assert "(also in this claim: 1 passed)" in broken


@pytest.mark.parametrize("q", QUESTIONS, ids=[q.question for q in QUESTIONS])
def test_each_question_cites_a_known_failure_with_its_reviewed_reason(q):
    rows = evidence_rows(q, "passed")
    known = dict(rows[0], status="known_failure", known_failure="a reviewed framework bug")
    answer = section(explain(report_with([known, *rows[1:]])), q)
    assert answer.startswith(f"No: {q.no}")
    assert "[LSTM] — known framework bug: a reviewed framework bug" in answer


@pytest.mark.parametrize("q", QUESTIONS, ids=[q.question for q in QUESTIONS])
def test_each_question_has_no_evidence_when_its_tests_were_skipped(q):
    rows = evidence_rows(q, "skipped", message="needs a GPU; this target runs on cpu")
    answer = section(explain(report_with(rows)), q)
    assert answer.startswith("No evidence: ")
    assert "holds" not in answer and "examples" not in answer
    assert "[GRU, LSTM] — skipped: needs a GPU; this target runs on cpu" in answer


# --- the rows that bear on a question, and no others -------------------------------------


def test_a_stateful_write_back_failure_does_not_answer_the_stateless_question():
    """The JAX sample: predict() never writes the stateful state back. That is the paths
    question's failure; the stateless question reads stateless tests only."""
    rows = [
        row("stateless_batches_independent", "test_stateless_batches_independent"),
        row("samples_independent_within_batch", "test_samples_independent_within_batch"),
        row("paths_agree", "test_stateless_fit_starts_every_sample_from_zero"),
        row(
            "paths_agree",
            "test_state_evolves_through_one_path[predict]",
            "known_failure",
            known_failure="predict never writes the state back",
        ),
        row("paths_agree", "test_one_predict_carries_state_from_batch_to_batch"),
    ]
    text = explain(report_with(rows, targets=("keras3-jax",)))
    stateless = section(text, STATELESS, "keras3-jax")
    assert stateless.startswith(STATELESS.yes)
    assert "write" not in stateless and "predict" not in stateless
    assert "paths_agree · test_stateless_fit_starts_every_sample_from_zero [LSTM] 25" in stateless
    paths = section(text, PATHS, "keras3-jax")
    assert "test_state_evolves_through_one_path[predict] [LSTM] — known framework bug: " in paths
    assert "✅ holds: one predict() over several batches" in paths


def test_examples_come_from_passing_rows_only():
    rows = [
        row("chunked_equals_whole", "test_chunked_equals_whole", layer="GRU", examples=25),
        row("chunked_equals_whole", "test_chunked_equals_whole", "failed", examples=300),
        row("initial_state_equals_carried_state", "test_initial_state_equals_carried_state"),
        row(
            "initial_state_equals_carried_state",
            "test_initial_state_equals_carried_state",
            "skipped",
            layer="GRU",
            examples=7,
        ),
    ]
    text = explain(report_with(rows))
    assert "325" not in text and "300" not in text and "32 examples" not in text
    assert "initial_state_equals_carried_state [LSTM] 25 examples" in text
    assert "not part of that evidence" in text  # the skipped GRU row is named, not counted


def test_a_target_whose_rows_were_all_skipped_is_not_answered_holds():
    rows = [row("matches_reference", "test_matches_reference", "skipped", message="no reference")]
    text = explain(report_with(rows))
    math = section(text, question("Is the math"))
    assert math.startswith("No evidence: ")
    assert "✅" not in math


def test_questions_a_run_did_not_cover_say_no_evidence_naming_what_is_missing():
    text = explain(report_with([row("chunked_equals_whole", "test_chunked_equals_whole")]))
    chunks = section(text, question("Does feeding a sequence"))
    assert chunks.startswith("Partly answered")
    assert (
        "not in this report (needs initial_state_equals_carried_state "
        "(test_initial_state_equals*))" in chunks
    )
    cudnn = section(text, question("On a GPU"))
    assert cudnn.startswith("No evidence: ")


def test_composition_and_model_level_reset_findings_are_cited_where_they_belong():
    rows = [
        row("reset_restores_zero_state", "test_reset_restores_zero_state"),
        row(
            "model_reset_states",
            "test_model_reset_states",
            "known_failure",
            known_failure="Model.reset_states() is gone in Keras 3",
        ),
        row(
            "composition",
            "test_stateful_bidirectional_returns_its_states",
            "known_failure",
            known_failure="Bidirectional(stateful=True, return_state=True) cannot be built",
        ),
        row("composition", "test_stacked_chunked_equals_whole"),
        row("composition", "test_stacked_reset_zeroes_every_layer"),
        row("state_machine", "test_state_machine"),
    ]
    text = explain(report_with(rows))
    reset = section(text, RESET)
    assert reset.startswith("No: ")
    assert "✅ holds: layer.reset_state()" in reset
    assert "model_reset_states [LSTM] — known framework bug: Model.reset_states() is gone" in reset
    models = section(text, MODELS)
    bidirectional = models.split("❌ does not hold: Bidirectional", 1)[1].split("\n- ", 1)[0]
    assert "known framework bug: Bidirectional(stateful=True, return_state=True)" in bidirectional
    assert "✅ holds: stacked recurrent layers" in models
    assert "composition · test_stacked_chunked_equals_whole [LSTM] 25 examples" in models
    assert "composition · test_stacked_reset_zeroes_every_layer [LSTM] 25 examples" in models
    assert "✅ holds: random programs" in models
    assert "❔ no evidence: go_backwards=True" in models


def test_each_target_gets_its_own_answer():
    rows = [
        row("matches_reference", "test_matches_reference", target="keras3-jax"),
        row("matches_reference", "test_matches_reference", "failed", target="keras3-torch"),
    ]
    text = explain(report_with(rows, targets=("keras3-jax", "keras3-torch")))
    math = question("Is the math")
    assert section(text, math, "keras3-jax").startswith("Yes: ")
    assert section(text, math, "keras3-torch").startswith("No: ")


def test_rows_an_older_run_wrote_as_error_for_an_interrupt_read_not_run():
    message = "not run: the run was interrupted before this test finished"
    rows = [row("matches_reference", "matches_reference", "error", message=message)]
    math = section(explain(report_with(rows)), question("Is the math"))
    assert math.startswith("No evidence: ")
    assert "matches_reference [LSTM] — not run: the run was interrupted" in math


def test_rows_that_do_not_name_their_test_stay_with_their_property_and_say_so():
    """A schema /1 report: paths_agree rows have no test, so they cannot be read as the
    stateless fit test's; they answer the paths question, flagged as such."""
    rows = [
        {"property": "paths_agree", "layer": "LSTM", "status": "failed", "message": "via predict"},
        row("stateless_batches_independent", "test_stateless_batches_independent"),
        row("samples_independent_within_batch", "test_samples_independent_within_batch"),
    ]
    text = explain(report_with(rows))
    stateless = section(text, STATELESS)
    assert "via predict" not in stateless and "does not hold" not in stateless
    paths = section(text, PATHS)
    assert "❌ does not hold: the state evolves the same through every path (paths_agree rows " in (
        paths
    )
    assert "not in this report (needs paths_agree" not in paths
