"""Known failures at run time: replayed every run, recognised example by example.

For one property test on one layer and target, ``Recognition`` holds the
known-failure entries that apply (``harness.known_failures``) and

- **replays** each entry's recorded counterexample first, through the test's own
  code after its draws (``harness.reproducers.replay_source``), whatever the seed
  or profile: a bug that is known is always exercised, so ``fixed`` means the
  recorded example no longer fails — not that the search did not draw it;
- **recognises** examples: wrapped around a ``@given`` test's inner function, it
  turns a failure that matches an entry's signature into a recorded hit, and the
  search goes on; any other failure propagates, is shrunk and fails the test.

The row the plugin then writes says how many examples hit each entry and how
many passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.check import PropertyCheck, example_from_plain
from harness.known_failures import KnownFailure, recognise
from harness.reproducers import replay_source

REPRODUCED, NOT_REPRODUCED = "reproduced", "not reproduced"


def describe_failure(exc: BaseException) -> dict[str, Any]:
    """What a signature is matched against: the exception type, the check label, the message."""
    return {
        "exception": type(exc).__name__,
        "check": getattr(exc, "check", None),
        "message": str(exc).strip()[:2000],
    }


@dataclass
class Hit:
    """Examples that failed as one entry says."""

    entry: KnownFailure
    count: int = 0
    message: str = ""
    failure: dict[str, Any] = field(default_factory=dict)  # exception type, check label, message
    counterexample: dict[str, Any] | None = None


@dataclass
class Recognition:
    """The known failures of one test run (see the module docstring)."""

    entries: list[KnownFailure]
    check: PropertyCheck
    hits: dict[str, Hit] = field(default_factory=dict)
    replays: dict[str, str] = field(default_factory=dict)  # entry source -> outcome

    def record(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a known failure; if so it is counted against its entry."""
        entry = recognise(self.entries, exc)
        if entry is None:
            return False
        hit = self.hits.setdefault(entry.source, Hit(entry))
        hit.count += 1
        if hit.count == 1:
            hit.message = str(exc).strip()
            hit.failure = describe_failure(exc)
            hit.counterexample = self.check.counterexample()
        return True

    def wrap(self, inner: Callable) -> Callable:
        """``inner`` (a @given test's inner function), with known failures recorded, not raised."""

        def recognising(*args: Any, **kwargs: Any) -> Any:
            try:
                return inner(*args, **kwargs)
            except Exception as exc:
                if self.record(exc):
                    return None
                raise

        return recognising

    def replay(self, module: Any, test: str, target: Any, layer_kind: str) -> None:
        """Replay every entry's recorded counterexample; a failure it does not know is raised."""
        recorded = [(e, e.load_counterexample(layer_kind)) for e in self.entries]
        recorded = [(e, r) for e, r in recorded if r is not None]
        if not recorded:
            return
        source = Path(module.__file__).read_text(encoding="utf-8")
        namespace = dict(vars(module))  # the test's code after its draws, cut once per test
        exec(compile(replay_source(source, test), f"<replay {test}>", "exec"), namespace)
        for entry, example_data in recorded:
            try:
                example = example_from_plain(example_data["example"])
                namespace["replay"](target, layer_kind, self.check, example)
            except Exception as exc:
                if not self.record(exc):
                    raise
                self.replays[entry.source] = REPRODUCED
            else:
                self.replays[entry.source] = NOT_REPRODUCED

    @property
    def not_reproduced(self) -> list[KnownFailure]:
        """Entries whose recorded example passed and that no example hit: fixed, or stale."""
        return [
            e
            for e in self.entries
            if self.replays.get(e.source) == NOT_REPRODUCED and e.source not in self.hits
        ]

    def summary(self) -> dict[str, Any]:
        """What the row reports: hits per entry, replays, examples that passed."""
        hit_count = sum(h.count for h in self.hits.values())
        return {
            "known_hits": {
                source: {
                    "examples": h.count,
                    "reason": h.entry.reason,
                    "signature": h.entry.signature.describe(),
                    "failure": h.failure,
                    "counterexample": h.counterexample,
                }
                for source, h in self.hits.items()
            },
            "replays": dict(self.replays),
            "examples_passed": max(self.check.examples - hit_count, 0),
        }
