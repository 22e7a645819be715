"""streaming_equals_whole: does a user's own model stream? (``rnn-harness check-model``)

A recurrent model is trained on whole sequences and often served as a stream:
made stateful at a fixed batch size and fed chunk by chunk as data arrives.
That is only correct when every layer either carries its state from one call to
the next (the recurrent layers, made stateful) or acts on each timestep on its
own (Dense, TimeDistributed, Masking, ...). For a saved model this module

1. loads it with ``safe_mode=True`` (``--unsafe`` opts out, e.g. for ``Lambda``);
2. diagnoses it before running anything: walks every layer, nested models and
   wrappers included, and names the layers that make streaming impossible by
   construction, each with a one-line reason, and those that stream;
3. builds its streaming twin: the same config with every recurrent layer that
   runs along time made ``stateful`` at batch size B, the same weights;
4. lets Hypothesis draw inputs, timesteps and chunk splits, and checks that the
   streamed outputs equal the original model's on the whole sequence (every
   timestep of a sequence output; for a final output, the output after each
   chunk equals the whole model's output on that prefix, the last chunk's on
   the whole sequence), and that ``reset_state()`` between two streams starts
   the second afresh;
5. on a failure, shows per chunk the first diverging timestep and renders a
   standalone reproducer (NumPy and Keras only).

Python: ``check_model`` and ``assert_streamable`` (plain pytest, no fixtures).
Command line: ``rnn-harness check-model MODEL`` (``add_check_model_parser``).

Example:
    >>> result = check_model("model.keras", batch_size=2)  # doctest: +SKIP
    >>> result.passed, result.verdict  # doctest: +SKIP
    (True, 'streamable')
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import sys
import time
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from harness.check import PropertyCheck, to_plain
from harness.errors import HarnessUsageError, check_argument
from harness.precision import precision_from_env
from harness.tolerance import Tolerance, excess, tolerance_for

PROPERTY_ID = "streaming_equals_whole"
KERAS3_TARGETS = ("keras3-tensorflow", "keras3-jax", "keras3-torch")  # .keras files need Keras 3
DEFAULT_OUT = "reports/check-model"
PROFILES = ("ci", "dev", "thorough")
# Examples per profile, as for `rnn-harness run`; every run is seeded (--seed), so
# a check of one model file is reproducible, and no example database is written.
PROFILE_EXAMPLES = {"ci": 25, "dev": 10, "thorough": 300}
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MIN_TIMESTEPS = 2  # one timestep cannot be split: a stream needs two chunks or more
MAX_TIMESTEPS = 16  # boundaries anywhere in 16 steps catch carry-over bugs; more adds time
MAX_CHUNKS = 4  # 3 boundaries catch carry-over bugs that need more than one hand-off
MAX_OTHER_STEPS = 6  # stream A before the reset only needs to leave a non-zero state
# Models are trained on normalised data: small, unit and saturating (tanh, sigmoid) inputs.
INPUT_SCALES = (0.1, 1.0, 3.0)
DEFAULT_VOCABULARY = 10  # token ids for an integer input that no Embedding bounds
MAX_SEED = 2**32 - 1

STREAMS, NOTE, BLOCKS, UNKNOWN = "streams", "note", "blocks", "unknown"
VERDICTS = (STREAMS, NOTE, BLOCKS, UNKNOWN)
STREAMABLE, NOT_STREAMABLE, DIFFERS, ERROR = (
    "streamable",
    "not streamable",
    "streaming differs from whole",
    "error",
)

_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
# No explain phase: it replays the shrunk example many times only to annotate a message
# this module writes itself, and every replay runs the model.
_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
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
RECURRENT_NAMES = "LSTM, GRU, SimpleRNN, RNN or ConvLSTM"
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


@dataclass
class StreamingResult:
    """What ``check_model`` found for one model.

    ``passed`` is True only when the diagnosis found no blocker and every drawn
    example streamed equal to the whole sequence. ``diagnosis`` lists every layer
    as ``(name, class_name, verdict, reason)``; ``counterexample`` is the shrunk
    failing example as plain data (JSON-ready); ``message`` says what failed.
    """

    passed: bool
    diagnosis: list[LayerDiagnosis]
    max_abs_error: float | None
    counterexample: dict[str, Any] | None
    message: str | None
    verdict: str = STREAMABLE
    status: str = "passed"  # the report row's status: passed, failed or error
    model_name: str = ""
    model_path: str | None = None
    target: str = ""
    batch_size: int = 1
    examples: int = 0
    duration_s: float = 0.0
    tolerance: Tolerance | None = None
    reproducer: str | None = field(default=None, repr=False)

    @property
    def blockers(self) -> list[LayerDiagnosis]:
        """The layers that make streaming impossible by construction."""
        return [d for d in self.diagnosis if d.verdict == BLOCKS]

    def diagnosis_lines(self) -> list[str]:
        """The diagnosis as aligned text lines, one per layer."""
        if not self.diagnosis:
            return []
        width = max(len(d.name) for d in self.diagnosis)
        cls_width = max(len(d.class_name) for d in self.diagnosis)
        return [
            f"{d.verdict:>7}  {d.name:<{width}}  {d.class_name:<{cls_width}}  {d.reason}"
            for d in self.diagnosis
        ]

    def __str__(self) -> str:
        head = (
            f"{self.model_name}: {self.verdict} ({PROPERTY_ID}, {self.target}, "
            f"batch size {self.batch_size}, {self.examples} examples"
            + (f", max |error| {self.max_abs_error:.3g}" if self.max_abs_error is not None else "")
            + (f", tolerance {self.tolerance}" if self.tolerance else "")
            + ")"
        )
        lines = [head, *("  " + line for line in self.diagnosis_lines())]
        if self.message:
            lines += ["", self.message]
        return "\n".join(lines)


# --- portable helpers: copied verbatim into every reproducer --------------------------------


def streaming_config(serialized, batch_size, *, stateful=True, time_dim=None, keep_stateless=()):
    """A copy of ``keras.saving.serialize_keras_object(model)`` rebuilt for streaming.

    Every input and build shape gets the fixed ``batch_size`` (``None`` for any);
    a fixed time length ``time_dim`` becomes variable; every layer config with a
    ``stateful`` field gets ``stateful``, except the layers named in
    ``keep_stateless`` (recurrent layers that run over another axis than time) and
    layers inside ``TimeDistributed`` (they run on one timestep at a time).
    """
    import copy

    config = copy.deepcopy(serialized)
    config.pop("compile_config", None)
    keep = set(keep_stateless)

    def is_shape(value):
        return (
            isinstance(value, (list, tuple))
            and len(value) >= 2
            and all(v is None or isinstance(v, int) for v in value)
        )

    def reshape(shape, *, min_rank=3):
        shape = list(shape)
        shape[0] = batch_size
        if time_dim is not None and len(shape) >= min_rank and shape[1] == time_dim:
            shape[1] = None
        return shape

    def fix_shapes(value):
        if is_shape(value):
            return reshape(value)
        if isinstance(value, (list, tuple)):
            return [fix_shapes(v) for v in value]
        if isinstance(value, dict):
            return {k: fix_shapes(v) for k, v in value.items()}
        return value

    def visit(node, in_time_distributed):
        if isinstance(node, (list, tuple)):
            for item in node:
                visit(item, in_time_distributed)
            return
        if not isinstance(node, dict):
            return
        inner = in_time_distributed or node.get("class_name") == "TimeDistributed"
        layer_config = node.get("config")
        if isinstance(layer_config, dict) and not in_time_distributed:
            shape = layer_config.get("batch_shape")
            if node.get("class_name") == "InputLayer" and is_shape(shape):
                tokens = "int" in str(layer_config.get("dtype"))
                layer_config["batch_shape"] = reshape(shape, min_rank=2 if tokens else 3)
            if "stateful" in layer_config and layer_config.get("name") not in keep:
                layer_config["stateful"] = stateful
            if is_shape(layer_config.get("build_input_shape")):
                layer_config["build_input_shape"] = reshape(layer_config["build_input_shape"])
        build = node.get("build_config")
        if isinstance(build, dict) and not in_time_distributed:
            node["build_config"] = fix_shapes(build)
        for key, value in node.items():
            if key != "build_config":
                visit(value, inner)

    visit(config, False)
    return config


def build_twin(
    keras,
    model,
    batch_size,
    *,
    stateful=True,
    time_dim=None,
    keep_stateless=(),
    safe_mode=True,
):
    """``model`` rebuilt from its config by ``streaming_config``, with its weights."""
    serialized = keras.saving.serialize_keras_object(model)
    config = streaming_config(
        serialized,
        batch_size,
        stateful=stateful,
        time_dim=time_dim,
        keep_stateless=keep_stateless,
    )
    twin = keras.saving.deserialize_keras_object(config, safe_mode=safe_mode)
    twin.set_weights(model.get_weights())
    return twin


def stateful_layers(model):
    """Every stateful recurrent layer in ``model``: nested models and wrappers included."""
    found, seen, stack = [], set(), [model]
    while stack:
        layer = stack.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        is_rnn = any(c.__name__ == "RNN" for c in type(layer).__mro__)
        if is_rnn and getattr(layer, "stateful", False):
            found.append(layer)
        children = list(getattr(layer, "layers", None) or [])
        for attribute in ("layer", "forward_layer", "backward_layer"):
            child = getattr(layer, attribute, None)
            if child is not None and not is_rnn:
                children.append(child)
        stack.extend(children)
    return found


def model_outputs(keras, model, x):
    """Every output of ``model(x)`` in inference mode, as NumPy arrays."""
    result = model(x, training=False)
    return [np.asarray(keras.ops.convert_to_numpy(o)) for o in keras.tree.flatten(result)]


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


PORTABLE = (streaming_config, build_twin, stateful_layers, model_outputs, chunk_divergence)


# --- loading ---------------------------------------------------------------------------


def check_target(name: str) -> str:
    """``name`` if it is a Keras 3 target; a usage error otherwise."""
    check_argument(
        name in KERAS3_TARGETS,
        f"Unknown target {name!r} for check-model: expected one of "
        f"{', '.join(KERAS3_TARGETS)}. check-model loads .keras files, which need Keras 3",
    )
    return name


def resolve_keras(target: str | None = None):
    """Keras 3 for ``target`` (``keras3-<backend>``), or the Keras already imported here."""
    from harness.targets import default_target_name
    from harness.targets.keras3 import import_keras

    if target is None:
        if "keras" in sys.modules:
            import keras

            return keras
        target = default_target_name()
        target = target if target in KERAS3_TARGETS else KERAS3_TARGETS[0]
    return import_keras(check_target(target).removeprefix("keras3-"))


def check_model_file(path: str | Path) -> Path:
    """The absolute path of a saved model file, or a usage error saying what is wrong."""
    path = Path(path).expanduser()
    if not path.exists():
        raise HarnessUsageError(
            f"No model file at {str(path)!r}: expected the path of a model saved with "
            "model.save('model.keras'). Check the path"
        )
    if not path.is_file():
        raise HarnessUsageError(
            f"{str(path)!r} is a directory: expected a .keras file saved with "
            "model.save('model.keras'). A TensorFlow SavedModel directory cannot be checked; "
            "load it and save it again as .keras"
        )
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise HarnessUsageError(
            f"{str(path)!r} is not a Keras model: expected a .keras zip archive written by "
            "model.save('model.keras'). Received a file that is not a zip archive. "
            "Save the model again with model.save"
        )
    return path.resolve()


def load_model(path: str | Path, *, keras, unsafe: bool = False):
    """Load a saved model (``safe_mode=True`` unless ``unsafe``) for checking.

    Raises ``HarnessUsageError`` with one line for a missing file, a file that is
    not a Keras model, or a model that needs ``safe_mode=False``.
    """
    path = check_model_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return keras.saving.load_model(path, safe_mode=not unsafe, compile=False)
    except Exception as exc:
        text = " ".join(str(exc).split())
        if "safe_mode" in text or "unsafe_deserialization" in text:
            what = text.split(". ")[0]
            raise HarnessUsageError(
                f"{str(path)!r} needs safe_mode=False to load: {what}. Loading it runs code "
                "stored in the file. If you trust its source, pass --unsafe "
                "(check_model(..., unsafe=True))"
            ) from None
        raise HarnessUsageError(
            f"{str(path)!r} could not be loaded as a Keras model: expected a .keras file "
            "written by model.save('model.keras'). Keras said: "
            f"{type(exc).__name__}: {text[:300]}"
        ) from None


# --- the model's input -------------------------------------------------------------------


@dataclass(frozen=True)
class InputInfo:
    """The one input of a model: shape (batch, time, ...), dtype, and how to fill it."""

    shape: tuple
    dtype: str
    mask_value: float | None  # a Masking layer's value: right padding is drawn and excluded
    mask_zero: bool  # an Embedding(mask_zero=True): token 0 is padding
    vocabulary: int  # token ids are drawn below this (integer inputs)

    @property
    def time_dim(self) -> int | None:
        return self.shape[1]

    @property
    def tokens(self) -> bool:
        return "int" in self.dtype

    @property
    def features(self) -> tuple:
        return tuple(self.shape[2:])

    def expected_shape(self, timesteps: int | None = None) -> str:
        """The shape of --data, as text: ``(N, T, 3)``."""
        time_text = str(timesteps or self.time_dim or "T")
        return "(" + ", ".join(["N", time_text, *(str(d) for d in self.features)]) + ")"

    def valid_steps(self, x: np.ndarray) -> np.ndarray | None:
        """(batch, time) True where a timestep is not padding; None without a mask."""
        if self.mask_value is not None:
            flat = x.reshape(x.shape[0], x.shape[1], -1)
            return np.any(flat != self.mask_value, axis=-1)
        if self.mask_zero:
            return x != 0
        return None


def _mro_names(obj: Any) -> set[str]:
    return {c.__name__ for c in type(obj).__mro__}


def _walk_layers(layer) -> list:
    """Every layer under ``layer`` (nested models and wrappers), depth first."""
    found = []
    for child in list(getattr(layer, "layers", None) or []):
        found.append(child)
        found += _walk_layers(child)
    for attribute in ("layer", "forward_layer", "backward_layer"):
        child = getattr(layer, attribute, None)
        if child is not None and child not in found:
            found.append(child)
            found += _walk_layers(child)
    return found


def input_info(model) -> InputInfo:
    """Describe the model's input; a usage error when it cannot be streamed at all."""
    name = getattr(model, "name", type(model).__name__)
    inputs = getattr(model, "inputs", None)
    try:
        inputs = list(inputs) if inputs is not None else None
    except TypeError:
        inputs = None
    if not inputs:
        raise HarnessUsageError(
            f"Model {name!r} has no defined input: expected a Functional or Sequential model "
            "built on keras.Input(shape=(timesteps, features)). Build it with an Input, or "
            "call it once on data, then save it again"
        )
    if len(inputs) != 1:
        raise HarnessUsageError(
            f"Model {name!r} has {len(inputs)} inputs "
            f"({', '.join(str(tuple(i.shape)) for i in inputs)}): check-model expects one "
            "input shaped (batch, timesteps, features). Check a single-input part of it"
        )
    shape = tuple(inputs[0].shape)
    dtype = str(inputs[0].dtype)
    tokens = "int" in dtype
    if len(shape) < 3 and not (tokens and len(shape) == 2):
        raise HarnessUsageError(
            f"Model {name!r} has input shape {shape}, which has no time axis: expected "
            "(batch, timesteps, features), e.g. keras.Input(shape=(None, 3)), or integer "
            "tokens (batch, timesteps). Only a sequence model can be streamed"
        )
    layers = _walk_layers(model)
    if not any("RNN" in _mro_names(layer) for layer in layers):
        classes = sorted({type(layer).__name__ for layer in layers}) or ["none"]
        raise HarnessUsageError(
            f"Model {name!r} has no recurrent layer (its layers: {', '.join(classes)}): "
            f"expected at least one {RECURRENT_NAMES}. Streaming carries recurrent state "
            "from chunk to chunk; a model without it has nothing to carry"
        )
    maskings = [lay for lay in layers if "Masking" in _mro_names(lay)]
    embeddings = [lay for lay in layers if "Embedding" in _mro_names(lay)]
    return InputInfo(
        shape=shape,
        dtype=dtype,
        mask_value=float(maskings[0].mask_value) if maskings else None,
        mask_zero=any(getattr(lay, "mask_zero", False) for lay in embeddings),
        vocabulary=max(
            2, min((int(lay.input_dim) for lay in embeddings), default=DEFAULT_VOCABULARY)
        ),
    )


