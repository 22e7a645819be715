"""The report of one check: its ``ResultRow``, the target it ran on, and the files written.

check-model writes what ``rnn-harness run`` writes (report.json, report.md,
report.html, junit.xml), plus the reproducer of a failure beside them; the
report's ``replay_commands`` is the check-model command that reproduces it, which
the writers show instead of ``rnn-harness run``. The target's entry is read from
the process as it is: building a harness target would switch the process's precision.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import shlex
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


def replay_command(
    result: StreamingResult,
    *,
    profile: str,
    run_seed: int,
    data: str | None = None,
    timesteps: int | None = None,
    max_examples: int | None = None,
    unsafe: bool = False,
    force: bool = False,
) -> str:
    """The ``rnn-harness check-model`` command that checks the same model the same way.

    Args:
        result: what ``check_model`` returned (model file, batch size, target).
        profile: the Hypothesis profile.
        run_seed: the seed.
        data, timesteps, max_examples, unsafe, force: the options the check ran with.

    >>> from harness.check_model.result import StreamingResult
    >>> result = StreamingResult(True, [], None, None, None, model_path="my model.keras",
    ...                          target="keras3-jax", batch_size=4)
    >>> replay_command(result, profile="ci", run_seed=0, timesteps=12)
    "rnn-harness check-model 'my model.keras' --target keras3-jax --batch-size 4 --timesteps 12 --profile ci --seed 0"
    """
    command = ["rnn-harness", "check-model", str(result.model_path or result.model_name)]
    command += ["--target", result.target, "--batch-size", str(result.batch_size)]
    for option, value in (
        ("--data", data),
        ("--timesteps", timesteps),
        ("--profile", profile),
        ("--max-examples", max_examples),
        ("--seed", run_seed),
    ):
        if value is not None:
            command += [option, str(value)]
    command += ["--unsafe"] * unsafe + ["--force"] * force
    return shlex.join(command)


def replay_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of a ``check-model`` command line that ``replay_command`` needs."""
    names = ("data", "timesteps", "max_examples", "unsafe", "force")
    return {name: getattr(args, name) for name in names}


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
    result: StreamingResult,
    out_dir: str | Path,
    *,
    profile: str,
    run_seed: int,
    options: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write report.json, report.md, report.html, junit.xml (and a reproducer) to ``out_dir``.

    Args:
        result: what ``check_model`` returned.
        out_dir: the report directory.
        profile: the Hypothesis profile.
        run_seed: the seed.
        options: the other options the check ran with (``replay_options(args)``), for the
            replay command; without them it names the defaults.

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
    command = replay_command(result, profile=profile, run_seed=run_seed, **(options or {}))
    report["replay_commands"] = [command]
    written.update(write_all(report, out_dir))
    return written
