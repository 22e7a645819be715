"""The model's input, and what each example feeds it: ``--data`` rows or drawn sequences.

``input_info`` reads the one sequence input of a model (shape, dtype, padding,
vocabulary) and refuses models that cannot stream at all; ``load_data`` checks a
``--data`` array against it; ``draw_streams`` draws one example: stream B split
into chunks, and stream A, which runs before ``reset_state()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from harness.errors import HarnessUsageError
from harness.strategies import MAX_SEED

MIN_TIMESTEPS = 2  # one timestep cannot be split: a stream needs two chunks or more
MAX_TIMESTEPS = 16  # boundaries anywhere in 16 steps catch carry-over bugs; more adds time
MAX_CHUNKS = 4  # 3 boundaries catch carry-over bugs that need more than one hand-off
MAX_OTHER_STEPS = 6  # stream A before the reset only needs to leave a non-zero state
# Models are trained on normalised data: small, unit and saturating (tanh, sigmoid) inputs.
INPUT_SCALES = (0.1, 1.0, 3.0)
DEFAULT_VOCABULARY = 10  # token ids for an integer input that no Embedding bounds
RECURRENT_NAMES = "LSTM, GRU, SimpleRNN, RNN or ConvLSTM"


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


def mro_names(obj: Any) -> set[str]:
    """The class names of ``obj``'s type and its bases: a layer is known by its lineage."""
    return {c.__name__ for c in type(obj).__mro__}


def walk_layers(layer) -> list:
    """Every layer under ``layer`` (nested models and wrappers), depth first."""
    found = []
    for child in list(getattr(layer, "layers", None) or []):
        found.append(child)
        found += walk_layers(child)
    for attribute in ("layer", "forward_layer", "backward_layer"):
        child = getattr(layer, attribute, None)
        if child is not None and child not in found:
            found.append(child)
            found += walk_layers(child)
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
    layers = walk_layers(model)
    if not any("RNN" in mro_names(layer) for layer in layers):
        classes = sorted({type(layer).__name__ for layer in layers}) or ["none"]
        raise HarnessUsageError(
            f"Model {name!r} has no recurrent layer (its layers: {', '.join(classes)}): "
            f"expected at least one {RECURRENT_NAMES}. Streaming carries recurrent state "
            "from chunk to chunk; a model without it has nothing to carry"
        )
    maskings = [lay for lay in layers if "Masking" in mro_names(lay)]
    embeddings = [lay for lay in layers if "Embedding" in mro_names(lay)]
    return InputInfo(
        shape=shape,
        dtype=dtype,
        mask_value=float(maskings[0].mask_value) if maskings else None,
        mask_zero=any(getattr(lay, "mask_zero", False) for lay in embeddings),
        vocabulary=max(
            2, min((int(lay.input_dim) for lay in embeddings), default=DEFAULT_VOCABULARY)
        ),
    )


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


def split_chunks(x: np.ndarray, splits: Sequence[int]) -> list[np.ndarray]:
    """``x`` cut along time into chunks of the lengths ``splits``."""
    return np.split(x, np.cumsum(splits)[:-1].tolist(), axis=1)


@dataclass(frozen=True)
class Streams:
    """One drawn example: stream B cut into chunks, and stream A, run before a reset."""

    splits: list[int]  # chunk lengths of stream B
    x: np.ndarray  # stream B, (batch, timesteps, ...)
    drawn: dict[str, Any]  # how x was drawn (rows of --data, or seed and scale)
    other_x: np.ndarray  # stream A, (batch, timesteps of A, ...)
    other_drawn: dict[str, Any]

    @property
    def timesteps(self) -> int:
        return int(self.x.shape[1])


def draw_streams(
    draw, info: InputInfo, data: np.ndarray | None, *, batch_size: int, timesteps: int | None
) -> Streams:
    """Draw one example: timesteps (unless fixed), chunk boundaries, stream B and stream A.

    Args:
        draw: ``hypothesis.strategies.DataObject.draw``.
        info: the model's input.
        data: ``--data`` as loaded by ``load_data``, or ``None`` for drawn sequences.
        batch_size: B, the rows of every stream.
        timesteps: the length of stream B; drawn from ``MIN_TIMESTEPS..MAX_TIMESTEPS`` if None.
    """
    steps = timesteps or draw(st.integers(MIN_TIMESTEPS, MAX_TIMESTEPS), label="timesteps")
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
    x, how = _draw_input(draw, info, data, batch_size, steps, "stream B")
    other_steps = draw(st.integers(1, min(MAX_OTHER_STEPS, steps)), label="stream A timesteps")
    other, other_how = _draw_input(draw, info, data, batch_size, other_steps, "stream A")
    return Streams(splits=splits, x=x, drawn=how, other_x=other, other_drawn=other_how)
