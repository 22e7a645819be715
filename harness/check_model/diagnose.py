"""Diagnosis: which layers of a model stream, and which make streaming impossible.

Before any example runs, every layer and recorded operation of the model (nested
models and wrappers included) gets a verdict and a one-line reason:
``"streams"`` (carries its state, or acts on each timestep on its own),
``"note"`` (streams, with a remark), ``"blocks"`` (makes streaming impossible by
construction: needs future timesteps, pools or attends over time, ...) or
``"unknown"`` (cannot be told from the config; the numeric check decides).

Example:
    >>> [d.verdict for d in diagnose(model)]  # doctest: +SKIP
    ['streams', 'streams']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from harness.check_model.inputs import input_info, mro_names

STREAMS, NOTE, BLOCKS, UNKNOWN = "streams", "note", "blocks", "unknown"
VERDICTS = (STREAMS, NOTE, BLOCKS, UNKNOWN)
_NO_TIME = "no time axis"  # the time axis of a nested model whose input does not carry time

# --- layer catalogue for the diagnosis -----------------------------------------------------

# Layers that act on each timestep on their own (or on features only): they stream as-is.
PER_TIMESTEP = {
    "Dense": "applied to each timestep on its own",
    "TimeDistributed": "applies its layer to each timestep on its own",
    "Masking": "marks padded timesteps; outputs at padded timesteps are not compared",
    "Embedding": "looks up each timestep's token on its own",
    "Dropout": "inactive in inference",
    "SpatialDropout1D": "inactive in inference",
    "GaussianNoise": "inactive in inference",
    "GaussianDropout": "inactive in inference",
    "AlphaDropout": "inactive in inference",
    "ActivityRegularization": "identity in inference",
    "Activation": "elementwise",
    "ReLU": "elementwise",
    "LeakyReLU": "elementwise",
    "PReLU": "elementwise",
    "ELU": "elementwise",
    "Identity": "identity",
    "Rescaling": "elementwise",
    "Normalization": "normalises each timestep's features with fixed statistics",
    "BatchNormalization": "in inference, normalises each timestep with its moving statistics",
    "Add": "elementwise",
    "Subtract": "elementwise",
    "Multiply": "elementwise",
    "Average": "elementwise",
    "Maximum": "elementwise",
    "Minimum": "elementwise",
}
# Keras operations recorded in a functional graph (keras.ops used on symbolic tensors).
ELEMENTWISE_OPS = {
    "Abs", "Add", "Cast", "Clip", "Divide", "Equal", "Exp", "Greater", "GreaterEqual",
    "Less", "LessEqual", "Log", "LogicalAnd", "LogicalNot", "LogicalOr", "Maximum",
    "Minimum", "Multiply", "Negative", "NotEqual", "Power", "Relu", "Sigmoid", "Sign",
    "Sqrt", "Square", "Subtract", "Tanh", "TrueDivide", "Where",
}  # fmt: skip
# Layers and operations with an ``axis`` argument (Softmax, LayerNormalization, Concatenate,
# keras.ops.sum, ...): per timestep unless that axis is time.
AXIS_OPS = {
    "All", "Any", "Argmax", "Argmin", "Cumprod", "Cumsum", "Logsumexp", "LogSoftmax", "Max",
    "Mean", "Min", "Norm", "Prod", "Softmax", "Sort", "Std", "Sum", "Var", "Concatenate",
    "LayerNormalization", "UnitNormalization", "Flip", "Roll",
}  # fmt: skip
ATTENTION = {"MultiHeadAttention", "Attention", "AdditiveAttention", "GroupedQueryAttention"}
CONVOLUTIONS = {"BaseConv", "BaseSeparableConv", "BaseDepthwiseConv", "BaseConvTranspose"}
OTHER_AXIS = "runs over another axis than the input's time"


class LayerDiagnosis(NamedTuple):
    """One layer's part in streaming: ``(name, class_name, verdict, reason)``.

    ``verdict`` is ``"streams"``, ``"note"`` (streams, with a remark), ``"blocks"``
    (makes streaming impossible by construction) or ``"unknown"`` (this diagnosis
    cannot tell; the numeric check decides). ``name`` is a path for nested layers:
    ``"encoder/lstm"``.
    """

    name: str
    class_name: str
    verdict: str
    reason: str


def _shape(tensors) -> tuple | None:
    try:
        import keras

        flat = keras.tree.flatten(tensors)
    except Exception:
        return None
    for tensor in flat:
        shape = getattr(tensor, "shape", None)
        if shape is not None:
            return tuple(shape)
    return None


def _io_shapes(op) -> tuple[tuple | None, tuple | None]:
    try:
        inputs = op.input
    except Exception:
        inputs = None
    try:
        outputs = op.output
    except Exception:
        outputs = None
    return _shape(inputs), _shape(outputs)


def _carries_time(shape: tuple | None, time_dim: Any) -> bool:
    return (
        time_dim is not _NO_TIME and shape is not None and len(shape) >= 2 and shape[1] == time_dim
    )


def _axes(value: Any, rank: int | None) -> list[int] | None:
    """Normalised axes of an ``axis``/``axes`` argument; None means every axis."""
    if value is None:
        return None
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if rank is None:
        return [int(v) for v in values]
    return [int(v) % rank for v in values]


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (list, tuple)) else value


def _diagnose_conv(config: dict, names: set[str]) -> tuple[str, str]:
    kernel = int(_first(config.get("kernel_size", 1)))
    strides = int(_first(config.get("strides", 1)))
    dilation = int(_first(config.get("dilation_rate", 1)))
    padding = config.get("padding", "valid")
    if config.get("data_format") == "channels_first":
        return BLOCKS, "data_format='channels_first' treats the time axis as channels"
    if strides > 1:
        return BLOCKS, f"strides={strides} subsamples time: each chunk restarts the stride grid"
    if kernel == 1:
        return STREAMS, "kernel_size=1: a projection of each timestep on its own"
    if "BaseConvTranspose" in names:
        return BLOCKS, f"a transposed convolution (kernel_size={kernel}) spreads into later steps"
    reach = (kernel - 1) * dilation
    if padding == "causal":
        return BLOCKS, (
            f"causal, but Keras keeps no buffer of past inputs between calls: the first "
            f"{reach} timestep(s) of every chunk after the first see zero padding, not the "
            "previous chunk"
        )
    if padding == "same":
        return BLOCKS, f"padding='same' needs up to {reach - reach // 2} future timestep(s)"
    return BLOCKS, f"padding='valid' shortens every chunk by {reach} timestep(s)"


def _diagnose_axis(op, config: dict, rank: int | None, in_time: bool) -> tuple[str, str]:
    key = "axes" if "axes" in config and "axis" not in config else "axis"
    default = -1 if type(op).__name__ in ("Softmax", "LayerNormalization") else None
    axes = _axes(config.get(key, default), rank)
    if not in_time:
        return STREAMS, "no time axis here: acts on each chunk's output as on the whole run's"
    if axes is None or 1 in axes:
        what = "accumulates" if type(op).__name__ in ("Cumsum", "Cumprod") else "reduces or mixes"
        return BLOCKS, f"{what} over the time axis ({key}={config.get(key)!r}): needs every step"
    return STREAMS, f"acts along {key}={config.get(key)!r}, not time"


def _diagnose_op(op, in_shape, out_shape, time_dim) -> tuple[str, str]:
    """(verdict, reason) for one layer or operation that is not a model."""
    names = mro_names(op)
    cls = type(op).__name__
    try:
        config = op.get_config()
    except Exception:
        config = {}
    in_time = _carries_time(in_shape, time_dim)
    rank = len(in_shape) if in_shape is not None else None
    if "RNN" in names:
        if not in_time:
            return NOTE, (
                f"{OTHER_AXIS} (it follows a layer that returned only its last timestep): "
                "kept stateless, so it restarts with every chunk exactly as in the whole run"
            )
        if getattr(op, "go_backwards", False):
            return BLOCKS, "go_backwards=True reads each sequence from its end: needs the future"
        if not getattr(op, "return_sequences", True):
            return STREAMS, (
                "made stateful; returns only its last timestep, so each chunk yields the "
                "output at its end (compared with the whole model on that prefix)"
            )
        return STREAMS, "made stateful: carries its state from chunk to chunk"
    if "Bidirectional" in names:
        return BLOCKS, "Bidirectional runs a backward layer: every output needs the future"
    if cls == "TimeDistributed":
        return STREAMS, PER_TIMESTEP[cls]
    if cls == "Lambda":
        return UNKNOWN, "arbitrary Python code: cannot be inspected; the numeric check decides"
    if not in_time:
        return STREAMS, "no time axis here: acts on each chunk's output as on the whole run's"
    if names & CONVOLUTIONS:
        return _diagnose_conv(config, names)
    if "BaseGlobalPooling" in names:
        if config.get("data_format") == "channels_first":
            return STREAMS, "data_format='channels_first': pools the features of each timestep"
        return BLOCKS, "pools over every timestep: each output needs the whole sequence"
    if "BasePooling" in names:
        pool = int(_first(config.get("pool_size", 1)))
        strides = int(_first(config.get("strides") or pool))
        if config.get("data_format") == "channels_first":
            return STREAMS, "data_format='channels_first': pools the features of each timestep"
        if pool == 1 and strides == 1:
            return STREAMS, "pool_size=1: per timestep"
        return BLOCKS, f"pools over windows of {pool} timesteps (strides={strides}) across chunks"
    if names & ATTENTION:
        return BLOCKS, (
            "attends across timesteps; even with use_causal_mask=True a chunk cannot see "
            "earlier chunks (Keras keeps no key/value cache between calls)"
        )
    if cls == "Flatten":
        return BLOCKS, "merges the time axis into features: needs a fixed number of timesteps"
    if cls in ("Reshape", "Permute"):
        keeps = _carries_time(out_shape, time_dim) and (
            cls == "Reshape" or _first(tuple(config.get("dims", (1,)))) == 1
        )
        if keeps:
            return STREAMS, "rearranges each timestep's features; the time axis stays"
        return BLOCKS, "merges or moves the time axis: needs a fixed number of timesteps"
    if cls in ("Cropping1D", "ZeroPadding1D"):
        return BLOCKS, "crops or pads at both ends of every chunk instead of the sequence"
    if cls == "GroupNormalization":
        return BLOCKS, "normalises over the time axis: needs every timestep"
    if cls in AXIS_OPS:
        return _diagnose_axis(op, config, rank, in_time)
    if cls in PER_TIMESTEP:
        return STREAMS, PER_TIMESTEP[cls]
    if cls in ELEMENTWISE_OPS:
        return STREAMS, "elementwise operation"
    return UNKNOWN, "not known to this diagnosis: the numeric check decides"


def _model_ops(model) -> list:
    operations = getattr(model, "operations", None)
    if operations is None:  # Sequential: its layers, each called once in its own graph
        operations = list(getattr(model, "layers", []))
    return [op for op in operations if type(op).__name__ != "InputLayer"]


def _diagnose_model(model, time_dim, prefix: str) -> list[LayerDiagnosis]:
    found = []
    for op in _model_ops(model):
        name = f"{prefix}{op.name}"
        in_shape, out_shape = _io_shapes(op)
        if "Model" in mro_names(op):
            inner_inputs = getattr(op, "inputs", None) or []
            inner_time: Any = _NO_TIME
            if _carries_time(in_shape, time_dim) and inner_inputs:
                inner_time = tuple(inner_inputs[0].shape)[1]
            # Listed through its layers, named by path: "encoder/lstm".
            found += _diagnose_model(op, inner_time, f"{name}/")
            continue
        verdict, reason = _diagnose_op(op, in_shape, out_shape, time_dim)
        found.append(LayerDiagnosis(name, type(op).__name__, verdict, reason))
    return found


def diagnose(model) -> list[LayerDiagnosis]:
    """Walk every layer of ``model`` (nested models too) and say how each one streams.

    Args:
        model: a Functional or Sequential Keras 3 model with one sequence input.

    Returns one ``LayerDiagnosis`` per layer or recorded operation, in graph order;
    the ``"blocks"`` entries make streaming impossible by construction.

    Example:
        >>> [d.verdict for d in diagnose(model)]  # doctest: +SKIP
        ['streams', 'streams']
    """
    info = input_info(model)
    return _diagnose_model(model, info.time_dim, "")


def keep_stateless(diagnosis: Sequence[LayerDiagnosis]) -> list[str]:
    """Names of the recurrent layers the twin leaves stateless (they run over another axis)."""
    return [
        d.name.rsplit("/", 1)[-1]
        for d in diagnosis
        if d.verdict == NOTE and d.reason.startswith(OTHER_AXIS)
    ]
