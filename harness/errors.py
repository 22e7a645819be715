"""Exception types shared by the harness.

User mistakes (bad arguments, missing files, unknown ids) raise
``HarnessUsageError``; the CLI prints its message on one line and exits 2
instead of showing a traceback.
"""

from __future__ import annotations


class HarnessUsageError(ValueError):
    """A user-facing error: what was expected, what was received, how to fix it."""


class PropertyFailure(AssertionError):
    """A property's invariant does not hold. The message says where and by how much."""


def check_argument(condition: bool, message: str) -> None:
    """Raise ``HarnessUsageError(message)`` unless ``condition`` holds."""
    if not condition:
        raise HarnessUsageError(message)
