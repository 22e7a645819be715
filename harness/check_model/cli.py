"""``rnn-harness check-model MODEL``: the subcommand's parser, its output, its exit status.

Exit 0: streamable; 1: not streamable, or streaming differs; 2: usage error (one
line on stderr, no traceback). ``harness/cli`` adds the parser with
``add_check_model_parser``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from harness.check_model.check import check_model
from harness.check_model.diagnose import BLOCKS, NOTE, STREAMS, UNKNOWN
from harness.check_model.inputs import MAX_TIMESTEPS, MIN_TIMESTEPS
from harness.check_model.load import check_model_file, check_target, resolve_keras
from harness.check_model.report import replay_options, write_report
from harness.check_model.result import StreamingResult
from harness.cli.arguments import writable_directory
from harness.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, HarnessUsageError, check_argument
from harness.profiles import PROFILES, max_examples
from harness.targets import DEFAULT_TARGET, KERAS3_TARGETS

DEFAULT_OUT = "reports/check-model"
DEFAULT_PROFILE = "ci"  # the example count of `rnn-harness run` in CI; every run is seeded
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")  # what keras.saving.load_model reads (Keras 3)
# What TensorFlow's C++ start-up writes to stderr before absl logging is set up, which
# TF_CPP_MIN_LOG_LEVEL cannot silence: dropped from the import, so that a usage error
# found in the model is one line.
START_UP_CHATTER = re.compile(
    r"All log messages before absl::InitializeLog\(\)|port\.cc:\d+\] oneDNN custom operations"
)


def add_check_model_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``check-model`` to ``rnn-harness``'s subcommands (``set_defaults(func=...)``)."""
    parser = subparsers.add_parser(
        "check-model",
        help="does streaming (stateful, chunked) inference of your saved model equal "
        "whole-sequence inference?",
        description="Diagnose a saved Keras model's layers for streaming, build its stateful "
        "twin, and check with Hypothesis that chunked streaming equals whole-sequence "
        "inference. Exit 0: streamable; 1: not streamable or differs; 2: usage error.",
    )
    parser.add_argument("model", help="the saved model (.keras)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="B, the fixed batch size of the stateful twin (default: 1)",
    )
    parser.add_argument(
        "--data",
        help="a .npy array shaped like the model's input (N, T, features...); each example "
        "streams B of its rows (default: random bounded data)",
    )
    parser.add_argument(
        "--timesteps",
        type=int,
        help=f"timesteps per sequence (default: all of --data's, else drawn from "
        f"{MIN_TIMESTEPS}..{MAX_TIMESTEPS})",
    )
    parser.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        choices=PROFILES,
        help=f"Hypothesis profile, for its example count (default: {DEFAULT_PROFILE})",
    )
    parser.add_argument(
        "--max-examples",
        type=int,
        help="Hypothesis examples (default: the profile's: "
        + ", ".join(f"{name} {max_examples(name)}" for name in PROFILES)
        + ")",
    )
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default: 0)")
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"report directory (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="load with safe_mode=False (runs code stored in the file, e.g. Lambda layers); "
        "only for files you trust (default: off)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="run the numeric check even when the diagnosis finds blockers (default: off)",
    )
    parser.add_argument(
        "--target",
        default=None,
        help=f"one of {', '.join(KERAS3_TARGETS)} (default: {DEFAULT_TARGET})",
    )
    parser.set_defaults(func=cmd_check_model)
    return parser


def _print_result(result: StreamingResult, paths: dict[str, Path]) -> None:
    from rich.console import Console
    from rich.markup import escape

    width = None if sys.stdout.isatty() else 140
    out = Console(highlight=False, width=width, file=sys.stdout)
    colours = {STREAMS: "green", NOTE: "cyan", BLOCKS: "bold red", UNKNOWN: "yellow"}
    out.print(
        f"rnn-harness check-model: {result.model_name} ({result.model_path}) "
        f"target={result.target} batch size={result.batch_size}",
        markup=False,
    )
    out.print("diagnosis:")
    for d, line in zip(result.diagnosis, result.diagnosis_lines(), strict=True):
        verdict, rest = line[:9], line[9:]  # the verdict column, coloured
        out.print(f"  [{colours[d.verdict]}]{verdict}[/]" + escape(rest), soft_wrap=True)
    if result.message:
        out.print(result.message, markup=False, soft_wrap=True)
    colour = "green" if result.passed else "bold red"
    out.print(
        f"verdict: [{colour}]{result.verdict}[/] ({result.examples} examples, "
        f"{result.duration_s:.1f}s"
        + (f", max |error| {result.max_abs_error:.3g}" if result.max_abs_error is not None else "")
        + (f", tolerance {result.tolerance}" if result.tolerance else "")
        + ")"
    )
    if "reproducer" in paths:
        out.print(f"reproducer: python {paths['reproducer']}", markup=False)
    reports = ", ".join(str(p) for k, p in paths.items() if k != "reproducer")
    out.print(f"reports: {reports}", markup=False)


