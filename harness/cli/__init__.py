"""``rnn-harness``: run the properties per target, write reports, gate CI, compare runs.

One module per command (``run``, ``compare``, ``merge``, ``matrix``, ``explain``;
``check-model`` lives with its own package), each with ``add_parser(subparsers)`` and
its ``cmd_*``.
Every user mistake (unknown target or property, missing file, malformed report,
unwritable output, an option given twice) ends in one line on stderr and exit
status 2, never a traceback, and before any framework is imported: the parsers
and checks import no framework, and each command imports what runs it lazily.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from harness.cli import compare, explain, matrix, merge, run
from harness.cli.arguments import HarnessArgumentParser
from harness.cli.console import err
from harness.errors import EXIT_INTERRUPTED, EXIT_USAGE, HarnessUsageError


def build_parser() -> argparse.ArgumentParser:
    """The ``rnn-harness`` parser: a subcommand each, whose ``func`` runs it."""
    # Imported here: harness.check_model.cli may import harness.cli's modules.
    from harness.check_model.cli import add_check_model_parser

    parser = HarnessArgumentParser(
        prog="rnn-harness",
        description="Property-based verification of Keras recurrent-layer state semantics.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (run, compare, merge, matrix, explain):
        command.add_parser(sub)
    add_check_model_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnn-harness`` console script; returns the exit status.

    Example:
        >>> main(["explain", "--report", "no/such/report.json"])
        2
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HarnessUsageError as exc:
        err.print(f"rnn-harness: error: {exc}", markup=False, soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("rnn-harness: interrupted")
        return EXIT_INTERRUPTED
