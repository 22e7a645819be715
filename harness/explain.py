"""``rnn-harness explain``: the questions users ask, answered from a run's evidence.

Each answer is built from the result rows of a real report: which properties
back it, on which targets and layers they held (with how many examples), and,
where they did not, the failure message and the reproducer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HELD = ("passed", "fixed")
BROKEN = ("failed", "known_failure", "error")


@dataclass(frozen=True)
class Question:
    question: str
    properties: tuple[str, ...]
    holds: str  # the answer when every backing property held
    fails: str  # the lead of the answer when some did not


QUESTIONS = (
    Question(
        "In stateless mode, when is the state reset: per sample, per batch, never?",
        ("stateless_batches_independent", "samples_independent_within_batch", "paths_agree"),
        "Per sample, on every call: each sample of each batch starts from the zero state (or "
        "the initial_state you pass). Nothing survives from one call or batch to the next, and "
        "samples in one batch never influence each other — also inside fit().",
        "Not cleanly: a stateless layer carried something between calls or between samples.",
    ),
    Question(
        "In stateful mode, what is carried between batches, and how do samples map?",
        (
            "chunked_equals_whole",
            "sample_i_continues_sample_i",
            "initial_state_equals_carried_state",
        ),
        "The final state of sample i of one batch is the initial state of sample i of the next "
        "batch — not of the next sample. Feeding a sequence in consecutive chunks gives the same "
        "outputs and final states as feeding it whole, and the returned state, passed back as "
        "initial_state, continues the sequence exactly.",
        "Not as documented: stateful chunking did not reproduce the whole-sequence run.",
    ),
    Question(
        "What resets the state of a stateful layer?",
        ("reset_restores_zero_state",),
        "reset_state() (reset_states() in Keras 2): afterwards every state — h and, for LSTM, "
        "c — is exactly zero, and the next chunks behave like a fresh layer's, also when the "
        "reset comes mid-sequence.",
        "reset_state() did not fully restore the zero state.",
    ),
    Question(
        "Do fit(), predict() and evaluate() treat the state like direct calls?",
        ("paths_agree", "batch_size_mismatch_is_an_error"),
        "Yes: the state evolves the same through __call__, predict, predict_on_batch, evaluate, "
        "test_on_batch, fit and train_on_batch; one predict() over several batches carries "
        "sample i to sample i; and a batch of the wrong size is refused with a clear error that "
        "leaves the states alone.",
        "No: some execution paths handle the state differently from a direct call.",
    ),
    Question(
        "Is the math what the documentation says?",
        ("matches_reference",),
        "Yes: outputs and final states match an independent float64 NumPy implementation of the "
        "documented equations, fed the layer's own weights, within the float32 tolerance.",
        "No: outputs differ from the documented equations beyond the float32 tolerance.",
    ),
)


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if text else ""


def answer(question: Question, report: dict[str, Any]) -> list[str]:
    """Markdown lines answering ``question`` from ``report``'s rows, grouping alike targets."""
    lines = [f"### {question.question}", ""]
    rows = [r for r in report["results"] if r["property"] in question.properties]
    held_targets: dict[tuple[str, ...], list[str]] = {}
    evidence: list[str] = []
    for target in [t["name"] for t in report["targets"]]:
        mine = [r for r in rows if r["target"] == target]
        missing = tuple(p for p in question.properties if p not in {r["property"] for r in mine})
        if not mine:
            lines.append(f"- **{target}**: not checked in this run (needs {', '.join(missing)}).")
            continue
        broken = [r for r in mine if r["status"] in BROKEN]
        good = [r for r in mine if r["status"] in HELD]
        examples = sum(r.get("examples") or 0 for r in good)
        if good:
            evidence.append(
                f"{target}: {', '.join(sorted({r['property'] for r in good}))} held for "
                f"{', '.join(sorted({r['layer'] for r in good}))} over {examples} examples"
            )
        if not broken:
            held_targets.setdefault(missing, []).append(target)
            continue
        lines.append(f"- **{target}**: {question.fails}")
        for r in broken:
            label = "known framework bug" if r["status"] == "known_failure" else r["status"]
            detail = r.get("known_failure") or _first_line(r.get("message"))
            repro = f" Reproducer: `{r['reproducer']}`." if r.get("reproducer") else ""
            test = f" ({r['test']})" if r.get("test") else ""
            lines.append(f"  - {r['property']}{test} [{r['layer']}] — {label}: {detail}.{repro}")
    for missing, targets in held_targets.items():
        caveat = (
            f" *Only partly checked: {', '.join(missing)} did not run, so the answer is "
            "limited to what ran.*"
            if missing
            else ""
        )
        lines.insert(2, f"- **{', '.join(targets)}**: {question.holds}{caveat}")
    if evidence:
        lines.append(f"- *Evidence — {'; '.join(evidence)}.*")
    lines.append("")
    return lines


def explain(report: dict[str, Any]) -> str:
    """The full explanation, as Markdown, for a report produced by ``rnn-harness run``."""
    versions = "; ".join(
        f"{t['name']}: " + ", ".join(f"{k} {v}" for k, v in t.get("versions", {}).items())
        for t in report["targets"]
    )
    out = [
        "# What your Keras recurrent layers do with their state",
        "",
        f"Evidence: report of {report['created']} (profile {report['profile']}, "
        f"seed {report['seed']}). Versions — {versions}.",
        "",
    ]
    for question in QUESTIONS:
        out.extend(answer(question, report))
    return "\n".join(out)
