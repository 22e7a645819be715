"""env: the one place that sets a target's process environment, and the version tables."""

from __future__ import annotations

from harness.env import (
    apply_target_environment,
    backend_of,
    distribution_version,
    installed_versions,
    target_environment,
)


def test_each_target_gets_its_backend_switch_and_a_quiet_tensorflow():
    assert target_environment("keras3-torch") == {
        "KERAS_BACKEND": "torch",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    assert target_environment("tf-keras")["TF_USE_LEGACY_KERAS"] == "1"
    assert [backend_of(t) for t in ("keras3-jax", "tf-keras")] == ["jax", "tensorflow"]


def test_applying_sets_the_backend_but_keeps_a_log_level_the_user_chose():
    environ = {"KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "0"}
    apply_target_environment("keras3-tensorflow", environ)
    assert environ == {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "0"}


def test_installed_versions_come_from_metadata_and_name_tensorflow_whatever_its_build():
    versions = installed_versions("keras3-tensorflow")
    assert versions["keras"] == distribution_version("keras")
    assert versions["tensorflow"] == distribution_version("tensorflow", "tensorflow-cpu")
    assert distribution_version("no-such-distribution") is None
