"""What a run shows while it runs: each target's progress line, finished tests, the summary."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.status import Status
from rich.table import Table

from harness.cli.console import STATUS_STYLE, out
from harness.report.model import SEVERITY, worst_status
from harness.report.writers import cell_text

# Statuses in a progress line's "failing" count: what fails the gate.
FAILING_EVENTS = ("failed", "error", "flaky")


def duration_text(seconds: float) -> str:
    """``42s``, ``3m05s`` or ``1h02m``: a duration a reader takes in at a glance.

    >>> duration_text(185)
    '3m05s'
    """
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class TargetProgress:
    """Follows one target's progress file (JSON lines written by the pytest plugin).

    Args:
        target: the target's name.
        cells: how many property x layer cells were asked for, shown until pytest has
            collected its tests (a cell holds one test or several).
        path: the progress file.
        clock: the time source (for tests).

    The plugin writes a ``collected`` event listing every test, then a ``start`` and a
    ``finish`` event per test. Counts are in tests throughout; the time left is the
    time per finished test so far, times the tests left.
    """

    def __init__(self, target: str, cells: int, path: Path, *, clock=time.monotonic):
        self.target, self.cells, self.path, self.clock = target, cells, path, clock
        self.offset = 0
        self.examples = self.failures = 0
        self.collected: list[dict] | None = None  # every test pytest will run, once known
        self.current: str | None = None
        self.started = clock()
        self.first_start: float | None = None  # imports and collection are not test time
        self.finished: list[dict] = []  # finish events, in case pytest dies before its results

    @property
    def done(self) -> int:
        """Tests finished so far."""
        return len({e.get("nodeid") or id(e) for e in self.finished})

    @property
    def total(self) -> int | None:
        """Tests collected; ``None`` until pytest has collected them."""
        return None if self.collected is None else len(self.collected)

    def poll(self) -> list[dict]:
        """The events written since the last poll (complete lines only)."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as stream:
            stream.seek(self.offset)
            data = stream.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        events = [json.loads(line) for line in complete.decode("utf-8").splitlines() if line]
        for event in events:
            if event["event"] == "collected":
                if self.collected is None:  # every xdist worker lists the same tests
                    self.collected = event["tests"]
            elif event["event"] == "start":
                self.current = event["nodeid"].split("::")[-1]
                if self.first_start is None:
                    self.first_start = self.clock()
            else:
                self.finished.append(event)
                self.examples += event["examples"]
                self.failures += event["status"] in FAILING_EVENTS
                self.current = None
        return events

    def eta_s(self) -> float | None:
        """Seconds left at the pace so far; ``None`` before the first test finished."""
        total, done = self.total, self.done
        if total is None or not done or self.first_start is None:
            return None
        return (self.clock() - self.first_start) / done * max(total - done, 0)

    def line(self) -> str:
        """One line: tests done of collected, examples, failing, elapsed, time left, the test
        in hand."""
        elapsed = duration_text(self.clock() - self.started)
        if self.total is None:
            head = f"{self.target}: collecting the tests of {self.cells} property x layer cells"
            return f"{head}, {elapsed} elapsed"
        eta = self.eta_s()
        left = (
            "" if eta is None or self.done >= self.total else f", about {duration_text(eta)} left"
        )
        now = f"; running {self.current}" if self.current else ""
        return (
            f"{self.target}: {self.done}/{self.total} tests done, {self.examples} examples, "
            f"{self.failures} failing, {elapsed} elapsed{left}{now}"
        )


def report_events(progress: TargetProgress, status: Status | None) -> None:
    """Print what finished since the last call; on a terminal, only what did not pass."""
    for event in progress.poll():
        if event["event"] != "finish":
            continue
        style = STATUS_STYLE.get(event["status"], "")
        if status is None or event["status"] != "passed":
            test = event.get("test") or event["property"]
            out.print(
                f"  [{style}]{event['status']:>13}[/] {event['property']} · {test}"
                f"[{event['layer']}] {event['examples']} examples, {event['duration_s']:.1f}s",
                highlight=False,
            )
    if status is not None:
        status.update(progress.line())


def summary_table(report: dict) -> Table:
    """A property x layer table with a column per target.

    Each cell holds the rows of every test of that property on that layer: it shows
    their statuses, worst first, with how many tests ended in each, coloured by the worst.
    """
    targets = [t["name"] for t in report["targets"]]
    for row in report["results"]:
        if row["target"] not in targets:
            targets.append(row["target"])
    table = Table(
        title="rnn-harness results",
        caption="each cell: how many of the property's tests ended in each status, worst first",
        show_lines=False,
    )
    table.add_column("property")
    table.add_column("layer")
    for name in targets:
        table.add_column(name)
    cells: dict[tuple[str, str], dict[str, list[str]]] = {}
    for row in report["results"]:
        by_target = cells.setdefault((row["property"], row["layer"]), {})
        by_target.setdefault(row["target"], []).append(row["status"])
    for (prop, layer), by_target in sorted(cells.items()):
        shown = []
        for name in targets:
            statuses = by_target.get(name)
            if not statuses:
                shown.append("-")
                continue
            style = STATUS_STYLE.get(worst_status(statuses), "")
            counts = {s: statuses.count(s) for s in SEVERITY if s in statuses}
            shown.append(f"[{style}]{cell_text(counts, emoji=False)}[/]")
        table.add_row(prop, layer, *shown)
    return table
