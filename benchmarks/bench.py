"""Examples per second for each property family, harness versus a naive implementation.

Each backend runs in its own process (Keras 3 picks its backend once), and each
variant in its own process too, so that peak RSS is the variant's own. Both
variants run the very same property code on the very same derandomized examples:

- naive: a fresh model for every runner, random initializers, eager calls;
- harness: runners cached per (spec, batch size, statefulness) within a test,
  zero initializers (weights are always loaded), and on JAX the call path
  compiled once per input shape (see harness/targets/keras3.py).

    python benchmarks/bench.py                       # every installed backend
    python benchmarks/bench.py --backends jax --examples 50 --properties chunked_equals_whole
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROPERTIES = (
    "chunked_equals_whole",
    "stateless_batches_independent",
    "reset_restores_zero_state",
    "matches_reference",
    "sample_i_continues_sample_i",
    "initial_state_equals_carried_state",
)
LAYERS = ("LSTM", "GRU", "SimpleRNN")


def worker(backend: str, variant: str, properties: list[str], examples: int) -> dict:
    """Run each property's tests for ``examples`` examples per layer; return timings."""
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    import importlib

    from harness.targets.keras3 import Keras3Target
    from tests.property_runner import run_property

    naive = variant == "naive"
    target = Keras3Target(backend, compiled=not naive, cache=not naive)
    rows = []
    for prop in properties:
        module = importlib.import_module(f"properties.test_{prop}")
        tests = [getattr(module, n) for n in dir(module) if n.startswith("test_")]
        before = dict(target.stats, shapes=set(target.stats["shapes"]))
        done, start = 0, time.perf_counter()
        for test in tests:
            for layer in LAYERS:
                done += run_property(test, target, layer, max_examples=examples).examples
        elapsed = time.perf_counter() - start
        rows.append(
            {
                "property": prop,
                "examples": done,
                "seconds": elapsed,
                "models": target.stats["models"] - before["models"],
                "compiles": target.stats["compiles"] - before["compiles"],
                "shapes": len(target.stats["shapes"] - before["shapes"]),
            }
        )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"backend": backend, "variant": variant, "rows": rows, "peak_rss_mb": rss_mb}


def run_worker(backend: str, variant: str, properties: list[str], examples: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        f"{backend}:{variant}",
        "--properties",
        ",".join(properties),
        "--examples",
        str(examples),
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{backend}/{variant} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=None, help="comma list (default: installed)")
    parser.add_argument("--properties", default=",".join(DEFAULT_PROPERTIES))
    parser.add_argument("--examples", type=int, default=20, help="examples per test and layer")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    properties = [p for p in args.properties.split(",") if p]
    if args.worker:
        backend, variant = args.worker.split(":")
        print(json.dumps(worker(backend, variant, properties, args.examples)))
        return

    from rich.console import Console
    from rich.table import Table

    from harness.cli import installed_targets

    backends = (
        args.backends.split(",")
        if args.backends
        else [t.removeprefix("keras3-") for t in installed_targets()]
    )
    console = Console(width=160)
    console.print(f"machine: {os.cpu_count()} cores; examples per test and layer: {args.examples}")
    table = Table(title="examples/s: harness vs naive (same examples, same property code)")
    for column in (
        "backend",
        "property",
        "examples",
        "naive ex/s",
        "harness ex/s",
        "ratio",
        "shapes",
        "models naive/harness",
        "jit compiles",
        "peak RSS MB naive/harness",
    ):
        table.add_column(column)
    for backend in backends:
        results = {
            v: run_worker(backend, v, properties, args.examples) for v in ("naive", "harness")
        }
        for naive_row, fast_row in zip(
            results["naive"]["rows"], results["harness"]["rows"], strict=True
        ):
            naive_rate = naive_row["examples"] / naive_row["seconds"]
            fast_rate = fast_row["examples"] / fast_row["seconds"]
            table.add_row(
                backend,
                naive_row["property"],
                str(fast_row["examples"]),
                f"{naive_rate:.1f}",
                f"{fast_rate:.1f}",
                f"{fast_rate / naive_rate:.1f}x",
                str(fast_row["shapes"]),
                f"{naive_row['models']}/{fast_row['models']}",
                str(fast_row["compiles"]),
                f"{results['naive']['peak_rss_mb']:.0f}/{results['harness']['peak_rss_mb']:.0f}",
            )
    console.print(table)


if __name__ == "__main__":
    main()
