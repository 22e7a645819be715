"""The command line's argument checks: each one line, exit 2, before any work or framework import.

``HarnessArgumentParser`` prints argparse's own errors (a missing value, an
invalid choice, an option given twice) as one line instead of a usage block;
the types and checks below turn a raw value into what a command needs, or say
what was expected, what was received and how to fix it.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

from harness.errors import EXIT_USAGE, HarnessUsageError

_GIVEN = "_options_given"  # namespace attribute of the options seen so far, removed after parsing


class _StoreOnce(argparse.Action):
    """``store``, refusing an option given twice: argparse would keep the last value silently."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = namespace.__dict__.setdefault(_GIVEN, {})
        if self.dest in given and option_string is not None:
            several = " with a comma list" if "comma list" in (self.help or "") else ""
            parser.error(
                f"{option_string} given twice ({given[self.dest]!r}, then {values!r}); "
                f"give it once{several}"
            )
        given[self.dest] = values
        setattr(namespace, self.dest, values)


class HarnessArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit status 2.

    Its subparsers are of the same class (argparse makes them so).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)

    def parse_known_args(self, args=None, namespace=None):
        parsed, extras = super().parse_known_args(args, namespace)
        parsed.__dict__.pop(_GIVEN, None)
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}. See `{self.prog} --help`\n")
        raise SystemExit(EXIT_USAGE)


def positive_int(raw: str) -> int:
    """An argparse type: a whole number of at least 1.

    Example:
        >>> positive_int("4")
        4
    """
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of at least 1. Received: {raw!r}"
        )
    return value


def workers(raw: str) -> str:
    """An argparse type for ``-n``: pytest-xdist's worker count, a positive number or ``auto``.

    Example:
        >>> workers("auto"), workers("2")
        ('auto', '2')
    """
    if raw == "auto":
        return raw
    try:
        return str(positive_int(raw))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a number of pytest-xdist workers of at least 1, or 'auto'. "
            f"Received: {raw!r}. Pass e.g. -n 2 or -n auto"
        ) from None


def _cannot_write_in(directory: Path) -> str | None:
    """Why files cannot be written in ``directory`` (``None`` if they can).

    Probes by creating the directory and a temporary file in it; what the probe
    created is removed again, so that a later usage error leaves nothing behind.
    """
    if directory.exists() and not directory.is_dir():
        return f"{str(directory)!r} is a file"
    missing = [p for p in (directory, *directory.parents) if not p.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    finally:
        for created in missing:  # deepest first
            with contextlib.suppress(OSError):
                created.rmdir()
    return None


def _path(raw: str, *, option: str) -> Path:
    if not raw.strip():  # Path("") is the working directory: never what was meant
        raise HarnessUsageError(f"{option} is empty: expected a path. Pass {option} PATH")
    return Path(raw).expanduser()


def writable_directory(raw: str, *, option: str) -> Path:
    """``raw`` as a directory this process can write files in, or a usage error."""
    path = _path(raw, option=option)
    reason = _cannot_write_in(path)
    if reason is not None:
        raise HarnessUsageError(
            f"{option} {raw!r}: expected a directory that can be created and written to. "
            f"Received a path where that fails: {reason}. Pass another {option}"
        )
    return path


def writable_file(raw: str, *, option: str) -> Path:
    """``raw`` as a file path this process can write, or a usage error."""
    path = _path(raw, option=option)
    if path.is_dir():
        raise HarnessUsageError(
            f"{option} {raw!r}: expected a file to write. Received a directory. "
            f"Pass a file name, e.g. {option} {path / 'compare.html'}"
        )
    reason = _cannot_write_in(path.parent)
    if reason is not None:
        raise HarnessUsageError(
            f"{option} {raw!r}: expected a file in a directory that can be created and "
            f"written to. Received a path where that fails: {reason}. Pass another {option}"
        )
    return path
