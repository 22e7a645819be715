"""Known failures on the command line: which file a run uses, and which entries went stale."""

from __future__ import annotations

from pathlib import Path

from harness.catalogue import PROPERTY_IDS
from harness.cli.console import err
from harness.known_failures import KnownFailure, load_known_failures

KNOWN_FAILURES_FILE = "known_failures.toml"  # used from the working directory when present


def resolve_known_failures(raw: str | None) -> tuple[str, list[KnownFailure]]:
    """The known-failures path to pass on ("" for none) and its parsed entries."""
    if raw is None:
        default = Path(KNOWN_FAILURES_FILE)
        if not default.is_file():
            return "", []
        raw = str(default)
    return str(Path(raw).resolve()), load_known_failures(raw, property_ids=PROPERTY_IDS)


def unmatched_known_failures(entries: list[KnownFailure], report: dict) -> list[KnownFailure]:
    """Entries for the installed versions that matched no result of a target this run included.

    An entry for other versions than those installed belongs to another environment:
    matching nothing here says nothing about it.
    """
    versions = {t["name"]: t.get("versions") or {} for t in report["targets"]}
    unmatched = []
    for entry in entries:
        if not any(
            entry.target in ("*", name) and entry.covers_versions(installed)
            for name, installed in versions.items()
        ):
            continue
        hit = any(
            entry.matches(
                property_id=row["property"],
                layer=row["layer"],
                target=row["target"],
                versions=versions.get(row["target"], {}),
                test=row.get("test"),
            )
            for row in report["results"]
        )
        if not hit:
            unmatched.append(entry)
    return unmatched


def warn_stale_known_failures(
    entries: list[KnownFailure], report: dict, *, targets: list[str], properties: list[str]
) -> None:
    """Warn on stderr about each entry this run could have matched and did not."""
    for entry in unmatched_known_failures(entries, report):
        # Entries for targets or properties this run left out are not stale, just not run.
        if entry.target not in (*targets, "*") or entry.property not in properties:
            continue
        err.print(
            f"[yellow]warning:[/] known failure {entry.source} ({entry.property}, {entry.layer}, "
            f"{entry.target}) matched no result: fixed, or the entry is stale"
        )
