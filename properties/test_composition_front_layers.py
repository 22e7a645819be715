"""composition: a stateful RNN behind a non-recurrent front layer carries its state as a bare one.

Users put a layer in front of a stateful recurrent layer: ``Embedding -> LSTM`` for
token streams, ``Dense -> GRU``, ``Reshape -> SimpleRNN`` for steps that are
matrices, ``Conv1D -> LSTM``. The front layer holds no state; the recurrent layer
behind it must still carry its state from chunk to chunk, per sample, and a reset
must zero it. Each test draws a front layer (``Embedding`` over integer tokens,
``Dense`` per step, ``Reshape`` of a step ``(a, b)`` to ``(a * b,)``, or a causal
``Conv1D``), a recurrent layer of the test's kind with ``stateful=True`` and
``return_sequences`` drawn, weights, inputs and at least two chunks, and checks:

- **chunked equals whole**: the stateful model fed the chunks one after another
  gives the outputs (every step, or each chunk's last one) and the final states
  of a stateless twin with the same weights fed the whole sequence at once;
- **reset**: ``reset_states`` (``reset_state`` per layer in Keras 3) zeroes the
  state, and the chunks after it give what a fresh model gives on them.

``Conv1D`` with ``padding="causal"`` and ``kernel_size > 1`` is the one front layer
that looks back across time: on the first ``kernel_size - 1`` steps of a chunk it
sees the zeros of its causal padding, not the previous chunk's last steps (a Keras
``Conv1D`` keeps no input buffer between calls). Chunked then differs from whole
by design, not by a state bug, so for such a front the expectation is what is well
defined: the stateless twin's ``Conv1D`` applied to each chunk on its own, and its
recurrent layer run once over those features joined. For every other front layer
(and ``kernel_size = 1``) the expectation is the whole twin model on the whole
sequence.

The break these checks guard against is a state not carried from one chunk to the
next (chunked) or not zeroed (reset); each example's margin for it is measured on
the float64 reference of the recurrent layer, fed the front layer's float64
features (``harness.sensitivity``), and counted with ``check.sensitive``.

Models come from ``front_model_runner``, a module-level name so that
``tests/test_composition_front_layers_bite.py`` can swap in deliberately broken ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import sensitivity
from harness.errors import check_argument
from harness.specs import LAYER_KINDS, Case, LayerSpec
from harness.strategies import MAX_SEED, MAX_WEIGHT_SCALE, MIN_WEIGHT_SCALE, layer_specs, weights
from harness.strategies.layers import INPUT_MAGNITUDES, chunk_splits
from harness.strategies.models import MAX_MODEL_BATCH, MAX_MODEL_CHUNK_LENGTH, MAX_MODEL_UNITS

pytestmark = pytest.mark.rnn_property("composition")

FRONT_KINDS = ("Embedding", "Dense", "Reshape", "Conv1D")
MAX_VOCAB = 6  # token ids 0..5: several rows of the table, and repeats within a sequence
MAX_FRONT_FEATURES = 3  # what the front layer feeds the RNN per step: a plain matmul
MAX_FRONT_INPUTS = 3  # Dense and Conv1D input features
MAX_STEP_SIDE = 2  # Reshape: a step (a, b) with a, b <= 2 flattens to at most 4 features
CONV_KERNEL_SIZES = (1, 2, 3)  # 1: per step; 2 and 3 look back one and two steps
MIN_FRONT_CHUNKS = 2  # a chunk boundary: a state to carry
MAX_FRONT_CHUNKS = 3  # 2 boundaries: a carry that must survive a second hand-off


@dataclass(frozen=True)
class FrontLayer:
    """The non-recurrent layer in front of the recurrent one.

    ``step_shape`` is one step of the model's input (``()`` for a token id),
    ``features`` what the layer hands the recurrent layer per step.
    """

    kind: str
    step_shape: tuple[int, ...]
    features: int
    vocab: int | None = None  # Embedding
    kernel_size: int = 1  # Conv1D

    def __post_init__(self) -> None:
        check_argument(
            self.kind in FRONT_KINDS, f"kind={self.kind!r} is not one of {', '.join(FRONT_KINDS)}"
        )

    @property
    def per_step(self) -> bool:
        """Whether each output step depends on the same input step only."""
        return self.kernel_size == 1

    @property
    def input_dtype(self) -> str:
        return "int32" if self.kind == "Embedding" else "float32"

    def weight_shapes(self) -> list[tuple[int, ...]]:
        """The layer's weights in Keras order."""
        if self.kind == "Embedding":
            return [(self.vocab, self.features)]
        if self.kind == "Dense":
            return [(self.step_shape[0], self.features), (self.features,)]
        if self.kind == "Conv1D":
            return [(self.kernel_size, self.step_shape[0], self.features), (self.features,)]
        return []  # Reshape

    def build(self, keras):
        """A new Keras layer of this kind (float32)."""
        if self.kind == "Embedding":
            return keras.layers.Embedding(self.vocab, self.features)
        if self.kind == "Dense":
            return keras.layers.Dense(self.features)
        if self.kind == "Conv1D":
            return keras.layers.Conv1D(self.features, self.kernel_size, padding="causal")
        return keras.layers.Reshape((-1, self.features))

    def reference(self, x: np.ndarray, weights: Sequence[np.ndarray]) -> np.ndarray:
        """The layer's output on ``x`` in float64, ``(batch, timesteps, features)``."""
        w = [np.asarray(a, dtype=np.float64) for a in weights]
        if self.kind == "Embedding":
            return w[0][x]
        if self.kind == "Dense":
            return x.astype(np.float64) @ w[0] + w[1]
        if self.kind == "Conv1D":  # causal: k - 1 zero steps in front
            k, t = self.kernel_size, x.shape[1]
            padded = np.concatenate([np.zeros_like(x[:, : k - 1]), x], axis=1).astype(np.float64)
            return sum(padded[:, j : j + t] @ w[0][j] for j in range(k)) + w[1]
        return x.reshape(*x.shape[:2], -1).astype(np.float64)

    def to_dict(self) -> dict:
        return asdict(self)


