"""``rnn-harness explain``: the questions users ask, answered from a run's evidence.

Every question README.md lists is answered for every target of a report, from the
rows that bear on it and no others. A question is a few claims; each claim names
the property tests that check it (``Evidence``): a stateless claim reads only
stateless tests, so a stateful write-back bug cannot answer "does a stateless
layer reset per sample?". For each target a claim

- **holds** when its rows passed (or a known failure was fixed) and none failed;
  the examples counted are those of the passing rows only;
- **does not hold** when a row failed or is a known failure (cited with the
  reviewed reason, as known);
- is **undecided** when a row crashed (``error``) or was ``flaky``;
- has **no evidence** when every row was skipped (with the reason), not run, or
  is absent from the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HOLDS = ("passed", "fixed")
DOES_NOT_HOLD = ("failed", "known_failure")
UNDECIDED = ("error", "flaky")
NO_EVIDENCE = ("skipped", "not_run")
MAX_REPRODUCERS = 3  # per cited failure: the rest are in the report


@dataclass(frozen=True)
class Evidence:
    """Which rows of a report bear on a claim.

    Args:
        property: the catalogue id.
        tests: test-function name prefixes; ``()`` takes every test of the property
            (rows that do not name their test too); ``None`` takes only the rows that do
            not name their test (an older report, or a cell that never ran), for a
            property whose tests back different claims.
    """

    property: str
    tests: tuple[str, ...] | None = ()

    def bears_on(self, row: dict[str, Any]) -> bool:
        """Whether ``row`` (a report row) is evidence for this entry."""
        if row["property"] != self.property:
            return False
        test = row.get("test") or self.property
        named = test != self.property
        if self.tests is None:
            return not named
        if not self.tests:
            return True
        return named and function_name(test).startswith(self.tests)


@dataclass(frozen=True)
class Claim:
    """One statement an answer rests on, and the tests that check it.

    Args:
        statement: what holds when the evidence passed, e.g. "each sample's output is ...".
        evidence: the property tests that check it.
        only_if_present: show the claim only where the report has rows for it (used for
            rows that do not name their test).
    """

    statement: str
    evidence: tuple[Evidence, ...]
    only_if_present: bool = False

    def rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows among ``rows`` that bear on this claim."""
        return [r for r in rows if any(e.bears_on(r) for e in self.evidence)]


@dataclass(frozen=True)
class Question:
    """A question README.md lists, the answer when every claim held, and its claims."""

    question: str
    yes: str
    no: str  # what it means when a claim does not hold
    claims: tuple[Claim, ...]

    @property
    def properties(self) -> tuple[str, ...]:
        """The property ids the answer reads, in order."""
        ids = [e.property for c in self.claims for e in c.evidence]
        return tuple(dict.fromkeys(ids))


def _whole(prop: str) -> tuple[Evidence, ...]:
    return (Evidence(prop),)


def _tests(prop: str, *prefixes: str) -> tuple[Evidence, ...]:
    return (Evidence(prop, prefixes),)


def _unnamed(prop: str, what: str) -> Claim:
    return Claim(
        f"{what} ({prop} rows that do not name their test: which of its tests they are "
        "is not known)",
        (Evidence(prop, None),),
        only_if_present=True,
    )


