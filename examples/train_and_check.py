"""Train a small sequence model whole, save it, and check that it can be served as a stream.

The task is a causal one: at every timestep, output the sum of the last three
values of a noisy signal. The model (LSTM -> TimeDistributed(Dense)) is trained
stateless on whole sequences for a few seconds, saved as a .keras file, and then
checked by ``harness.check_model``: made stateful at batch size 4 and fed
in chunks, must it give the outputs it gives on whole sequences?

Run from the repository root:

    python examples/train_and_check.py [--model PATH] [--backend tensorflow|jax|torch]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

WINDOW = 3  # the target at step t is x[t-2] + x[t-1] + x[t]
TIMESTEPS = 20
SEQUENCES = 2048
TRAIN_SECONDS = 5.0  # enough to learn the task roughly; the check does not need a good fit


def toy_data(rng, n: int, timesteps: int):
    """A noisy signal and the running sum of its last WINDOW values, shaped (n, t, 1)."""
    import numpy as np

    signal = rng.normal(0.0, 0.5, size=(n, timesteps, 1)).astype("float32")
    target = np.zeros_like(signal)
    for lag in range(WINDOW):
        target[:, lag:] += signal[:, : timesteps - lag]
    return signal, target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="where to save the model (default: a temporary file)")
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

    import keras
    import numpy as np

    from harness import check_model

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = toy_data(rng, SEQUENCES, TIMESTEPS)

    inputs = keras.Input((None, 1))
    hidden = keras.layers.LSTM(8, return_sequences=True)(inputs)
    outputs = keras.layers.TimeDistributed(keras.layers.Dense(1))(hidden)
    model = keras.Model(inputs, outputs, name="running_sum")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")

    started, epochs = time.monotonic(), 0
    while time.monotonic() - started < TRAIN_SECONDS:
        history = model.fit(x, y, batch_size=64, epochs=1, verbose=0)
        epochs += 1
    loss = history.history["loss"][-1]
    print(f"trained {epochs} epochs in {time.monotonic() - started:.1f}s: mse {loss:.4f}")

    path = Path(args.model) if args.model else Path(tempfile.mkdtemp()) / "running_sum.keras"
    model.save(path)
    print(f"saved {path}")

    result = check_model(str(path), batch_size=4, max_examples=25)
    print(result)
    print(f"verdict: {result.verdict}")
    print(f"check it from the command line: rnn-harness check-model {path} --batch-size 4")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
