"""Feeding a Keras model's ``predict``/``evaluate``/``fit`` the ways users feed it.

``feed(runner, x, path=..., batch_size=..., source=..., jit_compile=...)`` runs ``x``
through one call of ``runner.model``, cut into batches of ``batch_size`` in order and
given as one of ``SOURCES``:

- ``"arrays"``: NumPy arrays with ``batch_size`` (and ``shuffle=False`` for ``fit``);
- ``"generator"``: a Python generator of ``(x,)`` or ``(x, y)`` batches;
- ``"pydataset"``: a ``keras.utils.PyDataset`` (Keras 2: ``keras.utils.Sequence``);
- ``"tf.data"``: a batched ``tf.data.Dataset``, which Keras 3 takes on every backend
  (it needs TensorFlow installed; ``SourceUnavailable`` says so where it is not).

The model is compiled with ``jit_compile`` (``None``: the framework's default) and a
zero learning rate, against all-zero targets (``mse``): ``fit`` cannot move the
weights, so only the states move, and every reported loss is ``mean(output ** 2)``.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from harness.errors import HarnessUsageError
from harness.targets.base import Output

SOURCES = ("arrays", "generator", "pydataset", "tf.data")
FEED_PATHS = ("predict", "evaluate", "fit")


class SourceUnavailable(RuntimeError):
    """An input kind this installation cannot build (``tf.data`` without TensorFlow)."""


def source_unavailable(source: str) -> str | None:
    """Why ``source`` cannot be built here, or ``None`` when it can."""
    if source == "tf.data" and importlib.util.find_spec("tensorflow") is None:
        return "tf.data needs TensorFlow, which is not installed"
    return None


def _rows(value, start: int, stop: int):
    """Rows ``start:stop`` of an array, or of each array in nested lists (as tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(_rows(v, start, stop) for v in value)
    return value[start:stop]


def _batches(data: tuple, size: int, batch_size: int) -> list[tuple]:
    return [_rows(data, start, start + batch_size) for start in range(0, size, batch_size)]


def _sequence_class(keras):
    """Keras 3's ``PyDataset``, or Keras 2's ``Sequence`` (the same idea, its older name)."""
    base = getattr(keras.utils, "PyDataset", None) or keras.utils.Sequence

    class Batches(base):
        def __init__(self, batches: list[tuple]):
            super().__init__()
            self.batches = batches

        def __len__(self) -> int:
            return len(self.batches)

        def __getitem__(self, index: int) -> tuple:
            return self.batches[index]

    return Batches


def _source(keras, source: str, data: tuple, size: int, batch_size: int):
    """``data`` (``(x,)`` or ``(x, y)``) as ``source``, in batches of ``batch_size``."""
    why = source_unavailable(source)
    if why is not None:
        raise SourceUnavailable(why)
    if source == "generator":
        return (batch for batch in _batches(data, size, batch_size))
    if source == "pydataset":
        return _sequence_class(keras)(_batches(data, size, batch_size))
    if source == "tf.data":
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(_rows(data, 0, size)).batch(batch_size)
    raise HarnessUsageError(f"Unknown source {source!r}; expected one of {', '.join(SOURCES)}")


def feed(
    runner,
    x: np.ndarray,
    *,
    path: str,
    batch_size: int,
    source: str = "arrays",
    jit_compile: bool | None = None,
) -> Output:
    """One ``predict``, ``evaluate`` or ``fit`` over ``x`` on a Keras runner's model.

    Args:
        runner: a ``Keras3Runner`` (its ``model``, ``keras`` and helpers are used).
        x: all the samples, ``(n * batch_size, timesteps, ...)``, in batch order.
        path: one of ``FEED_PATHS``.
        batch_size: the size of every batch.
        source: one of ``SOURCES``.
        jit_compile: passed to ``model.compile`` (``None``: not passed, the default).
    """
    if path not in FEED_PATHS:
        raise HarnessUsageError(f"Unknown path {path!r}; expected one of {', '.join(FEED_PATHS)}")
    keras, model = runner.keras, runner.model
    options = {} if jit_compile is None else {"jit_compile": jit_compile}
    # A zero learning rate: weights cannot change, so only the state can move.
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse", **options)
    runner._compiled = True
    x = np.asarray(x, dtype=np.float32)
    y = runner._zero_targets(x)
    data = (x,) if path == "predict" else (x, y)
    if source == "arrays":
        args, kwargs = data, {"batch_size": batch_size}
    else:
        args, kwargs = (_source(keras, source, data, len(x), batch_size),), {}
    if path == "predict":
        return runner._split(model.predict(*args, verbose=0, **kwargs))
    if path == "evaluate":
        loss = model.evaluate(*args, verbose=0, return_dict=True, **kwargs)
    else:
        history = model.fit(*args, epochs=1, shuffle=False, verbose=0, **kwargs)
        loss = {k: v[-1] for k, v in history.history.items()}
    return Output(None, loss=float(loss["loss"]))
