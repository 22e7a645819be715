"""harness.check_model.reproducer: the script replays a real failure, and only a real one."""

from __future__ import annotations

from harness.check_model import check as check_module
from harness.check_model import check_model
from harness.check_model.result import DIFFERS
from tests.check_model_helpers import (
    EXAMPLES,
    blocking_models,
    run_reproducer,
    streamable_models,
    without_stateful_flag,
)


def test_reproducer_of_a_real_failure_reproduces_it_standalone(target, tmp_path):
    build, _, _ = blocking_models()["conv1d_causal"]
    model_file = tmp_path / "causal.keras"
    build().save(model_file)
    result = check_model(str(model_file), batch_size=2, max_examples=EXAMPLES, force=True)
    assert result.verdict == DIFFERS
    script = tmp_path / "reproduce.py"
    script.write_text(result.reproducer, encoding="utf-8")
    assert str(model_file.resolve()) in result.reproducer
    assert "import harness" not in result.reproducer
    ran = run_reproducer(script)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "REPRODUCED" in ran.stdout
    assert "first diverging timestep" in ran.stdout


def test_reproducer_of_a_harness_side_failure_does_not_reproduce(target, tmp_path, monkeypatch):
    # The twin is broken inside the harness only: the reproducer builds the real twin.
    monkeypatch.setattr(
        check_module,
        "build_streaming_twin",
        without_stateful_flag(check_module.build_streaming_twin),
    )
    model_file = tmp_path / "lstm.keras"
    streamable_models()["lstm_many_to_many"]().save(model_file)
    result = check_model(model_file, batch_size=2, max_examples=EXAMPLES)
    assert result.verdict == DIFFERS
    script = tmp_path / "reproduce.py"
    script.write_text(result.reproducer, encoding="utf-8")
    ran = run_reproducer(script)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "NOT REPRODUCED" in ran.stdout
