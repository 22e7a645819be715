"""Largest mixed_float16 error against the float64 reference, over the exact strategy of
test_mixed_precision_matches_reference. Usage: survey_mixed_float16.py TARGET KIND N"""

import sys
import time

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings

from harness.reference import run_reference
from harness.strategies import model_cases, model_specs
from harness.targets import get_target
from harness.targets.keras3_models import model_runner
from properties.test_composition import MIXED_PRECISION_MAGNITUDES

target, kind, n = get_target(sys.argv[1]), sys.argv[2], int(sys.argv[3])
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
    derandomize=len(sys.argv) < 5,
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
    sys.argv[1],
    kind,
    {k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in worst.items()},
    f"{time.time() - t0:.0f}s",
)