# --- diagnosis ----------------------------------------------------------------------------


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
    names = _mro_names(op)
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
        if "Model" in _mro_names(op):
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


# --- the streaming twin -----------------------------------------------------------------


def build_streaming_twin(
    model,
    batch_size: int,
    *,
    stateful: bool = True,
    time_dim: int | None = None,
    keep_stateless: Sequence[str] = (),
    safe_mode: bool = True,
):
    """The streaming twin of ``model``: recurrent layers stateful at ``batch_size``.

    Args:
        model: the model as loaded.
        batch_size: the fixed batch size B the twin streams.
        stateful: ``True`` for the twin; ``False`` rebuilds a stateless copy.
        time_dim: the model's fixed number of timesteps, made variable (None: already is).
        keep_stateless: recurrent layers that run over another axis than time.
        safe_mode: passed to ``keras.saving.deserialize_keras_object``.

    The same config (``get_config``) with ``stateful`` set on every recurrent layer,
    nested models and wrappers included, the input's batch size fixed to B and its
    time axis variable; the weights are copied with ``set_weights``.
    """
    import keras

    return build_twin(
        keras,
        model,
        batch_size,
        stateful=stateful,
        time_dim=time_dim,
        keep_stateless=tuple(keep_stateless),
        safe_mode=safe_mode,
    )


