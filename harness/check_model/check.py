"""The check itself: ``check_model`` and ``assert_streamable``.

Each example reads the same way: draw (``inputs.draw_streams``), run the whole
model and the twin chunk by chunk, compare (``compare.compare_stream``); then
run stream A, reset every stateful layer, and check that stream B starts afresh.
Hypothesis draws, seeded, with no example database.

Nothing here changes the caller's process: no precision switch, cache or
environment variable is set. The tolerance follows the float32 precision the
process is in (``harness/precision.py``), read, not set.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from harness import profiles
from harness.check import PropertyCheck
from harness.check_model.compare import compare_stream
from harness.check_model.diagnose import diagnose, keep_stateless
from harness.check_model.inputs import (
    MIN_TIMESTEPS,
    InputInfo,
    draw_streams,
    input_info,
    load_data,
    split_chunks,
)
from harness.check_model.load import load_model_argument
from harness.check_model.reproducer import render_reproducer
from harness.check_model.result import (
    DIFFERS,
    ERROR,
    NOT_STREAMABLE,
    PROPERTY_ID,
    STREAMABLE,
    StreamingResult,
    failure_message,
)
from harness.check_model.twin import (
    build_streaming_twin,
    build_twin,
    model_outputs,
    reset_state,
    sequence_outputs,
    stateful_layers,
    zero_states,
)
from harness.errors import HarnessUsageError, check_argument
from harness.precision import apply_precision, device_kind
from harness.tolerance import Tolerance, tolerance_for

_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
# No explain phase: it replays the shrunk example many times only to annotate a message
# this module writes itself, and every replay runs the model.
_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
# Switch values under which float32 runs without TF32 (what --precision strict sets).
_STRICT_SWITCH_VALUES = (False, "highest", "ieee")


@dataclass
class _Setup:
    """What every example of one check shares: the twin, the model run whole, the input."""

    keras: Any
    twin: Any
    reference: Any
    reference_is_model: bool
    layers: list
    info: InputInfo
    data: np.ndarray | None
    timesteps: int | None
    batch_size: int
    tol: Tolerance
    sequence_outputs: list[bool]
    keep_stateless: list[str]


def _run_example(check: PropertyCheck, setup: _Setup, draw) -> None:
    streams = draw_streams(
        draw, setup.info, setup.data, batch_size=setup.batch_size, timesteps=setup.timesteps
    )
    x, splits = streams.x, streams.splits
    valid = setup.info.valid_steps(x)
    check.example(
        batch_size=setup.batch_size,
        timesteps=streams.timesteps,
        splits=splits,
        x=x,
        dtype=str(x.dtype),
        drawn=streams.drawn,
        other_x=streams.other_x,
        other_drawn=streams.other_drawn,
        valid=valid,
        time_dim=setup.info.time_dim,
        keep_stateless=setup.keep_stateless,
        reference_is_model=setup.reference_is_model,
        sequence_outputs=setup.sequence_outputs,
    )
    keras = setup.keras
    zero_states(setup.layers)
    whole = model_outputs(keras, setup.reference, x)
    ends = np.cumsum(splits).tolist()
    prefixes: dict[int, list[np.ndarray]] = {len(splits) - 1: whole}

    def expected_for(k: int, chunk: int | None) -> np.ndarray:
        if chunk is None:
            return whole[k]
        if chunk not in prefixes:
            prefixes[chunk] = model_outputs(keras, setup.reference, x[:, : ends[chunk]])
        return prefixes[chunk][k]

    how = {"sequence_outputs": setup.sequence_outputs, "tol": setup.tol}
    streamed = [model_outputs(keras, setup.twin, chunk) for chunk in split_chunks(x, splits)]
    compare_stream(check, f"chunks {splits}", streamed, expected_for, splits, valid, **how)
    # Stream A, reset every stateful layer, stream B again: B must start afresh.
    model_outputs(keras, setup.twin, streams.other_x)
    for layer in setup.layers:
        reset_state(layer)
    again = [model_outputs(keras, setup.twin, chunk) for chunk in split_chunks(x, splits)]
    compare_stream(
        check,
        f"after stream A ({streams.other_x.shape[1]} steps) and reset_state(), chunks {splits}",
        again,
        lambda k, chunk: (
            np.concatenate([out[k] for out in streamed], axis=1)
            if chunk is None
            else streamed[chunk][k]
        ),
        splits,
        valid,
        **how,
    )


def _hypothesis_run(check: PropertyCheck, setup: _Setup, *, max_examples: int, run_seed: int):
    @seed(run_seed)
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=False,
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
        suppress_health_check=_SUPPRESSED,
        phases=_PHASES,
    )
    @given(st.data())
    def streaming_equals_whole(data: st.DataObject) -> None:
        _run_example(check, setup, data.draw)

    streaming_equals_whole()


def _needs_copy(model, info: InputInfo) -> bool:
    """Whether the whole-sequence reference must be a stateless, variable-length copy."""
    return info.time_dim is not None or info.shape[0] is not None or bool(stateful_layers(model))


def _precision_in_effect(backend: str) -> str:
    """The float32 precision this process is in: ``"strict"`` (no TF32) or ``"native"``.

    ``strict`` when every switch of ``backend`` already rules out TF32. Read only:
    ``apply_precision(backend, "native")`` changes no switch, it reads them.
    """
    switches = apply_precision(backend, "native")
    strict = all(value in _STRICT_SWITCH_VALUES for value in switches.values())
    return "strict" if strict else "native"


def _unwrap(exc: BaseException) -> BaseException:
    """The first failure inside an exception group (e.g. Hypothesis's FlakyFailure)."""
    while getattr(exc, "exceptions", None):
        exc = exc.exceptions[0]
    return exc


def _check_arguments(batch_size: Any, timesteps: Any, max_examples: Any, profile: str) -> None:
    check_argument(
        isinstance(batch_size, int) and batch_size >= 1,
        f"batch_size={batch_size!r} must be an integer of at least 1 (the stateful batch size)",
    )
    check_argument(
        timesteps is None or (isinstance(timesteps, int) and timesteps >= MIN_TIMESTEPS),
        f"timesteps={timesteps!r} must be at least {MIN_TIMESTEPS}: a stream needs two chunks",
    )
    check_argument(
        max_examples is None or (isinstance(max_examples, int) and max_examples >= 1),
        f"max_examples={max_examples!r} must be at least 1",
    )
    profiles.validate_profile(profile, source="profile")


def _example_inputs(
    model, info: InputInfo, data: Any, timesteps: int | None
) -> tuple[np.ndarray | None, int | None]:
    """``(data as an array or None, fixed timesteps or None)``, or a usage error."""
    if info.time_dim is not None and timesteps is not None and timesteps != info.time_dim:
        raise HarnessUsageError(
            f"--timesteps {timesteps} differs from the model's fixed input length "
            f"{info.time_dim} (input shape {info.shape}). Drop --timesteps, or pass "
            f"{info.time_dim}"
        )
    array = load_data(data, info, timesteps=timesteps)
    if array is None and any(d is None for d in info.features):
        raise HarnessUsageError(
            f"Model {model.name!r} has input shape {info.shape} with an unknown feature size: "
            "random inputs cannot be drawn. Pass --data with sequences shaped "
            f"{info.expected_shape()}"
        )
    steps = timesteps or (array.shape[1] if array is not None else info.time_dim)
    if steps is not None and steps < MIN_TIMESTEPS:
        raise HarnessUsageError(
            f"The model's input has a fixed length of {steps} timestep(s): expected at least "
            f"{MIN_TIMESTEPS} to split a sequence into chunks"
        )
    return array, steps


def _build_setup(
    keras,
    model,
    result: StreamingResult,
    info: InputInfo,
    *,
    data: np.ndarray | None,
    timesteps: int | None,
    unsafe: bool,
) -> _Setup:
    """The twin, and the model run whole (a stateless variable-length copy where needed)."""
    stateless = keep_stateless(result.diagnosis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        twin = build_streaming_twin(
            model,
            result.batch_size,
            time_dim=info.time_dim,
            keep_stateless=stateless,
            safe_mode=not unsafe,
        )
        copy_needed = _needs_copy(model, info)
        reference = model
        if copy_needed:
            reference = build_twin(
                keras, model, None, stateful=False, time_dim=info.time_dim, safe_mode=not unsafe
            )
    return _Setup(
        keras=keras,
        twin=twin,
        reference=reference,
        reference_is_model=not copy_needed,
        layers=stateful_layers(twin),
        info=info,
        data=data,
        timesteps=timesteps,
        batch_size=result.batch_size,
        tol=result.tolerance,
        sequence_outputs=sequence_outputs(twin),
        keep_stateless=stateless,
    )


def _record_failure(
    result: StreamingResult, check: PropertyCheck, raised: Exception, *, unsafe: bool
) -> None:
    exc = _unwrap(raised)
    counterexample = check.counterexample()
    result.counterexample = counterexample
    result.max_abs_error = check.max_abs_error
    failed = isinstance(exc, AssertionError)
    result.status = "failed" if failed else "error"
    result.verdict = DIFFERS if failed else ERROR
    head = (
        f"{result.model_name}: streaming in chunks (stateful, batch size {result.batch_size}) "
        f"differs from the whole sequence ({result.target}, tolerance {result.tolerance}):"
        if failed
        else f"{result.model_name}: the check crashed ({result.target}): {type(exc).__name__}:"
    )
    result.message = failure_message(head, exc, counterexample if failed else None)
    if failed and counterexample:
        result.reproducer = render_reproducer(result, unsafe=unsafe)


def _record_pass(result: StreamingResult, check: PropertyCheck) -> None:
    blockers = result.blockers
    result.passed = not blockers
    result.max_abs_error = check.max_abs_error
    if blockers:  # forced past the diagnosis, and the numbers happened to agree
        result.verdict, result.status = NOT_STREAMABLE, "failed"
        result.message = (
            "The diagnosis found blockers, yet every example agreed (forced run): "
            + "; ".join(f"{d.name}: {d.reason}" for d in blockers)
        )
    else:
        result.verdict, result.status = STREAMABLE, "passed"


def _record_blockers(result: StreamingResult) -> None:
    blockers = result.blockers
    result.verdict, result.status = NOT_STREAMABLE, "failed"
    result.message = (
        f"{result.model_name} is not streamable: {len(blockers)} layer(s) make streaming "
        "impossible by construction, so no example was run:\n"
        + "\n".join(f"  {d.name} ({d.class_name}): {d.reason}" for d in blockers)
    )


def check_model(
    model: Any,
    *,
    batch_size: int = 1,
    data: np.ndarray | str | Path | None = None,
    timesteps: int | None = None,
    max_examples: int | None = None,
    profile: str = "ci",
    run_seed: int = 0,
    unsafe: bool = False,
    force: bool = False,
    target: str | None = None,
) -> StreamingResult:
    """Check that streaming ``model`` (stateful, chunk by chunk) equals running it whole.

    Args:
        model: a ``keras.Model`` (Functional or Sequential) or the path of a ``.keras`` file.
        batch_size: B, the fixed batch size of the stateful twin (default 1).
        data: an array shaped like the model's input, ``(N, T, features...)``, or a
            ``.npy`` path; each example streams B of its rows. Random bounded data
            when ``None`` (right-padded when the model has a ``Masking`` layer).
        timesteps: the length of each drawn sequence; drawn from 2..16 when ``None``.
        max_examples: Hypothesis examples; the profile's count when ``None``.
        profile: a profile of ``harness/profiles.py``, for its example count:
            ``"ci"`` (25 examples), ``"dev"`` (10), ``"thorough"`` (300), ``"survey"`` (10).
        run_seed: the Hypothesis seed (default 0: the same examples every run).
        unsafe: load a model file with ``safe_mode=False`` (e.g. ``Lambda`` layers).
        force: run the numeric check even when the diagnosis finds a blocker.
        target: ``keras3-<backend>`` for loading a path; the Keras already imported
            (else ``$KERAS_BACKEND``, else TensorFlow) when ``None``.

    Returns a ``StreamingResult``; raises ``HarnessUsageError`` (one line: expected,
    received, how to fix) for a bad file, model, data or argument. Leaves the
    process as it was: no precision switch, cache or environment variable is changed.

    Example:
        >>> result = check_model("model.keras", batch_size=2, max_examples=10)  # doctest: +SKIP
        >>> print(result)  # doctest: +SKIP
    """
    started = time.perf_counter()
    _check_arguments(batch_size, timesteps, max_examples, profile)
    keras, model, model_path = load_model_argument(model, target=target, unsafe=unsafe)
    backend = keras.backend.backend()
    info = input_info(model)
    array, steps = _example_inputs(model, info, data, timesteps)
    device, precision = device_kind(backend), _precision_in_effect(backend)
    result = StreamingResult(
        passed=False,
        diagnosis=diagnose(model),
        max_abs_error=None,
        counterexample=None,
        message=None,
        model_name=model.name,
        model_path=str(model_path) if model_path else None,
        target=f"keras3-{backend}",
        batch_size=batch_size,
        tolerance=tolerance_for(
            dtype=str(getattr(model, "compute_dtype", "float32") or "float32"),
            device=device,
            precision=precision,
            comparison="consistency",
        ),
        device=device,
        precision=precision,
    )
    if result.blockers and not force:
        _record_blockers(result)
        result.duration_s = round(time.perf_counter() - started, 3)
        return result
    check = PropertyCheck(PROPERTY_ID, model.name, result.target)
    try:
        setup = _build_setup(keras, model, result, info, data=array, timesteps=steps, unsafe=unsafe)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _hypothesis_run(
                check,
                setup,
                max_examples=max_examples or profiles.max_examples(profile),
                run_seed=run_seed,
            )
    except Exception as raised:
        _record_failure(result, check, raised, unsafe=unsafe)
    else:
        _record_pass(result, check)
    result.examples = check.examples
    result.duration_s = round(time.perf_counter() - started, 3)
    return result


def assert_streamable(model: Any, **kwargs: Any) -> StreamingResult:
    """Assert that ``model`` streams: raise ``AssertionError`` with the diagnosis if not.

    Args:
        model: a ``keras.Model`` or the path of a ``.keras`` file.
        kwargs: passed to ``check_model`` (``batch_size``, ``data``, ``timesteps``, ...).

    Example (a plain pytest test, no fixtures):
        >>> def test_my_model_streams():  # doctest: +SKIP
        ...     assert_streamable("model.keras", batch_size=4, max_examples=10)
    """
    __tracebackhide__ = True
    result = check_model(model, **kwargs)
    if not result.passed:
        raise AssertionError(str(result))
    return result
