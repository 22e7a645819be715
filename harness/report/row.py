"""``ResultRow``: one result of one property test, on one layer and one target.

The one type every producer and consumer of results shares: the pytest plugin
builds rows, ``rnn-harness run`` adds rows for what never ran, ``check-model``
builds its own, and the writers, ``compare``, ``explain`` and the known-failures
matcher read them. In ``report.json`` a row is a plain JSON object with the keys
below in this order (schema ``rnn-harness-report/2``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessUsageError

STATUSES = ("passed", "failed", "error", "skipped", "known_failure", "fixed", "flaky", "not_run")
# Statuses that make a run fail: a known failure is reviewed, a fixed one passed; a flaky
# result did not replay, which is a harness defect until shown otherwise.
FAILING_STATUSES = ("failed", "error", "flaky")
# When several rows share one cell, the cell shows the most serious. ``not_run``: the run
# was interrupted (Ctrl-C) before the test finished, so it says nothing either way.
SEVERITY = ("error", "flaky", "failed", "not_run", "known_failure", "fixed", "passed", "skipped")
# Statuses whose details (message, counterexample, reproducer) a reader needs.
DETAIL_STATUSES = ("failed", "error", "flaky", "known_failure")


@dataclass
class ResultRow:
    """One result row.

    Args:
        property: the catalogue id, e.g. ``"chunked_equals_whole"``.
        test: the test function and its parameters other than the layer, e.g.
            ``"test_short_last_batch_in_predict_is_refused"``; ``"check_model"`` for a
            ``check-model`` row.
        layer: the layer kind (``"LSTM"``), a user's ``MODULE:NAME``, or the model's name.
        target: the target name, e.g. ``"keras3-jax"``.
        status: one of ``STATUSES``.
        examples: examples run.
        examples_that_could_fail: how many of them were sensitive to the checked relation
            (``None`` where the property does not count it).
        duration_s: wall time of the test.
        max_abs_error: the largest difference any comparison saw.
        tolerance: the last tolerance used, ``{"rtol", "atol"}``.
        message: why it failed, errored, was skipped or did not run.
        counterexample: the shrunk example as plain data.
        reproducer: the reproducer script's path, relative to the report.
        known_failure: the reason of the known-failure entry that covers this row.
        nodeid: pytest's node id.
        details: anything else a reader needs (e.g. both runs of a flaky result).

    Example:
        >>> ResultRow("chunked_equals_whole", "test_chunked_equals_whole", "LSTM",
        ...           "keras3-jax", "passed").key
        ('chunked_equals_whole', 'test_chunked_equals_whole', 'LSTM', 'keras3-jax')
    """

    property: str
    test: str
    layer: str
    target: str
    status: str
    examples: int = 0
    examples_that_could_fail: int | None = None
    duration_s: float = 0.0
    max_abs_error: float | None = None
    tolerance: dict[str, float] | None = None
    message: str | None = None
    counterexample: dict[str, Any] | None = None
    reproducer: str | None = None
    known_failure: str | None = None
    nodeid: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise HarnessUsageError(
                f"status={self.status!r} is not a result status; expected one of "
                f"{', '.join(STATUSES)}"
            )

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The row's identity: ``(property, test, layer, target)``."""
        return (self.property, self.test, self.layer, self.target)

    @property
    def cell(self) -> tuple[str, str]:
        """The ``(property, layer)`` cell a report's matrix shows the row in."""
        return (self.property, self.layer)

    @property
    def failing(self) -> bool:
        """Whether this row fails the gate.

        ``fixed`` fails it too where the known failure did not reproduce on the very
        versions it was recorded for (``details["recorded_versions"]``, the default):
        something changed that nobody has looked at. On other versions (an upgrade)
        a fix is good news.
        """
        if self.status == "fixed":
            return bool(self.details.get("recorded_versions", True))
        return self.status in FAILING_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """The row as plain JSON data, keys in schema order."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "result") -> ResultRow:
        """A row from plain data (``report.json``, a results payload; schema /1 rows too).

        A /1 row has no ``test``: it gets the property id, so that it still has an identity.
        Unknown keys go into ``details``; a missing or invalid identity is a usage error.
        """
        if not isinstance(data, dict):
            raise HarnessUsageError(
                f"{where}: expected a JSON object. Received: {type(data).__name__}"
            )
        missing = [k for k in ("property", "layer", "target", "status") if not data.get(k)]
        if missing:
            raise HarnessUsageError(
                f"{where}: expected keys property, layer, target and status. "
                f"Missing or empty: {', '.join(missing)}"
            )
        if data["status"] not in STATUSES:
            raise HarnessUsageError(
                f"{where}: expected a status in {', '.join(STATUSES)}. Received: {data['status']!r}"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in names}
        fields.setdefault("test", None)
        if not fields["test"]:
            fields["test"] = str(data["property"])
        extra = {k: v for k, v in data.items() if k not in names}
        details = dict(fields.pop("details", None) or {})
        details.update(extra)
        return cls(**fields, details=details)

    def replace(self, **changes: Any) -> ResultRow:
        """The same row with some fields changed."""
        return dataclasses.replace(self, **changes)