QUESTIONS = (
    Question(
        "Does a stateless LSTM reset per sample or per batch?",
        "Per sample, on every call: every sample of every call starts from the zero state (or "
        "the initial_state you pass); nothing survives from one call or batch to the next, and "
        "samples in a batch never see each other, in fit() too.",
        "a stateless layer carried something between calls or between samples.",
        (
            Claim(
                "a batch's outputs do not depend on what ran before: repeated calls are "
                "identical and equal a run from an explicit all-zero initial_state",
                _whole("stateless_batches_independent"),
            ),
            Claim(
                "each sample's output is the same alone, in any batch, in any order and at any "
                "batch size",
                _whole("samples_independent_within_batch"),
            ),
            Claim(
                "fit() on a stateless layer starts every sample from zero",
                _tests("paths_agree", "test_stateless_fit"),
            ),
        ),
    ),
    Question(
        "In stateful mode, does sample i continue sample i or the next one?",
        "Sample i continues sample i: the final state of sample i of one batch is the initial "
        "state of sample i of the next batch, not of the next sample.",
        "a stateful layer did not hand each sample's state to the same row of the next batch.",
        (
            Claim(
                "sample i's final state seeds sample i of the next batch and no other; "
                "permuting the rows permutes the outputs and states",
                _whole("sample_i_continues_sample_i"),
            ),
        ),
    ),
    Question(
        "Does feeding a sequence in chunks equal feeding it whole?",
        "Yes: a stateful run over consecutive chunks gives the whole run's outputs at every "
        "timestep and its final states, for any chunking, and a returned state passed back as "
        "initial_state continues the sequence exactly.",
        "a chunked run did not reproduce the whole-sequence run.",
        (
            Claim(
                "a stateful run over consecutive chunks equals the whole run: outputs at every "
                "timestep and final states, for any chunking",
                _whole("chunked_equals_whole"),
            ),
            Claim(
                "a stateless run given chunk k's returned state as initial_state equals the "
                "stateful continuation",
                _tests("initial_state_equals_carried_state", "test_initial_state_equals"),
            ),
            Claim(
                "a stateful layer given an explicit initial_state starts from it, not from its "
                "stored state, stores its final state, and the next call continues from it; "
                "the same through a two-input model, before and after save and load",
                _tests(
                    "initial_state_equals_carried_state",
                    "test_stateful_layer_given",
                    "test_two_input_model",
                ),
                only_if_present=True,
            ),
            _unnamed("initial_state_equals_carried_state", "a given state continues exactly"),
        ),
    ),
    Question(
        "Does reset_state() really restore zeros?",
        "Yes: layer.reset_state() (reset_states() in Keras 2) sets every state, h and for LSTM "
        "c, exactly to zero, also mid-sequence, and the next chunks behave like a fresh "
        "layer's; the model-level reset exists and does the same for every stateful layer.",
        "a reset did not restore the zero state, or the reset a user would call is missing.",
        (
            Claim(
                "layer.reset_state() (reset_states() in Keras 2) zeroes every state, h and c, "
                "also mid-sequence, and the next chunks equal a fresh layer's",
                _whole("reset_restores_zero_state"),
            ),
            Claim(
                "the model-level reset, model.reset_states(), exists and zeroes every stateful "
                "layer",
                _whole("model_reset_states"),
            ),
        ),
    ),
    Question(
        "Do predict, evaluate and fit treat state like direct calls?",
        "Yes: the state evolves as with direct calls through predict, predict_on_batch, "
        "evaluate, test_on_batch, fit and train_on_batch; one predict() over several batches "
        "carries sample i to sample i; a batch of the wrong size is refused with a clear error "
        "that leaves the states alone, and the layer stays usable.",
        "some execution paths handle the state differently from a direct call.",
        (
            Claim(
                "the state evolves as with direct calls through predict, predict_on_batch, "
                "evaluate, test_on_batch, fit and train_on_batch, one path at a time or mixed",
                _tests("paths_agree", "test_state_evolves"),
            ),
            Claim(
                "one predict() over several batches carries sample i to sample i from batch to "
                "batch",
                _tests("paths_agree", "test_one_predict_carries"),
            ),
            Claim(
                "one evaluate() or fit() over several batches does too, and so do predict, "
                "evaluate and fit fed by a generator, a PyDataset or a tf.data.Dataset, with "
                "jit_compile False or True",
                _tests(
                    "paths_agree",
                    "test_one_call_carries",
                    "test_each_input_kind",
                    "test_jit_compiled_model",
                ),
                only_if_present=True,
            ),
            _unnamed("paths_agree", "the state evolves the same through every path"),
            Claim(
                "a batch of another size, or a short last batch in predict(), is refused with "
                "an error naming both sizes, and the states are left as they were",
                _whole("batch_size_mismatch_is_an_error"),
            ),
            Claim(
                "after a refused call the layer is still usable: weights and states exactly as "
                "before, and the next call equals a twin's that never saw the bad one",
                _whole("refusal_leaves_model_intact"),
            ),
        ),
    ),
    Question(
        "Is the math what the docs say?",
        "Yes: outputs and final states match an independent float64 NumPy implementation of "
        "the documented equations, fed the layer's own weights, within the float32 tolerance.",
        "outputs differ from the documented equations beyond the float32 tolerance.",
        (
            Claim(
                "outputs and final states match the float64 NumPy reference fed the layer's "
                "own weights, within the tolerance for the dtype and device, masked steps too",
                _tests("matches_reference", "test_matches_reference", "test_masked_steps"),
            ),
            Claim(
                "with dropout and recurrent_dropout, inference ignores them (the reference "
                "without dropout), and a training call stores exactly the states it returns, "
                "row for row, from which inference continues",
                _tests("matches_reference", "test_dropout_", "test_training_call_"),
                only_if_present=True,
            ),
            _unnamed("matches_reference", "outputs match the float64 reference"),
        ),
    ),
    Question(
        "On a GPU, do cuDNN kernels compute what the generic loop does?",
        "Yes: use_cudnn='auto' and True give what the generic loop gives through stateful "
        "chunks, reset, returned states and masks, or refuse with an error naming cuDNN; never "
        "a silently different result.",
        "a cuDNN kernel gave a different result from the generic loop.",
        (
            Claim(
                "use_cudnn='auto' or True equals use_cudnn=False through stateful chunks, "
                "reset, returned states and masks, or is refused with an error naming cuDNN",
                _whole("cudnn_matches_generic"),
            ),
        ),
    ),
    Question(
        "Does it hold in real models?",
        "Yes: chunking, carrying and resetting the state work the same in stacked layers, "
        "TimeDistributed, Bidirectional, go_backwards, masks, unroll, ConvLSTM1D, mixed "
        "precision and behind Embedding, Dense, Reshape and Conv1D layers, and random "
        "programs of feed, reset, set state, predict and save/load agree with the reference "
        "after every step.",
        "the state semantics break in some model structures.",
        (
            Claim(
                "stacked recurrent layers: chunked equals whole, and a reset zeroes every layer",
                _tests("composition", "test_stacked"),
            ),
            Claim(
                "LSTM(return_sequences=True) → TimeDistributed(Dense): chunked equals whole, "
                "with the kernel applied at every timestep",
                _tests("composition", "test_time_distributed"),
            ),
            Claim(
                "Bidirectional: stateful chunks run forward as a whole and backward per chunk, "
                "a reset zeroes both directions, and a stateful one returns its states",
                _tests("composition", "test_bidirectional", "test_stateful_bidirectional"),
            ),
            Claim(
                "go_backwards=True: each chunk runs reversed from the carried state",
                _tests("composition", "test_go_backwards"),
            ),
            Claim(
                "right-padded masks: masked steps carry the state unchanged, and chunked "
                "equals whole at valid and at padded steps",
                _tests("composition", "test_masked"),
            ),
            Claim(
                "unroll=True equals the rolled loop, also over stateful chunks",
                _tests("composition", "test_unrolled"),
            ),
            Claim(
                "ConvLSTM1D: chunked equals whole, and a reset zeroes it",
                _tests("composition", "test_conv_lstm1d"),
            ),
            Claim(
                "mixed_float16, mixed_bfloat16 and bfloat16: chunked equals whole exactly, and "
                "the outputs match the reference within the precision's rounding (8 u "
                "float16, 8 u + 16 u|ref| bfloat16: only gross errors show there)",
                _tests("composition", "test_mixed_precision"),
            ),
            Claim(
                "Embedding, Dense, Reshape or causal Conv1D before a stateful RNN: chunked "
                "equals whole, and a reset zeroes the state",
                _tests("composition", "test_front_layer"),
            ),
            _unnamed("composition", "the invariants hold in stacked, wrapped and masked models"),
            Claim(
                "random programs of feed chunk, reset, set state, predict and save/load "
                "weights agree with the reference after every step",
                _whole("state_machine"),
            ),
        ),
    ),
)


