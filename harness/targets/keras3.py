"""Keras 3 targets: one adapter for the TensorFlow, JAX and PyTorch backends.

Keras 3 reads ``KERAS_BACKEND`` once, at import: one backend per process. The
adapter sets it before the first import and refuses to run if Keras was
already imported with another backend.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence

import numpy as np

from harness import layer_kinds
from harness.compilation_cache import enable_jax_compilation_cache
from harness.env import BACKEND_DISTRIBUTIONS, distribution_version
from harness.errors import HarnessUsageError
from harness.precision import apply_precision, device_details, device_kind, precision_from_env
from harness.specs import LayerSpec
from harness.targets.base import PATHS, ApiMissing, Output, Runner, Target
from harness.targets.jax_call import EagerAndCompiled, JaxCompiledCall


def import_keras(backend: str):
    """Import Keras 3 with ``backend``, or explain why that is impossible here."""
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != backend:
            raise HarnessUsageError(
                f"Keras is already imported with backend {current!r} in this process; "
                f"target backend {backend!r} needs its own process (one target per process). "
                f"Run it separately, e.g. `rnn-harness run --targets keras3-{backend}`."
            )
        return keras
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if distribution_version(*BACKEND_DISTRIBUTIONS[backend]) is None:
        raise HarnessUsageError(
            f"Target keras3-{backend} needs the {backend!r} package, which is not installed. "
            f"Install it with `pip install 'rnn-harness[{backend}]'`"
            + (" (TensorFlow comes with the base install)" if backend == "tensorflow" else "")
        )
    import keras

    if not keras.__version__.startswith("3."):
        raise HarnessUsageError(
            f"Target keras3-{backend} needs Keras 3. Received: keras {keras.__version__}. "
            "Install it with `pip install 'keras>=3'`"
        )
    return keras


class Keras3Runner(Runner):
    """One recurrent layer, built for a fixed batch size when stateful.

    The ``call`` path calls the layer itself. The functional ``keras.Model``
    around it (needed by predict, evaluate, fit, saving and cloning) is built on
    first use: on JAX its symbolic construction costs more than everything else
    an example does. With ``compiled=True`` on JAX, ``call`` runs the layer, in
    turns, eagerly as users call it and inside ``jax.jit`` under a
    ``keras.StatelessScope`` that maps every variable, the layer's state variables
    included, and assigns the new states back: the layer's own stateful logic runs,
    compiled once per input shape (``EagerAndCompiled``: both paths are checked).
    """

    def __init__(
        self,
        keras,
        spec: LayerSpec,
        *,
        batch_size: int | None,
        stateful: bool,
        compiled: bool = False,
        stats: dict | None = None,
    ):
        self.keras = keras
        self.stats = stats if stats is not None else {}
        self.spec = spec
        self.batch_size = batch_size
        self.stateful = stateful
        layer_cls = getattr(keras.layers, spec.kind, None)  # None: an extra kind
        # Weights are always loaded before a run, so random initializers (on JAX an
        # orthogonal initializer compiles a QR per shape) would only cost time.
        initializers = (
            dict.fromkeys(
                ("kernel_initializer", "recurrent_initializer", "bias_initializer"), "zeros"
            )
            if compiled
            else {}
        )
        if layer_kinds.is_extra(spec.kind):
            self.layer = layer_kinds.build_layer(keras, spec, stateful=stateful, zeros=compiled)
        else:
            self.layer = layer_cls(stateful=stateful, **spec.layer_kwargs(), **initializers)
        self.layer.build((batch_size, None, *spec.input_shape))
        self._model = None
        self._compiled = False
        self._jit = self._jax_call(self.layer) if compiled else None
        self._functional = not compiled  # the obvious way: call the functional model

    def _jax_call(self, layer) -> EagerAndCompiled | None:
        """``layer(x)`` eager and compiled in turns on JAX (``None`` elsewhere: eager calls)."""
        if self.keras.backend.backend() != "jax":
            return None
        states = layer_kinds.flat(layer.states) if self.stateful else []
        compiled = JaxCompiledCall(self.keras, layer, states, stats=self.stats)
        return EagerAndCompiled(layer, compiled, stats=self.stats)

    @property
    def model(self):
        """The functional model around the layer, built on first use."""
        if self._model is None:
            keras = self.keras
            inputs = keras.Input(batch_shape=(self.batch_size, None, *self.spec.input_shape))
            self._model = keras.Model(inputs, self.layer(inputs))
        return self._model

    def _call_layer(self, x: np.ndarray):
        self.stats.setdefault("shapes", set()).add(x.shape)
        if self._functional:
            return self.model(x)
        if self._jit is None:
            return self.layer(x)
        return self._jit(x)

    def _tensor(self, value: np.ndarray):
        ops = getattr(self.keras, "ops", None)
        return (
            ops.convert_to_tensor(value) if ops is not None else self.keras.backend.constant(value)
        )

    def _numpy(self, value) -> np.ndarray:
        ops = getattr(self.keras, "ops", None)  # Keras 2 (tf-keras) has no keras.ops
        return np.asarray(ops.convert_to_numpy(value) if ops is not None else value)

    def _split(self, result) -> Output:
        if self.spec.return_state:
            head, *states = result
            return Output(self._numpy(head), [self._numpy(s) for s in layer_kinds.flat(states)])
        return Output(self._numpy(result))

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        self.layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])

    def get_weights(self) -> list[np.ndarray]:
        return [np.asarray(w) for w in self.layer.get_weights()]

    def __call__(
        self,
        x: np.ndarray,
        *,
        initial_state: Sequence[np.ndarray] | None = None,
        path: str = "call",
        batch_size: int | None = None,
        mask: np.ndarray | None = None,
    ) -> Output:
        x = np.asarray(x, dtype=np.float32)
        if mask is not None:
            if path != "call" or initial_state is not None:
                raise HarnessUsageError(
                    f"mask is only supported on path 'call' without initial_state. "
                    f"Received: path={path!r}, initial_state given: {initial_state is not None}"
                )
            # Eager, as a user calls a layer with a mask (not through the jit cache).
            return self._split(self.layer(x, mask=self._tensor(np.asarray(mask, dtype=bool))))
        if initial_state is not None:
            if path != "call":
                raise HarnessUsageError(
                    f"initial_state is only supported on path 'call'. Received: {path!r}"
                )
            # Keras 2 insists on tensors for initial_state in an eager call.
            states = [self._tensor(np.asarray(s, dtype=np.float32)) for s in initial_state]
            states = layer_kinds.nest(self.spec, states)
            return self._split(self.layer(x, initial_state=states))
        if path == "call":
            return self._split(self._call_layer(x))
        batch_size = batch_size or self.batch_size or len(x)
        if path == "predict":
            return self._split(self.model.predict(x, batch_size=batch_size, verbose=0))
        if path == "predict_on_batch":
            return self._split(self.model.predict_on_batch(x))
        self._compile()
        y = self._zero_targets(x)
        if path == "evaluate":
            loss = self.model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        elif path == "test_on_batch":
            loss = self.model.test_on_batch(x, y, return_dict=True)
        elif path == "fit":
            history = self.model.fit(
                x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0
            )
            loss = {k: v[-1] for k, v in history.history.items()}
        elif path == "train_on_batch":
            loss = self.model.train_on_batch(x, y, return_dict=True)
        else:
            raise HarnessUsageError(f"Unknown path {path!r}; expected one of {', '.join(PATHS)}")
        return Output(None, loss=float(loss["loss"]))

    def feed(
        self,
        x: np.ndarray,
        *,
        path: str,
        batch_size: int | None = None,
        source: str = "arrays",
        jit_compile: bool | None = None,
    ) -> Output:
        from harness.targets.keras3_feeding import feed

        batch_size = batch_size or self.batch_size or len(x)
        return feed(
            self, x, path=path, batch_size=batch_size, source=source, jit_compile=jit_compile
        )

    def _compile(self) -> None:
        if not self._compiled:
            # A zero learning rate: weights cannot change, so only the state can move.
            self.model.compile(optimizer=self.keras.optimizers.SGD(learning_rate=0.0), loss="mse")
            self._compiled = True

    def _zero_targets(self, x: np.ndarray):
        """All-zero targets shaped like the model's outputs, so the loss is mean(output**2)."""
        batch, timesteps = x.shape[0], x.shape[1]
        step = self.spec.output_shape
        head = np.zeros(
            (batch, timesteps, *step) if self.spec.return_sequences else (batch, *step), np.float32
        )
        if self.spec.return_state:
            states = [np.zeros(s, np.float32) for s in self.spec.state_shapes(batch)]
            return [head, *layer_kinds.nest(self.spec, states)]
        return head

    def states(self) -> list[np.ndarray]:
        if not self.stateful:
            raise HarnessUsageError("states() needs a stateful runner; this one is stateless")
        return [self._numpy(v) for v in layer_kinds.flat(self.layer.states)]

    def set_states(self, states: Sequence[np.ndarray]) -> None:
        for variable, value in zip(layer_kinds.flat(self.layer.states), states, strict=True):
            variable.assign(np.asarray(value, dtype=np.float32))

    def reset(self) -> None:
        # Keras 3: layer.reset_state(); Keras 2 (tf-keras): layer.reset_states().
        reset = getattr(self.layer, "reset_state", None) or self.layer.reset_states
        reset()

    def model_reset(self) -> None:
        reset = getattr(self.model, "reset_states", None)
        if reset is None:
            raise ApiMissing(
                f"keras.Model has no reset_states() in keras {self.keras.__version__}; "
                "reset each stateful layer with layer.reset_state() instead"
            )
        reset()

    def save_weights(self, path: str) -> None:
        self.model.save_weights(path)

    def load_weights(self, path: str) -> None:
        self.model.load_weights(path)

    def clone(self) -> Keras3Runner:
        twin = Keras3Runner.__new__(Keras3Runner)
        twin.keras, twin.spec = self.keras, self.spec
        twin.batch_size, twin.stateful = self.batch_size, self.stateful
        twin._model = self.keras.models.clone_model(self.model)
        twin.layer = twin._model.layers[-1]
        twin._model.set_weights(self.model.get_weights())
        twin._compiled = False
        twin._functional = self._functional
        twin.stats = self.stats
        twin._jit = None if self._jit is None else twin._jax_call(twin.layer)
        return twin


