"""cudnn_matches_generic: it skips with its reason off a GPU, and it bites.

No GPU is needed to show that the property fails when the cuDNN side breaks a
promise: ``PretendsGpu`` runs the CPU target under the property while saying
"gpu" (judged by the GPU tolerance entry of its precision, ``strict`` and
``native``), and breaks only the layers that may take a cuDNN kernel. Each bite
is differential: on the same example the property passes with the no-op wrapper
and fails with the break, by the cuDNN-vs-generic check.
"""

import pytest

from harness.errors import HarnessUsageError
from properties import test_cudnn_matches_generic as cudnn
from tests.broken_targets import (
    BROKEN_RUNNERS,
    PretendsGpu,
    WrappedRunner,
)
from tests.property_runner import run_bite, run_property

STATEFUL = cudnn.test_stateful_chunks_and_reset_match_generic
MASKED = cudnn.test_masked_sequences_match_generic
CUDNN_KINDS = ("LSTM", "GRU")
MAX_EXAMPLES_TO_FALSIFY = 100
MAX_EXAMPLES_TO_PASS = 10


PRECISIONS = ("strict", "native")


def gpu(target, runner_cls, precision: str) -> PretendsGpu:
    """``target`` as a GPU of ``precision``; skips where the backend has no such entry."""
    pretend = PretendsGpu(target, runner_cls, precision=precision)
    try:
        pretend.tolerance("consistency")
    except HarnessUsageError as exc:
        pytest.skip(f"no measured tolerance entry: {exc}")
    return pretend


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(
    ("prop", "behaviour"),
    [
        (STATEFUL, "scales_carried_state"),
        (STATEFUL, "zero_start_each_call"),
        (STATEFUL, "reset_does_nothing"),
        (MASKED, "ignores_mask"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
@pytest.mark.parametrize("kind", CUDNN_KINDS)
def test_fails_when_the_cudnn_side_breaks_and_passes_without_the_break(
    target, prop, behaviour, kind, precision
):
    runner_cls = BROKEN_RUNNERS[behaviour]
    if behaviour == "scales_carried_state" and precision == "native":
        from tests.broken_targets import scales_carried_state
        from tests.test_properties_bite import scale_for

        runner_cls = scales_carried_state(scale_for(gpu(target, WrappedRunner, precision)))
    seen = run_bite(
        prop,
        baseline=gpu(target, WrappedRunner, precision),
        broken=gpu(target, runner_cls, precision),
        layer_kind=kind,
        expect=r"use_cudnn='auto' vs False",
        max_examples=MAX_EXAMPLES_TO_FALSIFY,
    )
    assert seen.bitten == 1, seen


@pytest.mark.parametrize("prop", [STATEFUL, MASKED], ids=lambda f: f.__name__)
@pytest.mark.parametrize("kind", CUDNN_KINDS)
def test_passes_when_cudnn_and_generic_agree(target, prop, kind):
    evidence = run_property(
        prop, gpu(target, WrappedRunner, "strict"), kind, max_examples=MAX_EXAMPLES_TO_PASS
    )
    assert evidence.examples == MAX_EXAMPLES_TO_PASS
    # use_cudnn=True with no cuDNN kernel at hand is refused (TensorFlow) or falls back
    # (the torch backend's fallback loop); either way only "auto" must match here.
    refused = evidence.diagnostics.get("use_cudnn=True")
    assert refused is None or "cudnn" in refused.lower()


@pytest.mark.parametrize("prop", [STATEFUL, MASKED], ids=lambda f: f.__name__)
def test_skips_off_a_gpu_with_its_reason(target, prop):
    if target.device == "gpu":
        pytest.skip("this machine has a GPU: the property runs here")
    with pytest.raises(pytest.skip.Exception, match=r"needs a GPU: cuDNN kernels run only there"):
        run_property(prop, target, "LSTM", max_examples=1)


def test_simple_rnn_skips_everywhere(target):
    with pytest.raises(pytest.skip.Exception, match="SimpleRNN has no cuDNN kernel"):
        run_property(STATEFUL, PretendsGpu(target), "SimpleRNN", max_examples=1)
