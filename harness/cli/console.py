"""The consoles every command prints to, and the colour of each result status."""

from __future__ import annotations

import sys

from rich.console import Console

STATUS_STYLE = {
    "passed": "green",
    "failed": "bold red",
    "error": "bold magenta",
    "skipped": "dim",
    "known_failure": "yellow",
    "fixed": "cyan",
    "flaky": "bold magenta",
    "not_run": "dim italic",
}

# Wide enough off a terminal (CI logs) that the summary table never truncates ids.
_WIDTH = None if sys.stdout.isatty() else 140
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, width=_WIDTH)
