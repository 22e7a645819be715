"""harness/cli/known.py: the known-failures file a run uses, and its usage errors."""

from __future__ import annotations

from tests.cli_helpers import usage_error


def test_missing_known_failures_file_is_a_usage_error(capsys, tmp_path):
    line = usage_error(capsys, ["run", "--known-failures", str(tmp_path / "nope.toml")])
    assert "does not exist" in line


def test_malformed_known_failures_file_is_a_usage_error(capsys, tmp_path):
    bad = tmp_path / "kf.toml"
    bad.write_text("[[known_failure]\nproperty = ", encoding="utf-8")
    line = usage_error(capsys, ["run", "--known-failures", str(bad)])
    assert "is not valid TOML" in line


def test_known_failure_naming_an_unknown_property_is_a_usage_error(capsys, tmp_path):
    bad = tmp_path / "kf.toml"
    bad.write_text(
        '[[known_failure]]\nproperty = "chunked"\ntest = "test_x"\nlayer = "LSTM"\n'
        'target = "keras3-jax"\nversions = { keras = "==3.15.1" }\nreason = "x"\n'
        "signature = { check = 'x' }\n",
        encoding="utf-8",
    )
    line = usage_error(capsys, ["run", "--known-failures", str(bad)])
    assert "unknown property 'chunked'" in line
