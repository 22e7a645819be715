"""cudnn_matches_generic: it skips with its reason off a GPU, and it bites.

No GPU is needed to show that the property fails when the cuDNN side breaks a
promise: ``PretendsGpu`` runs the CPU target under the property while saying
"gpu", and breaks only the layers that may take a cuDNN kernel.
"""

import pytest

from harness.errors import PropertyFailure
from properties import test_cudnn_matches_generic as cudnn
from tests.broken_targets import (
    BROKEN_RUNNERS,
    PretendsGpu,
    WrappedRunner,
)
from tests.property_runner import run_property

STATEFUL = cudnn.test_stateful_chunks_and_reset_match_generic
MASKED = cudnn.test_masked_sequences_match_generic
CUDNN_KINDS = ("LSTM", "GRU")
MAX_EXAMPLES_TO_FALSIFY = 100
MAX_EXAMPLES_TO_PASS = 10


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
def test_fails_when_the_cudnn_side_breaks(target, prop, behaviour, kind):
    broken = PretendsGpu(target, BROKEN_RUNNERS[behaviour])
    with pytest.raises(PropertyFailure, match=r"use_cudnn='auto' vs False"):
        run_property(prop, broken, kind, max_examples=MAX_EXAMPLES_TO_FALSIFY)


@pytest.mark.parametrize("prop", [STATEFUL, MASKED], ids=lambda f: f.__name__)
@pytest.mark.parametrize("kind", CUDNN_KINDS)
def test_passes_when_cudnn_and_generic_agree(target, prop, kind):
    evidence = run_property(
        prop, PretendsGpu(target, WrappedRunner), kind, max_examples=MAX_EXAMPLES_TO_PASS
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
