"""cudnn_matches_generic: cuDNN kernels and the generic kernel agree (GPU only).

Keras 3's LSTM and GRU take ``use_cudnn``: ``"auto"`` (the default: a cuDNN
kernel where the backend has one and the configuration allows it, else the
generic loop), ``True`` (cuDNN, or an error) or ``False`` (the generic loop).
Keras documents ``"auto"`` as "attempt to use cuDNN when feasible, and fallback
to the default implementation if not", and its ``use_cudnn=True`` error says
"Pass use_cudnn='auto' to fallback". So, for layers cuDNN can implement (tanh,
sigmoid gates, a bias, GRU ``reset_after=True``):

- stateful chunked runs give the same outputs, returned states and stored
  states with ``"auto"`` or ``True`` as with ``False``, chunk after chunk, and
  again after ``reset_state()``;
- with a right-padded mask (what cuDNN supports), the same outputs;
- with a mask that is not right-padded (a hole inside a sequence), ``"auto"``
  must fall back and equal the generic loop, and ``True`` must either equal it
  or refuse with an error that names cuDNN; a silently different result fails.

``use_cudnn=True`` may be refused for a whole configuration (a backend with no
cuDNN kernel for the layer raises ``ValueError`` naming ``use_cudnn``): that is
the documented behaviour, recorded, and ``"auto"`` is still checked.

Comparisons use the consistency tolerance for the device and precision: with
``--precision native`` cuDNN may run in TF32 (see ``harness/tolerance.py``).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.strategies import cases

pytestmark = pytest.mark.rnn_property("cudnn_matches_generic")

CUDNN_MODES = ("auto", True)


def _skip_unless_applicable(target, layer_kind: str) -> None:
    if layer_kind == "SimpleRNN":
        pytest.skip("SimpleRNN has no cuDNN kernel in Keras: there is nothing to compare")
    if not target.supports_use_cudnn:
        pytest.skip(f"{target.name} has no use_cudnn argument: its layers pick kernels themselves")
    if target.device != "gpu":
        pytest.skip(
            f"cudnn_matches_generic needs a GPU: cuDNN kernels run only there "
            f"({target.name} runs on {target.device})"
        )


def _refuses_cudnn(exc: Exception) -> bool:
    """The documented refusal of use_cudnn=True: a ValueError that names cuDNN."""
    return isinstance(exc, ValueError) and "cudnn" in str(exc).lower()


def _right_padded_mask(rng: np.random.Generator, batch: int, timesteps: int) -> np.ndarray:
    """True for the first 1..T steps of each sequence (no sequence fully masked)."""
    lengths = rng.integers(1, timesteps + 1, size=batch)
    return np.arange(timesteps)[None, :] < lengths[:, None]


def _holed_mask(rng: np.random.Generator, batch: int, timesteps: int) -> np.ndarray:
    """A mask with a masked step between two kept steps in sample 0: not right-padded."""
    mask = _right_padded_mask(rng, batch, timesteps)
    mask[0, :] = True
    mask[0, int(rng.integers(1, timesteps - 1))] = False
    return mask


@given(data=st.data())
def test_stateful_chunks_and_reset_match_generic(target, layer_kind, check, data):
    _skip_unless_applicable(target, layer_kind)
    case = data.draw(cases(kind=layer_kind, cudnn_eligible=True), label="case")
    check.example(case=case)
    tol = target.tolerance("consistency")
    where = f"chunks {list(case.splits)}"

    generic = target.runner(
        case.spec.replace(use_cudnn=False), batch_size=case.batch_size, stateful=True
    )
    generic.set_weights(case.weights)
    expected = [generic(chunk) for chunk in case.chunks()]
    expected_states = generic.states()
    generic.reset()
    expected_after_reset = generic(case.chunks()[0])

    for mode in CUDNN_MODES:
        runner = target.runner(
            case.spec.replace(use_cudnn=mode), batch_size=case.batch_size, stateful=True
        )
        runner.set_weights(case.weights)
        try:
            first = runner(case.chunks()[0])
        except Exception as exc:
            if mode is True and _refuses_cudnn(exc):
                check.diagnostics["use_cudnn=True"] = f"refused: {exc}"
                continue
            raise
        got = [first] + [runner(chunk) for chunk in case.chunks()[1:]]
        for k, (out, want) in enumerate(zip(got, expected, strict=True)):
            check.assert_close(
                f"use_cudnn={mode!r} vs False: output of chunk {k} ({where})",
                actual=out.output,
                expected=want.output,
                tol=tol,
            )
            for i, (state, want_state) in enumerate(
                zip(out.states or [], want.states or [], strict=True)
            ):
                check.assert_close(
                    f"use_cudnn={mode!r} vs False: returned state {i} of chunk {k} ({where})",
                    actual=state,
                    expected=want_state,
                    tol=tol,
                )
        for i, (state, want_state) in enumerate(zip(runner.states(), expected_states, strict=True)):
            check.assert_close(
                f"use_cudnn={mode!r} vs False: stored state {i} after the last chunk ({where})",
                actual=state,
                expected=want_state,
                tol=tol,
            )
        runner.reset()
        check.assert_close(
            f"use_cudnn={mode!r} vs False: output of the first chunk after reset_state()",
            actual=runner(case.chunks()[0]).output,
            expected=expected_after_reset.output,
            tol=tol,
        )


@given(data=st.data())
def test_masked_sequences_match_generic(target, layer_kind, check, data):
    _skip_unless_applicable(target, layer_kind)
    case = data.draw(
        cases(kind=layer_kind, cudnn_eligible=True, return_sequences=True), label="case"
    )
    holed = case.timesteps >= 3 and data.draw(st.booleans(), label="not right-padded")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="mask seed"))
    make = _holed_mask if holed else _right_padded_mask
    mask = make(rng, case.batch_size, case.timesteps)
    check.example(case=case, holed=holed, mask=mask)
    tol = target.tolerance("consistency")
    kind = "not right-padded" if holed else "right-padded"

    generic = target.runner(case.spec.replace(use_cudnn=False), batch_size=None, stateful=False)
    generic.set_weights(case.weights)
    expected = generic(case.x, mask=mask)

    for mode in CUDNN_MODES:
        runner = target.runner(case.spec.replace(use_cudnn=mode), batch_size=None, stateful=False)
        runner.set_weights(case.weights)
        try:
            got = runner(case.x, mask=mask)
        except Exception as exc:
            if mode is True and _refuses_cudnn(exc):
                check.diagnostics["use_cudnn=True"] = f"refused ({kind} mask): {exc}"
                continue
            raise
        check.assert_close(
            f"use_cudnn={mode!r} vs False: outputs with a {kind} mask",
            actual=got.output,
            expected=expected.output,
            tol=tol,
        )
        for i, (state, want) in enumerate(
            zip(got.states or [], expected.states or [], strict=True)
        ):
            check.assert_close(
                f"use_cudnn={mode!r} vs False: returned state {i} with a {kind} mask",
                actual=state,
                expected=want,
                tol=tol,
            )
