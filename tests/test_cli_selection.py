"""harness/cli/selection.py: --targets, --properties and --layers, and their usage errors."""

from __future__ import annotations

from harness.cli import selection
from tests.cli_helpers import usage_error


def test_unknown_target_is_a_usage_error_listing_the_valid_ones(capsys):
    line = usage_error(capsys, ["run", "--targets", "keras4-mlx"])
    assert "'keras4-mlx'" in line
    assert "keras3-tensorflow, keras3-jax, keras3-torch" in line


def test_unknown_property_is_a_usage_error(capsys):
    line = usage_error(capsys, ["run", "--properties", "chunked_equals_whole,nope"])
    assert "'nope'" in line


def test_catalogue_property_without_a_module_is_a_usage_error_naming_what_exists(
    capsys, monkeypatch
):
    monkeypatch.setattr(selection, "implemented_properties", lambda: ["chunked_equals_whole"])
    line = usage_error(capsys, ["run", "--properties", "state_machine"])
    assert "state_machine not implemented" in line
    assert "Available: chunked_equals_whole" in line


def test_unknown_layer_is_a_usage_error(capsys):
    line = usage_error(capsys, ["run", "--layers", "LSTM,Dense"])
    assert "'Dense'" in line


def test_target_whose_framework_is_missing_says_how_to_install_it(capsys, monkeypatch):
    monkeypatch.setattr(selection, "installed_targets", lambda **_: ["keras3-tensorflow"])
    line = usage_error(capsys, ["run", "--targets", "keras3-jax"])
    assert "needs 'jax', which is not installed" in line
    assert "pip install 'rnn-harness[jax]'" in line


def test_property_modules_are_found_beside_the_package_in_a_checkout():
    assert (selection.properties_dir() / "test_chunked_equals_whole.py").is_file()
    assert "chunked_equals_whole" in selection.implemented_properties()
