"""A call in training mode, ``layer(x, training=True)``: what a custom training loop runs.

The runner interface calls a layer in inference mode (``training`` left out: False in a
direct call, as in ``predict``), where ``dropout`` and ``recurrent_dropout`` do nothing.
This is the one way a property calls a layer in training mode, eagerly, as users call it
(on JAX too: a runner's compiled call path is inference only). A runner that wraps
another (``inner``, as in ``tests/broken_targets.py``) passes the call to it, unless it
has a ``call_in_training`` method of its own.
"""

from __future__ import annotations

import numpy as np

from harness.targets.base import Output, Runner


def call_in_training(runner: Runner, x: np.ndarray) -> Output:
    """``x`` through ``runner``'s layer with ``training=True``; a stateful layer stores the
    final states, as in any call.

    Example:
        >>> out = call_in_training(runner, x)  # doctest: +SKIP
    """
    own = getattr(runner, "call_in_training", None)
    if own is not None:
        return own(x)
    inner = getattr(runner, "inner", None)
    if isinstance(inner, Runner):  # a wrapper that leaves training calls as they are
        return call_in_training(inner, x)
    return runner._split(runner.layer(np.asarray(x, dtype=np.float32), training=True))
