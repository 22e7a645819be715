"""``rnn-harness explain``: the usual state questions, answered from a run's report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.run import DEFAULT_OUT
from harness.errors import EXIT_OK, HarnessUsageError


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``explain`` and its option to ``subparsers``."""
    explain = subparsers.add_parser(
        "explain", help="answer the usual state questions from a run's report, in plain English"
    )
    explain.add_argument(
        "--report",
        default=f"{DEFAULT_OUT}/report.json",
        help=f"report.json to answer from (default: {DEFAULT_OUT}/report.json)",
    )
    explain.set_defaults(func=cmd_explain)
    return explain


def cmd_explain(args: argparse.Namespace) -> int:
    """Print the answers; a missing report is a usage error that says to run first."""
    from harness.explain import explain
    from harness.report.model import load_report

    path = Path(args.report)
    if not path.exists():
        raise HarnessUsageError(
            f"No report at {str(path)!r}: explain answers from a run's evidence. "
            "Run `rnn-harness run` first, or pass --report PATH"
        )
    sys.stdout.write(explain(load_report(path)) + "\n")
    return EXIT_OK
