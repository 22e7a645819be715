"""Every shipped known failure hides only itself: the gate, entry by entry.

For each entry of the reviewed known-failures file, a fake property with the
entry's property id and test name runs, through the real plugin in a fresh pytest
process, in the entry's own cell: its layer, target, device, precision and the
versions it pins (the framework is stood in for, so no framework runs). Four
copies of the test fail in four ways:

- ``known``: some examples fail exactly as the entry's signature says (a check
  label drawn from its ``check`` regex, or its exception type with a message
  drawn from its ``message`` regex): the row is ``known_failure``, the gate 0;
- ``crash``: the same, plus examples that raise another exception type: the
  row fails and the gate exits 1;
- ``other_check``: the same, plus examples whose failing check is another one:
  the gate exits 1;
- ``healthy``: nothing fails, so the entry's recorded example no longer fails on
  the versions it lists: the row is ``fixed`` and the gate exits 1.

The recorded example is replaced by one of the fake test's (the real one
rebuilds a framework example this fake cannot run); everything else is the
entry as shipped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import find
from hypothesis import strategies as st

from harness.catalogue import PROPERTY_IDS
from harness.errors import PropertyFailure
from harness.known_failures import SHIPPED_KNOWN_FAILURES, KnownFailure, load_known_failures
from harness.specs import ALL_LAYER_KINDS
from tests.fake_property import fake_results, gate

ENTRIES = load_known_failures(str(SHIPPED_KNOWN_FAILURES), property_ids=PROPERTY_IDS)
MODES = ("known", "crash", "other_check", "healthy")

# The fake property: the mode is the module's name; the signature comes in FAKE_SIGNATURE.
PROPERTY = '''
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import PropertyFailure

pytestmark = pytest.mark.rnn_property({property!r})
MODE = {mode!r}
SIGNATURE = json.loads(os.environ["FAKE_SIGNATURE"])


def known_failure(label, message):
    """An exception the entry's signature matches."""
    if SIGNATURE.get("exception"):
        exc = type(SIGNATURE["exception"], (Exception,), {{}})(message)
        exc.check = label
        return exc
    return PropertyFailure(f"[fake] {{label}}", check=label)


{parametrize}
@given(data=st.data())
def {function}(target, layer_kind, check, data{params}):
    x = data.draw(st.integers(0, 9), label="x")
    label = data.draw(st.from_regex(SIGNATURE.get("check") or "a", fullmatch=True), label="label")
    message = data.draw(
        st.from_regex(SIGNATURE.get("message") or "a", fullmatch=True), label="message"
    )
    check.example(x=x, label=label, message=message)
    if MODE != "healthy" and x % 2 == 0:
        raise known_failure(label, message)
    if MODE == "crash" and x % 2:
        raise ZeroDivisionError("a new crash in the same cell")
    if MODE == "other_check" and x % 2:
        check.fail("another check fails: sample 7 continued sample 3")