@st.composite
def front_layers(draw: st.DrawFn) -> FrontLayer:
    """A ``FrontLayer`` of every kind, with its sizes."""
    kind = draw(st.sampled_from(FRONT_KINDS))
    features = draw(st.integers(1, MAX_FRONT_FEATURES))
    if kind == "Embedding":
        return FrontLayer(kind, (), features, vocab=draw(st.integers(2, MAX_VOCAB)))
    if kind == "Reshape":
        a, b = (draw(st.integers(1, MAX_STEP_SIDE)) for _ in range(2))
        return FrontLayer(kind, (a, b), a * b)
    inputs = draw(st.integers(1, MAX_FRONT_INPUTS))
    kernel_size = draw(st.sampled_from(CONV_KERNEL_SIZES)) if kind == "Conv1D" else 1
    return FrontLayer(kind, (inputs,), features, kernel_size=kernel_size)


@dataclass
class FrontCase:
    """One drawn example: the front layer, the recurrent layer, weights, inputs and chunks."""

    front: FrontLayer
    spec: LayerSpec  # the recurrent layer (stateful in the model under test)
    batch_size: int
    splits: tuple[int, ...]
    x: np.ndarray  # (batch, timesteps, *front.step_shape): int32 tokens or float32
    front_weights: list[np.ndarray]
    weights: list[np.ndarray]  # the recurrent layer's

    def chunks(self) -> list[np.ndarray]:
        return np.split(self.x, np.cumsum(self.splits)[:-1], axis=1)

    @classmethod
    def from_dict(cls, data: dict) -> FrontCase:
        """The case ``to_dict`` wrote (a reproducer's replay rebuilds it)."""
        front = FrontLayer(**{**data["front"], "step_shape": tuple(data["front"]["step_shape"])})
        return cls(
            front,
            LayerSpec.from_dict(data["spec"]),
            data["batch_size"],
            tuple(data["splits"]),
            np.asarray(data["x"], dtype=front.input_dtype),
            [np.asarray(w, dtype=np.float32) for w in data["front_weights"]],
            [np.asarray(w, dtype=np.float32) for w in data["weights"]],
        )

    def to_dict(self) -> dict:
        """Plain values for a report's counterexample."""
        return {
            "front": self.front.to_dict(),
            "spec": self.spec.to_dict(),
            "batch_size": self.batch_size,
            "splits": list(self.splits),
            "x": self.x.tolist(),
            "front_weights": [w.tolist() for w in self.front_weights],
            "weights": [w.tolist() for w in self.weights],
        }

    def features(self) -> np.ndarray:
        """What the front layer hands the recurrent layer, float64: on the whole sequence
        when it works per step, else chunk by chunk (as in the stateful model)."""
        if self.front.per_step:
            return self.front.reference(self.x, self.front_weights)
        parts = [self.front.reference(c, self.front_weights) for c in self.chunks()]
        return np.concatenate(parts, axis=1)

    def recurrent_case(self) -> Case:
        """The recurrent layer's own example, fed the front layer's features (sensitivity)."""
        return Case(self.spec, self.batch_size, self.splits, self.features(), self.weights)


