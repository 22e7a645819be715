"""Compare two reports: what a framework upgrade broke, fixed, added or removed.

Rows are keyed by ``(property, test, layer, target)`` when both reports name
their tests (schema /2); a schema /1 report has no test names, so against one
the rows of a ``(property, layer, target)`` cell count as the most serious
status among them, as in the report matrix. When both reports share target
names, rows of the same target are compared. When each report has exactly one
target and the names differ (``keras3-jax`` against ``keras3-torch``), that
pair is compared as one target under the new name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.report.model import SCHEMA, Report, row_identity, worst_status
from harness.report.writers import fenced_block, markdown_text, render_template

# An upgrade "broke" a cell that passed (or passed while listed as a known failure)
# and now fails or crashes; it "fixed" a failing cell that now passes.
WAS_PASSING = ("passed", "fixed")
NOW_FAILING = ("failed", "error", "flaky")
WAS_FAILING = ("failed", "error", "known_failure")
NOW_PASSING = ("passed", "fixed")

Key = tuple[str, str, str, str]


@dataclass(frozen=True)
class VersionChange:
    """One package of one target whose version differs; ``None`` where it is absent."""

    target: str
    package: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class StatusChange:
    """One (property, test, layer, target) row whose status differs between the reports."""

    property: str
    test: str
    layer: str
    target: str
    old: str
    new: str
    message: str | None = None


@dataclass
class Comparison:
    """The difference between an old and a new report.

    ``broke``, ``fixed``, ``error_changes`` and ``other_changes`` are disjoint:
    a change lands in the first that applies, in that order.
    """

    old: dict[str, Any]
    new: dict[str, Any]
    version_changes: list[VersionChange] = field(default_factory=list)
    added_targets: list[str] = field(default_factory=list)
    removed_targets: list[str] = field(default_factory=list)
    target_pairs: dict[str, str] = field(default_factory=dict)
    broke: list[StatusChange] = field(default_factory=list)
    fixed: list[StatusChange] = field(default_factory=list)
    error_changes: list[StatusChange] = field(default_factory=list)
    other_changes: list[StatusChange] = field(default_factory=list)
    new_rows: list[dict[str, Any]] = field(default_factory=list)
    gone_rows: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0

    @property
    def newly_erroring(self) -> list[StatusChange]:
        """Cells that crash now and did not before."""
        return [c for c in self.broke + self.error_changes if c.new == "error" and c.old != "error"]

    @property
    def regressed(self) -> bool:
        """True when anything broke or newly errors: ``rnn-harness compare`` then exits 1."""
        return bool(self.broke or self.newly_erroring)


def _header(report: Report) -> dict[str, Any]:
    return {
        "created": report.get("created"),
        "profile": report.get("profile"),
        "seed": report.get("seed"),
        "targets": [t.get("name") for t in report["targets"]],
    }


def _cells(report: Report, rename: dict[str, str], *, per_test: bool) -> dict[Key, dict]:
    """One row per key: the most serious of the rows that share it.

    ``per_test=False`` folds every test of a cell into one key (its test is the property id).
    """
    grouped: dict[Key, list[dict[str, Any]]] = {}
    for row in report["results"]:
        prop, test, layer, target = row_identity(row)
        key = (prop, test if per_test else prop, layer, rename.get(target, target))
        grouped.setdefault(key, []).append(row)
    cells = {}
    for key, rows in grouped.items():
        status = worst_status(r["status"] for r in rows)
        chosen = next(r for r in rows if r["status"] == status)
        cells[key] = {**chosen, "test": key[1], "target": key[3], "status": status}
    return cells


def _version_changes(old: Report, new: Report, pairs: dict[str, str]) -> list[VersionChange]:
    old_info = {pairs.get(t.get("name"), t.get("name")): t for t in old["targets"]}
    changes = []
    for info in new["targets"]:
        name = info.get("name")
        if name not in old_info:
            continue
        before = dict(old_info[name].get("versions") or {})
        after = dict(info.get("versions") or {})
        for key in ("device", "precision"):
            before[key] = old_info[name].get(key)
            after[key] = info.get(key)
        for package in [*before, *(p for p in after if p not in before)]:
            if before.get(package) != after.get(package):
                changes.append(
                    VersionChange(name, package, before.get(package), after.get(package))
                )
    return changes


def compare_reports(old: Report, new: Report) -> Comparison:
    """Compare two reports (from ``load_report``) cell by cell.

    Args:
        old: the report before the change, e.g. on the current framework versions.
        new: the report after it, e.g. on the upgraded versions.

    >>> empty = {"targets": [], "results": []}
    >>> compare_reports(empty, empty).regressed
    False
    """
    old_names = [t.get("name") for t in old["targets"]]
    new_names = [t.get("name") for t in new["targets"]]
    pairs: dict[str, str] = {}
    if len(old_names) == 1 and len(new_names) == 1 and old_names != new_names:
        # One target each under different names: compare them with each other.
        pairs = {old_names[0]: new_names[0]}
    renamed_old = [pairs.get(n, n) for n in old_names]
    cmp = Comparison(
        old=_header(old),
        new=_header(new),
        version_changes=_version_changes(old, new, pairs),
        added_targets=[n for n in new_names if n not in renamed_old],
        removed_targets=[n for n in old_names if pairs.get(n, n) not in new_names],
        target_pairs=pairs,
    )
    per_test = old.get("schema") == new.get("schema") == SCHEMA
    before, after = _cells(old, pairs, per_test=per_test), _cells(new, {}, per_test=per_test)
    for key in sorted(before.keys() | after.keys()):
        if key not in after:
            cmp.gone_rows.append(before[key])
            continue
        if key not in before:
            cmp.new_rows.append(after[key])
            continue
        was, now = before[key]["status"], after[key]["status"]
        if was == now:
            cmp.unchanged += 1
            continue
        # The new message says why it fails now; for a fix, the old one says what was fixed.
        message = after[key].get("message") or before[key].get("message")
        change = StatusChange(*key, old=was, new=now, message=message)
        if was in WAS_PASSING and now in NOW_FAILING:
            cmp.broke.append(change)
        elif was in WAS_FAILING and now in NOW_PASSING:
            cmp.fixed.append(change)
        elif "error" in (was, now):
            cmp.error_changes.append(change)
        else:
            cmp.other_changes.append(change)
    return cmp


def _describe(header: dict[str, Any]) -> str:
    return (
        f"{header.get('created')} · profile {header.get('profile')} · seed {header.get('seed')}"
        f" · targets {', '.join(str(t) for t in header.get('targets') or []) or '(none)'}"
    )


def verdict(cmp: Comparison) -> str:
    """One line: regressed or not, with the count of each kind of change.

    Args:
        cmp: the result of ``compare_reports``.
    """
    head = "REGRESSED" if cmp.regressed else "No regressions"
    return (
        f"{head}: {len(cmp.broke)} broke, {len(cmp.fixed)} fixed, "
        f"{len(cmp.newly_erroring)} newly erroring, {len(cmp.error_changes)} error changes, "
        f"{len(cmp.other_changes)} other changes, {len(cmp.new_rows)} new, "
        f"{len(cmp.gone_rows)} gone, {cmp.unchanged} unchanged"
    )


def _change_table(changes: list[StatusChange], *, messages: bool) -> list[str]:
    lines = ["| property | test | layer | target | old | new |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {markdown_text(c.property)} | {markdown_text(c.test)} | {markdown_text(c.layer)} | "
        f"{markdown_text(c.target)} | {c.old} | {c.new} |"
        for c in changes
    ]
    if messages:
        for c in changes:
            if c.message:
                lines += [
                    "",
                    f"**{markdown_text(c.property)} · {markdown_text(c.test)} · "
                    f"{markdown_text(c.layer)} · {markdown_text(c.target)}**",
                    "",
                    fenced_block(str(c.message)),
                ]
    return lines


def _row_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| property | test | layer | target | status |", "|---|---|---|---|---|"]
    lines += [
        f"| {markdown_text(r['property'])} | {markdown_text(r['test'])} | "
        f"{markdown_text(r['layer'])} | {markdown_text(r['target'])} | {r['status']} |"
        for r in rows
    ]
    return lines


def render_compare_markdown(cmp: Comparison) -> str:
    """Render a comparison as Markdown (fits a CI step summary or a PR comment).

    Args:
        cmp: the result of ``compare_reports``.
    """
    out = [
        "# rnn-harness compare",
        "",
        f"**{verdict(cmp)}**",
        "",
        f"- old: {markdown_text(_describe(cmp.old))}",
        f"- new: {markdown_text(_describe(cmp.new))}",
    ]
    for old_name, new_name in cmp.target_pairs.items():
        out.append(f"- compared target {markdown_text(old_name)} with {markdown_text(new_name)}")
    out += ["", "## Versions", ""]
    if cmp.version_changes:
        out += ["| target | package | old | new |", "|---|---|---|---|"]
        out += [
            f"| {markdown_text(v.target)} | {markdown_text(v.package)} | {markdown_text(v.old or '-')} | "
            f"{markdown_text(v.new or '-')} |"
            for v in cmp.version_changes
        ]
    else:
        out.append("No version changes.")
    if cmp.added_targets:
        out.append(f"\nAdded targets: {', '.join(markdown_text(t) for t in cmp.added_targets)}")
    if cmp.removed_targets:
        out.append(f"\nRemoved targets: {', '.join(markdown_text(t) for t in cmp.removed_targets)}")
    sections = [
        ("Broke", cmp.broke, True),
        ("Fixed", cmp.fixed, False),
        ("Error changes", cmp.error_changes, True),
        ("Other status changes", cmp.other_changes, False),
    ]
    for title, changes, messages in sections:
        if changes:
            out += [
                "",
                f"## {title} ({len(changes)})",
                "",
                *_change_table(changes, messages=messages),
            ]
    for title, rows in (("New rows", cmp.new_rows), ("Gone rows", cmp.gone_rows)):
        if rows:
            out += ["", f"## {title} ({len(rows)})", "", *_row_table(rows)]
    return "\n".join(out).rstrip() + "\n"


def render_compare_html(cmp: Comparison) -> str:
    """Render a comparison as one self-contained HTML page (autoescaped).

    Args:
        cmp: the result of ``compare_reports``.
    """
    return render_template(
        "compare.html.j2",
        cmp=cmp,
        verdict=verdict(cmp),
        old=_describe(cmp.old),
        new=_describe(cmp.new),
        sections=[
            ("Broke", "broke", cmp.broke),
            ("Fixed", "fixed", cmp.fixed),
            ("Error changes", "error", cmp.error_changes),
            ("Other status changes", "other", cmp.other_changes),
        ],
    )
