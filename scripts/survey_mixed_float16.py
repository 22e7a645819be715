"""Largest mixed_float16 error against the float64 reference, over the exact strategy of
test_mixed_precision_matches_reference. Usage: survey_mixed_float16.py TARGET KIND N [--random]"""

import argparse
import time

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings

from harness.reference import run_reference
from harness.strategies import model_cases, model_specs
from harness.targets import get_target
from harness.targets.keras3_models import model_runner
from properties.test_composition import MIXED_PRECISION_MAGNITUDES

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("target", help="e.g. keras3-tensorflow, keras3-jax, keras3-torch")
parser.add_argument("kind", choices=("LSTM", "GRU", "SimpleRNN"), help="layer kind")
parser.add_argument("n", type=int, help="how many examples")
parser.add_argument("--random", action="store_true", help="random draws (default: derandomized)")
args = parser.parse_args()
target, kind, n = get_target(args.target), args.kind, args.n
worst = {"abs(|ref|<=1)": 0.0, "rel(|ref|>1)": 0.0, "max_abs": 0.0, "skipped": 0, "examples": 0}


def update(actual, expected):
    d = np.abs(np.asarray(actual, np.float64) - expected)
    small = np.abs(expected) <= 1
    if small.any():
        worst["abs(|ref|<=1)"] = max(worst["abs(|ref|<=1)"], float(d[small].max()))
    if (~small).any():
        worst["rel(|ref|>1)"] = max(
            worst["rel(|ref|>1)"], float((d[~small] / np.abs(expected[~small])).max())
        )
    worst["max_abs"] = max(worst["max_abs"], float(d.max()))


@settings(
    max_examples=n,
    derandomize=not args.random,
    database=None,
    deadline=None,
    phases=(Phase.generate,),
    suppress_health_check=list(HealthCheck),
)
@given(
    model_cases(
        model_specs(first_kind=kind, max_layers=1, dtype="mixed_float16"),
        magnitudes=MIXED_PRECISION_MAGNITUDES,
    )
)
def survey(case):
    layer = case.spec.layers[0].layer
    if target.name == "keras3-jax" and kind == "GRU" and not layer.use_bias:
        worst["skipped"] += 1  # crashes: a finding, not a measurement
        return
    runner = model_runner(target, case.spec.returning_everything(), batch_size=None, stateful=False)
    runner.set_weights(case.weights)
    out = runner(case.x)
    ref = run_reference(layer, case.weights, case.x)
    update(out.output, ref.sequence)
    for state, want in zip(out.states, ref.states, strict=True):
        update(state, want)
    worst["examples"] += 1
    target.clear()


t0 = time.time()
survey()
print(
    args.target,
    kind,
    {k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in worst.items()},
    f"{time.time() - t0:.0f}s",
)
