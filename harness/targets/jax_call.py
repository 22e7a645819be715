"""``module(x)`` under ``jax.jit`` for Keras 3 layers and models on the JAX backend, and the
eager ``module(x)`` users run, taken in turns so that properties check both.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

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


class EagerAndCompiled:
    """``module(x)`` as users call it (eager) and compiled, in turns: both paths are checked.

    The compiled call is the harness's own path (for speed); the eager call is the one
    users make. A property that runs several calls sees both, and the hand-offs between
    them: an eager call that does not store its new state, or does not start from the
    stored one, is followed or preceded by a compiled call that shows it. Which comes
    first is decided by the first input's bytes, so that a replayed example takes the
    same turns and half of all examples start with each. ``stats`` counts the calls of
    each kind (``eager_calls``, ``compiled_calls``).
    """

    def __init__(self, eager: Callable, compiled: Callable, *, stats: dict | None = None):
        self.eager, self.compiled = eager, compiled
        self.stats = stats if stats is not None else {}
        self.calls = 0
        self.eager_first: bool | None = None

    def __call__(self, x: np.ndarray):
        if self.eager_first is None:
            self.eager_first = zlib.crc32(np.ascontiguousarray(x).tobytes()) % 2 == 0
        eager = (self.calls % 2 == 0) == self.eager_first
        self.calls += 1
        key = "eager_calls" if eager else "compiled_calls"
        self.stats[key] = self.stats.get(key, 0) + 1
        return self.eager(x) if eager else self.compiled(x)