def _zero_states(layers) -> None:
    # Zeroed by assignment, not through reset_state(): the reset API is under test.
    for layer in layers:
        for variable in layer.states or []:
            variable.assign(np.zeros(tuple(variable.shape), dtype=variable.dtype))


def _reset(layer) -> None:
    if hasattr(layer, "reset_state"):
        layer.reset_state()
    else:
        layer.reset_states()


# --- data ------------------------------------------------------------------------------


def load_data(data: Any, info: InputInfo, *, timesteps: int | None) -> np.ndarray | None:
    """``--data`` as an array shaped like the model's input, or a usage error saying so."""
    if data is None:
        return None
    if isinstance(data, (str, Path)):
        path = Path(data).expanduser()
        if not path.is_file():
            raise HarnessUsageError(
                f"No data file at {str(path)!r}: expected a .npy array shaped "
                f"{info.expected_shape()} saved with numpy.save. Check the path"
            )
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise HarnessUsageError(
                f"{str(path)!r} is not a NumPy array file: expected a .npy array shaped "
                f"{info.expected_shape()} saved with numpy.save. Received: "
                f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            ) from None
    array = np.asarray(data)
    expected = info.expected_shape()
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise HarnessUsageError(
            f"--data must be a numeric array shaped {expected}. Received dtype {array.dtype}. "
            "Save a float or integer array with numpy.save"
        )
    wrong = array.ndim != len(info.shape) or any(
        want is not None and got != want
        for got, want in zip(array.shape[2:], info.features, strict=False)
    )
    if wrong or array.shape[0] < 1:
        raise HarnessUsageError(
            f"--data has shape {array.shape}: expected {expected} for this model's input "
            f"{info.shape} (N sequences of T timesteps). Reshape or re-save the array"
        )
    if info.time_dim is not None and array.shape[1] != info.time_dim:
        raise HarnessUsageError(
            f"--data has {array.shape[1]} timesteps: expected {expected}, since the model's "
            f"input has a fixed length of {info.time_dim}. Cut or pad the sequences"
        )
    if array.shape[1] < MIN_TIMESTEPS:
        raise HarnessUsageError(
            f"--data has shape {array.shape}: expected at least {MIN_TIMESTEPS} timesteps "
            f"({expected}), since a stream needs two chunks or more"
        )
    if timesteps is not None and timesteps > array.shape[1]:
        raise HarnessUsageError(
            f"--timesteps {timesteps} exceeds the {array.shape[1]} timesteps of --data "
            f"{array.shape}. Pass --timesteps {array.shape[1]} or less"
        )
    return array.astype(info.dtype if info.tokens else np.float32)


