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
    device_kind,
    precision_from_env,
    validate_precision,
)
from harness.tolerance import ANY, TOLERANCES, detection_floor, tolerance_for

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


BACKENDS = ("tensorflow", "jax", "torch")
GPU_BACKENDS = ("jax", "torch")  # measured on a GPU (reports/samples/gpu-h100)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("comparison", ["exact", "consistency", "reference"])
def test_a_cpu_has_one_tolerance_per_backend_whatever_the_precision(backend, comparison):
    strict = tolerance_for(backend=backend, device="cpu", precision="strict", comparison=comparison)
    native = tolerance_for(backend=backend, device="cpu", precision="native", comparison=comparison)
    assert native == strict


def test_every_entry_is_per_backend_and_says_where_its_numbers_come_from():
    for (backend, dtype, device, precision, comparison), tol in TOLERANCES.items():
        assert backend in BACKENDS and dtype == "float32" and device in ("cpu", "gpu")
        assert precision in ("strict", "native", ANY), precision
        if comparison == "exact":
            assert "by definition" in tol.source, (backend, device)
        else:  # a measurement: the command that measured it, and its figure
            assert "measure" in tol.source or "survey" in tol.source, (backend, device, tol.source)


@pytest.mark.parametrize("device", ["cpu", "gpu"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_checks_exact_by_definition_are_exact_on_every_device(backend, device):
    for precision in ("strict", "native"):
        tol = tolerance_for(backend=backend, device=device, precision=precision, comparison="exact")
        assert (tol.rtol, tol.atol) == (0.0, 0.0)


@pytest.mark.parametrize("backend", GPU_BACKENDS)
@pytest.mark.parametrize("comparison", ["consistency", "reference"])
def test_gpu_strict_stays_close_to_the_cpu_and_native_is_wider(backend, comparison):
    cpu = tolerance_for(backend=backend, device="cpu", comparison=comparison)
    strict = tolerance_for(backend=backend, device="gpu", precision="strict", comparison=comparison)
    native = tolerance_for(backend=backend, device="gpu", precision="native", comparison=comparison)
    # strict: within 100x of the CPU's bounds (no TF32: float32 rounding, other kernels)
    assert cpu.atol <= strict.atol <= 100 * max(cpu.atol, 1e-7)
    assert strict.rtol <= 100 * max(cpu.rtol, 1e-7)
    # native: TF32 (10-bit mantissa) needs room, but a state carried wrongly (1e-1) fails
    assert native.atol >= strict.atol
    assert native.atol + native.rtol < 2e-2


def test_every_gpu_entry_exists_for_both_precisions_and_comparisons():
    gpu = {(b, p, c) for (b, _, device, p, c) in TOLERANCES if device == "gpu"}
    precisions = ("strict", "native")
    comparisons = ("consistency", "reference")
    want = {(b, p, c) for b in GPU_BACKENDS for p in precisions for c in comparisons}
    want |= {(b, ANY, "exact") for b in BACKENDS}  # exact by definition: every backend
    assert gpu == want


def test_a_backend_without_a_gpu_measurement_has_no_gpu_entry():
    # TensorFlow was not installed on the GPU machine that measured the others.
    with pytest.raises(HarnessUsageError, match=r"measure one with scripts/measure_tolerances.py"):
        tolerance_for(backend="tensorflow", device="gpu", comparison="consistency")


def test_without_a_backend_the_widest_entry_of_the_backends_applies():
    wide = tolerance_for(device="gpu", precision="native", comparison="consistency")
    for backend in GPU_BACKENDS:
        one = tolerance_for(
            backend=backend, device="gpu", precision="native", comparison="consistency"
        )
        assert one.atol <= wide.atol and one.rtol <= wide.rtol


def test_native_gpu_entries_state_their_detection_floor_and_gates_have_none():
    for backend in GPU_BACKENDS:
        floor = detection_floor(backend=backend, device="gpu", precision="native")
        assert floor is not None and floor.missed < floor.caught
        assert "x" in str(floor) and "is not" in str(floor)
        assert detection_floor(backend=backend, device="gpu", precision="strict") is None
        assert detection_floor(backend=backend, device="cpu", precision="native") is None


def test_a_missing_entry_says_where_to_add_it():
    with pytest.raises(HarnessUsageError, match=r"add the entry to harness/tolerance.py"):
        tolerance_for(backend="jax", dtype="bfloat16", device="gpu", comparison="reference")


def test_version_numbers_read_as_their_libraries_print_them():
    assert _cuda_version(12080) == "12.8"
    assert _cuda_version(13000) == "13.0"
    assert _cudnn_version(91002) == "9.10.2"
    assert _cudnn_version(8902) == "8.9.2"
    assert _cudnn_version(None) is None


def torch_device_kind_in_a_fresh_process(keras_torch_device: str | None) -> list[str]:
    """``device_kind("torch")`` and Keras's own torch device, on a simulated CUDA machine.

    Keras picks its torch device once, at import, so each case needs its own process;
    ``torch.cuda.is_available`` is patched to say yes before Keras is imported.
    """
    code = (
        "import json, torch; torch.cuda.is_available = lambda: True; "
        "torch.backends.mps.is_available = lambda: False; "
        "from keras.src.backend.torch.core import get_device; "
        "from harness.precision import device_kind; "
        "print(json.dumps([device_kind('torch'), str(get_device())]))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), KERAS_BACKEND="torch", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERAS_TORCH_DEVICE", None)
    if keras_torch_device is not None:
        env["KERAS_TORCH_DEVICE"] = keras_torch_device
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("keras_torch_device", "expected"),
    [("cpu", ["cpu", "cpu"]), (None, ["gpu", "cuda"]), ("cuda:0", ["gpu", "cuda:0"])],
)
def test_torch_device_kind_is_the_device_keras_uses_not_whether_cuda_exists(
    keras_torch_device, expected
):
    # KERAS_TORCH_DEVICE=cpu on a CUDA machine computes on the CPU: labelled gpu, a
    # native run would become informational and stop gating.
    assert torch_device_kind_in_a_fresh_process(keras_torch_device) == expected


def test_jax_device_kind_is_where_arrays_land_not_the_default_backend(monkeypatch):
    jax = pytest.importorskip("jax")
    # A GPU machine whose default device was set to its CPU: arrays, Keras's too, land
    # on the CPU (this machine's only device).
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert device_kind("jax") == "cpu"


def test_tensorflow_device_kind_counts_only_the_gpus_tf_can_place_ops_on(monkeypatch):
    tf = pytest.importorskip("tensorflow")
    # A GPU that set_visible_devices([], "GPU") hid: physical, but no logical device.
    gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [gpu])
    assert device_kind("tensorflow") == "cpu"
