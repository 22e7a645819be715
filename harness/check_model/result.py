"""``StreamingResult``: what ``check_model`` found for one model, and its failure message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.check_model.diagnose import BLOCKS, LayerDiagnosis
from harness.tolerance import Tolerance

PROPERTY_ID = "streaming_equals_whole"
STREAMABLE, NOT_STREAMABLE, DIFFERS, ERROR = (
    "streamable",
    "not streamable",
    "streaming differs from whole",
    "error",
)


@dataclass
class StreamingResult:
    """What ``check_model`` found for one model.

    ``passed`` is True only when the diagnosis found no blocker and every drawn
    example streamed equal to the whole sequence. ``diagnosis`` lists every layer
    as ``(name, class_name, verdict, reason)``; ``counterexample`` is the shrunk
    failing example as plain data (JSON-ready); ``message`` says what failed.
    """

    passed: bool
    diagnosis: list[LayerDiagnosis]
    max_abs_error: float | None
    counterexample: dict[str, Any] | None
    message: str | None
    verdict: str = STREAMABLE
    status: str = "passed"  # the report row's status: passed, failed or error
    model_name: str = ""
    model_path: str | None = None
    target: str = ""
    batch_size: int = 1
    examples: int = 0
    duration_s: float = 0.0
    tolerance: Tolerance | None = None
    device: str = "cpu"  # where the backend computed: "cpu" or "gpu"
    precision: str = "native"  # the float32 precision in effect (harness/precision.py)
    reproducer: str | None = field(default=None, repr=False)

    @property
    def blockers(self) -> list[LayerDiagnosis]:
        """The layers that make streaming impossible by construction."""
        return [d for d in self.diagnosis if d.verdict == BLOCKS]

    def diagnosis_lines(self) -> list[str]:
        """The diagnosis as aligned text lines, one per layer."""
        if not self.diagnosis:
            return []
        width = max(len(d.name) for d in self.diagnosis)
        cls_width = max(len(d.class_name) for d in self.diagnosis)
        return [
            f"{d.verdict:>7}  {d.name:<{width}}  {d.class_name:<{cls_width}}  {d.reason}"
            for d in self.diagnosis
        ]

    def __str__(self) -> str:
        head = (
            f"{self.model_name}: {self.verdict} ({PROPERTY_ID}, {self.target}, "
            f"batch size {self.batch_size}, {self.examples} examples"
            + (f", max |error| {self.max_abs_error:.3g}" if self.max_abs_error is not None else "")
            + (f", tolerance {self.tolerance}" if self.tolerance else "")
            + ")"
        )
        lines = [head, *("  " + line for line in self.diagnosis_lines())]
        if self.message:
            lines += ["", self.message]
        return "\n".join(lines)


def _padding_only(counterexample: dict, start: int, stop: int) -> list[int]:
    """Samples whose timesteps start..stop are all padding in the counterexample."""
    valid = counterexample.get("valid")
    if not valid:
        return []
    return [i for i, row in enumerate(valid) if not any(row[start : stop + 1])]


def failure_message(head: str, exc: BaseException, counterexample: dict | None) -> str:
    """The failure, then per chunk boundary where the streamed output first diverges."""
    lines = [head, "  " + str(exc).strip().replace("\n", "\n  ")]
    if not counterexample:
        return "\n".join(lines)
    lines.append(
        f"  Shrunk example: batch size {counterexample.get('batch_size')}, "
        f"{counterexample.get('timesteps')} timesteps, chunks {counterexample.get('splits')}."
    )
    for item in (counterexample.get("divergence") or [])[:1]:
        read = "read after each chunk" if item["kind"] == "final" else "at every timestep"
        lines.append(
            f"  Per chunk ({item['comparison']}; output {item['output']} {read}), "
            "the first diverging timestep:"
        )
        for row in item["chunks"]:
            start, stop = row["timesteps"]
            first = row["first_diverging_timestep"]
            state = "matches" if first is None else f"first diverging timestep {first}"
            line = f"    chunk {row['chunk']} (timesteps {start}-{stop}): {state}"
            line += f" (max |diff| {row['max_abs_diff']:.3g})"
            padded = _padding_only(counterexample, start, stop) if first is not None else []
            if padded:
                line += f"; this chunk is all padding for sample(s) {padded}"
            lines.append(line)
    return "\n".join(lines)
