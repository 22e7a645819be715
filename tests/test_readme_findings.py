"""README's findings table and the known-failures file say the same thing.

Every reviewed entry of the shipped file (harness/data/known_failures.toml) appears in a
row of the "What it found" table (its target, property and test), and every row of the
table stands for at least one entry.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.known_failures import SHIPPED_KNOWN_FAILURES, load_known_failures

REPO = Path(__file__).resolve().parent.parent


def findings_rows() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## What it found", 1)[1].split("\n## ", 1)[0]
    return [
        line
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| target") and "---" not in line
    ]


def covers(row: str, entry) -> bool:
    target = "every Keras 3 target" if entry.target == "*" else entry.target
    test = entry.test.split("[", 1)[0]
    return target in row and f"`{entry.property}`" in row and test in row


def test_every_known_failure_has_a_row_in_the_readme_findings_table():
    rows = findings_rows()
    for entry in load_known_failures(SHIPPED_KNOWN_FAILURES):
        assert any(covers(row, entry) for row in rows), (
            f"{entry.source} ({entry.target}, {entry.property}, {entry.test}) is not in README's "
            "findings table"
        )


def test_every_row_of_the_readme_findings_table_stands_for_a_known_failure():
    entries = load_known_failures(SHIPPED_KNOWN_FAILURES)
    for row in findings_rows():
        assert re.search(r"`\w+`", row), row
        assert any(covers(row, entry) for entry in entries), f"no known failure for: {row}"
