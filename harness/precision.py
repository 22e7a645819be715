"""Float32 precision policy on accelerators: ``strict`` or ``native``.

On NVIDIA GPUs since Ampere, float32 matrix products and cuDNN RNN kernels may
run in TF32 (a 10-bit mantissa), which moves results by ~1e-3. ``strict`` turns
TF32 off in the backend under test so that a GPU is held to tolerances close
to the CPU's; ``native`` leaves the framework's defaults (what users get) and
is held to tolerances measured for them (see ``harness/tolerance.py``).

On a CPU both modes compute the same thing: there is no TF32 there.

The mode travels to pytest workers and target subprocesses through the
``RNN_HARNESS_PRECISION`` environment variable.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from typing import Any

from harness.errors import HarnessUsageError

PRECISIONS = ("strict", "native")
DEFAULT_PRECISION = "strict"
PRECISION_ENV = "RNN_HARNESS_PRECISION"


def precision_from_env() -> str:
    """The precision mode of this process (``RNN_HARNESS_PRECISION``, default strict)."""
    value = os.environ.get(PRECISION_ENV, "").strip() or DEFAULT_PRECISION
    return validate_precision(value, source=PRECISION_ENV)


def validate_precision(value: str, *, source: str = "--precision") -> str:
    if value not in PRECISIONS:
        raise HarnessUsageError(
            f"{source}={value!r} is not a precision mode; expected one of "
            f"{', '.join(PRECISIONS)} (strict: no TF32 on GPUs; native: framework defaults)"
        )
    return value


def apply_precision(backend: str, precision: str) -> dict[str, Any]:
    """Set ``backend``'s float32 precision switches for ``precision``; return them as read back.

    ``native`` changes nothing and only reads the switches. The returned dict
    goes into the report, so that a reader sees what the kernels were allowed to do.
    """
    validate_precision(precision)
    strict = precision == "strict"
    if backend == "torch":
        return _torch(strict)
    if backend == "jax":
        return _jax(strict)
    if backend == "tensorflow":
        return _tensorflow(strict)
    raise HarnessUsageError(f"No precision switches are known for backend {backend!r}")


def _torch(strict: bool) -> dict[str, Any]:
    import torch

    b = torch.backends
    if hasattr(b, "fp32_precision"):
        # torch >= 2.9: the new API; mixing it with allow_tf32 raises, so only this one.
        switches = {
            "matmul": b.cuda.matmul,
            "cudnn": b.cudnn,
            "cudnn.conv": b.cudnn.conv,
            "cudnn.rnn": b.cudnn.rnn,
        }
        if strict:
            b.fp32_precision = "ieee"
            for switch in switches.values():
                switch.fp32_precision = "ieee"
        return {f"torch.{k}.fp32_precision": s.fp32_precision for k, s in switches.items()}
    if strict:
        b.cuda.matmul.allow_tf32 = False
        b.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
    return {
        "torch.matmul.allow_tf32": b.cuda.matmul.allow_tf32,
        "torch.cudnn.allow_tf32": b.cudnn.allow_tf32,
        "torch.float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


def _jax(strict: bool) -> dict[str, Any]:
    import jax

    if strict:
        jax.config.update("jax_default_matmul_precision", "highest")
    return {"jax_default_matmul_precision": jax.config.jax_default_matmul_precision or "default"}


def _tensorflow(strict: bool) -> dict[str, Any]:
    import tensorflow as tf

    if strict:
        tf.config.experimental.enable_tensor_float_32_execution(False)
    return {
        "tf.tensor_float_32_execution": tf.config.experimental.tensor_float_32_execution_enabled()
    }


def device_details(backend: str) -> dict[str, Any]:
    """Name of the device the backend computes on and, on a GPU, driver/CUDA/cuDNN versions.

    Every field is best effort: one that cannot be read is left out, never guessed.
    """
    details: dict[str, Any] = {}
    try:
        details.update(_BACKEND_DETAILS[backend]())
    except Exception as exc:  # a missing field must not stop a run; say why it is missing
        details["details_error"] = f"{type(exc).__name__}: {exc}"
    if details.get("kind") == "gpu":
        details.update(_nvidia_smi())
    else:
        details.setdefault("name", platform.processor() or platform.machine())
    return details


def device_kind(backend: str) -> str:
    """``"gpu"`` or ``"cpu"``: where Keras on ``backend`` computes by default.

    Asked of what Keras uses, not of what the machine has: a GPU machine run with
    ``KERAS_TORCH_DEVICE=cpu`` (torch), ``jax_default_device`` set to a CPU (JAX) or its
    GPUs made invisible (TensorFlow) computes on the CPU and is labelled ``"cpu"``.
    """
    if backend == "tensorflow":
        import tensorflow as tf

        # Logical devices: what TF places ops on, after any set_visible_devices.
        return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    if backend == "jax":
        import jax.numpy as jnp

        # Keras's JAX backend leaves placement to JAX: where a new array lands.
        platforms = {d.platform for d in jnp.zeros(()).devices()}
        return "cpu" if platforms == {"cpu"} else "gpu"
    return "cpu" if _keras_torch_device().split(":")[0] == "cpu" else "gpu"


def _keras_torch_device() -> str:
    """The device Keras's torch backend puts tensors on, e.g. ``"cuda"``, ``"cpu"``.

    Keras chooses it once, at import: ``KERAS_TORCH_DEVICE`` if set, else mps, cuda,
    xpu or cpu, whichever is available first (keras/src/backend/torch/core.py).
    """
    try:
        from keras.src.backend.torch.core import get_device
    except ImportError:  # no Keras 3 here: torch's own default
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(get_device())


def _torch_details() -> dict[str, Any]:
    import torch

    if device_kind("torch") == "cpu":
        return {"kind": "cpu"}
    return {
        "kind": "gpu",
        "name": torch.cuda.get_device_name(0),
        "cuda": torch.version.cuda,
        "cudnn": _cudnn_version(torch.backends.cudnn.version()),
    }


def _jax_details() -> dict[str, Any]:
    import jax

    if device_kind("jax") == "cpu":
        return {"kind": "cpu"}
    details: dict[str, Any] = {"kind": "gpu", "name": jax.devices()[0].device_kind}
    try:
        from jax._src.lib import cuda_versions  # private, hence the guard

        if cuda_versions is not None:
            details["cuda"] = _cuda_version(cuda_versions.cuda_runtime_get_version())
            details["cudnn"] = _cudnn_version(cuda_versions.cudnn_get_version())
    except Exception:
        pass
    return details


def _tensorflow_details() -> dict[str, Any]:
    import tensorflow as tf

    if device_kind("tensorflow") == "cpu":
        return {"kind": "cpu"}
    gpus = tf.config.list_physical_devices("GPU")
    build = tf.sysconfig.get_build_info()
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return {
        "kind": "gpu",
        "name": name,
        "cuda": build.get("cuda_version"),
        "cudnn": build.get("cudnn_version"),
    }


_BACKEND_DETAILS = {"torch": _torch_details, "jax": _jax_details, "tensorflow": _tensorflow_details}


def _cuda_version(version: int | None) -> str | None:
    """CUDA's integer version: 12080 -> 12.8."""
    return None if version is None else f"{version // 1000}.{version % 1000 // 10}"


def _cudnn_version(version: int | None) -> str | None:
    """cuDNN's integer version: 91002 -> 9.10.2 (cuDNN 9), 8902 -> 8.9.2 (cuDNN 8)."""
    if version is None:
        return None
    if version < 10000:
        return f"{version // 1000}.{version % 1000 // 100}.{version % 100}"
    return f"{version // 10000}.{version % 10000 // 100}.{version % 100}"


def _nvidia_smi() -> dict[str, Any]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {}
    try:
        line = subprocess.run(
            [smi, "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return {}
    name, _, driver = (part.strip() for part in line.partition(","))
    return {"driver": driver, "smi_name": name}
