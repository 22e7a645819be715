"""The precision switch (strict/native) and the tolerance table it selects from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessUsageError
from harness.precision import (
    PRECISION_ENV,
    _cuda_version,
    _cudnn_version,
    precision_from_env,
    validate_precision,
)
from harness.tolerance import TOLERANCES, tolerance_for

REPO = Path(__file__).resolve().parent.parent


def switches_in_a_fresh_process(backend: str, precision: str) -> dict:
    """``apply_precision`` in its own process: the switches are process-global."""
    code = (
        "import json; from harness.precision import apply_precision; "
        f"print(json.dumps(apply_precision({backend!r}, {precision!r})))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("backend", "strict", "native"),
    [
        # torch's defaults: float32 matmuls already exact, cuDNN RNNs and convs in TF32.
        (
            "torch",
            {"torch.matmul.fp32_precision": "ieee", "torch.cudnn.rnn.fp32_precision": "ieee"},
            {"torch.cudnn.rnn.fp32_precision": "tf32"},
        ),
        (
            "jax",
            {"jax_default_matmul_precision": "highest"},
            {"jax_default_matmul_precision": "default"},
        ),
        (
            "tensorflow",
            {"tf.tensor_float_32_execution": False},
            {"tf.tensor_float_32_execution": True},
        ),
    ],
)
def test_strict_turns_tf32_off_and_native_leaves_the_defaults(backend, strict, native):
    got_strict = switches_in_a_fresh_process(backend, "strict")
    got_native = switches_in_a_fresh_process(backend, "native")
    assert strict.items() <= got_strict.items(), got_strict
    assert native.items() <= got_native.items(), got_native


def test_strict_is_the_default_and_the_environment_selects(monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    assert precision_from_env() == "strict"
    monkeypatch.setenv(PRECISION_ENV, "native")
    assert precision_from_env() == "native"
    monkeypatch.setenv(PRECISION_ENV, "fast")
    with pytest.raises(HarnessUsageError, match=r"RNN_HARNESS_PRECISION='fast' is not a"):
        precision_from_env()


def test_an_unknown_precision_names_the_modes():
    with pytest.raises(HarnessUsageError, match="expected one of strict, native"):
        validate_precision("tf32")


@pytest.mark.parametrize("comparison", ["consistency", "reference"])
def test_a_cpu_has_one_tolerance_whatever_the_precision(comparison):
    strict = tolerance_for(device="cpu", precision="strict", comparison=comparison)
    assert tolerance_for(device="cpu", precision="native", comparison=comparison) == strict


@pytest.mark.parametrize("comparison", ["consistency", "reference"])
def test_gpu_strict_stays_close_to_the_cpu_and_native_is_wider(comparison):
    cpu = tolerance_for(device="cpu", comparison=comparison)
    strict = tolerance_for(device="gpu", precision="strict", comparison=comparison)
    native = tolerance_for(device="gpu", precision="native", comparison=comparison)
    cpu_reference = tolerance_for(device="cpu", comparison="reference")
    # strict: the CPU's relative tolerance; at most the CPU reference's absolute one
    assert strict.rtol == cpu.rtol
    assert cpu.atol <= strict.atol <= cpu_reference.atol
    # native: TF32 (10-bit mantissa, unit roundoff 2**-11 = 4.9e-4) needs room...
    assert native.atol >= 2**-11 and native.rtol >= 2**-11
    # ...but not a blanket one: a state carried wrongly (errors of 1e-1) must still fail.
    assert native.atol + native.rtol < 2e-2


def test_every_gpu_entry_exists_for_both_precisions_and_comparisons():
    gpu = {(p, c) for (_, device, p, c) in TOLERANCES if device == "gpu"}
    assert gpu == {(p, c) for p in ("strict", "native") for c in ("consistency", "reference")}


def test_a_missing_entry_says_where_to_add_it():
    with pytest.raises(HarnessUsageError, match=r"add a measured entry to harness/tolerance.py"):
        tolerance_for(dtype="bfloat16", device="gpu", comparison="reference")


def test_version_numbers_read_as_their_libraries_print_them():
    assert _cuda_version(12080) == "12.8"
    assert _cuda_version(13000) == "13.0"
    assert _cudnn_version(91002) == "9.10.2"
    assert _cudnn_version(8902) == "8.9.2"
    assert _cudnn_version(None) is None
