"""Comparing a stream with the whole run, and locating per chunk where they first diverge.

A sequence output is compared at every timestep (chunks concatenated); a final
output (``return_sequences=False``) after each chunk, with the whole model's
output on that prefix. Before an assertion fails, the per-chunk divergence is
recorded in the example, for the message and the reproducer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness.check import PropertyCheck
from harness.tolerance import Tolerance, excess


def chunk_divergence(bad, diff, lengths, *, per_chunk=False):
    """Per chunk: its timesteps, its first diverging timestep (or None), its max |diff|.

    ``bad`` (beyond tolerance) and ``diff`` (max |diff|) hold one value per timestep
    of a sequence output, or with ``per_chunk`` one per chunk (a final output, read
    at each chunk's last timestep); ``lengths`` are the chunk lengths.
    """
    rows, start = [], 0
    for index, length in enumerate(lengths):
        stop = start + length
        span = slice(index, index + 1) if per_chunk else slice(start, stop)
        where = [i for i, b in enumerate(bad[span]) if b]
        first = None
        if where:
            first = stop - 1 if per_chunk else start + where[0]
        rows.append(
            {
                "chunk": index + 1,
                "timesteps": [start, stop - 1],
                "first_diverging_timestep": first,
                "max_abs_diff": float(max(diff[span])) if len(diff[span]) else 0.0,
            }
        )
        start = stop
    return rows


def mask_outputs(arrays: list[np.ndarray], valid: np.ndarray | None) -> list[np.ndarray]:
    """``arrays`` zeroed at padded timesteps; an array without that time axis is unchanged."""
    if valid is None:
        return arrays
    masked = []
    for array in arrays:
        if array.shape[:2] != valid.shape:
            masked.append(array)
            continue
        keep = valid.reshape(valid.shape + (1,) * (array.ndim - 2))
        masked.append(np.where(keep, array, np.zeros_like(array)))
    return masked


def _divergence(actual: np.ndarray, expected: np.ndarray, tol: Tolerance, lengths, *, per_chunk):
    """Per chunk, where ``actual`` first leaves ``expected`` (see ``chunk_divergence``)."""
    over = excess(actual, expected, tol)
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    diff = np.nan_to_num(diff, nan=np.inf)
    axes = tuple(i for i in range(over.ndim) if i != 1)
    bad = (over > 0).any(axis=axes).tolist() if over.ndim > 1 else [bool((over > 0).any())]
    per_step = diff.max(axis=axes).tolist() if diff.ndim > 1 else [float(diff.max())]
    return chunk_divergence(bad, per_step, list(lengths), per_chunk=per_chunk), per_step


def compare_stream(
    check: PropertyCheck,
    what: str,
    streamed: list[list[np.ndarray]],
    expected_for: Callable[[int, int | None], np.ndarray],
    lengths: Sequence[int],
    valid: np.ndarray | None,
    *,
    sequence_outputs: Sequence[bool],
    tol: Tolerance,
) -> None:
    """Compare every output of a stream; record per-chunk divergence before failing.

    Args:
        check: the example's record; its ``assert_close`` fails the example.
        what: the comparison, as the message names it (``"chunks [2, 3]"``).
        streamed: per chunk, the twin's outputs.
        expected_for: ``(output, chunk)`` -> the expected output: the whole run's for
            ``chunk=None``, else the output after chunk ``chunk`` (a final output).
        lengths: the chunk lengths.
        valid: (batch, time) True where a timestep is not padding; None without a mask.
        sequence_outputs: per output, whether it keeps the time axis.
        tol: the tolerance of every comparison.
    """
    __tracebackhide__ = True
    comparisons = []
    for k, is_sequence in enumerate(sequence_outputs):
        if is_sequence:
            actual = np.concatenate([out[k] for out in streamed], axis=1)
            expected = expected_for(k, None)
            actual, expected = mask_outputs([actual, expected], valid)
            comparisons.append((k, "sequence", actual, expected))
        else:
            actual = np.stack([out[k] for out in streamed], axis=1)
            expected = np.stack([expected_for(k, i) for i in range(len(streamed))], axis=1)
            comparisons.append((k, "final", actual, expected))
    divergences = []
    for k, kind, actual, expected in comparisons:
        if actual.shape != expected.shape:
            continue
        rows, per_step = _divergence(actual, expected, tol, lengths, per_chunk=kind == "final")
        if any(r["first_diverging_timestep"] is not None for r in rows):
            divergences.append({"comparison": what, "output": k, "kind": kind, "chunks": rows})
            if kind == "sequence" and len(per_step) == sum(lengths):
                check.example_data.setdefault("abs_diff_per_timestep", per_step)
    if divergences:
        check.example_data["divergence"] = divergences
    for k, kind, actual, expected in comparisons:
        label = f"output {k}" if len(comparisons) > 1 else "output"
        if kind == "sequence":
            check.assert_close(
                f"{what}: streamed {label} (chunks concatenated) vs whole sequence",
                actual=actual,
                expected=expected,
                tol=tol,
            )
        else:
            for i in range(actual.shape[1]):
                end = int(sum(lengths[: i + 1])) - 1
                check.assert_close(
                    f"{what}: {label} after chunk {i + 1} vs whole model on timesteps 0..{end}",
                    actual=actual[:, i],
                    expected=expected[:, i],
                    tol=tol,
                )