def function_name(test: str) -> str:
    """``test_state_evolves_through_one_path[fit]`` -> ``test_state_evolves_through_one_path``."""
    return test.split("[", 1)[0]


@dataclass
class Verdict:
    """What one target's rows say about one claim."""

    claim: Claim
    rows: list[dict[str, Any]]

    def of(self, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] in statuses]

    @property
    def kind(self) -> str:
        """``does not hold``, ``undecided``, ``holds`` or ``no evidence``."""
        if self.of(DOES_NOT_HOLD):
            return "does not hold"
        if self.of(UNDECIDED):
            return "undecided"
        if self.of(HOLDS):
            return "holds"
        return "no evidence"


MARKS = {"holds": "✅", "does not hold": "❌", "undecided": "💥", "no evidence": "❔"}


def _first_line(text: Any) -> str:
    text = str(text or "").strip()
    return text.splitlines()[0] if text else ""


def _grouped(rows: list[dict[str, Any]], key) -> dict[Any, list[dict[str, Any]]]:
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


def _named(prop: str, test: str) -> str:
    return prop if test == prop else f"{prop} · {test}"


def _layers(rows: list[dict[str, Any]]) -> str:
    return ", ".join(sorted({str(r["layer"]) for r in rows}))


def _evidence_text(passing: list[dict[str, Any]]) -> str:
    """``stateless_batches_independent [GRU, LSTM] 50 examples; ...`` from passing rows."""
    groups = _grouped(passing, lambda r: (r["property"], function_name(r.get("test") or "")))
    parts = []
    for (prop, test), rows in groups.items():
        examples = sum(int(r.get("examples") or 0) for r in rows)
        parts.append(f"{_named(prop, test or prop)} [{_layers(rows)}] {examples} examples")
    return "; ".join(parts)


