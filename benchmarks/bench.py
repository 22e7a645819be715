"""Examples, and examples that could fail, per second: harness versus a naive implementation.

Each backend runs in its own process (Keras 3 picks its backend once), and each
variant in its own process too, so that peak RSS is the variant's own. Both
variants run the property code on derandomized examples:

- naive: a fresh model for every runner, random initializers, eager calls, and
  the properties and strategies of ``--baseline-rev`` (default: the revision before
  examples were drawn to be able to fail, issue #14; ``current`` for this checkout's);
- harness: runners cached per (spec, batch size, statefulness) within a test,
  zero initializers (weights are always loaded), and on JAX the call path
  compiled once per input shape (see harness/targets/keras3.py) and JAX's
  persistent compilation cache (harness/compilation_cache.py) in a directory
  that starts empty: what one run gains from programs that repeat within it;
- harness, warm cache (JAX only): the harness again, on the cache the run before
  filled, as on every run after the first on a machine or a CI cache.

An example *could fail* where the break its check guards against would move what it
compares beyond the tolerance (``harness.sensitivity``, measured here on each
example's data with the float64 reference, the same way for both variants, its
time left out of theirs): examples that could fail per second is what a run buys.

    python benchmarks/bench.py                       # every installed backend
    python benchmarks/bench.py --backends jax --examples 50 --properties chunked_equals_whole
    python benchmarks/bench.py --backends tensorflow --layers LSTM --baseline-rev current
    python benchmarks/bench.py --scale --backends torch --examples 2000

``--scale`` runs chunked_equals_whole (harness variant) for many examples in one
process and prints the resident memory every 10% of the run (flat means nothing
leaks) and the mean cost per example by total timesteps with a least-squares line
(the cost should grow no faster than linearly).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The last revision whose strategies drew examples that could not fail (about half of
# them: scripts/measure_sensitivity.py), with the naive variant as it was then.
BASELINE_REV = "4e8f62d"
DEFAULT_PROPERTIES = (
    "chunked_equals_whole",
    "stateless_batches_independent",
    "reset_restores_zero_state",
    "matches_reference",
    "sample_i_continues_sample_i",
    "initial_state_equals_carried_state",
)
LAYERS = ("LSTM", "GRU", "SimpleRNN")


def current_sensitivity():
    """This checkout's ``harness/sensitivity.py``, whichever ``harness`` is imported: its
    measures apply to the examples of a baseline revision too."""
    spec = importlib.util.spec_from_file_location(
        "bench_sensitivity", ROOT / "harness" / "sensitivity.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def worker(
    backend: str, variant: str, properties: list[str], examples: int, layers: list[str], root: str
) -> dict:
    """Run each property's tests for ``examples`` examples per layer, with the code under
    ``root``; return timings and how many examples could fail."""
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, root)
    import importlib

    from harness.check import PropertyCheck
    from harness.targets.keras3 import Keras3Target
    from tests.property_runner import run_property

    sensitivity = current_sensitivity()

    class CountingCheck(PropertyCheck):
        """Measures each example as it starts (its draws are made), off the clock."""

        def example(self, **data):
            super().example(**data)
            started = time.perf_counter()
            margin = self.measure(data, tolerance)
            self.could_fail += margin > 1
            self.measuring += time.perf_counter() - started

    naive = variant == "naive"
    target = Keras3Target(backend, compiled=not naive, cache=not naive)  # reads the cache env
    tolerance = target.tolerance("consistency")
    rows = []
    for prop in properties:
        module = importlib.import_module(f"properties.test_{prop}")
        tests = [getattr(module, n) for n in dir(module) if n.startswith("test_")]
        before = dict(target.stats, shapes=set(target.stats["shapes"]))
        done, could_fail, measuring = 0, 0, 0.0
        measured = all(t.__name__ in sensitivity.BY_TEST for t in tests)
        start = time.perf_counter()
        for test in tests:
            for layer in layers:
                check = CountingCheck(prop, layer, target.name, on_example=target.new_example)
                check.measure = sensitivity.BY_TEST.get(test.__name__, lambda d, tol: 0.0)
                check.could_fail, check.measuring = 0, 0.0
                run_property(test, target, layer, max_examples=examples, check=check)
                done += check.examples
                could_fail += check.could_fail
                measuring += check.measuring
        elapsed = time.perf_counter() - start - measuring
        rows.append(
            {
                "property": prop,
                "examples": done,
                "could_fail": could_fail if measured else None,
                "seconds": elapsed,
                "models": target.stats["models"] - before["models"],
                "compiles": target.stats["compiles"] - before["compiles"],
                "shapes": len(target.stats["shapes"] - before["shapes"]),
            }
        )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"backend": backend, "variant": variant, "rows": rows, "peak_rss_mb": rss_mb}


def rss_mb() -> float:
    """Current resident memory of this process (Linux), not the peak."""
    with open("/proc/self/statm", encoding="ascii") as stream:
        pages = int(stream.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def scale_worker(backend: str, examples: int) -> dict:
    """chunked_equals_whole for ``examples`` examples per layer: RSS curve, cost by timesteps."""
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    from harness.check import PropertyCheck
    from harness.targets.keras3 import Keras3Target
    from properties.test_chunked_equals_whole import test_chunked_equals_whole
    from tests.property_runner import run_property

    class TimedCheck(PropertyCheck):
        """Records (timesteps, seconds) per example and the RSS as examples go by."""

        def example(self, **data):
            now = time.perf_counter()
            if self.example_data is not None:
                costs.append((self.example_data["case"].timesteps, now - self.started))
            if (len(costs) + 1) % step == 0:
                curve.append((len(costs) + 1, rss_mb()))
            self.started = now
            super().example(**data)

    target = Keras3Target(backend)
    costs: list[tuple[int, float]] = []
    curve: list[tuple[int, float]] = [(0, rss_mb())]
    total = examples * len(LAYERS)
    step = max(1, total // 10)
    start = time.perf_counter()
    for layer in LAYERS:
        check = TimedCheck("chunked_equals_whole", layer, target.name)
        check.started = time.perf_counter()
        run_property(test_chunked_equals_whole, target, layer, max_examples=examples, check=check)
    return {
        "backend": backend,
        "seconds": time.perf_counter() - start,
        "examples": total,
        "curve": curve,
        "costs": costs,
    }


def print_scale(console, result: dict) -> None:
    import numpy as np
    from rich.table import Table

    console.print(
        f"{result['backend']}: {result['examples']} examples of chunked_equals_whole in "
        f"{result['seconds']:.0f} s ({result['examples'] / result['seconds']:.1f} ex/s)"
    )
    curve = Table(title=f"{result['backend']}: resident memory as examples go by")
    curve.add_column("examples")
    curve.add_column("RSS MB")
    for done, mb in result["curve"]:
        curve.add_row(str(done), f"{mb:.0f}")
    console.print(curve)
    steps = np.array([t for t, _ in result["costs"]], dtype=float)
    cost = np.array([c for _, c in result["costs"]]) * 1000
    slope, intercept = np.polyfit(steps, cost, 1)
    table = Table(
        title=f"{result['backend']}: ms per example by total timesteps "
        f"(least squares: {intercept:.1f} ms + {slope:.2f} ms x timesteps)"
    )
    for column in ("timesteps", "examples", "mean ms", "line ms"):
        table.add_column(column)
    for low, high in ((1, 4), (5, 8), (9, 12), (13, 16), (17, 20), (21, 24)):
        mask = (steps >= low) & (steps <= high)
        if mask.any():
            mid = steps[mask].mean()
            table.add_row(
                f"{low}-{high}",
                str(int(mask.sum())),
                f"{cost[mask].mean():.1f}",
                f"{intercept + slope * mid:.1f}",
            )
    console.print(table)


def run_worker(
    backend: str,
    variant: str,
    properties: list[str],
    examples: int,
    cache_dir: str,
    *,
    layers: list[str],
    root: Path,
) -> dict:
    # naive: no compilation cache; harness: cache_dir, empty at first, then warm.
    env = dict(os.environ, RNN_HARNESS_JAX_CACHE="off" if variant == "naive" else cache_dir)
    command = [
        sys.executable,
        __file__,
        "--worker",
        f"{backend}:{variant}",
        "--properties",
        ",".join(properties),
        "--examples",
        str(examples),
        "--layers",
        ",".join(layers),
        "--root",
        str(root),
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{backend}/{variant} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def baseline_tree(rev: str):
    """The properties, strategies and harness of ``rev`` in a temporary directory
    (``current``: this checkout)."""
    if rev == "current":
        yield ROOT
        return
    with tempfile.TemporaryDirectory(prefix="rnn-bench-baseline-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "harness", "properties", "tests"],
            capture_output=True,
        )
        if archive.returncode != 0:
            raise SystemExit(
                f"--baseline-rev {rev}: git archive failed ({archive.stderr.decode().strip()}); "
                "pass a revision of this repository, or 'current'"
            )
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        yield Path(tmp)


def rate(count: int | None, seconds: float) -> float | None:
    return None if count is None else count / seconds


def ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else value / base


def fmt(value: float | None, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.1f}{suffix}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=None, help="comma list (default: installed)")
    parser.add_argument("--properties", default=",".join(DEFAULT_PROPERTIES))
    parser.add_argument("--examples", type=int, default=20, help="examples per test and layer")
    parser.add_argument("--layers", default=",".join(LAYERS), help="comma list (default: all)")
    parser.add_argument(
        "--baseline-rev",
        default=BASELINE_REV,
        help=f"revision whose properties and strategies the naive variant runs, or 'current' "
        f"(default: {BASELINE_REV}, before examples were drawn to be able to fail)",
    )
    parser.add_argument(
        "--scale", action="store_true", help="memory curve and cost by timesteps instead"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    args = parser.parse_args()
    properties = [p for p in args.properties.split(",") if p]
    layers = [layer for layer in args.layers.split(",") if layer]
    if args.worker and args.scale:
        print(json.dumps(scale_worker(args.worker, args.examples)))
        return
    if args.worker:
        backend, variant = args.worker.split(":")
        print(json.dumps(worker(backend, variant, properties, args.examples, layers, args.root)))
        return

    from rich.console import Console
    from rich.table import Table

    from harness.cli.selection import installed_targets

    backends = (
        args.backends.split(",")
        if args.backends
        else [t.removeprefix("keras3-") for t in installed_targets()]
    )
    console = Console(width=160)
    console.print(
        f"machine: {os.cpu_count()} cores; examples per test and layer: {args.examples}; "
        f"layers: {','.join(layers)}; naive variant on the draws of {args.baseline_rev}"
    )
    if args.scale:
        for backend in backends:
            command = [sys.executable, __file__, "--scale", "--worker", backend]
            command += ["--examples", str(args.examples)]
            with tempfile.TemporaryDirectory(prefix="rnn-bench-jax-cache-") as cache_dir:
                env = dict(os.environ, RNN_HARNESS_JAX_CACHE=cache_dir)  # starts empty
                result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
            if result.returncode != 0:
                raise SystemExit(f"{backend} failed:\n{result.stderr[-3000:]}")
            print_scale(console, json.loads(result.stdout.strip().splitlines()[-1]))
        return
    speed = Table(title="examples/s: harness vs naive")
    for column in (
        "backend",
        "property",
        "examples naive/harness",
        "naive ex/s",
        "harness ex/s",
        "ratio",
        "warm cache ex/s",
        "warm ratio",
        "shapes",
        "models naive/harness",
        "jit compiles",
        "peak RSS MB naive/harness",
    ):
        speed.add_column(column)
    useful = Table(title="examples that could fail, per second: harness vs naive")
    for column in (
        "backend",
        "property",
        "could fail naive",
        "could fail harness",
        "naive /s",
        "harness /s",
        "ratio",
        "warm cache /s",
        "warm ratio",
    ):
        useful.add_column(column)
    with baseline_tree(args.baseline_rev) as baseline:
        for backend in backends:
            variants = ("naive", "harness") + (("harness-warm",) if backend == "jax" else ())
            with tempfile.TemporaryDirectory(prefix="rnn-bench-jax-cache-") as cache_dir:
                results = {
                    v: run_worker(
                        backend,
                        v,
                        properties,
                        args.examples,
                        cache_dir,
                        layers=layers,
                        root=baseline if v == "naive" else ROOT,
                    )
                    for v in variants
                }
            warm_rows = results.get("harness-warm", {}).get("rows") or [None] * len(properties)
            totals = {v: {"could_fail": 0, "examples": 0, "seconds": 0.0} for v in results}
            for naive_row, fast_row, warm_row in zip(
                results["naive"]["rows"], results["harness"]["rows"], warm_rows, strict=True
            ):
                naive_rate = naive_row["examples"] / naive_row["seconds"]
                fast_rate = fast_row["examples"] / fast_row["seconds"]
                warm_rate = warm_row and warm_row["examples"] / warm_row["seconds"]
                speed.add_row(
                    backend,
                    naive_row["property"],
                    f"{naive_row['examples']}/{fast_row['examples']}",
                    f"{naive_rate:.1f}",
                    f"{fast_rate:.1f}",
                    f"{fast_rate / naive_rate:.1f}x",
                    fmt(warm_rate),
                    fmt(ratio(warm_rate, naive_rate), "x"),
                    str(fast_row["shapes"]),
                    f"{naive_row['models']}/{fast_row['models']}",
                    str(fast_row["compiles"]),
                    f"{results['naive']['peak_rss_mb']:.0f}/"
                    f"{results['harness']['peak_rss_mb']:.0f}",
                )
                naive_useful = rate(naive_row["could_fail"], naive_row["seconds"])
                fast_useful = rate(fast_row["could_fail"], fast_row["seconds"])
                warm_useful = warm_row and rate(warm_row["could_fail"], warm_row["seconds"])
                if naive_useful is None or fast_useful is None:
                    continue  # a property whose examples harness.sensitivity does not measure
                for variant, row in zip(results, (naive_row, fast_row, warm_row), strict=False):
                    for key in totals[variant]:
                        totals[variant][key] += row[key]
                useful.add_row(
                    backend,
                    naive_row["property"],
                    f"{naive_row['could_fail']}/{naive_row['examples']}",
                    f"{fast_row['could_fail']}/{fast_row['examples']}",
                    f"{naive_useful:.1f}",
                    f"{fast_useful:.1f}",
                    fmt(ratio(fast_useful, naive_useful), "x"),
                    fmt(warm_useful),
                    fmt(ratio(warm_useful, naive_useful), "x"),
                )
            if totals["naive"]["examples"]:
                rates = {v: t["could_fail"] / t["seconds"] for v, t in totals.items()}
                useful.add_row(
                    backend,
                    "all of the above",
                    f"{totals['naive']['could_fail']}/{totals['naive']['examples']}",
                    f"{totals['harness']['could_fail']}/{totals['harness']['examples']}",
                    f"{rates['naive']:.1f}",
                    f"{rates['harness']:.1f}",
                    fmt(ratio(rates["harness"], rates["naive"]), "x"),
                    fmt(rates.get("harness-warm")),
                    fmt(ratio(rates.get("harness-warm"), rates["naive"]), "x"),
                )
    console.print(speed)
    console.print(useful)


if __name__ == "__main__":
    main()
