"""Known failures on the command line: which files a run uses, and which entries went stale."""

from __future__ import annotations

from pathlib import Path

from harness.catalogue import PROPERTY_IDS
from harness.cli.console import err
from harness.known_failures import (
    KnownFailure,
    known_failure_files,
    load_known_failure_files,
)


def resolve_known_failures(
    extra: list[str] | None, *, shipped: bool = True
) -> tuple[list[Path], list[KnownFailure]]:
    """The known-failures files a run applies (the shipped one, then ``extra``), and their
    entries: validated here, before any work starts."""
    files = known_failure_files(extra or (), shipped=shipped)
    return files, load_known_failure_files(files, property_ids=PROPERTY_IDS)


def known_failure_options(files: list[Path]) -> list[str]:
    """pytest options that apply exactly ``files``: one token per option (see
    ``harness.pytest_plugin``), the shipped file only where it is listed."""
    return ["--rnn-no-shipped-known-failures"] + [f"--rnn-known-failures={f}" for f in files]


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
    entries: list[KnownFailure],
    report: dict,
    *,
    targets: list[str],
    properties: list[str],
    layers: list[str] | None = None,
) -> None:
    """Warn on stderr about each entry this run could have matched and did not."""
    for entry in unmatched_known_failures(entries, report):
        # Entries for targets, properties or layers this run left out are not stale, just
        # not run.
        if entry.target not in (*targets, "*") or entry.property not in properties:
            continue
        if layers is not None and entry.layer not in (*layers, "*"):
            continue
        err.print(
            f"[yellow]warning:[/] known failure {entry.source} ({entry.property}, {entry.layer}, "
            f"{entry.target}) matched no result: fixed, or the entry is stale"
        )
