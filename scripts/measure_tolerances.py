"""Measure the figures behind harness/tolerance.py: what each comparison sees, and what it catches.

Two measurements, each for every Keras 3 backend (one process per backend: Keras
reads ``KERAS_BACKEND`` once):

- ``errors``: every property test runs its own derandomized examples with every
  comparison recorded instead of judged. For each comparison kind the property asks
  for (``exact``, ``consistency``, ``reference``, or a tolerance a property defines
  itself) it prints the largest ``|actual - expected|``, the largest relative error
  where ``|expected| > 1``, and the comparison where the largest one was seen. A
  tolerance entry is earned when it bounds these figures with room to spare.
- ``floor``: the bites of a carried state scaled by ``f`` after every stateful call
  (``tests/broken_targets.py``: ``scales_carried_state``; ``chunked_equals_whole``,
  ``matches_reference`` and ``initial_state_equals_carried_state``), run as ``tests/test_properties_bite.py`` runs them
  (``run_bite``: at most N examples, stopping at the first that fails on the break
  and passes without it) under each tolerance entry of the backend: the CPU's, and a
  pretend GPU's (the CPU's own numbers judged by the GPU entries, ``strict`` and
  ``native``). For each factor it prints whether the bite caught it. The
  **detection floor** of an entry is the smallest factor every bite catches, and the
  largest below it that none does. On a real GPU the framework's own rounding uses
  up part of the tolerance, so a floor measured on a CPU is the best case.

    python scripts/measure_tolerances.py                             # both, all backends
    python scripts/measure_tolerances.py --backends jax --only floor --floor-examples 100
    python scripts/measure_tolerances.py --json figures.json         # also write the figures

Run it on a GPU machine (``--backends`` of those installed there) for the GPU
entries' figures; there ``errors`` measures the real device with the precision of
``RNN_HARNESS_PRECISION`` (``strict`` or ``native``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BACKENDS = ("tensorflow", "jax", "torch")
LAYERS = ("LSTM", "GRU", "SimpleRNN")
# Scalings of the carried state, from below float32 rounding on a CPU to a gross drift.
FACTORS = (1.00001, 1.0001, 1.001, 1.003, 1.01, 1.03, 1.1)
# The bites of a scaled carried state (tests/test_properties_bite.py).
# (module, test, the check its bite expects): as tests/test_properties_bite.py has them.
FLOOR_TESTS = (
    ("test_chunked_equals_whole", "test_chunked_equals_whole", r"vs whole"),
    (
        "test_matches_reference",
        "test_matches_reference",
        r"^stateful (chunked outputs|stored state \d+) vs reference",
    ),
    (
        "test_initial_state_equals_carried_state",
        "test_initial_state_equals_carried_state",
        r"from the state returned after chunk \d+ .* vs the stateful continuation",
    ),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma list (default: all)")
    parser.add_argument("--layers", default=",".join(LAYERS), help="comma list (default: all)")
    parser.add_argument("--examples", type=int, default=30, help="examples per test and layer")
    parser.add_argument(
        "--floor-examples", type=int, default=100, help="most examples per bite (as the bites)"
    )
    parser.add_argument("--only", choices=("errors", "floor"), help="one measurement only")
    parser.add_argument(
        "--factors",
        default=",".join(map(str, FACTORS)),
        help="scalings of the carried state the floor tries (default: %(default)s)",
    )
    parser.add_argument(
        "--entries",
        default="cpu,gpu-strict,gpu-native",
        help="tolerance entries the floor is measured under (default: all three)",
    )
    parser.add_argument("--tests", default="", help="comma list of test names (errors only)")
    parser.add_argument("--json", help="also write every figure as JSON to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    results = {}
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        command = [sys.executable, __file__, "--child", *sys.argv[1:]]
        started = time.perf_counter()
        # The child's progress goes to stderr, as it runs; its figures come on stdout.
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            sys.exit(f"{backend}: the measurement failed (its traceback is above)")
        results[backend] = json.loads(done.stdout.strip().splitlines()[-1])
        results[backend]["seconds"] = round(time.perf_counter() - started, 1)
        print_backend(backend, results[backend])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")


def print_backend(backend: str, result: dict) -> None:
    target = result["target"]
    print(
        f"\n== {target['name']} {target['versions']} device={target['device']} "
        f"precision={target['precision']} ({result['seconds']} s)"
    )
    for comparison, fig in sorted(result.get("errors", {}).items()):
        print(
            f"  {comparison:44s} max |diff| {fig['max_abs']:.3g}   max rel (|e|>1) "
            f"{fig['max_rel']:.3g}   {fig['compared']} comparisons   worst: {fig['where']}"
        )
        for beyond in fig.get("beyond", []):
            print(f"    beyond the entry in force: {beyond}")
    for test, failures in sorted(result.get("failures", {}).items()):
        print(f"  not measured: {test}: {failures}")
    for entry, tests in result.get("floor", {}).items():
        print(f"  floor under {entry} ({tests.pop('tolerance')}):")
        for test, counts in tests.items():
            row = ", ".join(f"x{f}: {c}" for f, c in counts.items())
            print(f"    {test}: {row}  -> floor {floor_of(counts)}")


def floor_of(counts: dict[str, str]) -> str:
    """The smallest factor the bite caught, and the largest one below it that it missed."""
    caught = [f for f, c in counts.items() if c.startswith("caught")]
    missed = [f for f, c in counts.items() if not c.startswith("caught")]
    if not caught:
        return "nothing caught"
    low = min(caught, key=float)
    below = [f for f in missed if float(f) < float(low)]
    return f"x{low} caught" + (f", x{max(below, key=float)} not" if below else "")


# --- one backend, in its own process ------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    from harness.targets import default_target_name, get_target

    target = get_target(default_target_name())
    layers = args.layers.split(",")
    out: dict = {"target": target.info()}
    if args.only in (None, "errors"):
        out["errors"], out["failures"] = measure_errors(target, layers, args.examples, args.tests)
    if args.only in (None, "floor"):
        factors = [float(f) for f in args.factors.split(",")]
        out["floor"] = measure_floor(
            target, layers, args.floor_examples, args.entries.split(","), factors
        )
    print(json.dumps(out))


def property_tests(names: str):
    """Every property test (paths_agree once per path), by name; ``names`` filters."""
    import importlib
    import pkgutil

    import properties
    from harness.targets.base import PATHS
    from tests.property_runner import Parametrized

    wanted = {n for n in names.split(",") if n}
    for info in pkgutil.iter_modules(properties.__path__):
        if info.name in ("test_cudnn_matches_generic", "test_state_machine"):
            continue  # cuDNN runs on a GPU only; the state machine is measured on its own
        module = importlib.import_module(f"properties.{info.name}")
        for name in sorted(dir(module)):
            fn = getattr(module, name)
            if not name.startswith("test_") or not hasattr(fn, "hypothesis"):
                continue
            variants = (
                [Parametrized(fn, path=p) for p in PATHS]
                if name == "test_state_evolves_through_one_path"
                else [fn]
            )
            for variant in variants:
                if not wanted or name in wanted:
                    yield variant


def measure_errors(target, layers, examples: int, names: str):
    """Largest differences per comparison kind over every property test's own examples."""
    from harness.check import PropertyCheck
    from harness.tolerance import COMPARISONS, Tolerance
    from tests.property_runner import known_entries, property_id

    probes = {c: Tolerance(rtol=0.0, atol=math.inf) for c in COMPARISONS}
    kinds = {id(t): c for c, t in probes.items()}
    figures: dict[str, dict] = {}
    failures: dict[str, dict[str, int]] = {}

    class Probing(type(target)):
        """The target, with every tolerance it hands out replaced by a probe."""

        def __init__(self):
            self.__dict__.update(target.__dict__)

        def tolerance(self, comparison):
            return probes[comparison]

    class Recording(PropertyCheck):
        """Records every comparison, fails none."""

        def assert_close(self, what, *, actual, expected, tol):
            import numpy as np

            kind = kinds.get(id(tol), f"own tolerance ({tol})")
            entry = target.tolerance(kind) if kind in COMPARISONS else tol
            a = np.asarray(actual, dtype=np.float64)
            e = np.asarray(expected, dtype=np.float64)
            if a.shape != e.shape or a.size == 0:
                return
            diff = np.where(np.isnan(a) & np.isnan(e), 0.0, np.abs(a - e))
            big = np.abs(e) > 1
            fig = figures.setdefault(
                kind,
                {"max_abs": 0.0, "max_rel": 0.0, "compared": 0, "where": "", "beyond": []},
            )
            fig["compared"] += 1
            if (diff > entry.atol + entry.rtol * np.abs(e)).any() and len(fig["beyond"]) < 5:
                # Beyond the entry in force: a tolerance too tight, or a bug nobody reviewed.
                fig["beyond"].append(f"{self.property_id}/{self.layer}: {what} ({diff.max():.3g})")
            worst = float(np.nanmax(diff))
            if worst > fig["max_abs"] or not fig["where"]:
                fig["max_abs"] = max(fig["max_abs"], worst)
                fig["where"] = f"{self.property_id}/{self.layer}: {what}"[:160]
            if big.any():
                fig["max_rel"] = max(fig["max_rel"], float((diff[big] / np.abs(e[big])).max()))

    probing = Probing()
    for test in property_tests(names):
        print(f"errors: {test.__name__}", file=sys.stderr, flush=True)
        for layer in layers:
            if known_entries(target, test, layer):
                # A cell the real target fails (a reviewed bug): its differences are the
                # bug's, not rounding, and earn no tolerance.
                failures.setdefault(f"{test.__name__}/{layer}", {})["known failure: not run"] = 1
                continue
            check = Recording(property_id(test), layer, target.name, on_example=target.new_example)
            for outcome in run_examples(test, probing, layer, examples, check):
                failures.setdefault(f"{test.__name__}/{layer}", {}).setdefault(outcome, 0)
                failures[f"{test.__name__}/{layer}"][outcome] += 1
    if not names:
        from properties import test_state_machine as machine

        for layer in layers:
            if known_entries(target, machine.test_state_machine, layer):
                failures.setdefault(f"test_state_machine/{layer}", {})["known failure: not run"] = 1
                continue
            check = Recording("state_machine", layer, target.name, on_example=target.new_example)
            try:
                machine.run_state_machine(probing, layer, check, settings_for(examples))
            except Exception as exc:  # a failure that is no comparison (a crash, a missing API)
                failures.setdefault(f"test_state_machine/{layer}", {})[describe(exc)] = 1
            finally:
                target.clear()
    return figures, failures


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {getattr(exc, 'check', None) or str(exc)}"[:200]