def _status_word(status: str) -> str:
    return {
        "known_failure": "known framework bug",
        "failed": "new failure",
        "error": "error (the harness or the framework crashed)",
        "flaky": "flaky (failed, then not again when replayed)",
        "skipped": "skipped",
        "not_run": "not run",
    }.get(status, status)


def _cited(rows: list[dict[str, Any]]) -> list[str]:
    """One line per (test, status, reason): the layers it hit, the reason, reproducers."""
    lines = []

    def key(r):
        reason = r.get("known_failure") if r["status"] == "known_failure" else None
        return (
            r["property"],
            r.get("test") or r["property"],
            r["status"],
            _first_line(reason or r.get("message")),
        )

    for (prop, test, status, reason), group in _grouped(rows, key).items():
        word = _status_word(status)
        line = f"  - {_named(prop, test)} [{_layers(group)}] — "
        line += reason if reason.startswith(word) else f"{word}: {reason}" if reason else word
        reproducers = [r["reproducer"] for r in group if r.get("reproducer")]
        if reproducers and status != "known_failure":
            shown = ", ".join(f"`{p}`" for p in reproducers[:MAX_REPRODUCERS])
            more = len(reproducers) - MAX_REPRODUCERS
            line += f". Reproducer: {shown}" + (f" and {more} more" if more > 0 else "")
        lines.append(line)
    return lines


def _needs(claim: Claim) -> str:
    return ", ".join(
        e.property + (f" ({', '.join(t + '*' for t in e.tests)})" if e.tests else "")
        for e in claim.evidence
    )