def _draw_input(draw, info: InputInfo, data: np.ndarray | None, batch: int, steps: int, label: str):
    if data is not None:
        rows = draw(
            st.lists(st.integers(0, len(data) - 1), min_size=batch, max_size=batch),
            label=f"{label} rows of --data",
        )
        return np.ascontiguousarray(data[rows, :steps]), {"rows": rows}
    shape = (batch, steps, *info.features)
    rng_seed = draw(st.integers(0, MAX_SEED), label=f"{label} seed")
    rng = np.random.default_rng(rng_seed)
    if info.tokens:
        low = 1 if info.mask_zero else 0
        x = rng.integers(low, info.vocabulary, size=shape).astype(info.dtype)
        how = {"seed": rng_seed, "tokens_below": info.vocabulary}
    else:
        scale = draw(st.sampled_from(INPUT_SCALES), label=f"{label} scale")
        x = rng.uniform(-scale, scale, size=shape).astype(np.float32)
        how = {"seed": rng_seed, "scale": scale}
    if info.mask_value is not None or info.mask_zero:
        # Right padding, as real batches of unequal sequences are padded.
        lengths = draw(
            st.lists(st.integers(1, steps), min_size=batch, max_size=batch),
            label=f"{label} valid lengths (right padding after them)",
        )
        pad = 0 if info.mask_zero else info.mask_value
        for row, length in enumerate(lengths):
            x[row, length:] = pad
        how["valid_lengths"] = lengths
    return x, how


def _split(x: np.ndarray, splits: Sequence[int]) -> list[np.ndarray]:
    return np.split(x, np.cumsum(splits)[:-1].tolist(), axis=1)


# --- the check ----------------------------------------------------------------------------


@dataclass
class _Setup:
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


def _mask_outputs(arrays: list[np.ndarray], valid: np.ndarray | None) -> list[np.ndarray]:
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


def _compare_stream(check, setup: _Setup, what: str, streamed, expected_for, lengths, valid):
    """Compare every output of a stream; record per-chunk divergence before failing."""
    __tracebackhide__ = True
    comparisons = []
    for k, is_sequence in enumerate(setup.sequence_outputs):
        if is_sequence:
            actual = np.concatenate([out[k] for out in streamed], axis=1)
            expected = expected_for(k, None)
            actual, expected = _mask_outputs([actual, expected], valid)
            comparisons.append((k, "sequence", actual, expected))
        else:
            actual = np.stack([out[k] for out in streamed], axis=1)
            expected = np.stack([expected_for(k, i) for i in range(len(streamed))], axis=1)
            comparisons.append((k, "final", actual, expected))
    divergences = []
    for k, kind, actual, expected in comparisons:
        if actual.shape != expected.shape:
            continue
        rows, per_step = _divergence(
            actual, expected, setup.tol, lengths, per_chunk=kind == "final"
        )
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
                tol=setup.tol,
            )
        else:
            for i in range(actual.shape[1]):
                end = int(sum(lengths[: i + 1])) - 1
                check.assert_close(
                    f"{what}: {label} after chunk {i + 1} vs whole model on timesteps 0..{end}",
                    actual=actual[:, i],
                    expected=expected[:, i],
                    tol=setup.tol,
                )


