"""``rnn-harness compare OLD NEW``: what changed between two runs; exit 1 if anything broke."""

from __future__ import annotations

import argparse
import sys

from harness.cli.arguments import writable_file
from harness.errors import EXIT_FAILED, EXIT_OK


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``compare`` and its arguments to ``subparsers``."""
    compare = subparsers.add_parser("compare", help="what changed between two report.json files")
    compare.add_argument("old", help="the earlier report.json")
    compare.add_argument("new", help="the later report.json")
    compare.add_argument("--html", help="also write the comparison as HTML to this file")
    compare.set_defaults(func=cmd_compare)
    return compare


def cmd_compare(args: argparse.Namespace) -> int:
    """Print the comparison as Markdown (and write HTML if asked); exit 1 on a regression."""
    from harness.report.compare import compare_reports, render_compare_html, render_compare_markdown
    from harness.report.model import load_report

    old, new = load_report(args.old), load_report(args.new)
    html = writable_file(args.html, option="--html") if args.html else None
    comparison = compare_reports(old, new)
    sys.stdout.write(render_compare_markdown(comparison))
    if html is not None:
        html.write_text(render_compare_html(comparison), encoding="utf-8")
    return EXIT_FAILED if comparison.regressed else EXIT_OK