def claim_lines(verdict: Verdict) -> list[str]:
    """Markdown lines for one claim on one target."""
    kind, claim = verdict.kind, verdict.claim
    head = f"- {MARKS[kind]} {kind}: {claim.statement}"
    if kind == "holds":
        lines = [f"{head} — *{_evidence_text(verdict.of(HOLDS))}*"]
        absent = verdict.of(NO_EVIDENCE)
        if absent:
            lines.append("  - not part of that evidence:")
            lines += ["  " + line for line in _cited(absent)]
        return lines
    if kind == "no evidence":
        if not verdict.rows:
            return [f"{head} — not in this report (needs {_needs(claim)})"]
        return [head, *_cited(verdict.rows)]
    broken = verdict.of(DOES_NOT_HOLD if kind == "does not hold" else UNDECIDED)
    lines = [head, *_cited(broken)]
    if len(verdict.rows) > len(broken):
        lines.append(f"  - (also in this claim: {_status_counts(verdict, broken)})")
    return lines


def _status_counts(verdict: Verdict, shown: list[dict[str, Any]]) -> str:
    rest = [r for r in verdict.rows if r not in shown]
    counts = _grouped(rest, lambda r: r["status"])
    return ", ".join(f"{len(v)} {_status_word(k)}" for k, v in counts.items())


def target_names(report: dict[str, Any]) -> list[str]:
    """The report's targets, then any that appear only in its rows."""
    names = [t["name"] for t in report["targets"]]
    return names + sorted({r["target"] for r in report["results"]} - set(names))


def row_status(row: dict[str, Any]) -> str:
    """The row's status; an ``error`` row an older ``rnn-harness run`` wrote for a test that
    an interrupt kept from running (its message starts ``not run:``) is ``not_run``."""
    if row["status"] == "error" and str(row.get("message") or "").startswith("not run:"):
        return "not_run"
    return row["status"]


def _unnamed_only(claim: Claim, rows: list[dict[str, Any]]) -> bool:
    """Whether every property of ``claim`` has rows here, none of which names its test: the
    rows exist, and a claim of their own says so."""
    return all(any(Evidence(e.property, None).bears_on(r) for r in rows) for e in claim.evidence)


def answer(question: Question, report: dict[str, Any]) -> list[str]:
    """Markdown lines answering ``question`` for every target of ``report``."""
    lines = [f"### {question.question}", ""]
    for target in target_names(report):
        rows = [{**r, "status": row_status(r)} for r in report["results"] if r["target"] == target]
        verdicts = []
        for claim in question.claims:
            mine = claim.rows(rows)
            if mine or not (claim.only_if_present or _unnamed_only(claim, rows)):
                verdicts.append(Verdict(claim, mine))
        kinds = {v.kind for v in verdicts}
        if "does not hold" in kinds:
            lead = f"No: {question.no}"
        elif "undecided" in kinds:
            lead = "Undecided: a check behind this answer crashed or was flaky."
        elif kinds == {"holds"}:
            lead = question.yes
        elif "holds" in kinds:
            lead = "Partly answered: what holds is below; the rest has no evidence in this run."
        else:
            lead = "No evidence: nothing that bears on this question passed or failed here."
        lines.append(f"**{target}** — {lead}")
        lines.append("")
        for verdict in verdicts:
            lines += claim_lines(verdict)
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
        "Each answer rests on claims, each checked by named property tests on this target: "
        "✅ holds (its tests passed; examples counted from those only), ❌ does not hold (a "
        "new failure, or a known framework bug with its reviewed reason), 💥 undecided (a "
        "check crashed or was flaky), ❔ no evidence (skipped, not run, or not in this run).",
        "",
    ]
    for question in QUESTIONS:
        out.extend(answer(question, report))
    return "\n".join(out).rstrip() + "\n"
