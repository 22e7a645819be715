"""Measure the largest float32 errors over the strategies' distribution, per layer kind.

The figures justify the entries in harness/tolerance.py. For each example it
measures three things:

- ``reference``: a stateless whole-sequence run against the float64 reference
  (absolute, and relative where |ref| > 1);
- ``consistency``: a stateful chunked run against the stateless whole run;
- ``cudnn``: LSTM/GRU with ``use_cudnn="auto"`` against ``use_cudnn=False``, on
  layers cuDNN can implement (a GPU picks cuDNN for "auto"; a CPU has none).

    python scripts/survey_reference_error.py --target keras3-tensorflow --examples 300
    python scripts/survey_reference_error.py --target keras3-torch --precision native --json out.json
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="keras3-tensorflow")
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--precision", default="strict", choices=("strict", "native"))
    parser.add_argument("--json", help="also write the figures as JSON to this file")
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.target.removeprefix("keras3-")
    os.environ["RNN_HARNESS_PRECISION"] = args.precision

    from harness.reference import run_reference
    from harness.specs import LAYER_KINDS
    from harness.strategies import cases
    from harness.targets import get_target

    target = get_target(args.target)

    def chunked_vs_whole(case) -> float:
        spec = case.spec.replace(return_sequences=True)
        stateful = target.runner(spec, batch_size=case.batch_size, stateful=True)
        stateful.set_weights(case.weights)
        chunked = np.concatenate([stateful(c).output for c in case.chunks()], axis=1)
        whole = target.runner(spec, batch_size=None, stateful=False)
        whole.set_weights(case.weights)
        return float(np.abs(chunked - whole(case.x).output).max())

    def cudnn_vs_generic(case) -> float:
        outputs = []
        for mode in ("auto", False):
            spec = case.spec.replace(return_sequences=True, use_cudnn=mode)
            runner = target.runner(spec, batch_size=case.batch_size, stateful=True)
            runner.set_weights(case.weights)
            outputs.append(np.concatenate([runner(c).output for c in case.chunks()], axis=1))
        return float(np.abs(outputs[0] - outputs[1]).max())

    def survey_kind(kind: str) -> dict[str, float]:
        worst = {"reference_abs": 0.0, "reference_rel": 0.0, "consistency_abs": 0.0}
        if kind != "SimpleRNN":
            worst["cudnn_abs"] = 0.0

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
            worst["reference_abs"] = max(worst["reference_abs"], float(diff.max()))
            big = np.abs(ref) > 1.0  # relative error only where it is meaningful
            if big.any():
                rel = float((diff[big] / np.abs(ref[big])).max())
                worst["reference_rel"] = max(worst["reference_rel"], rel)
            worst["consistency_abs"] = max(worst["consistency_abs"], chunked_vs_whole(case))
            if "cudnn_abs" in worst:
                eligible = data.draw(cases(kind=kind, cudnn_eligible=True))
                worst["cudnn_abs"] = max(worst["cudnn_abs"], cudnn_vs_generic(eligible))
            target.clear()

        survey()
        return worst

    figures = {"target": target.info(), "examples": args.examples, "kinds": {}}
    for kind in LAYER_KINDS:
        worst = figures["kinds"][kind] = survey_kind(kind)
        print(
            f"{args.target} {args.precision} {kind:9s} examples={args.examples} "
            + " ".join(f"max_{k}={v:.3g}" for k, v in worst.items()),
            flush=True,
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(figures, stream, indent=2, default=str)


if __name__ == "__main__":
    main()
