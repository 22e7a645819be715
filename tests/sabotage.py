"""Break Keras itself, for end-to-end tests of the gate and of reproducers.

``apply()`` makes ``RNN.reset_state`` a no-op in the Keras installed here: a
framework-level bug that the harness (through ``rnn-harness run``) and a
standalone reproducer script both see. As a pytest plugin
(``PYTEST_ADDOPTS="-p tests.sabotage"``) it applies itself at session start.
"""

from __future__ import annotations


def apply() -> None:
    from keras.src.layers.rnn.rnn import RNN

    RNN.reset_state = lambda self: None


def pytest_sessionstart(session) -> None:
    apply()
