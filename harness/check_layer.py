"""``check_layer``: the state properties on a user's own layer, from Python.

The Python face of ``rnn-harness run --layer MODULE:NAME``, for a project's own test
suite (plain pytest, no fixtures), like ``check_model``::

    from harness import assert_layer_passes

    def test_my_cell_keeps_its_state():
        assert_layer_passes(make_my_layer, properties=["chunked_equals_whole"])

The run happens in a fresh process (one Keras backend per process, as every target
runs), so ``factory`` must be importable there: a module-level callable, or its
``"MODULE:NAME"``. A lambda or a nested function is refused with that reason.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessUsageError

# Every property that needs no float64 reference (``harness.layer_kinds.not_applicable``).
LAYER_PROPERTIES = (
    "chunked_equals_whole",
    "sample_i_continues_sample_i",
    "stateless_batches_independent",
    "samples_independent_within_batch",
    "reset_restores_zero_state",
    "initial_state_equals_carried_state",
    "paths_agree",
    "batch_size_mismatch_is_an_error",
    "refusal_leaves_model_intact",
    "state_machine",
)


@dataclasses.dataclass
class LayerResult:
    """The rows of one ``check_layer`` run: ``passed`` when the gate passes."""

    layer: str
    passed: bool
    rows: list[dict[str, Any]]
    report: Path

    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] not in ("passed", "skipped")]

    def __str__(self) -> str:
        lines = [f"{self.layer}: {'passed' if self.passed else 'FAILED'} (report: {self.report})"]
        for row in self.rows:
            message = f": {row['message']}" if row.get("message") else ""
            lines.append(f"  {row['status']:>8} {row['property']} {row['test']}{message}")
        return "\n".join(lines)


def layer_name(factory: Callable | str) -> str:
    """``MODULE:NAME`` of a module-level callable (or the string itself)."""
    if isinstance(factory, str):
        return factory
    module, qualname = getattr(factory, "__module__", None), getattr(factory, "__qualname__", "")
    if not module or "<" in qualname or "." in qualname or module == "__main__":
        raise HarnessUsageError(
            f"check_layer: {factory!r} cannot be imported by another process; pass a "
            "module-level function (def make_layer(units, **kwargs) in an importable module) "
            "or its 'MODULE:NAME'"
        )
    return f"{module}:{qualname}"


def check_layer(
    factory: Callable | str,
    *,
    properties: Sequence[str] = LAYER_PROPERTIES,
    target: str = "keras3-tensorflow",
    profile: str = "ci",
    seed: int = 0,
    shrink: bool = True,
    out: str | Path | None = None,
) -> LayerResult:
    """Run ``properties`` on the user's layer ``factory`` on ``target``; the rows and the gate.

    Args:
        factory: a module-level callable taking ``units`` and ``keras.layers.RNN``'s
            keyword arguments and returning a recurrent layer, or its ``"MODULE:NAME"``.
        properties: property ids (default: every one that needs no reference).
        target: one target, e.g. ``"keras3-jax"``.
        profile: a Hypothesis profile of ``harness/profiles.py`` (``"dev"``, ``"ci"``, ...).
        seed: the run seed (the same examples every run by default).
        shrink: shrink a failure to a small counterexample (slower).
        out: the report directory (a temporary one by default).
    """
    name = layer_name(factory)
    report = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="rnn-layer-"))
    command = [
        sys.executable, "-m", "harness", "run", "--targets", target, "--layer", name,
        "--properties", ",".join(properties), "--profile", profile, "--seed", str(seed),
        "--out", str(report),
    ]  # fmt: skip
    if not shrink:
        command.append("--no-shrink")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), *sys.path]))}
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode not in (0, 1):
        raise HarnessUsageError(f"check_layer: {proc.stderr.strip().splitlines()[-1:]}")
    rows = json.loads((report / "report.json").read_text())["results"]
    return LayerResult(name, proc.returncode == 0, rows, report)


def assert_layer_passes(factory: Callable | str, **kwargs: Any) -> LayerResult:
    """``check_layer`` that raises ``AssertionError`` naming every failed row."""
    __tracebackhide__ = True
    result = check_layer(factory, **kwargs)
    if not result.passed:
        raise AssertionError(str(result))
    return result
