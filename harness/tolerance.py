"""Tolerances per dtype, device and kind of comparison; error metrics.

Two kinds of comparison exist:

- ``consistency``: the framework against itself (chunked vs whole, call vs
  predict, after reset vs fresh). On CPU float32 these paths run the same
  kernels and are normally bit-identical; the tolerance only absorbs a
  different order of summation.
- ``reference``: float32 framework output against the float64 NumPy
  reference. Rounding error accumulates over timesteps, so it is wider.

Never widen an entry to make a failure go away: a real difference is a finding.
Each entry says where its numbers come from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from harness.errors import check_argument


@dataclass(frozen=True)
class Tolerance:
    """``|actual - expected| <= atol + rtol * |expected|``, elementwise."""

    rtol: float
    atol: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


COMPARISONS = ("consistency", "reference")

TOLERANCES: dict[tuple[str, str, str], Tolerance] = {
    # float32 on CPU, chunked/whole and path-to-path: same kernels, a few ulps of
    # float32 at most (measured 0.0 on TF 2.21, JAX 0.10, torch 2.13 with Keras 3.15).
    ("float32", "cpu", "consistency"): Tolerance(rtol=1e-5, atol=1e-6),
    # float32 against the float64 reference, up to 24 steps with saturating gates.
    # Measured 2026-11-26 by scripts/survey_reference_error.py (300 examples per kind,
    # keras 3.15.1 / tensorflow 2.21.0, CPU): max |diff| 2.0e-5 (LSTM, only where
    # |ref| > 1), 6.1e-6 (GRU), 2.4e-6 (SimpleRNN); max relative error where |ref| > 1:
    # 2.4e-6. The recurrent kernel is kept contractive by the strategies (see
    # MAX_RECURRENT_GAIN), so rounding errors do not compound over timesteps.
    ("float32", "cpu", "reference"): Tolerance(rtol=1e-4, atol=2e-5),
}


def tolerance_for(*, dtype: str = "float32", device: str = "cpu", comparison: str) -> Tolerance:
    """The tolerance for one comparison.

    Args:
        dtype: compute dtype of the framework side, e.g. ``"float32"``.
        device: ``"cpu"`` or ``"gpu"``.
        comparison: ``"consistency"`` or ``"reference"`` (see the module docstring).

    Example:
        >>> tolerance_for(comparison="consistency")
        Tolerance(rtol=1e-05, atol=1e-06)
    """
    check_argument(
        comparison in COMPARISONS,
        f"comparison={comparison!r} is not known; expected one of {COMPARISONS}",
    )
    key = (dtype, device, comparison)
    check_argument(
        key in TOLERANCES,
        f"No tolerance is defined for dtype={dtype!r}, device={device!r}, "
        f"comparison={comparison!r}; add a measured entry to harness/tolerance.py",
    )
    return TOLERANCES[key]


def max_abs_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest absolute difference; ``inf`` where exactly one side is NaN."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    diff = np.abs(a - e)
    both_nan = np.isnan(a) & np.isnan(e)
    diff = np.where(both_nan, 0.0, diff)
    diff = np.where(np.isnan(diff), np.inf, diff)
    return float(diff.max()) if diff.size else 0.0


def excess(actual: np.ndarray, expected: np.ndarray, tol: Tolerance) -> np.ndarray:
    """How far each element is beyond the tolerance (<= 0 where within it)."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        over = np.abs(a - e) - (tol.atol + tol.rtol * np.abs(e))
    both_nan = np.isnan(a) & np.isnan(e)
    return np.where(both_nan, -1.0, np.where(np.isnan(over), np.inf, over))
