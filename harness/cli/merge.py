"""``rnn-harness merge REPORT.json... --out DIR``: one report of many, and the gate on it.

The reports of a run's shards (``rnn-harness run --shard K/N`` on each CI job), or of
runs on other targets or versions, become one report in every format, with reproducers;
the exit status is the gate's. A row given twice for one environment, a missing shard,
or reports of different profiles or seeds are usage errors (``harness.report.merge``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.arguments import writable_directory
from harness.cli.console import out
from harness.errors import EXIT_OK

DEFAULT_OUT = "reports/merged"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``merge`` and its arguments to ``subparsers``."""
    merge = subparsers.add_parser(
        "merge", help="merge report.json files (shards, targets, versions) into one; gate"
    )
    merge.add_argument(
        "reports",
        nargs="+",
        metavar="REPORT",
        help="report.json files, or directories that hold one (written by rnn-harness run)",
    )
    merge.add_argument(
        "--out", default=DEFAULT_OUT, help=f"report directory (default: {DEFAULT_OUT})"
    )
    merge.set_defaults(func=cmd_merge)
    return merge


def cmd_merge(args: argparse.Namespace) -> int:
    """Load every report, merge them, write all formats and reproducers; exit as the gate."""
    from harness.report import write_all
    from harness.report.merge import merge_reports
    from harness.report.model import exit_code, load_report
    from harness.report.writers import summary_line
    from harness.reproducers import write_reproducers

    paths = [Path(p) / "report.json" if Path(p).is_dir() else Path(p) for p in args.reports]
    reports = [(str(p), load_report(p)) for p in paths]
    out_dir = writable_directory(args.out, option="--out")
    merged = merge_reports(reports)
    write_reproducers(merged, out_dir)
    written = write_all(merged, out_dir)
    out.print(f"rnn-harness merge: {len(reports)} reports, {len(merged['targets'])} environments")
    out.print(summary_line(merged))
    out.print("reports: " + ", ".join(str(p) for p in written.values()))
    code = exit_code(merged)
    out.print(
        "gate: [green]pass[/]" if code == EXIT_OK else "gate: [bold red]FAIL[/] (new failures)"
    )
    return code
