#!/usr/bin/env python
"""Record the counterexample of each known failure from a run's report, for replay.

    python scripts/record_known_counterexamples.py REPORT.json [REPORT.json ...] \
        [--known-failures harness/data/known_failures.toml]

For every ``known_failure`` row, each entry it hit gets, for the row's layer, the
first example that failed as the entry records — the failure (exception type,
check label, message) and the example as plain data — written to
``counterexamples/<entry>-<layer>.json`` beside the known-failures file (by default
the reviewed file shipped in the package, ``harness/data/known_failures.toml``), and
``counterexample = { <layer> = "..." }`` added to the entry. Entries that already
have a counterexample for a layer keep it. Review the diff before committing:
each file is what every later run replays.

A ``failed`` or ``error`` row counts too, for an entry written after the run that
found it (e.g. from the reports of a release-line matrix): its shrunk counterexample
is recorded for the entry that covers the row and whose signature matches the row's
failing check (or, for an error, the exception type and message the row records).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

from harness.errors import HarnessUsageError
from harness.known_failures import SHIPPED_KNOWN_FAILURES, KnownFailure, load_known_failures
from harness.report.model import load_report


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def collect(reports: list[Path], entries: list[KnownFailure]) -> dict[int, dict[str, dict]]:
    """``{entry index: {layer: {"failure", "example"}}}`` from the reports' known hits.

    A hit belongs to the entry of this file that covers its row and has its signature
    (matched by content: the report may have been written with another revision of the file).
    """
    found: dict[int, dict[str, dict]] = {}
    for path in reports:
        for row in load_report(path)["results"]:
            if row["status"] in ("failed", "error"):
                _collect_failed(row, entries, found)
            if row["status"] not in ("known_failure", "failed"):  # a failed row keeps its hits
                continue
            for hit in (row.get("details") or {}).get("known_hits", {}).values():
                if hit.get("counterexample") is None:
                    continue
                for index, entry in enumerate(entries, start=1):
                    same = entry.signature.describe() == hit["signature"]
                    if (same or _matches(entry, hit["failure"])) and entry.covers(
                        property_id=row["property"],
                        test=row["test"],
                        layer=row["layer"],
                        target=row["target"],
                    ):
                        recorded = {"failure": hit["failure"], "example": hit["counterexample"]}
                        found.setdefault(index, {}).setdefault(row["layer"], recorded)
    return found


def _matches(entry: KnownFailure, failure: dict) -> bool:
    """Whether a recorded failure (exception type, check label, message) fits ``entry`` now."""
    signature = entry.signature
    checks = [
        signature.check is None or re.search(signature.check, failure.get("check") or ""),
        signature.exception is None or signature.exception == failure.get("exception"),
        signature.message is None or re.search(signature.message, failure.get("message") or ""),
    ]
    return all(bool(c) for c in checks)


def _collect_failed(row: dict, entries: list[KnownFailure], found: dict) -> None:
    """A failed row's counterexample, for the entry that now records its failing check."""
    example = row.get("counterexample") or {}
    # A failed comparison names its check; a ``check.fail(message)`` has the message as its
    # label, which the row's message repeats after the "[property | layer | target] " prefix.
    check = example.get("failed_comparison") or re.sub(r"^\[[^\]]*\] ", "", row["message"])
    if not example:
        return
    if row["status"] == "error":  # "ExceptionType: message", as the row records what was raised
        exception, _, message = row["message"].partition(":")
        failure = {"exception": exception.strip(), "check": None, "message": message.strip()}
        for index, entry in enumerate(entries, start=1):
            if _matches(entry, failure) and entry.covers(
                property_id=row["property"],
                test=row["test"],
                layer=row["layer"],
                target=row["target"],
            ):
                found.setdefault(index, {}).setdefault(
                    row["layer"], {"failure": failure, "example": example}
                )
        return
    for index, entry in enumerate(entries, start=1):
        if (
            entry.signature.check is not None
            and entry.signature.exception is None
            and re.search(entry.signature.check, check)
            and entry.covers(
                property_id=row["property"],
                test=row["test"],
                layer=row["layer"],
                target=row["target"],
            )
        ):
            failure = {"exception": "PropertyFailure", "check": check, "message": row["message"]}
            found.setdefault(index, {}).setdefault(
                row["layer"], {"failure": failure, "example": example}
            )


def add_counterexamples(toml: Path, index: int, files: dict[str, str]) -> None:
    """Add or extend ``counterexample = {...}`` in the ``index``-th entry (1-based) of ``toml``."""
    lines = toml.read_text(encoding="utf-8").splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == "[[known_failure]]"]
    start = starts[index - 1]
    end = starts[index] if index < len(starts) else len(lines)
    existing = next(
        (i for i in range(start, end) if lines[i].startswith("counterexample = ")), None
    )
    table = ", ".join(f'{layer} = "{name}"' for layer, name in sorted(files.items()))
    if existing is not None:
        old = lines[existing].strip().removeprefix("counterexample = {").removesuffix("}")
        table = ", ".join(p for p in (old.strip(), table) if p)
        lines[existing] = f"counterexample = {{ {table} }}\n"
    else:
        # The entry's last key: not a comment that opens the next section of the file.
        last = max(
            i for i in range(start, end) if lines[i].strip() and not lines[i].startswith("#")
        )
        lines.insert(last + 1, f"counterexample = {{ {table} }}\n")
    toml.write_text("".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--known-failures", type=Path, default=SHIPPED_KNOWN_FAILURES)
    args = parser.parse_args(argv)
    toml = args.known_failures.resolve()
    entries = load_known_failures(toml)
    found = collect(args.reports, entries)
    folder = toml.parent / "counterexamples"
    folder.mkdir(exist_ok=True)
    for index, entry in enumerate(entries, start=1):
        new = {}
        for layer, recorded in sorted(found.get(index, {}).items()):
            if layer in entry.counterexamples:
                continue
            # Two entries may share a test and layer (two bugs, two signatures).
            mark = hashlib.sha1(entry.signature.describe().encode()).hexdigest()[:8]
            name = slug(f"{entry.target}-{entry.property}-{entry.test}-{layer}-{mark}") + ".json"
            (folder / name).write_text(json.dumps(recorded, indent=1) + "\n", encoding="utf-8")
            new[layer] = f"counterexamples/{name}"
        if new:
            add_counterexamples(toml, index, new)
            print(f"entry {index} ({entry.property}, {entry.test}, {entry.target}): {sorted(new)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessUsageError as exc:  # a user's mistake: one line, no traceback
        print(f"record_known_counterexamples.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