def _check_model_format(path: Path) -> None:
    """A usage error, before Keras loads, for a file Keras cannot read as a model."""
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise HarnessUsageError(
            f"{str(path)!r} could not be loaded as a Keras model: expected a .keras file "
            f"written by model.save('model.keras') (or a legacy .h5). Received a "
            f"{path.suffix or 'suffix-less'!r} file. Pass the saved model's file"
        )


def _check_data_file(raw: str) -> None:
    """A usage error, before Keras loads, unless ``--data`` is a NumPy array of sequences.

    Whether its shape fits the model is checked once the model is loaded.
    """
    path = Path(raw).expanduser()
    if not path.is_file():
        raise HarnessUsageError(
            f"No data file at {raw!r}: expected a .npy array shaped like the model's "
            "input (N, T, features), saved with numpy.save. Check the path"
        )
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise HarnessUsageError(
            f"{raw!r} is not a NumPy array file: expected a .npy array shaped like the "
            f"model's input (N, T, features), saved with numpy.save. Received: "
            f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        ) from None
    if not isinstance(array, np.ndarray):  # an .npz archive of several arrays
        raise HarnessUsageError(
            f"{raw!r} holds several arrays (.npz): expected one .npy array shaped like the "
            "model's input (N, T, features). Save the one array with numpy.save"
        )
    if array.ndim < 2:
        raise HarnessUsageError(
            f"--data has shape {array.shape}: expected sequences, (N, T, features) or "
            "(N, T) tokens. Reshape or re-save the array"
        )


@contextlib.contextmanager
def _start_up_chatter_dropped() -> Iterator[None]:
    """Hold what is written to file descriptor 2 meanwhile; pass on all but START_UP_CHATTER."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            for line in held.read().decode(errors="replace").splitlines(keepends=True):
                if not START_UP_CHATTER.search(line):
                    sys.stderr.write(line)
            sys.stderr.flush()


def cmd_check_model(args: argparse.Namespace) -> int:
    """``rnn-harness check-model``: 0 streamable, 1 not streamable or differs, 2 usage error."""
    try:
        target = check_target(args.target or DEFAULT_TARGET)
        check_argument(
            args.batch_size >= 1,
            f"--batch-size {args.batch_size} must be at least 1 (the stateful batch size)",
        )
        check_argument(
            args.max_examples is None or args.max_examples >= 1,
            f"--max-examples {args.max_examples} must be at least 1",
        )
        check_argument(
            args.timesteps is None or args.timesteps >= MIN_TIMESTEPS,
            f"--timesteps {args.timesteps} must be at least {MIN_TIMESTEPS}: a stream needs "
            "two chunks",
        )
        # Every check that needs no model first, so that a mistake fails before Keras imports.
        _check_model_format(check_model_file(args.model))
        if args.data is not None:
            _check_data_file(args.data)
        writable_directory(args.out, option="--out")
        with _start_up_chatter_dropped():
            resolve_keras(target)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = check_model(
                args.model,
                batch_size=args.batch_size,
                data=args.data,
                timesteps=args.timesteps,
                max_examples=args.max_examples,
                profile=args.profile,
                run_seed=args.seed,
                unsafe=args.unsafe,
                force=args.force,
                target=target,
            )
        paths = write_report(
            result,
            args.out,
            profile=args.profile,
            run_seed=args.seed,
            options=replay_options(args),
        )
    except HarnessUsageError as exc:
        message = " ".join(str(exc).split())
        print(f"rnn-harness: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    _print_result(result, paths)
    return EXIT_OK if result.passed else EXIT_FAILED
