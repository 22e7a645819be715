"""Argument checks shared by every strategy, raised when a strategy is built.

One exception type (``HarnessUsageError``) whose message names the argument,
shows the value received and suggests the fix: ``min_units=0 must be at least 1``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from harness.errors import check_argument


def check_range(name: str, low: int, high: int, *, floor: int, ceiling: int) -> None:
    """``min_<name>=low`` and ``max_<name>=high`` lie in ``[floor, ceiling]``, in order."""
    check_argument(low >= floor, f"min_{name}={low} must be at least {floor}")
    check_argument(high <= ceiling, f"max_{name}={high} must be at most {ceiling}")
    check_argument(
        low <= high, f"min_{name}={low} must not exceed max_{name}={high}; swap or widen them"
    )


def check_flag(name: str, value: bool | None) -> None:
    """``value`` is True, False, or None (draw it both ways)."""
    check_argument(
        value in (None, True, False),
        f"{name}={value!r} must be True, False or None (None: draw it both ways)",
    )


def flag(value: bool | None) -> st.SearchStrategy[bool]:
    """Booleans for ``None``, else just ``value``."""
    return st.booleans() if value is None else st.just(value)
