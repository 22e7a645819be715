"""``module(x)`` under ``jax.jit`` for Keras 3 layers and models on the JAX backend."""

from __future__ import annotations

import numpy as np


class JaxCompiledCall:
    """``module(x)`` under ``jax.jit``, compiled once per input shape, for a layer or a model.

    The call runs inside a ``keras.StatelessScope`` that maps every variable of
    ``module`` and the stored ``states`` (Keras does not track a stateful RNN's
    state variables among them), and assigns the new states back afterwards: the
    module's own stateful logic runs, compiled. Counts compiles in ``stats``.
    """

    def __init__(self, keras, module, states, *, stats: dict | None = None):
        self.keras, self.module = keras, module
        self.states = list(states)
        state_ids = {id(v) for v in self.states}
        self.variables = [v for v in module.variables if id(v) not in state_ids] + self.states
        self.stats = stats if stats is not None else {}
        self._by_shape: dict[tuple, object] = {}

    def __call__(self, x: np.ndarray):
        fn = self._by_shape.get(x.shape)
        if fn is None:
            self.stats["compiles"] = self.stats.get("compiles", 0) + 1
            fn = self._by_shape[x.shape] = self._compile()
        out, new_states = fn([v.value for v in self.variables], x)
        for variable, value in zip(self.states, new_states, strict=True):
            variable.assign(value)
        return out

    def _compile(self):
        import jax

        keras, module, variables, states = self.keras, self.module, self.variables, self.states

        def run(values, x):
            mapping = list(zip(variables, values, strict=True))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                out = module(x)
                return out, [scope.get_current_value(v) for v in states]

        return jax.jit(run)
