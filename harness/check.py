"""The per-test evidence collector and the one comparison helper.

Every property receives a ``PropertyCheck`` (the ``check`` fixture). It counts
examples, keeps the plain data of the current example (so that the shrunk
counterexample is known when Hypothesis replays it last), records the largest
error seen, counts the examples that could have failed (``sensitive``), and
compares arrays with ``assert_close``, whose failure message names the property,
the layer, the target, where the largest difference is and the tolerance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import PropertyFailure
from harness.tolerance import Tolerance, excess, max_abs_error

AXIS_NAMES = {1: ("unit",), 2: ("sample", "unit"), 3: ("sample", "timestep", "unit")}


TYPES_KEY = "_types"  # in a counterexample: how to rebuild each value (see ``from_plain``)


def type_tag(value: Any) -> str | None:
    """How ``from_plain`` rebuilds ``value`` from its plain form; ``None`` for plain JSON."""
    from harness.specs import Case, LayerSpec, ModelCase, ModelSpec

    if isinstance(value, np.ndarray):
        return f"ndarray:{value.dtype}"
    for cls in (Case, ModelCase, LayerSpec, ModelSpec):
        if isinstance(value, cls):
            return cls.__name__
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, np.ndarray) for v in value):
        return f"list[ndarray:{value[0].dtype}]"
    return None


def from_plain(value: Any, tag: str | None) -> Any:
    """Rebuild a value from its plain form and its ``type_tag``."""
    from harness.specs import Case, LayerSpec, ModelCase, ModelSpec

    if tag is None or value is None:
        return value
    if tag.startswith("ndarray:"):
        return np.asarray(value, dtype=tag.removeprefix("ndarray:"))
    if tag.startswith("list[ndarray:"):
        dtype = tag.removeprefix("list[ndarray:").removesuffix("]")
        return [np.asarray(v, dtype=dtype) for v in value]
    classes = {c.__name__: c for c in (Case, ModelCase, LayerSpec, ModelSpec)}
    return classes[tag].from_dict(value)


def example_from_plain(counterexample: dict[str, Any]) -> dict[str, Any]:
    """The values of an example, rebuilt from a counterexample's plain data.

    Keys a failing comparison added (``failed_comparison``, ...) are left out.
    """
    types = counterexample.get(TYPES_KEY, {})
    names = counterexample.get("_names", list(types))
    return {name: from_plain(counterexample.get(name), types.get(name)) for name in names}


def to_plain(value: Any) -> Any:
    """Convert arrays, specs and tuples to JSON-ready lists, dicts and numbers."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


