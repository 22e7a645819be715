"""The pinned gate: constraints.txt, the installed frameworks and the shipped known failures agree.

README's commands and CI install with ``-c constraints.txt``; the shipped known
failures pin exact versions. If the three drift apart, a clean gate would depend
on what the package index serves that day, so each pair is checked here.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from harness.catalogue import PROPERTY_IDS
from harness.known_failures import SHIPPED_KNOWN_FAILURES, load_known_failures

CONSTRAINTS = Path(__file__).resolve().parent.parent / "constraints.txt"
# The name a known-failure entry uses for a package (harness.env.installed_versions).
ENTRY_NAME = {"tensorflow-cpu": "tensorflow"}


def pins() -> dict[str, str]:
    """``{distribution: version}`` from constraints.txt; every line must be an exact pin."""
    found = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"constraints.txt: {line!r} is not an exact pin"
        found[requirement.name] = spec.version
    return found


@pytest.mark.parametrize("distribution", sorted(pins()))
def test_the_installed_version_is_the_pinned_one(distribution):
    installed = Version(metadata.version(distribution))
    assert installed.public == pins()[distribution], (
        f"{distribution} {installed} is installed but constraints.txt pins "
        f"{pins()[distribution]}: install with `pip install -c constraints.txt -e '.[all]'`"
    )


def test_every_gate_entry_lists_the_pinned_framework_versions():
    """Each CPU entry for a Keras 3 target pins (among others) the versions the gate installs,
    unless it records a bug of older releases only (the release line: every Keras it pins is
    older than 3.15.1, tests/test_release_line_known.py)."""
    from packaging.version import Version

    pinned = {ENTRY_NAME.get(k, k): v for k, v in pins().items()}
    entries = load_known_failures(str(SHIPPED_KNOWN_FAILURES), property_ids=PROPERTY_IDS)
    gate = [e for e in entries if e.device != "gpu" and re.match(r"keras3-|\*$", e.target)]
    # A fixed release, not the gate's: when constraints.txt moves to a newer Keras, entries
    # pinned to today's gate are not taken for release-line entries, they must be re-recorded.
    from tests.test_release_line_known import RELEASE_LINE_BEFORE

    older = [
        e
        for e in gate
        if all(Version(p.removeprefix("==")) < RELEASE_LINE_BEFORE for p in e.versions["keras"])
    ]
    gate = [e for e in gate if e not in older]
    assert gate, "no known failure is about the gate's targets"
    assert older, "the release line's entries are read as older releases"
    for entry in gate:
        checked = 0
        for package, entry_pins in entry.versions.items():
            if package in pinned:
                assert f"=={pinned[package]}" in entry_pins, (
                    f"{entry.source} pins {package} {list(entry_pins)}, but the gate installs "
                    f"{pinned[package]} (constraints.txt): re-record it or edit the pin"
                )
                checked += 1
        assert checked, f"{entry.source} pins none of the gate's frameworks"


def test_readme_installs_the_pinned_gate():
    """Both of README's opening commands install with the constraints (and so does CI)."""
    readme = (CONSTRAINTS.parent / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(python3\.11 -m venv .*)\n```", readme)[:2]
    assert len(commands) == 2, "README opens with two commands"
    for command in commands:
        assert "pip install -c constraints.txt " in command, command


def test_readme_test_command_runs_the_bites_on_every_keras3_backend():
    """CI (README's test command) proves the properties bite on JAX and PyTorch too, not
    only on the default TensorFlow that `pytest tests` runs on."""
    readme = (CONSTRAINTS.parent / "README.md").read_text(encoding="utf-8")
    command = re.findall(r"```bash\n(python3\.11 -m venv .*)\n```", readme)[1]
    bite_files = sorted(p.name for p in (CONSTRAINTS.parent / "tests").glob("test_*bite.py"))
    assert len(bite_files) >= 4, bite_files
    for backend in ("jax", "torch"):
        run = re.search(rf"KERAS_BACKEND={backend} \S+ -m pytest ([^&]*)", command)
        assert run, f"the test command runs no bites with KERAS_BACKEND={backend}"
        assert "tests/test_*bite.py" in run.group(1) and "tests/test_eager_path.py" in run.group(1)