@st.composite
def front_cases(draw: st.DrawFn, layer_kind: str, *, min_chunks: int = MIN_FRONT_CHUNKS):
    front = draw(front_layers())
    spec = draw(
        layer_specs(
            kinds=[layer_kind],
            max_units=MAX_MODEL_UNITS,
            min_features=front.features,
            max_features=front.features,
            return_sequences=None,
            return_state=False,
            recurrent_activations=("sigmoid",),  # as harness.strategies.models: Keras 2 too
        )
    )
    splits = draw(
        chunk_splits(
            min_chunks=min_chunks, max_chunks=MAX_FRONT_CHUNKS, max_length=MAX_MODEL_CHUNK_LENGTH
        )
    )
    batch_size = draw(st.integers(1, MAX_MODEL_BATCH))
    rng = np.random.default_rng(draw(st.integers(0, MAX_SEED)))
    shape = (batch_size, sum(splits), *front.step_shape)
    if front.kind == "Embedding":
        x = rng.integers(0, front.vocab, size=shape).astype(np.int32)
    else:  # never all zeros: a state the chunks did not carry must show
        magnitude = draw(st.sampled_from(INPUT_MAGNITUDES))
        x = rng.uniform(-magnitude, magnitude, size=shape).astype(np.float32)
    scale = draw(st.floats(MIN_WEIGHT_SCALE, MAX_WEIGHT_SCALE))
    front_weights = [
        rng.uniform(-scale, scale, s).astype(np.float32) for s in front.weight_shapes()
    ]
    return FrontCase(front, spec, batch_size, splits, x, front_weights, draw(weights(spec)))


def _numpy(keras, value) -> np.ndarray:
    ops = getattr(keras, "ops", None)  # Keras 2 (tf-keras) has no keras.ops
    return np.asarray(ops.convert_to_numpy(value) if ops is not None else value)


