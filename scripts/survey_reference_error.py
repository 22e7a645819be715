"""Measure the largest float32-vs-float64 reference error over the strategies' distribution.

The figures justify the ``reference`` entries in harness/tolerance.py:

    python scripts/survey_reference_error.py --target keras3-tensorflow --examples 300
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="keras3-tensorflow")
    parser.add_argument("--examples", type=int, default=300)
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.target.removeprefix("keras3-")

    from harness.reference import run_reference
    from harness.specs import LAYER_KINDS
    from harness.strategies import cases
    from harness.targets import get_target

    target = get_target(args.target)

    def survey_kind(kind: str) -> dict[str, float]:
        worst = {"abs": 0.0, "rel": 0.0}

        @settings(
            max_examples=args.examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(data=st.data())
        def survey(data):
            case = data.draw(cases(kind=kind, return_sequences=True))
            runner = target.runner(case.spec, batch_size=None, stateful=False)
            runner.set_weights(case.weights)
            out = runner(case.x).output
            ref = run_reference(case.spec, case.weights, case.x).sequence
            diff = np.abs(out - ref)
            worst["abs"] = max(worst["abs"], float(diff.max()))
            big = np.abs(ref) > 1.0  # relative error only where it is meaningful
            if big.any():
                worst["rel"] = max(worst["rel"], float((diff[big] / np.abs(ref[big])).max()))

        survey()
        return worst

    for kind in LAYER_KINDS:
        worst = survey_kind(kind)
        print(
            f"{args.target} {kind:9s} examples={args.examples} "
            f"max_abs_error={worst['abs']:.3g} max_rel_error(|ref|>1)={worst['rel']:.3g}"
        )


if __name__ == "__main__":
    main()