class Keras3Target(Target):
    """``keras3-<backend>``: Keras 3 on TensorFlow, JAX or PyTorch."""

    def __init__(
        self,
        backend: str,
        *,
        compiled: bool = True,
        cache: bool = True,
        precision: str | None = None,
        name: str | None = None,
        keras=None,
    ):
        self.backend = backend
        self.name = name or f"keras3-{backend}"
        self.keras = keras if keras is not None else import_keras(backend)
        # Before any layer is built: the switches decide which kernels run.
        self.precision = precision or precision_from_env()
        self.precision_switches = apply_precision(backend, self.precision)
        # JAX compiles every program it runs: keep them across examples, tests, workers, runs.
        self.compilation_cache = enable_jax_compilation_cache() if backend == "jax" else None
        self._device: str | None = None
        self.compiled = compiled  # JAX: jit-compile the call path (see Keras3Runner)
        self.cache = cache  # reuse a runner within one example (see `cached`)
        self._runners: dict[tuple, Runner] = {}
        # Counters for benchmarks/: models built, jit compiles, distinct input shapes.
        self.stats: dict = {"models": 0, "compiles": 0, "shapes": set()}

    def runner(self, spec: LayerSpec, *, batch_size: int | None, stateful: bool) -> Runner:
        if stateful and batch_size is None:
            raise HarnessUsageError("A stateful runner needs a fixed batch_size. Received: None")

        def build() -> Keras3Runner:
            return Keras3Runner(
                self.keras,
                spec,
                batch_size=batch_size,
                stateful=stateful,
                compiled=self.compiled,
                stats=self.stats,
            )

        return self.cached(("layer", spec, batch_size, stateful), build)

    def cached(self, key: tuple, build):
        """The runner for ``key`` built in this example, else ``build()``.

        A runner lives for one example at most (``new_example`` drops them all): a
        Keras model keeps more between calls than its weights and states (metric and
        loss trackers, optimizer iterations, compiled functions, seed generators), so
        one reused across examples could let an earlier example's history into a
        result. Within an example a reused stateful runner starts from zero states,
        assigned directly, never through the reset API under test.
        """
        runner = self._runners.get(key) if self.cache else None
        if runner is None:
            self.stats["models"] += 1
            runner = build()
            if self.cache:
                self._runners[key] = runner
        elif runner.stateful:
            runner.set_states([np.zeros(np.shape(s), np.float32) for s in runner.states()])
        return runner

    def initial_state_model(self, spec: LayerSpec, *, batch_size: int):
        """A stateful layer fed its initial state by a second model input (a two-input
        ``keras.Model`` that saves and loads whole: ``keras3_initial_state``)."""
        from harness.targets.keras3_initial_state import InitialStateModel

        def build() -> InitialStateModel:
            return InitialStateModel(self.keras, spec, batch_size=batch_size)

        return self.cached(("initial_state_model", spec, batch_size), build)

    def new_example(self) -> None:
        """Drop every runner: the next example builds its own (see ``cached``)."""
        self._runners.clear()

    def clear(self) -> None:
        self._runners.clear()
        self.keras.backend.clear_session()

    def versions(self) -> dict[str, str]:
        return {
            "python": platform.python_version(),
            "keras": self.keras.__version__,
            self.backend: distribution_version(*BACKEND_DISTRIBUTIONS[self.backend]) or "unknown",
        }

    def device_details(self) -> dict:
        return {**device_details(self.backend), "precision_switches": self.precision_switches}

    def info(self) -> dict:
        info = super().info()
        if self.compilation_cache is not None:
            info["compilation_cache"] = self.compilation_cache
        return info

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = device_kind(self.backend)
        return self._device