@dataclass
class PropertyCheck:
    """Evidence for one property x layer x target test."""

    property_id: str
    layer: str
    target: str
    examples: int = 0
    # Examples that could have failed (see ``sensitive``); None where the property
    # does not count them.
    sensitive_examples: int | None = None
    max_abs_error: float = 0.0
    tolerance: Tolerance | None = None
    example_data: dict[str, Any] | None = field(default=None, repr=False)
    diagnostics: dict[str, Any] = field(default_factory=dict, repr=False)
    # Called as each example starts: the target drops the runners of earlier examples.
    on_example: Callable[[], None] | None = field(default=None, repr=False)
    _counted: bool = field(default=False, repr=False)  # the current example is sensitive

    def example(self, **data: Any) -> None:
        """Start a new example; ``data`` is what a reproducer needs to rebuild it."""
        self.examples += 1
        self.example_data = data
        self.diagnostics = {}
        self._counted = False
        if self.on_example is not None:
            self.on_example()

    def sensitive(self, margin: float | bool) -> bool:
        """Record whether the current example could have failed; return it.

        Each property defines, in its docstring, the break its check guards against;
        ``harness.sensitivity`` measures, on the float64 reference, how far that break
        would move what the check compares. The example counts once toward
        ``sensitive_examples`` (the report's ``examples_that_could_fail``) if any call
        for it is sensitive.

        The margin is not passed to ``hypothesis.target``. Tried on the core
        properties' draws (scripts/measure_sensitivity.py's tests and reference target,
        25 and 300 derandomized examples per test and layer, with and without
        ``Phase.target``, 2026-12-05): steering toward larger margins spent half the
        budget on variations of one example (distinct layer configurations 314 -> 228
        of 450, 2764 -> 1604 of 5400) and caught fewer breaks under the GPU native
        tolerance (413 -> 387, 4479 -> 4348), for 1-2% more under the CPU tolerance.
        The strategies construct sensitive examples instead.

        Args:
            margin: the break's largest effect in tolerances (> 1: the check would
                catch it), or a plain ``bool`` where no margin applies.

        Example:
            >>> check = PropertyCheck("chunked_equals_whole", "LSTM", "keras3-jax")
            >>> check.example(case=None)
            >>> check.sensitive(3.5), check.sensitive_examples
            (True, 1)
        """
        counted = margin if isinstance(margin, bool) else bool(margin > 1)
        if self.sensitive_examples is None:
            self.sensitive_examples = 0
        if counted and not self._counted:
            self.sensitive_examples += 1
            self._counted = True
        return counted

    def counterexample(self) -> dict[str, Any] | None:
        """The last example's data, and what its failing comparison saw, as plain values.

        ``_names`` lists the example's own values and ``_types`` how to rebuild those
        that are not plain JSON (``example_from_plain``): a reproducer replays them.
        """
        if self.example_data is None:
            return None
        types = {k: t for k, v in self.example_data.items() if (t := type_tag(v)) is not None}
        return to_plain(
            {
                **self.example_data,
                **self.diagnostics,
                "_names": list(self.example_data),
                TYPES_KEY: types,
            }
        )

    def assert_close(
        self,
        what: str,
        *,
        actual: np.ndarray,
        expected: np.ndarray,
        tol: Tolerance,
    ) -> None:
        """Assert ``actual`` matches ``expected`` elementwise within ``tol``.

        Args:
            what: a short description of the two sides, e.g. ``"chunked vs whole outputs"``.
            actual: the side under test.
            expected: the side it must equal.
            tol: from ``harness.tolerance.tolerance_for``.
        """
        __tracebackhide__ = True
        actual = np.asarray(actual)
        expected = np.asarray(expected)
        self.tolerance = tol
        if actual.shape != expected.shape:
            raise PropertyFailure(
                f"[{self.property_id} | {self.layer} | {self.target}] {what}: expected shape "
                f"{expected.shape}. Received: {actual.shape}",
                check=what,
            )
        err = max_abs_error(actual, expected)
        self.max_abs_error = max(self.max_abs_error, err)
        over = excess(actual, expected, tol)
        if over.size == 0 or over.max() <= 0:
            return
        index = np.unravel_index(int(np.argmax(over)), over.shape)
        self.diagnostics = {"failed_comparison": what}
        if actual.ndim == 3:  # (sample, timestep, unit): where along time it diverges
            diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
            self.diagnostics["abs_diff_per_timestep"] = np.nan_to_num(
                diff.max(axis=(0, 2)), nan=np.inf
            ).tolist()
        names = AXIS_NAMES.get(len(index), tuple(f"axis{i}" for i in range(len(index))))
        where = ", ".join(f"{n}={i}" for n, i in zip(names, index, strict=True))
        n_bad = int((over > 0).sum())
        raise PropertyFailure(
            f"[{self.property_id} | {self.layer} | {self.target}] {what}: "
            f"{n_bad} of {over.size} elements differ beyond tolerance ({tol}).\n"
            f"  largest difference at ({where}): actual={float(actual[index])!r}, "
            f"expected={float(expected[index])!r}, "
            f"|diff|={abs(float(actual[index]) - float(expected[index])):.3g}",
            check=what,
        )

    def fail(self, message: str) -> None:
        """Fail the property with a message that names property, layer and target."""
        __tracebackhide__ = True
        self.tolerance = None  # the failing check compares no numbers: no tolerance applies
        raise PropertyFailure(
            f"[{self.property_id} | {self.layer} | {self.target}] {message}", check=message
        )
