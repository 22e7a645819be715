"""What a run shows while it runs: each target's progress line, finished tests, the summary."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.status import Status
from rich.table import Table

from harness.cli.console import STATUS_STYLE, out


class TargetProgress:
    """Follows one target's progress file (JSON lines written by the pytest plugin)."""

    def __init__(self, target: str, total: int, path: Path):
        self.target, self.total, self.path = target, total, path
        self.offset = 0
        self.done = self.examples = self.failures = 0
        self.current: str | None = None
        self.started = time.monotonic()
        self.finished: list[dict] = []  # finish events, in case pytest dies before its results

    def poll(self) -> list[dict]:
        """The events written since the last poll (complete lines only)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as stream:
            stream.seek(self.offset)
            data = stream.read()
        complete = data[: data.rfind("\n") + 1]
        self.offset += len(complete.encode("utf-8"))
        events = [json.loads(line) for line in complete.splitlines() if line.strip()]
        for event in events:
            if event["event"] == "start":
                self.current = event["nodeid"].split("::")[-1]
            else:
                self.finished.append(event)
                self.done += 1
                self.examples += event["examples"]
                self.failures += event["status"] in ("failed", "error")
                self.current = None
        return events

    def line(self) -> str:
        """One line: tests done, examples, failures, time, and the test in hand."""
        elapsed = time.monotonic() - self.started
        now = f" running {self.current}" if self.current else ""
        return (
            f"{self.target}: {self.done} tests done ({self.total} property x layer cells), "
            f"{self.examples} examples, "
            f"{self.failures} failing, {elapsed:.0f}s{now}"
        )


def report_events(progress: TargetProgress, status: Status | None) -> None:
    """Print what finished since the last call; on a terminal, only what did not pass."""
    for event in progress.poll():
        if event["event"] != "finish":
            continue
        style = STATUS_STYLE.get(event["status"], "")
        if status is None or event["status"] != "passed":
            out.print(
                f"  [{style}]{event['status']:>13}[/] {event['property']}[{event['layer']}] "
                f"{event['examples']} examples, {event['duration_s']:.1f}s"
            )
    if status is not None:
        status.update(progress.line())


def summary_table(report: dict) -> Table:
    """A property x layer table with a column per target, each cell its status."""
    targets = [t["name"] for t in report["targets"]]
    table = Table(title="rnn-harness results", show_lines=False)
    table.add_column("property")
    table.add_column("layer")
    for name in targets:
        table.add_column(name)
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for row in report["results"]:
        cells.setdefault((row["property"], row["layer"]), {})[row["target"]] = row["status"]
    for (prop, layer), by_target in cells.items():
        table.add_row(
            prop,
            layer,
            *[
                f"[{STATUS_STYLE.get(by_target.get(t, ''), '')}]{by_target.get(t, '-')}[/]"
                for t in targets
            ],
        )
    return table