def settings_for(examples: int):
    from hypothesis import HealthCheck, Phase, settings

    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.generate,),
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )


def run_examples(test, target, layer: str, examples: int, check) -> list[str]:
    """Run ``test``'s body on ``examples`` derandomized examples; what failed, one per example.

    A failure does not stop the search: the figures of the other examples still count.
    """
    from hypothesis import given
    from hypothesis import strategies as st

    outcomes: list[str] = []

    @settings_for(examples)
    @given(data=st.data())
    def run(data):
        try:
            test.hypothesis.inner_test(target=target, layer_kind=layer, check=check, data=data)
        except Exception as exc:  # counted, and the search goes on
            if type(exc).__name__ in ("Skipped", "OutcomeException"):
                raise
            outcomes.append(describe(exc))

    try:
        run()
    except BaseException as exc:  # pytest.skip: the test does not apply to this layer
        if "skip" not in type(exc).__name__.lower():
            raise
        outcomes.append(f"skipped: {exc}")
    finally:
        target.clear()
    return outcomes


def measure_floor(target, layers, examples: int, names: list[str], factors: list[float]) -> dict:
    """Per scaling factor of the carried state, under each tolerance entry: does the bite see it?

    The bite as ``tests/test_properties_bite.py`` runs it (``run_bite``): up to
    ``examples`` examples, stopping at the first that fails on the break, passes on
    the no-op baseline, by the check the bite expects.
    """
    import importlib

    from harness.errors import HarnessUsageError
    from harness.targets.base import Target
    from tests.broken_targets import BrokenTarget, PretendsGpu, WrappedRunner, scales_carried_state
    from tests.property_runner import run_bite

    entries: dict[str, Target] = {"cpu": target}
    for precision in ("strict", "native"):
        entries[f"gpu-{precision}"] = PretendsGpu(target, precision=precision)
    out: dict[str, dict] = {}
    for name, entry in entries.items():
        if name not in names:
            continue
        try:
            tolerances = {c: str(entry.tolerance(c)) for c in ("consistency", "reference")}
        except HarnessUsageError as exc:
            out[name] = {"tolerance": f"no entry: {exc}"}
            continue
        out[name] = {"tolerance": "; ".join(f"{c}: {t}" for c, t in tolerances.items())}
        baseline = BrokenTarget(entry, WrappedRunner, "no-op")
        for module_name, test_name, expect in FLOOR_TESTS:
            test = getattr(importlib.import_module(f"properties.{module_name}"), test_name)
            for layer in layers:
                print(f"floor: {name} {test_name} {layer}", file=sys.stderr, flush=True)
                counts = {}
                for factor in factors:
                    seen = run_bite(
                        test,
                        baseline=baseline,
                        broken=BrokenTarget(entry, scales_carried_state(factor), f"x{factor}"),
                        layer_kind=layer,
                        expect=expect,
                        max_examples=examples,
                    )
                    counts[str(factor)] = (
                        f"caught at example {seen.examples}"
                        if seen.bitten
                        else f"0/{seen.examples} (missed)"
                    )
                out[name][f"{test_name}/{layer}"] = counts
    return out


if __name__ == "__main__":
    main()
