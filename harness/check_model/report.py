"""The report of one check: its ``ResultRow``, the target it ran on, and the files written.

check-model writes what ``rnn-harness run`` writes (report.json, report.md,
report.html, junit.xml), plus the reproducer of a failure beside them. The
target's entry is read from the process as it is: building a harness target
would switch the process's precision.
"""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path
from typing import Any

from harness.check_model.reproducer import reproducer_filename
from harness.check_model.result import PROPERTY_ID, StreamingResult
from harness.env import backend_of, installed_versions
from harness.precision import apply_precision, device_details
from harness.report.row import ResultRow

TEST = "check_model"  # the row's test: every check-model row comes from check_model()


def result_row(result: StreamingResult, *, reproducer: str | None = None) -> ResultRow:
    """The report row of one checked model: layer is the model's name.

    Args:
        result: what ``check_model`` returned.
        reproducer: the reproducer's path relative to the report, if one was written.

    What only check-model knows (verdict, model file, batch size, the diagnosis of
    every layer) goes into ``details``.
    """
    return ResultRow(
        property=PROPERTY_ID,
        test=TEST,
        layer=result.model_name,
        target=result.target,
        status=result.status,
        examples=result.examples,
        duration_s=result.duration_s,
        max_abs_error=result.max_abs_error,
        tolerance=result.tolerance.to_dict() if result.tolerance else None,
        message=result.message,
        counterexample=result.counterexample,
        reproducer=reproducer,
        details={
            "verdict": result.verdict,
            "model_path": result.model_path,
            "batch_size": result.batch_size,
            "diagnosis": [d._asdict() for d in result.diagnosis],
        },
    )


def target_info(result: StreamingResult) -> dict[str, Any]:
    """The report's entry for the target ``result`` ran on: versions, device, precision."""
    backend = backend_of(result.target)
    versions = installed_versions(result.target)
    info: dict[str, Any] = {
        "name": result.target,
        "versions": {
            "python": platform.python_version(),
            "keras": versions.get("keras", "unknown"),
            backend: versions.get(backend, "unknown"),
        },
        "device": result.device,
        "precision": result.precision,
    }
    with contextlib.suppress(Exception):  # best effort, as every target's details are
        switches = apply_precision(backend, "native")  # "native" reads the switches only
        info["device_details"] = {**device_details(backend), "precision_switches": switches}
    return info


def write_report(
    result: StreamingResult, out_dir: str | Path, *, profile: str, run_seed: int
) -> dict[str, Path]:
    """Write report.json, report.md, report.html, junit.xml (and a reproducer) to ``out_dir``.

    Returns the written paths by kind: ``"json"``, ..., ``"reproducer"``.
    """
    from harness.report import merge_payloads, write_all

    out_dir = Path(out_dir)
    relative = None
    written: dict[str, Path] = {}
    if result.reproducer:
        relative = f"reproducers/{reproducer_filename(result)}"
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(result.reproducer, encoding="utf-8")
        written["reproducer"] = path
    row = result_row(result, reproducer=relative)
    payload = {"target": target_info(result), "results": [row.to_dict()]}
    report = merge_payloads([payload], profile=profile, seed=run_seed)
    written.update(write_all(report, out_dir))
    return written