class FrontModel:
    """``Input -> front layer -> recurrent layer`` as one Keras model, driven with NumPy.

    Stateful: a fixed batch size, the states read from the recurrent layer. Stateless:
    the twin, returning every step and the final states, and ``chunkwise`` runs its
    front layer on each chunk alone.
    """

    def __init__(self, keras, front: FrontLayer, spec: LayerSpec, *, batch_size, stateful):
        self.keras, self.front, self.spec = keras, front, spec
        self.batch_size, self.stateful = batch_size, stateful
        shape = (None, *front.step_shape)
        if batch_size is None:
            inputs = keras.Input(shape=shape, dtype=front.input_dtype)
        else:
            inputs = keras.Input(batch_shape=(batch_size, *shape), dtype=front.input_dtype)
        if not stateful:  # every step and the final states: what each check picks from
            spec = spec.replace(return_sequences=True, return_state=True)
        kwargs = spec.layer_kwargs()
        self.recurrent = getattr(keras.layers, spec.kind)(stateful=stateful, **kwargs)
        features = front.build(keras)(inputs)
        self.model = keras.Model(inputs, self.recurrent(features))
        self.front_only = self.recurrent_only = None
        if not stateful:
            self.front_only = keras.Model(inputs, features)
            given = keras.Input(shape=(None, front.features))
            self.recurrent_only = keras.Model(given, self.recurrent(given))

    def _run(self, model, x) -> tuple[np.ndarray, list[np.ndarray] | None]:
        result = model(np.asarray(x))
        if self.stateful:
            return _numpy(self.keras, result), None
        output, *states = (_numpy(self.keras, r) for r in result)
        return output, states

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """The recurrent layer's output on ``x``, and its final states when stateless."""
        return self._run(self.model, x)

    def chunkwise(self, chunks: Sequence[np.ndarray]):
        """Stateless: the front layer on each chunk alone, the recurrent layer on them joined."""
        features = [_numpy(self.keras, self.front_only(np.asarray(c))) for c in chunks]
        return self._run(self.recurrent_only, np.concatenate(features, axis=1))

    def states(self) -> list[np.ndarray]:
        return [_numpy(self.keras, v) for v in self.recurrent.states]

    def set_states(self, states: Sequence[np.ndarray]) -> None:
        for variable, value in zip(self.recurrent.states, states, strict=True):
            variable.assign(np.asarray(value, dtype=np.float32))

    def reset(self) -> None:
        """The framework's own reset: ``model.reset_states()`` where it exists (Keras 2),
        else the layer's ``reset_state()`` (Keras 3 has no model-level reset)."""
        if hasattr(self.model, "reset_states"):
            self.model.reset_states()
        else:
            self.recurrent.reset_state()

    def set_weights(self, front_weights, weights) -> None:
        self.model.set_weights([np.asarray(w) for w in [*front_weights, *weights]])


def front_model_runner(target, case: FrontCase, *, stateful: bool) -> FrontModel:
    """The model of ``case`` on ``target`` (reused within an example), its weights loaded."""
    batch_size = case.batch_size if stateful else None

    def build() -> FrontModel:
        return FrontModel(
            target.keras, case.front, case.spec, batch_size=batch_size, stateful=stateful
        )

    runner = target.cached(("front model", case.front, case.spec, batch_size, stateful), build)
    runner.set_weights(case.front_weights, case.weights)
    return runner


def _expected(twin: FrontModel, case: FrontCase, chunks: Sequence[np.ndarray]):
    """What the stateless twin gives on ``chunks`` joined (see the module docstring)."""
    if case.front.per_step:
        return twin(np.concatenate(chunks, axis=1))
    return twin.chunkwise(chunks)


def _consistency(target):
    return target.tolerance("consistency")


def _skip_unless_classic(layer_kind: str) -> None:
    if layer_kind not in LAYER_KINDS:
        pytest.skip(f"front layers are drawn before {', '.join(LAYER_KINDS)} only")


def _where(case: FrontCase) -> str:
    front = case.front
    size = f", kernel_size={front.kernel_size}" if front.kind == "Conv1D" else ""
    return f"{front.kind}{size} -> {case.spec.kind}, chunks {list(case.splits)}"