def _run_example(check: PropertyCheck, setup: _Setup, draw) -> None:
    info, batch = setup.info, setup.batch_size
    steps = setup.timesteps or draw(st.integers(MIN_TIMESTEPS, MAX_TIMESTEPS), label="timesteps")
    cuts = draw(
        st.lists(
            st.integers(1, steps - 1),
            min_size=1,
            max_size=min(MAX_CHUNKS - 1, steps - 1),
            unique=True,
        ).map(sorted),
        label="chunk boundaries",
    )
    splits = [b - a for a, b in zip([0, *cuts], [*cuts, steps], strict=True)]
    x, how = _draw_input(draw, info, setup.data, batch, steps, "stream B")
    other_steps = draw(st.integers(1, min(MAX_OTHER_STEPS, steps)), label="stream A timesteps")
    other, other_how = _draw_input(draw, info, setup.data, batch, other_steps, "stream A")
    valid = info.valid_steps(x)
    check.example(
        batch_size=batch,
        timesteps=steps,
        splits=splits,
        x=x,
        dtype=str(x.dtype),
        drawn=how,
        other_x=other,
        other_drawn=other_how,
        valid=valid,
        time_dim=info.time_dim,
        keep_stateless=setup.keep_stateless,
        reference_is_model=setup.reference_is_model,
        sequence_outputs=setup.sequence_outputs,
    )
    keras = setup.keras
    _zero_states(setup.layers)
    whole = model_outputs(keras, setup.reference, x)
    ends = np.cumsum(splits).tolist()
    prefixes: dict[int, list[np.ndarray]] = {len(splits) - 1: whole}

    def expected_for(k: int, chunk: int | None) -> np.ndarray:
        if chunk is None:
            return whole[k]
        if chunk not in prefixes:
            prefixes[chunk] = model_outputs(keras, setup.reference, x[:, : ends[chunk]])
        return prefixes[chunk][k]

    streamed = [model_outputs(keras, setup.twin, chunk) for chunk in _split(x, splits)]
    _compare_stream(check, setup, f"chunks {splits}", streamed, expected_for, splits, valid)
    # Stream A, reset every stateful layer, stream B again: B must start afresh.
    model_outputs(keras, setup.twin, other)
    for layer in setup.layers:
        _reset(layer)
    again = [model_outputs(keras, setup.twin, chunk) for chunk in _split(x, splits)]
    _compare_stream(
        check,
        setup,
        f"after stream A ({other_steps} steps) and reset_state(), chunks {splits}",
        again,
        lambda k, chunk: (
            np.concatenate([out[k] for out in streamed], axis=1)
            if chunk is None
            else streamed[chunk][k]
        ),
        splits,
        valid,
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


def _sequence_outputs(twin) -> list[bool]:
    """Per output: does it keep the time axis (variable length at axis 1)?"""
    import keras

    outputs = keras.tree.flatten(twin.outputs)
    return [len(o.shape) >= 2 and o.shape[1] is None for o in outputs]


def _needs_copy(model, info: InputInfo) -> bool:
    """Whether the whole-sequence reference must be a stateless, variable-length copy."""
    return info.time_dim is not None or info.shape[0] is not None or bool(stateful_layers(model))


def _device_of(target_name: str) -> str:
    from harness.targets import get_target

    try:
        return get_target(target_name).device
    except Exception:
        return "cpu"


def _padding_only(counterexample: dict, start: int, stop: int) -> list[int]:
    """Samples whose timesteps start..stop are all padding in the counterexample."""
    valid = counterexample.get("valid")
    if not valid:
        return []
    return [i for i, row in enumerate(valid) if not any(row[start : stop + 1])]


def _failure_message(head: str, exc: BaseException, counterexample: dict | None) -> str:
    """The failure, then per chunk boundary where the streamed output first diverges."""
    lines = [head, "  " + str(exc).strip().replace("\n", "\n  ")]
    if not counterexample:
        return "\n".join(lines)
    lines.append(
        f"  Shrunk example: batch size {counterexample.get('batch_size')}, "
        f"{counterexample.get('timesteps')} timesteps, chunks {counterexample.get('splits')}."
    )
    for item in (counterexample.get("divergence") or [])[:1]:
        read = "read after each chunk" if item["kind"] == "final" else "at every timestep"
        lines.append(
            f"  Per chunk ({item['comparison']}; output {item['output']} {read}), "
            "the first diverging timestep:"
        )
        for row in item["chunks"]:
            start, stop = row["timesteps"]
            first = row["first_diverging_timestep"]
            state = "matches" if first is None else f"first diverging timestep {first}"
            line = f"    chunk {row['chunk']} (timesteps {start}-{stop}): {state}"
            line += f" (max |diff| {row['max_abs_diff']:.3g})"
            padded = _padding_only(counterexample, start, stop) if first is not None else []
            if padded:
                line += f"; this chunk is all padding for sample(s) {padded}"
            lines.append(line)
    return "\n".join(lines)


def _unwrap(exc: BaseException) -> BaseException:
    """The first failure inside an exception group (e.g. Hypothesis's FlakyFailure)."""
    while getattr(exc, "exceptions", None):
        exc = exc.exceptions[0]
    return exc


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
        profile: ``"ci"`` (25 examples), ``"dev"`` (10) or ``"thorough"`` (300).
        run_seed: the Hypothesis seed (default 0: the same examples every run).
        unsafe: load a model file with ``safe_mode=False`` (e.g. ``Lambda`` layers).
        force: run the numeric check even when the diagnosis finds a blocker.
        target: ``keras3-<backend>`` for loading a path; the Keras already imported
            (else ``$KERAS_BACKEND``, else TensorFlow) when ``None``.

    Returns a ``StreamingResult``; raises ``HarnessUsageError`` (one line: expected,
    received, how to fix) for a bad file, model, data or argument.

    Example:
        >>> result = check_model("model.keras", batch_size=2, max_examples=10)  # doctest: +SKIP
        >>> print(result)  # doctest: +SKIP
    """
    started = time.perf_counter()
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
    check_argument(
        profile in PROFILES, f"profile={profile!r} is not a profile; expected one of {PROFILES}"
    )
    model_path = None
    if isinstance(model, (str, Path)):
        model_path = check_model_file(model)
        keras = resolve_keras(target)
        model = load_model(model_path, keras=keras, unsafe=unsafe)
    else:
        keras = resolve_keras(target)
        if not isinstance(model, keras.Model):
            raise HarnessUsageError(
                f"check_model expects a keras.Model or the path of a .keras file. Received: "
                f"{type(model).__name__}. Pass the model or its file"
            )
    target_name = f"keras3-{keras.backend.backend()}"
    info = input_info(model)
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
    diagnosis = diagnose(model)
    tol = tolerance_for(
        dtype=str(getattr(model, "compute_dtype", "float32") or "float32"),
        device=_device_of(target_name),
        precision=precision_from_env(),
        comparison="consistency",
    )
    result = StreamingResult(
        passed=False,
        diagnosis=diagnosis,
        max_abs_error=None,
        counterexample=None,
        message=None,
        model_name=model.name,
        model_path=str(model_path) if model_path else None,
        target=target_name,
        batch_size=batch_size,
        tolerance=tol,
    )
    blockers = result.blockers
    if blockers and not force:
        result.verdict, result.status = NOT_STREAMABLE, "failed"
        result.message = (
            f"{model.name} is not streamable: {len(blockers)} layer(s) make streaming "
            "impossible by construction, so no example was run:\n"
            + "\n".join(f"  {d.name} ({d.class_name}): {d.reason}" for d in blockers)
        )
        result.duration_s = round(time.perf_counter() - started, 3)
        return result
    check = PropertyCheck(PROPERTY_ID, model.name, target_name)
    try:
        stateless = keep_stateless(diagnosis)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            twin = build_streaming_twin(
                model,
                batch_size,
                time_dim=info.time_dim,
                keep_stateless=stateless,
                safe_mode=not unsafe,
            )
            copy_needed = _needs_copy(model, info)
            reference = model
            if copy_needed:
                reference = build_twin(
                    keras,
                    model,
                    None,
                    stateful=False,
                    time_dim=info.time_dim,
                    safe_mode=not unsafe,
                )
        setup = _Setup(
            keras=keras,
            twin=twin,
            reference=reference,
            reference_is_model=not copy_needed,
            layers=stateful_layers(twin),
            info=info,
            data=array,
            timesteps=steps,
            batch_size=batch_size,
            tol=tol,
            sequence_outputs=_sequence_outputs(twin),
            keep_stateless=stateless,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _hypothesis_run(
                check,
                setup,
                max_examples=max_examples or PROFILE_EXAMPLES[profile],
                run_seed=run_seed,
            )
    except Exception as raised:
        exc = _unwrap(raised)
        counterexample = check.counterexample()
        result.counterexample = counterexample
        result.max_abs_error = check.max_abs_error
        failed = isinstance(exc, AssertionError)
        result.status = "failed" if failed else "error"
        result.verdict = DIFFERS if failed else ERROR
        head = (
            f"{model.name}: streaming in chunks (stateful, batch size {batch_size}) differs "
            f"from the whole sequence ({target_name}, tolerance {tol}):"
            if failed
            else f"{model.name}: the check crashed ({target_name}): {type(exc).__name__}:"
        )
        result.message = _failure_message(head, exc, counterexample if failed else None)
        if failed and counterexample:
            result.reproducer = render_reproducer(result, unsafe=unsafe)
    else:
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


# --- reproducer ------------------------------------------------------------------------

REPRODUCER_HEAD = '''\
#!/usr/bin/env python
"""Reproducer for streaming_equals_whole | {model} | {target}

Generated by `rnn-harness check-model` from the shrunk counterexample of a failed check.
Loads the model file, builds its streaming twin the same way (every recurrent layer
stateful at batch size {batch_size}), feeds the shrunk chunks and prints each mismatch.
Needs only NumPy and Keras. Run: python {filename}
Exit status 1: the failure reproduces; 0: it does not.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", {backend!r})
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

MODEL_PATH = {model_path!r}
SAFE_MODE = {safe_mode!r}
EXAMPLE = json.loads({example!r})
RTOL, ATOL = {rtol!r}, {atol!r}
'''

REPRODUCER_BODY = """

def compare(what, actual, expected, lengths, per_chunk):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    diff = np.nan_to_num(np.abs(actual - expected), nan=np.inf)
    bad = diff > ATOL + RTOL * np.abs(expected)
    axes = tuple(i for i in range(diff.ndim) if i != 1)
    rows = chunk_divergence(bad.any(axis=axes).tolist(), diff.max(axis=axes).tolist(), lengths,
                            per_chunk=per_chunk)
    print(f"{'MISMATCH' if bad.any() else 'ok      '} {what} (max |diff| {diff.max():.3g})")
    for row in rows:
        first = row["first_diverging_timestep"]
        state = "matches" if first is None else f"first diverging timestep {first}"
        print(f"    chunk {row['chunk']} (timesteps {row['timesteps'][0]}-{row['timesteps'][1]}): "
              f"{state} (max |diff| {row['max_abs_diff']:.3g})")
    return bool(bad.any())


def stream_outputs(twin, x, splits):
    return [model_outputs(keras, twin, c) for c in np.split(x, np.cumsum(splits)[:-1], axis=1)]


if not os.path.isfile(MODEL_PATH):
    print(f"No model file at {MODEL_PATH!r}: set MODEL_PATH to the model that failed")
    sys.exit(2)
print(f"keras {keras.__version__} on {keras.backend.backend()}; model {MODEL_PATH}")
model = keras.saving.load_model(MODEL_PATH, safe_mode=SAFE_MODE, compile=False)
kwargs = dict(time_dim=EXAMPLE["time_dim"], safe_mode=SAFE_MODE)
twin = build_twin(keras, model, EXAMPLE["batch_size"], keep_stateless=EXAMPLE["keep_stateless"], **kwargs)
reference = model if EXAMPLE["reference_is_model"] else build_twin(keras, model, None, stateful=False, **kwargs)
splits = EXAMPLE["splits"]
x = np.asarray(EXAMPLE["x"], dtype=EXAMPLE["dtype"])
valid = None if EXAMPLE.get("valid") is None else np.asarray(EXAMPLE["valid"], bool)
print(f"batch size {EXAMPLE['batch_size']}, {x.shape[1]} timesteps, chunks {splits}")


def masked(array):
    if valid is None or array.shape[:2] != valid.shape:
        return array
    return np.where(valid.reshape(valid.shape + (1,) * (array.ndim - 2)), array, 0)


def check_stream(what, streamed, expected_for):
    failed = False
    for k, is_sequence in enumerate(EXAMPLE["sequence_outputs"]):
        if is_sequence:
            actual = np.concatenate([s[k] for s in streamed], axis=1)
            failed |= compare(f"{what}: output {k} at every timestep", masked(actual),
                              masked(expected_for(k, None)), splits, per_chunk=False)
        else:
            actual = np.stack([s[k] for s in streamed], axis=1)
            expected = np.stack([expected_for(k, i) for i in range(len(streamed))], axis=1)
            failed |= compare(f"{what}: output {k} after each chunk",
                              actual, expected, splits, per_chunk=True)
    return failed


ends = np.cumsum(splits)
whole = model_outputs(keras, reference, x)
prefixes = {i: model_outputs(keras, reference, x[:, :end]) for i, end in enumerate(ends)}
for layer in stateful_layers(twin):
    for variable in layer.states:
        variable.assign(np.zeros(tuple(variable.shape), dtype=variable.dtype))
streamed = stream_outputs(twin, x, splits)
failed = check_stream(
    "stream B in chunks vs the whole model", streamed, lambda k, i: whole[k] if i is None else prefixes[i][k]
)
other = np.asarray(EXAMPLE["other_x"], dtype=EXAMPLE["dtype"])
model_outputs(keras, twin, other)
for layer in stateful_layers(twin):
    layer.reset_state()
again = stream_outputs(twin, x, splits)
failed |= check_stream(
    "stream A, reset_state(), stream B again vs stream B alone",
    again,
    lambda k, i: np.concatenate([s[k] for s in streamed], axis=1) if i is None else streamed[i][k],
)
if failed:
    print("REPRODUCED: streaming differs from the whole sequence")
    sys.exit(1)
print("NOT REPRODUCED: every comparison is within tolerance")
"""


def reproducer_filename(result: StreamingResult) -> str:
    """``reproduce_streaming_equals_whole_<model>_<target>.py``, safe as a file name."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in result.model_name)
    return f"reproduce_{PROPERTY_ID}_{safe}_{result.target}.py"


def render_reproducer(result: StreamingResult, *, unsafe: bool = False) -> str:
    """A standalone script that replays ``result``'s counterexample (NumPy and Keras only).

    Args:
        result: a failed ``StreamingResult`` with a counterexample.
        unsafe: whether the model needs ``safe_mode=False`` to load.

    The script loads the model file by its absolute path (for a model checked as an
    object, set ``MODEL_PATH`` in the script after saving it), builds the twin with
    the same code as the harness, feeds the shrunk chunks and prints per chunk the
    first diverging timestep. Exit status 1 when the failure reproduces.
    """
    example = dict(result.counterexample or {})
    tol = result.tolerance or tolerance_for(comparison="consistency")
    head = REPRODUCER_HEAD.format(
        model=result.model_name,
        target=result.target,
        batch_size=result.batch_size,
        filename=reproducer_filename(result),
        backend=result.target.removeprefix("keras3-"),
        model_path=result.model_path or "SET ME: the absolute path of the saved .keras model",
        safe_mode=not unsafe,
        example=json.dumps(to_plain(example)),
        rtol=tol.rtol,
        atol=tol.atol,
    )
    helpers = "\n\n".join(inspect.getsource(function) for function in PORTABLE)
    return head + "\n\n" + helpers + REPRODUCER_BODY


# --- report ------------------------------------------------------------------------------


def result_row(result: StreamingResult, *, reproducer: str | None = None) -> dict[str, Any]:
    """The report row (``harness/report/model.py`` keys) for one checked model."""
    return {
        "property": PROPERTY_ID,
        "layer": result.model_name,
        "target": result.target,
        "status": result.status,
        "examples": result.examples,
        "duration_s": result.duration_s,
        "max_abs_error": result.max_abs_error,
        "tolerance": result.tolerance.to_dict() if result.tolerance else None,
        "message": result.message,
        "counterexample": result.counterexample,
        "reproducer": reproducer,
        "verdict": result.verdict,
        "model_path": result.model_path,
        "batch_size": result.batch_size,
        "diagnosis": [d._asdict() for d in result.diagnosis],
    }


def write_report(
    result: StreamingResult, out_dir: str | Path, *, profile: str, run_seed: int
) -> dict[str, Path]:
    """Write report.json, report.md, report.html, junit.xml (and a reproducer) to ``out_dir``."""
    from harness.report import merge_payloads, write_all
    from harness.targets import get_target

    out_dir = Path(out_dir)
    relative = None
    written: dict[str, Path] = {}
    if result.reproducer:
        relative = f"reproducers/{reproducer_filename(result)}"
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(result.reproducer, encoding="utf-8")
        written["reproducer"] = path
    info = {"name": result.target, "versions": {}, "device": "cpu"}
    with contextlib.suppress(Exception):
        info = get_target(result.target).info()
    payload = {"target": info, "results": [result_row(result, reproducer=relative)]}
    report = merge_payloads([payload], profile=profile, seed=run_seed)
    written.update(write_all(report, out_dir))
    return written


# --- command line ------------------------------------------------------------------------


def add_check_model_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``check-model`` to ``rnn-harness``'s subcommands (``set_defaults(func=...)``)."""
    parser = subparsers.add_parser(
        "check-model",
        help="does streaming (stateful, chunked) inference of your saved model equal "
        "whole-sequence inference?",
        description="Diagnose a saved Keras model's layers for streaming, build its stateful "
        "twin, and check with Hypothesis that chunked streaming equals whole-sequence "
        "inference. Exit 0: streamable; 1: not streamable or differs; 2: usage error.",
    )
    parser.add_argument("model", help="the saved model (.keras)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="B, the fixed batch size of the stateful twin (default: 1)",
    )
    parser.add_argument(
        "--data",
        help="a .npy array shaped like the model's input (N, T, features...); each example "
        "streams B of its rows (default: random bounded data)",
    )
    parser.add_argument(
        "--timesteps",
        type=int,
        help=f"timesteps per sequence (default: all of --data's, else drawn from "
        f"{MIN_TIMESTEPS}..{MAX_TIMESTEPS})",
    )
    parser.add_argument(
        "--profile", default="ci", choices=PROFILES, help="Hypothesis profile (default: ci)"
    )
    parser.add_argument(
        "--max-examples",
        type=int,
        help="Hypothesis examples (default: the profile's: "
        + ", ".join(f"{k} {v}" for k, v in PROFILE_EXAMPLES.items())
        + ")",
    )
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default: 0)")
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"report directory (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="load with safe_mode=False (runs code stored in the file, e.g. Lambda layers); "
        "only for files you trust (default: off)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="run the numeric check even when the diagnosis finds blockers (default: off)",
    )
    parser.add_argument(
        "--target",
        default=None,
        help=f"one of {', '.join(KERAS3_TARGETS)} (default: keras3-tensorflow)",
    )
    parser.set_defaults(func=cmd_check_model)
    return parser


def _print_result(result: StreamingResult, paths: dict[str, Path]) -> None:
    from rich.console import Console
    from rich.markup import escape

    width = None if sys.stdout.isatty() else 140
    out = Console(highlight=False, width=width, file=sys.stdout)
    colours = {STREAMS: "green", NOTE: "cyan", BLOCKS: "bold red", UNKNOWN: "yellow"}
    out.print(
        f"rnn-harness check-model: {result.model_name} ({result.model_path}) "
        f"target={result.target} batch size={result.batch_size}",
        markup=False,
    )
    out.print("diagnosis:")
    for d, line in zip(result.diagnosis, result.diagnosis_lines(), strict=True):
        verdict, rest = line[:9], line[9:]  # the verdict column, coloured
        out.print(f"  [{colours[d.verdict]}]{verdict}[/]" + escape(rest), soft_wrap=True)
    if result.message:
        out.print(result.message, markup=False, soft_wrap=True)
    colour = "green" if result.passed else "bold red"
    out.print(
        f"verdict: [{colour}]{result.verdict}[/] ({result.examples} examples, "
        f"{result.duration_s:.1f}s"
        + (f", max |error| {result.max_abs_error:.3g}" if result.max_abs_error is not None else "")
        + (f", tolerance {result.tolerance}" if result.tolerance else "")
        + ")"
    )
    if "reproducer" in paths:
        out.print(f"reproducer: python {paths['reproducer']}", markup=False)
    reports = ", ".join(str(p) for k, p in paths.items() if k != "reproducer")
    out.print(f"reports: {reports}", markup=False)


def cmd_check_model(args: argparse.Namespace) -> int:
    """``rnn-harness check-model``: 0 streamable, 1 not streamable or differs, 2 usage error."""
    try:
        target = check_target(args.target or KERAS3_TARGETS[0])
        check_argument(
            args.batch_size >= 1,
            f"--batch-size {args.batch_size} must be at least 1 (the stateful batch size)",
        )
        check_argument(
            args.max_examples is None or args.max_examples >= 1,
            f"--max-examples {args.max_examples} must be at least 1",
        )
        check_argument(
            args.timesteps is None or args.timesteps >= MIN_TIMESTEPS,
            f"--timesteps {args.timesteps} must be at least {MIN_TIMESTEPS}: a stream needs "
            "two chunks",
        )
        # The cheap checks first, so that a mistyped path fails before Keras imports.
        check_model_file(args.model)
        if args.data is not None and not Path(args.data).expanduser().is_file():
            raise HarnessUsageError(
                f"No data file at {args.data!r}: expected a .npy array shaped like the model's "
                "input (N, T, features), saved with numpy.save. Check the path"
            )
        resolve_keras(target)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = check_model(
                args.model,
                batch_size=args.batch_size,
                data=args.data,
                timesteps=args.timesteps,
                max_examples=args.max_examples,
                profile=args.profile,
                run_seed=args.seed,
                unsafe=args.unsafe,
                force=args.force,
                target=target,
            )
        paths = write_report(result, args.out, profile=args.profile, run_seed=args.seed)
    except HarnessUsageError as exc:
        message = " ".join(str(exc).split())
        print(f"rnn-harness: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    _print_result(result, paths)
    return EXIT_OK if result.passed else EXIT_FAILED


__all__ = [
    "PROPERTY_ID",
    "LayerDiagnosis",
    "StreamingResult",
    "add_check_model_parser",
    "assert_streamable",
    "build_streaming_twin",
    "check_model",
    "cmd_check_model",
    "diagnose",
    "render_reproducer",
]
