"""``rnn-harness matrix SPEC``: the harness in one cached environment per framework version."""

from __future__ import annotations

import argparse
import json
import sys

from harness.cli.arguments import positive_int, writable_directory
from harness.cli.console import out
from harness.cli.known import resolve_known_failures
from harness.errors import EXIT_FAILED, EXIT_OK


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``matrix`` and its options to ``subparsers``."""
    matrix = subparsers.add_parser(
        "matrix", help="run the harness in one cached environment per framework version"
    )
    matrix.add_argument(
        "spec", help="matrix spec TOML (see matrix/upgrade.toml, matrix/keras3-releases.toml)"
    )
    matrix.add_argument(
        "--out", default="reports/matrix", help="output directory (default: reports/matrix)"
    )
    matrix.add_argument(
        "--cache",
        default=".rnn-harness/matrix",
        help="environments and cached results; a second run reuses every result whose "
        "inputs did not change (default: .rnn-harness/matrix)",
    )
    matrix.add_argument(
        "--jobs", type=positive_int, default=1, help="environments at once (default: 1)"
    )
    matrix.add_argument(
        "--entry",
        action="append",
        metavar="NAME",
        help="run only this entry of the spec (one CI job per entry); repeatable, or a "
        "comma list (default: every entry)",
    )
    matrix.add_argument(
        "--from-cache",
        action="store_true",
        help="run nothing: build the matrix from the results already in --cache (e.g. those "
        "of one CI job per --entry); an entry without one reads not_run (default: run)",
    )
    matrix.add_argument(
        "--remove-environments",
        action="store_true",
        help="delete each entry's virtual environment once its result is cached: about "
        "1 GB each, so a long spec may not fit otherwise; a later run that needs one "
        "installs it again (default: keep them)",
    )
    matrix.add_argument(
        "--list",
        action="store_true",
        help="print the spec's entry names as a JSON list and exit (for a CI job matrix)",
    )
    matrix.add_argument(
        "--known-failures",
        action="append",
        metavar="PATH",
        help="a project's own known-failures TOML, in addition to the file shipped with "
        "rnn-harness; repeatable (default: the shipped file only)",
    )
    matrix.set_defaults(func=cmd_matrix)
    return matrix


def cmd_matrix(args: argparse.Namespace) -> int:
    """Run every entry (or those of --entry), write the matrix report and each entry's
    report; exit 1 if an environment did not install or run."""
    from harness import matrix

    spec = matrix.load_matrix_spec(args.spec)
    if args.list:
        sys.stdout.write(json.dumps([e.name for e in spec.entries]) + "\n")
        return EXIT_OK
    if args.entry is not None:
        names = [n.strip() for raw in args.entry for n in raw.split(",") if n.strip()]
        spec = matrix.select_entries(spec, names, source=args.spec)
    # Validated before any install; each environment applies its own shipped file.
    known_files, _ = resolve_known_failures(args.known_failures, shipped=False)
    out_dir = writable_directory(args.out, option="--out")
    cache = writable_directory(args.cache, option="--cache")
    out.print(
        f"rnn-harness matrix: {len(spec.entries)} environments, profile {spec.profile}, "
        f"jobs {args.jobs}, cache {args.cache}"
        + (", from the cache only" if args.from_cache else "")
    )

    def done(result) -> None:
        summary = result.report["summary"] if result.report else {}
        counts = ", ".join(f"{v} {k}" for k, v in summary.items() if v)
        timings = ", ".join(f"{k} {v:.0f} s" for k, v in result.extra.get("timings", {}).items())
        details = "; ".join(p for p in (counts, timings) if p)
        out.print(
            f"  {result.entry.name}: {result.status}"
            + (f" ({details})" if details else "")
            + (f" — {result.message}" if result.message else ""),
            markup=False,
        )

    results = matrix.run_matrix(
        spec,
        work=cache,
        known_failures=[str(f) for f in known_files],
        jobs=args.jobs,
        on_done=done,
        from_cache=args.from_cache,
        keep_environments=not args.remove_environments,
    )
    merged = matrix.merge_matrix(results, spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "matrix.json").write_text(json.dumps(merged, indent=2), encoding="utf-8")
    (out_dir / "matrix.md").write_text(matrix.render_matrix_markdown(merged), encoding="utf-8")
    (out_dir / "matrix.html").write_text(matrix.render_matrix_html(merged), encoding="utf-8")
    for result in results:
        if result.report is not None:
            entry_out = out_dir / result.entry.name
            entry_out.mkdir(exist_ok=True)
            (entry_out / "report.json").write_text(
                json.dumps(result.report, indent=2), encoding="utf-8"
            )
    out.print(
        f"matrix: {out_dir / 'matrix.md'}, {out_dir / 'matrix.html'}, {out_dir / 'matrix.json'}"
    )
    failed = any(r.status in ("install_failed", "run_failed", "not_run") for r in results)
    return EXIT_FAILED if failed else EXIT_OK