def _assert_chunked_equals_whole(target, check, case: FrontCase) -> None:
    """Feed ``case`` chunk by chunk to the stateful model and whole to its stateless twin."""
    __tracebackhide__ = True
    tol = _consistency(target)
    stateful = front_model_runner(target, case, stateful=True)
    twin = front_model_runner(target, case, stateful=False)

    outputs = [stateful(chunk)[0] for chunk in case.chunks()]
    expected, expected_states = _expected(twin, case, case.chunks())
    where = _where(case)
    if case.spec.return_sequences:
        actual = np.concatenate(outputs, axis=1)
    else:  # each chunk's last output vs the whole run's at that chunk's last step
        actual, expected = np.stack(outputs, axis=1), expected[:, np.cumsum(case.splits) - 1]
    check.assert_close(
        f"outputs, chunked vs whole ({where})", actual=actual, expected=expected, tol=tol
    )
    for k, (state, want) in enumerate(zip(stateful.states(), expected_states, strict=True)):
        check.assert_close(
            f"state {k} after the last chunk vs whole ({where})",
            actual=state,
            expected=want,
            tol=tol,
        )


def _assert_reset_zeroes(target, check, case: FrontCase, reset_at: int) -> None:
    """Reset the stateful model before chunk ``reset_at``: zero states, then a fresh run."""
    __tracebackhide__ = True
    tol = _consistency(target)
    stateful = front_model_runner(target, case, stateful=True)
    twin = front_model_runner(target, case, stateful=False)

    chunks = case.chunks()
    for chunk in chunks[:reset_at]:
        stateful(chunk)
    stateful.reset()
    where = f"{_where(case)}, reset before chunk {reset_at}"
    for k, state in enumerate(stateful.states()):
        check.assert_close(
            f"state {k} right after reset ({where})",
            actual=state,
            expected=np.zeros_like(state),
            tol=target.tolerance("exact"),  # a reset assigns zeros: no rounding
        )
    after = [stateful(chunk)[0] for chunk in chunks[reset_at:]]
    expected, expected_states = _expected(twin, case, chunks[reset_at:])
    if case.spec.return_sequences:
        actual = np.concatenate(after, axis=1)
    else:  # the last chunk's output vs the fresh run's last step
        actual, expected = after[-1], expected[:, -1]
    check.assert_close(
        f"outputs after reset vs a fresh model ({where})", actual=actual, expected=expected, tol=tol
    )
    for k, (state, want) in enumerate(zip(stateful.states(), expected_states, strict=True)):
        check.assert_close(
            f"state {k} at the end, after reset vs a fresh model ({where})",
            actual=state,
            expected=want,
            tol=tol,
        )


@given(data=st.data())
def test_front_layer_then_stateful_rnn_chunked_equals_whole(target, layer_kind, check, data):
    _skip_unless_classic(layer_kind)
    case = data.draw(front_cases(layer_kind), label="case")
    check.example(case=case)
    margin = sensitivity.chunked_equals_whole(case.recurrent_case(), _consistency(target))
    check.sensitive(margin)
    _assert_chunked_equals_whole(target, check, case)


@given(data=st.data())
def test_front_layer_then_stateful_rnn_reset_zeroes_the_state(target, layer_kind, check, data):
    _skip_unless_classic(layer_kind)
    case = data.draw(front_cases(layer_kind), label="case")
    reset_at = data.draw(st.integers(1, len(case.splits) - 1), label="reset before chunk")
    check.example(case=case, reset_at=reset_at)
    margin = sensitivity.skipped_reset(case.recurrent_case(), reset_at, _consistency(target))
    check.sensitive(margin)
    _assert_reset_zeroes(target, check, case, reset_at)


# A reproducer replays these (harness.reproducers): the case comes back as plain values.


def replay_test_front_layer_then_stateful_rnn_chunked_equals_whole(
    target, layer_kind, check, example
):
    case = FrontCase.from_dict(example["case"])
    check.example(case=case)
    _assert_chunked_equals_whole(target, check, case)


def replay_test_front_layer_then_stateful_rnn_reset_zeroes_the_state(
    target, layer_kind, check, example
):
    case = FrontCase.from_dict(example["case"])
    check.example(case=case, reset_at=example["reset_at"])
    _assert_reset_zeroes(target, check, case, example["reset_at"])
