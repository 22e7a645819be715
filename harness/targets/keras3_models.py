"""Keras 3 models built from a ``ModelSpec``, driven with NumPy arrays.

``model_runner(target, spec, batch_size=..., stateful=...)`` builds (or reuses) a
functional model: ``Input`` (fixed batch size when stateful, fixed time dimension
when ``spec.timesteps`` is set), an optional ``Masking``, the recurrent layers
(each wrapped in ``Bidirectional`` where asked), an optional
``TimeDistributed(Dense)`` head, every layer with ``spec.dtype`` as its own dtype
policy (the global policy is never touched). A ``ModelRunner`` is driven in
NumPy like ``harness.targets.base.Runner``.

Findings in Keras 3.15.1, on the TensorFlow, JAX and PyTorch backends alike:

- **No model-level reset.** ``keras.Model`` has neither ``reset_states()`` (the
  Keras 2 API that reset every stateful layer of a model) nor ``reset_state()``.
  ``ModelRunner.reset`` uses ``model.reset_states()`` where it exists and
  otherwise calls ``reset_state()`` on each stateful layer (``Bidirectional``'s
  resets both directions); ``ModelRunner.reset_api`` says which was used.
- **A stateful ``Bidirectional`` cannot return its states.** Building
  ``Bidirectional(LSTM(..., stateful=True, return_state=True))`` on a symbolic
  input raises ``TypeError: unsupported operand type(s) for *: 'generator' and
  'int'`` in ``Bidirectional.compute_mask`` (``state_mask`` is a generator that is
  then multiplied). The same layer without ``stateful`` builds. Models ask for
  returned states only when ``spec.return_state`` is set, so the stateful
  ``Bidirectional`` runs without it, and the crash is left to the property that
  needs it to show.
- **A ``bfloat16`` recurrent layer cannot be built with its default initializer.**
  ``LSTM``/``GRU``/``SimpleRNN(dtype="bfloat16")`` initialise the recurrent kernel
  with ``Orthogonal``, whose QR has no bfloat16 kernel on a CPU: TensorFlow raises
  ``InvalidArgumentError`` (``Qr``: bfloat16 not in the allowed types), JAX
  ``NotImplementedError`` ("Unsupported dtype bfloat16"), PyTorch
  ``NotImplementedError`` ("geqrf_cpu" not implemented for 'BFloat16'). The
  ``mixed_bfloat16`` policy keeps float32 variables and builds. Runners load every
  weight before use, so a plain ``bfloat16`` layer is built with
  ``recurrent_initializer="glorot_uniform"`` (``BFLOAT16_RECURRENT_INITIALIZER``):
  the initial values are never used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import HarnessUsageError, check_argument
from harness.specs import ConvLSTM1DLayer, ModelSpec, RecurrentLayer
from harness.targets.base import Output
from harness.targets.jax_call import EagerAndCompiled, JaxCompiledCall

# Plain bfloat16 layers only: Orthogonal (the default) cannot run in bfloat16 on a CPU.
BFLOAT16_RECURRENT_INITIALIZER = "glorot_uniform"


@dataclass
class ModelOutput(Output):
    """What one run of a model returned.

    ``output`` is the model's main output (the head's, else the last layer's);
    ``layers`` holds each layer's own output in order (the head's last);
    ``states`` the final states every layer returned (``spec.return_state``), layer
    by layer, forward direction before backward, else ``None``.
    """

    layers: list[np.ndarray] = field(default_factory=list)


def _numpy(keras, value) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value))


class ModelRunner:
    """A built Keras 3 model for one ``ModelSpec``, driven with NumPy arrays.

    ``batch_size`` is fixed for stateful runners and ``None`` for stateless ones.

    Example:
        >>> runner = model_runner(target, spec, batch_size=2, stateful=True)  # doctest: +SKIP
        >>> runner(x).output.shape  # doctest: +SKIP
        (2, 5, 3)
    """

    def __init__(
        self,
        keras,
        spec: ModelSpec,
        *,
        batch_size: int | None,
        stateful: bool,
        compiled: bool = False,
    ):
        self.keras = keras
        self.spec = spec
        self.batch_size = batch_size
        self.stateful = stateful
        time = spec.timesteps
        if batch_size is None:
            inputs = keras.Input(shape=(time, *spec.input_shape))
        else:
            inputs = keras.Input(batch_shape=(batch_size, time, *spec.input_shape))
        policy = spec.dtype
        h = inputs
        if spec.mask_value is not None:
            h = keras.layers.Masking(mask_value=spec.mask_value, dtype=policy)(h)
        self.recurrent_layers: list[Any] = []  # the layers that hold states, in order
        layer_outputs, returned_states = [], []
        for entry in spec.layers:
            layer = self._layer(entry)
            result = layer(h)
            if spec.return_state:
                h, *states = result
                returned_states += states
            else:
                h = result
            layer_outputs.append(h)
            self.recurrent_layers.append(layer)
        if spec.dense_units is not None:
            dense = keras.layers.Dense(spec.dense_units, dtype=policy)
            h = keras.layers.TimeDistributed(dense, dtype=policy)(h)
            layer_outputs.append(h)
        self._n_layer_outputs = len(layer_outputs)
        self.model = keras.Model(inputs, [*layer_outputs, *returned_states])
        self.reset_api = (
            "model.reset_states()" if hasattr(self.model, "reset_states") else "layer.reset_state()"
        )
        # JAX: model(x) under jax.jit (eager, every new shape traces, lowers and compiles
        # each recurrent layer's scan again), in turns with the eager model(x) users run.
        self._jit = None
        if compiled and keras.backend.backend() == "jax":
            states = self._variables() if stateful else []
            self._jit = EagerAndCompiled(self.model, JaxCompiledCall(keras, self.model, states))

    def _layer(self, entry):
        keras, policy = self.keras, self.spec.dtype
        if isinstance(entry, ConvLSTM1DLayer):
            return keras.layers.ConvLSTM1D(
                filters=entry.filters,
                kernel_size=entry.kernel_size,
                padding=entry.padding,
                return_sequences=entry.return_sequences,
                return_state=self.spec.return_state,
                use_bias=entry.use_bias,
                stateful=self.stateful,
                dtype=policy,
            )
        assert isinstance(entry, RecurrentLayer)
        kwargs = entry.layer.replace(return_state=self.spec.return_state).layer_kwargs()
        if policy == "bfloat16":
            kwargs["recurrent_initializer"] = BFLOAT16_RECURRENT_INITIALIZER
        layer = getattr(keras.layers, entry.layer.kind)(
            stateful=self.stateful,
            go_backwards=entry.go_backwards,
            unroll=entry.unroll,
            dtype=policy,
            **kwargs,
        )
        if entry.bidirectional:
            layer = keras.layers.Bidirectional(layer, merge_mode="concat", dtype=policy)
        return layer

    def __call__(self, x: np.ndarray) -> ModelOutput:
        """Run ``x`` of shape ``(batch, timesteps, *spec.input_shape)`` through ``model(x)``."""
        x = np.asarray(x, dtype=np.float32)
        result = self.model(x) if self._jit is None else self._jit(x)
        if not isinstance(result, (list, tuple)):
            result = [result]
        arrays = [_numpy(self.keras, r) for r in result]
        layers, states = arrays[: self._n_layer_outputs], arrays[self._n_layer_outputs :]
        return ModelOutput(
            output=layers[-1], states=states if self.spec.return_state else None, layers=layers
        )

    def _variables(self) -> list[Any]:
        if not self.stateful:
            raise HarnessUsageError("states need a stateful runner; this one is stateless")
        return [v for layer in self.recurrent_layers for v in (layer.states or ())]

    def states(self) -> list[np.ndarray]:
        """Every stateful layer's stored states in order (``spec.state_shapes``)."""
        return [_numpy(self.keras, v) for v in self._variables()]

    def set_states(self, states: Sequence[np.ndarray]) -> None:
        """Assign every stored state, in the order of ``states()``."""
        variables = self._variables()
        check_argument(
            len(states) == len(variables),
            f"states has {len(states)} arrays; this model holds {len(variables)}",
        )
        for variable, value in zip(variables, states, strict=True):
            variable.assign(np.asarray(value, dtype=variable.dtype))

    def reset(self) -> None:
        """Reset every stateful layer through the framework's own API (see ``reset_api``)."""
        if not self.stateful:
            raise HarnessUsageError("reset() needs a stateful runner; this one is stateless")
        if hasattr(self.model, "reset_states"):
            self.model.reset_states()
            return
        for layer in self.recurrent_layers:
            layer.reset_state()

    def get_weights(self) -> list[np.ndarray]:
        """The whole model's weights in Keras order (``spec.weight_shapes()``)."""
        return [np.asarray(w) for w in self.model.get_weights()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load the whole model's weights in Keras order."""
        shapes = self.spec.weight_shapes()
        got = [tuple(np.shape(w)) for w in weights]
        check_argument(got == shapes, f"weights have shapes {got}; this model expects {shapes}")
        self.model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])


def model_runner(target, spec: ModelSpec, *, batch_size: int | None, stateful: bool) -> ModelRunner:
    """A ``ModelRunner`` for ``spec`` on a Keras 3 ``target`` (it has ``.keras``).

    Built fresh for each example and reused within it (``Keras3Target.cached``): a
    returned stateful runner always starts from zero states (assigned directly,
    never through the reset API under test), and callers always load weights
    before running.

    Args:
        target: a ``harness.targets.keras3.Keras3Target``.
        spec: the model to build.
        batch_size: fixed batch size; required for stateful runners, else ``None``.
        stateful: build every recurrent layer with ``stateful=True``.
    """
    check_argument(
        isinstance(spec, ModelSpec), f"spec={spec!r} must be a ModelSpec from harness.specs"
    )
    check_argument(
        not stateful or batch_size is not None,
        "A stateful runner needs a fixed batch_size. Received: None",
    )

    def build() -> ModelRunner:
        return ModelRunner(
            target.keras,
            spec,
            batch_size=batch_size,
            stateful=stateful,
            compiled=getattr(target, "compiled", False),
        )

    return target.cached(("model", spec, batch_size, stateful), build)
