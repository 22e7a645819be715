"""How fast can chunked_equals_whole go at all? Counts and unit costs behind a ceiling.

Every example of ``chunked_equals_whole`` draws a layer configuration (kind, units,
features, return_sequences, return_state, use_bias, activation, reset_after), a
batch size and chunk lengths. A compiled call path (``tf.function``, ``jax.jit``)
is fast only once its program exists, and a program exists per configuration and
input shape. This script prints, for the derandomized examples the benchmark uses:

1. how many layers must be built and how many distinct programs (layer, input
   shape) must be compiled, with exact shapes and with units, features and batch
   all padded to their maxima (the most any shape bucketing could share while
   keeping the drawn flags and timesteps, which decide the program);
2. per backend, the unit costs: building a layer, an eager call, compiling a
   call path (cache off), a compiled call;
3. the ceiling: examples/s if nothing but those builds, compiles (on TensorFlow
   one trace per layer, shapes relaxed; on JAX one per program) and compiled
   calls cost anything: no drawing, no checking, no conversions.

    python benchmarks/bounds.py --examples 100
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("LSTM", "GRU", "SimpleRNN")


def drawn_cases(kind: str, examples: int) -> list:
    sys.path.insert(0, str(ROOT))
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    from harness.strategies import cases

    drawn = []

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def collect(data):
        drawn.append(data.draw(cases(kind=kind)))

    collect()
    return drawn


def counts(drawn: list, *, padded: bool) -> dict:
    """Layers to build, distinct programs (layer, input shape) and calls for ``drawn``."""
    from harness.strategies import MAX_BATCH, MAX_FEATURES, MAX_UNITS

    layers, programs, calls = set(), set(), 0
    for case in drawn:
        spec, batch = case.spec, case.batch_size
        if padded:
            spec, batch = spec.replace(units=MAX_UNITS, features=MAX_FEATURES), MAX_BATCH
        whole = spec.replace(return_sequences=True, return_state=True)
        layers |= {(spec, batch, True), (whole, None, False)}
        programs.add((whole, batch, case.timesteps))
        programs |= {(spec, batch, n) for n in case.splits}
        calls += 1 + len(case.splits)
    return {"layers": len(layers), "programs": len(programs), "calls": calls}


def unit_costs(backend: str) -> dict:
    """Milliseconds: build a layer, eager call (T=1, T=10), compile a call path, compiled call."""
    os.environ["KERAS_BACKEND"] = backend
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["RNN_HARNESS_JAX_CACHE"] = "off"
    import keras
    import numpy as np

    x10 = np.random.default_rng(0).uniform(-1, 1, (4, 10, 3)).astype("float32")
    x1 = x10[:, :1]

    def ms(fn, repeat: int = 10) -> float:
        fn()
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        return (time.perf_counter() - start) / repeat * 1000

    def build(units: int = 4):
        layer = keras.layers.LSTM(units, return_sequences=True, kernel_initializer="zeros")
        layer.build((None, None, 3))
        return layer

    layer = build()
    costs = {
        "build": ms(build),
        "eager T=1": ms(lambda: keras.ops.convert_to_numpy(layer(x1))),
        "eager T=10": ms(lambda: keras.ops.convert_to_numpy(layer(x10))),
    }
    compile_ms, call = [], None
    for units in (5, 6, 7):  # a new layer each time: a new program, as a new example has
        fresh = build(units)
        if backend == "tensorflow":
            import tensorflow as tf

            call = tf.function(fresh.__call__)
        elif backend == "jax":
            import jax

            variables = fresh.variables

            def run(values, x, fresh=fresh, variables=variables):
                with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
                    return fresh(x)

            jitted = jax.jit(run)

            def call(x, jitted=jitted, variables=variables):
                return jitted([v.value for v in variables], x)
        else:
            return {**costs, "compile": None, "compiled T=10": None}
        start = time.perf_counter()
        keras.ops.convert_to_numpy(call(x10))
        compile_ms.append((time.perf_counter() - start) * 1000)
    costs["compile"] = sum(compile_ms) / len(compile_ms)
    costs["compiled T=10"] = ms(lambda: keras.ops.convert_to_numpy(call(x10)))
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="examples per layer kind")
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(unit_costs(args.worker)))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    drawn = [case for kind in LAYERS for case in drawn_cases(kind, args.examples)]
    table = Table(title=f"chunked_equals_whole, {len(drawn)} derandomized examples")
    for column in ("shapes", "layers to build", "distinct programs", "calls"):
        table.add_column(column)
    both = {}
    for padded in (False, True):
        both[padded] = counts(drawn, padded=padded)
        row = both[padded]
        name = "units, features, batch padded to max" if padded else "exact"
        table.add_row(name, str(row["layers"]), str(row["programs"]), str(row["calls"]))
    console.print(table)

    table = Table(title="unit costs, ms (LSTM, batch 4, 3 features; compile with the cache off)")
    for column in ("backend", "build", "eager T=1", "eager T=10", "compile", "compiled T=10"):
        table.add_column(column)
    ceilings = Table(title="ceiling ex/s: only builds, compiles and compiled calls cost")
    for column in ("backend", "exact shapes", "padded to max"):
        ceilings.add_column(column)
    for backend in args.backends.split(","):
        command = [sys.executable, __file__, "--worker", backend]
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if result.returncode != 0:
            raise SystemExit(f"{backend} failed:\n{result.stderr[-3000:]}")
        cost = json.loads(result.stdout.strip().splitlines()[-1])
        table.add_row(
            backend, *(f"{cost[k]:.2f}" if cost[k] is not None else "-" for k in list(cost))
        )
        if cost["compile"] is None:
            continue  # nothing compiles: eager is all there is
        rates = []
        for padded in (False, True):
            row = both[padded]
            # TensorFlow can trace one graph per layer for every batch size and length
            # (relaxed shapes); XLA under JAX compiles per input shape.
            compiled = row["layers"] if backend == "tensorflow" else row["programs"]
            seconds = (
                row["layers"] * cost["build"]
                + compiled * cost["compile"]
                + row["calls"] * cost["compiled T=10"]
            ) / 1000
            rates.append(f"{len(drawn) / seconds:.1f}")
        ceilings.add_row(backend, *rates)
    console.print(table)
    console.print(ceilings)


if __name__ == "__main__":
    main()
