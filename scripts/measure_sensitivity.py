"""How many drawn examples could fail? The core properties' own draws, measured.

Runs each property test's body, with the very strategies and example construction
it uses, on the float64 NumPy reference target (``tests/reference_target.py``: no
framework, correct by construction, so every example passes and the draws are the
ones a framework run gets), and measures every example with ``harness.sensitivity``:
would the break its check guards against have moved what it compares by more than
the tolerance? Prints, per test and layer, the share of such examples, and what
makes the others degenerate (all-zero inputs, a single chunk, an identity
permutation), under the CPU tolerance and under the GPU ``native`` one.

    python scripts/measure_sensitivity.py                      # ci profile, as pytest runs it
    python scripts/measure_sensitivity.py --profile thorough --examples 200 --seed 1

Draws are made as ``pytest properties --hypothesis-profile PROFILE --rnn-seed SEED``
(and ``rnn-harness run --profile PROFILE --seed SEED``) makes them: each test and
layer from its own seed, derived from the run's (``harness.seeds``; 0 for ci).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import settings  # noqa: E402

from harness import seeds, sensitivity  # noqa: E402
from harness.check import PropertyCheck  # noqa: E402
from harness.profiles import register_profiles  # noqa: E402
from harness.pytest_plugin import LAYER_FIXTURE  # noqa: E402
from harness.specs import LAYER_KINDS  # noqa: E402
from harness.tolerance import Tolerance  # noqa: E402
from tests.reference_target import ReferenceTarget  # noqa: E402

Measure = Callable[[dict, Tolerance], float]
# The core tests and initial_state_equals_carried_state, by property module.
TESTS = (
    ("chunked_equals_whole", "test_chunked_equals_whole"),
    ("sample_i_continues_sample_i", "test_permuted_rows_give_permuted_outputs_and_states"),
    ("sample_i_continues_sample_i", "test_a_row_continues_only_its_own_history"),
    ("reset_restores_zero_state", "test_reset_restores_zero_state"),
    ("stateless_batches_independent", "test_stateless_batches_independent"),
    ("initial_state_equals_carried_state", "test_initial_state_equals_carried_state"),
)
TOLERANCES = {
    "cpu": ReferenceTarget().tolerance("consistency"),
    "gpu-native": ReferenceTarget(device="gpu", precision="native").tolerance("consistency"),
}


class MeasuringCheck(PropertyCheck):
    """Measures each example as it starts (all its draws are made by then), and counts
    distinct configurations (spec, batch size, chunking): what the examples vary."""

    def __init__(self, measure: Measure, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.measure = measure
        self.rows: list[dict] = []
        self.specs: set = set()

    def example(self, **data) -> None:
        super().example(**data)
        case = data["case"]
        self.specs.add((case.spec, case.batch_size, case.splits))
        perm = data.get("permutation")
        self.rows.append(
            {
                "margins": {k: self.measure(data, tol) for k, tol in TOLERANCES.items()},
                "zero_input": not case.x.any(),
                "one_chunk": len(case.splits) == 1,
                "identity": perm is not None and list(perm) == sorted(perm),
            }
        )


def measure(prop: str, test_name: str, layer: str, run_seed: int) -> MeasuringCheck:
    module = importlib.import_module(f"properties.test_{prop}")
    test = getattr(module, test_name)
    target = ReferenceTarget()
    check = MeasuringCheck(sensitivity.BY_TEST[test_name], prop, layer, target.name)
    # The seed the pytest plugin gives this test and layer (harness.seeds.SeedPlugin).
    key = seeds.key(module.__name__, test_name, {LAYER_FIXTURE: layer})
    test._hypothesis_internal_use_seed = seeds.derive_seed(run_seed, key)
    try:
        test(target=target, layer_kind=layer, check=check)
    finally:
        test._hypothesis_internal_use_seed = None
    return check


def share(count: int, total: int) -> str:
    return f"{count}/{total} ({100 * count / max(total, 1):.0f}%)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci", help="Hypothesis profile (default: ci)")
    parser.add_argument("--examples", type=int, help="examples per test (default: the profile's)")
    parser.add_argument("--layers", default=",".join(LAYER_KINDS))
    parser.add_argument(
        "--seed",
        help="the run's seed, as `rnn-harness run --seed N` takes it "
        "(default: 0 for derandomized profiles such as ci, else a fresh random seed)",
    )
    args = parser.parse_args()
    register_profiles()
    profile = settings.get_profile(args.profile)
    args.seed = seeds.resolve_run_seed(args.seed, derandomized=profile.derandomize, source="--seed")
    changes = {} if args.examples is None else {"max_examples": args.examples}
    seeded = seeds.seeded_settings(profile, database=None)
    settings.register_profile("measure", parent=seeded, database=None, **changes)
    settings.load_profile("measure")

    from rich.console import Console
    from rich.table import Table

    console = Console(width=180)
    table = Table(
        title=f"examples that could fail, profile {args.profile}, seed {args.seed} "
        f"({settings().max_examples} examples per test and layer)"
    )
    for column in (
        "test",
        "layer",
        "sensitive, cpu tol",
        "sensitive, gpu native tol",
        "counted by the property",
        "all-zero x",
        "one chunk",
        "identity perm",
        "distinct configs",
    ):
        table.add_column(column)
    totals = {"cpu": [0, 0], "gpu-native": [0, 0]}
    for prop, test_name in TESTS:
        for layer in args.layers.split(","):
            check = measure(prop, test_name, layer, args.seed)
            rows = check.rows
            n = len(rows)
            counts = {k: sum(r["margins"][k] > 1 for r in rows) for k in TOLERANCES}
            for k, c in counts.items():
                totals[k][0] += c
                totals[k][1] += n
            own = getattr(check, "sensitive_examples", None)
            table.add_row(
                test_name.removeprefix("test_"),
                layer,
                share(counts["cpu"], n),
                share(counts["gpu-native"], n),
                "-" if own is None else share(own, check.examples),
                share(sum(r["zero_input"] for r in rows), n),
                share(sum(r["one_chunk"] for r in rows), n),
                share(sum(r["identity"] for r in rows), n) if "perm" in test_name else "-",
                str(len(check.specs)),
            )
    console.print(table)
    for k, (c, n) in totals.items():
        console.print(f"all tests, tolerance {k} ({TOLERANCES[k]}): {share(c, n)} sensitive")


if __name__ == "__main__":
    main()
