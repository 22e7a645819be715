"""Exception types and exit statuses shared by the harness.

User mistakes (bad arguments, missing files, unknown ids) raise
``HarnessUsageError``; every command prints its message on one line and exits
``EXIT_USAGE`` instead of showing a traceback.
"""

from __future__ import annotations

# Exit statuses of every rnn-harness command.
EXIT_OK = 0  # every result passed, or is a reviewed known failure
# A new failure, an error, a flaky result, or a known failure that did not reproduce:
EXIT_FAILED = 1
EXIT_USAGE = 2  # a usage or configuration error: one line on stderr, no traceback
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C


class HarnessUsageError(ValueError):
    """A user-facing error: what was expected, what was received, how to fix it."""


class PropertyFailure(AssertionError):
    """A property's invariant does not hold. The message says where and by how much.

    ``check`` is the label of the failing comparison or check (what a known-failure
    signature's ``check`` is matched against).
    """

    def __init__(self, message: str, *, check: str | None = None):
        super().__init__(message)
        self.check = check if check is not None else message


def check_argument(condition: bool, message: str) -> None:
    """Raise ``HarnessUsageError(message)`` unless ``condition`` holds."""
    if not condition:
        raise HarnessUsageError(message)