'''

# Stands in for the framework: the entry's target name, device and precision; versions pinned.
CONFTEST = """
import json
import os
import sys

import pytest

from harness.property_fixtures import check, layer_kind, target  # the short names

FAKE = json.loads(os.environ["FAKE_CELL"])


def _versions(target=None):
    return dict(FAKE["versions"])


class StandIn:
    name = FAKE["target"]
    device = FAKE["device"]
    precision = FAKE["precision"]

    def new_example(self):
        pass

    def clear(self):
        pass

    def info(self):
        return {{"name": self.name, "versions": _versions(), "device": self.device}}


def _target(name=None):
    return StandIn()


for module in list(sys.modules.values()):
    if getattr(module, "__name__", "").startswith("harness"):
        for name, stand_in in (("installed_versions", _versions), ("get_target", _target)):
            if hasattr(module, name):
                setattr(module, name, stand_in)


@pytest.fixture(scope="session")
def rnn_target():
    return StandIn()
"""


def _matching(pattern: str | None) -> str:
    """The simplest string that ``pattern`` fully matches (Hypothesis's own minimal example)."""
    if pattern is None:
        return "a"
    return find(st.from_regex(pattern, fullmatch=True), lambda _: True)


def _cell(entry: KnownFailure) -> dict:
    """One concrete cell the entry covers: its own where it names one, else a typical one."""
    layer = entry.layer if entry.layer != "*" else "LSTM"
    target = entry.target if entry.target != "*" else "keras3-tensorflow"
    versions = {pkg: re.sub(r"^==", "", pins[0]) for pkg, pins in entry.versions.items()}
    return {
        "layer": layer,
        "target": target,
        "versions": versions,
        "device": entry.device or "cpu",
        "precision": entry.precision or "strict",
    }


def _entry_toml(entry: KnownFailure, layer: str) -> str:
    """The entry as shipped, its recorded example swapped for the fake test's."""
    lines = [
        "[[known_failure]]",
        f"property = {json.dumps(entry.property)}",
        f"test = {json.dumps(entry.test)}",
        f"layer = {json.dumps(entry.layer)}",
        f"target = {json.dumps(entry.target)}",
        "versions = { "
        + ", ".join(f"{json.dumps(k)} = {json.dumps(list(v))}" for k, v in entry.versions.items())
        + " }",
        f"reason = {json.dumps(entry.reason)}",
        "signature = { "
        + ", ".join(f"{k} = {json.dumps(v)}" for k, v in vars(entry.signature).items() if v)
        + " }",
        f"counterexample = {{ {layer} = 'cx.json' }}",
    ]
    if entry.layer == "*":
        lines.append('layer_reason = "as shipped"')
    if entry.target == "*":
        lines.append('target_reason = "as shipped"')
    for key in ("device", "precision"):
        if getattr(entry, key):
            lines.append(f"{key} = {json.dumps(getattr(entry, key))}")
    return "\n".join(lines) + "\n"


def _fake_module(entry: KnownFailure, mode: str) -> str:
    function, _, params = entry.test.partition("[")
    values = params.rstrip("]").split("-") if params else []
    names = [f"param{i}" for i in range(len(values))]
    cases = repr(values[0] if len(values) == 1 else tuple(values))
    parametrize = f"@pytest.mark.parametrize({', '.join(names)!r}, [{cases}])" if values else ""
    return PROPERTY.format(
        property=entry.property,
        mode=mode,
        parametrize=parametrize,
        function=function,
        params="".join(f", {n}" for n in names),
    )


def run_entry(tmp_path: Path, entry: KnownFailure) -> dict[str, dict]:
    """Run the four fake copies of ``entry``'s test in its cell; rows by mode, with the gate."""
    cell = _cell(entry)
    signature = {k: v for k, v in vars(entry.signature).items() if v}
    label, message = _matching(entry.signature.check), _matching(entry.signature.message)
    if entry.signature.exception:
        recorded_exc: BaseException = type(entry.signature.exception, (Exception,), {})(message)
        recorded_exc.check = label  # type: ignore[attr-defined]
    else:
        recorded_exc = PropertyFailure(label, check=label)
    assert entry.signature.matches(recorded_exc), "the recorded stand-in must match its entry"
    recorded = {
        "failure": {"exception": type(recorded_exc).__name__, "check": label, "message": message},
        "example": {
            "x": 4,
            "label": label,
            "message": message,
            "_names": ["x", "label", "message"],
        },
    }
    (tmp_path / "cx.json").write_text(json.dumps(recorded), encoding="utf-8")
    (tmp_path / "kf.toml").write_text(_entry_toml(entry, cell["layer"]), encoding="utf-8")
    payload, output = fake_results(
        tmp_path,
        {f"test_{mode}.py": _fake_module(entry, mode) for mode in MODES},
        f"--rnn-target={cell['target']}",
        f"--rnn-layers={cell['layer']}",
        "--rnn-no-shipped-known-failures",  # the entry under test alone
        f"--rnn-known-failures={tmp_path / 'kf.toml'}",
        "--hypothesis-profile=ci",
        conftest=CONFTEST.format(),
        env={"FAKE_CELL": json.dumps(cell), "FAKE_SIGNATURE": json.dumps(signature)},
    )
    rows = {}
    for row in payload["results"]:
        mode = Path(row["nodeid"].split("::")[0]).stem.removeprefix("test_")
        row["gate"] = gate({**payload, "results": [row]})
        rows[mode] = row
    assert sorted(rows) == sorted(MODES), output
    return rows


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: Path(e.source).name)
def test_each_shipped_entry_hides_its_own_failure_and_nothing_else(tmp_path, entry):
    assert entry.layer == "*" or entry.layer in ALL_LAYER_KINDS, entry.layer
    rows = run_entry(tmp_path, entry)
    known = rows["known"]
    assert (known["status"], known["gate"]) == ("known_failure", 0), known["message"]
    assert list(known["details"]["replays"].values()) == ["reproduced"]
    for mode in ("crash", "other_check"):
        row = rows[mode]
        assert (row["status"], row["gate"]) != ("known_failure", 0), (mode, row["message"])
        assert row["gate"] == 1, (mode, row["status"], row["message"])
        assert row["counterexample"]["x"] % 2 == 1, (mode, row["counterexample"])
    healthy = rows["healthy"]
    assert (healthy["status"], healthy["gate"]) == ("fixed", 1), healthy["message"]
    assert "did not reproduce on the versions it was recorded for" in healthy["message"]
