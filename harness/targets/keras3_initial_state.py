"""A stateful layer fed its initial state by a model input, and that model saved and loaded.

``InitialStateModel`` is a functional ``keras.Model`` with two inputs, the sequences and
the initial states, feeding one stateful recurrent layer
(``layer(x, initial_state=states)``); its outputs are the layer's. It is driven in NumPy
on the ``call`` path (``model([x, *states])``, eager) and the ``predict`` path (compiled
by Keras), and ``save_and_load`` saves the whole model (``model.save(path.keras)``) and
loads it back (``keras.models.load_model``).

Found in Keras 3.15.1, on the TensorFlow, JAX and PyTorch backends alike, for LSTM, GRU and
SimpleRNN (``RNN.call``: the stored states are used only when ``initial_state`` is None,
and a stateful layer always assigns its final states): a stateful layer called with an
explicit ``initial_state`` starts from it, not from its stored states, and stores the
call's final states, so that the next call without ``initial_state`` continues from
them; ``reset_state()`` then zeroes them as always. A two-input model does the same
through ``model(...)`` and ``predict``. ``model.save`` and ``load_model`` round-trip it
(weights equal, same outputs, same stored final states); the stored states are not saved
(Keras keeps them out of the layer's tracked variables): a loaded model starts from zeros.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from harness import layer_kinds
from harness.errors import HarnessUsageError
from harness.specs import LayerSpec
from harness.targets.base import Output

PATHS = ("call", "predict")


class InitialStateModel:
    """``keras.Model([x, *states], layer(x, initial_state=states))`` around one stateful layer.

    ``batch_size`` is fixed (a stateful layer's); ``model`` is a loaded model to drive
    instead of building one.
    """

    stateful = True

    def __init__(self, keras, spec: LayerSpec, *, batch_size: int, model=None):
        self.keras, self.spec, self.batch_size = keras, spec, batch_size
        if model is None:
            if layer_kinds.is_extra(spec.kind):
                layer = layer_kinds.build_layer(keras, spec, stateful=True, zeros=False)
            else:
                layer = getattr(keras.layers, spec.kind)(stateful=True, **spec.layer_kwargs())
            x = keras.Input(batch_shape=(batch_size, None, *spec.input_shape))
            states = [keras.Input(batch_shape=s) for s in spec.state_shapes(batch_size)]
            result = layer(x, initial_state=layer_kinds.nest(spec, states))
            outputs = layer_kinds.flat(list(result)) if spec.return_state else result
            model = keras.Model([x, *states], outputs)
        self.model = model
        (self.layer,) = [v for v in model.layers if hasattr(v, "reset_state")]

    def _numpy(self, value) -> np.ndarray:
        return np.asarray(self.keras.ops.convert_to_numpy(value))

    def __call__(
        self, x: np.ndarray, *, initial_state: Sequence[np.ndarray], path: str = "call"
    ) -> Output:
        """Run ``x`` from ``initial_state`` (the second input) through ``model(...)`` or ``predict``."""
        inputs = [np.asarray(v, dtype=np.float32) for v in (x, *initial_state)]
        if path == "call":
            result = self.model(inputs)
        elif path == "predict":
            result = self.model.predict(inputs, batch_size=self.batch_size, verbose=0)
        else:
            raise HarnessUsageError(f"Unknown path {path!r}; expected one of {', '.join(PATHS)}")
        if not self.spec.return_state:
            return Output(self._numpy(result))
        head, *states = result
        return Output(self._numpy(head), [self._numpy(s) for s in states])

    def states(self) -> list[np.ndarray]:
        return [self._numpy(v) for v in layer_kinds.flat(self.layer.states)]

    def set_states(self, states: Sequence[np.ndarray]) -> None:
        for variable, value in zip(layer_kinds.flat(self.layer.states), states, strict=True):
            variable.assign(np.asarray(value, dtype=np.float32))

    def get_weights(self) -> list[np.ndarray]:
        return [np.asarray(w) for w in self.model.get_weights()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        self.model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])

    def save_and_load(self, directory: str) -> InitialStateModel:
        """Save the whole model to ``directory``/model.keras and drive the one loaded from it."""
        path = os.path.join(directory, "model.keras")
        self.model.save(path)
        loaded = self.keras.models.load_model(path)
        return InitialStateModel(self.keras, self.spec, batch_size=self.batch_size, model=loaded)
