"""streaming_equals_whole: does a user's own model stream? (``rnn-harness check-model``)

A recurrent model is trained on whole sequences and often served as a stream:
made stateful at a fixed batch size and fed chunk by chunk as data arrives.
That is only correct when every layer either carries its state from one call to
the next (the recurrent layers, made stateful) or acts on each timestep on its
own (Dense, TimeDistributed, Masking, ...). For a saved model, check-model

1. loads it with ``safe_mode=True`` (``--unsafe`` opts out, e.g. for ``Lambda``)
   (``load.py``);
2. diagnoses it before running anything: walks every layer, nested models and
   wrappers included, and names the layers that make streaming impossible by
   construction, each with a one-line reason, and those that stream (``diagnose.py``);
3. builds its streaming twin: the same config with every recurrent layer that
   runs along time made ``stateful`` at batch size B, the same weights (``twin.py``);
4. lets Hypothesis draw inputs, timesteps and chunk splits (``inputs.py``), and
   checks that the streamed outputs equal the original model's on the whole
   sequence (every timestep of a sequence output; for a final output, the output
   after each chunk equals the whole model's output on that prefix, the last
   chunk's on the whole sequence), and that ``reset_state()`` between two streams
   starts the second afresh (``check.py``, ``compare.py``, ``result.py``);
5. on a failure, shows per chunk the first diverging timestep and renders a
   standalone reproducer, NumPy and Keras only (``reproducer.py``); writes the
   reports of ``rnn-harness run`` (``report.py``).

Python: ``check_model`` and ``assert_streamable`` (plain pytest, no fixtures).
Command line: ``rnn-harness check-model MODEL`` (``cli.py``).

``harness`` re-exports ``check_model`` the function under the package's own name:
after ``import harness``, ``harness.check_model`` is the function. Import the
modules by their full name (``from harness.check_model import twin``).

Example:
    >>> result = check_model("model.keras", batch_size=2)  # doctest: +SKIP
    >>> result.passed, result.verdict  # doctest: +SKIP
    (True, 'streamable')
"""

from harness.check_model.check import assert_streamable, check_model
from harness.check_model.diagnose import LayerDiagnosis, diagnose
from harness.check_model.reproducer import render_reproducer
from harness.check_model.result import PROPERTY_ID, StreamingResult
from harness.check_model.twin import build_streaming_twin

__all__ = [
    "PROPERTY_ID",
    "LayerDiagnosis",
    "StreamingResult",
    "assert_streamable",
    "build_streaming_twin",
    "check_model",
    "diagnose",
    "render_reproducer",
]
