"""The reviewed known-failures file: real framework bugs the harness has found.

A TOML file of ``[[known_failure]]`` tables, each one bug as it shows in one test::

    [[known_failure]]
    property = "paths_agree"                      # a property id from the catalogue
    test = "test_predict_writes_the_state_back"   # the test function (and [params])
    layer = "LSTM"                                # a layer kind, or "*" with layer_reason
    target = "keras3-jax"                         # a target name, or "*" with target_reason
    versions = { keras = "==3.15.1", jax = ["==0.10.2", "==0.11.2"] }  # exact pins seen
    device = "cpu"                                # optional: cpu or gpu
    precision = "strict"                          # optional: strict or native
    reason = "one line: what is wrong"
    signature = { check = "stored state .* via predict" }  # what the failure looks like
    counterexample = { LSTM = "counterexamples/jax-predict-LSTM.json" }  # per layer, optional
                                                  # (paths relative to the TOML file)

The **signature** says what the recorded failure looks like, so that no other
failure can pass for it: ``check`` is a regular expression searched in the label
of the failing comparison or check (``PropertyFailure.check``); where the
framework raised, ``exception`` names the exception type and ``message`` is a
regular expression searched in its message. Every key given must match. A
failure that matches no entry's signature is a new failure, even in a cell
with a known bug.

A file whose entry lacks a signature, pins a version loosely, names ``"*"``
without saying why, or has an unknown key is refused: one line naming the
entry. Keep properties strict: this file records a bug, it never hides one.

The reviewed file ships inside the package (``SHIPPED_KNOWN_FAILURES``, with its
counterexamples beside it) and applies wherever rnn-harness runs; a project's own
files add to it (``known_failure_files``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.errors import HarnessUsageError
from harness.specs import ALL_LAYER_KINDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SHIPPED_KNOWN_FAILURES = Path(__file__).resolve().parent / "data" / "known_failures.toml"
REQUIRED_KEYS = ("property", "test", "layer", "target", "versions", "reason", "signature")
OPTIONAL_KEYS = ("layer_reason", "target_reason", "device", "precision", "counterexample")
SIGNATURE_KEYS = ("check", "exception", "message")
DEVICES = ("cpu", "gpu")
PRECISIONS = ("strict", "native")


@dataclass(frozen=True)
class Signature:
    """What one recorded failure looks like; every field given must match.

    Args:
        check: regular expression searched in the failing check's label.
        exception: the type name of the exception the framework raised.
        message: regular expression searched in the exception's message.
    """

    check: str | None = None
    exception: str | None = None
    message: str | None = None

    def matches(self, exc: BaseException) -> bool:
        """Whether ``exc`` (a ``PropertyFailure`` or what the framework raised) is this failure."""
        label = getattr(exc, "check", None)
        if self.check is not None and (label is None or not re.search(self.check, label)):
            return False
        if self.exception is not None and type(exc).__name__ != self.exception:
            return False
        return self.message is None or re.search(self.message, str(exc)) is not None

    def describe(self) -> str:
        parts = [f"{k}={v!r}" for k, v in vars(self).items() if v is not None]
        return ", ".join(parts)


@dataclass(frozen=True)
class KnownFailure:
    property: str
    test: str
    layer: str
    target: str
    reason: str
    signature: Signature
    versions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    device: str | None = None
    precision: str | None = None
    counterexamples: dict[str, Path] = field(default_factory=dict)  # layer kind -> file
    source: str = ""

    def covers(
        self,
        *,
        property_id: str,
        test: str,
        layer: str,
        target: str,
        device: str | None = None,
        precision: str | None = None,
    ) -> bool:
        """Whether this entry is about one test of one layer on one target (any versions)."""
        return (
            self.property == property_id
            and self.test in (test, test.split("[", 1)[0])
            and self.layer in ("*", layer)
            and self.target in ("*", target)
            and (self.device is None or device is None or self.device == device)
            and (self.precision is None or precision is None or self.precision == precision)
        )

    def matches(
        self,
        *,
        property_id: str,
        layer: str,
        target: str,
        versions: dict,
        test: str,
        device: str | None = None,
        precision: str | None = None,
    ) -> bool:
        """Whether this entry covers one result on the installed ``versions``."""
        return self.covers(
            property_id=property_id,
            test=test,
            layer=layer,
            target=target,
            device=device,
            precision=precision,
        ) and self.covers_versions(versions)

    def covers_versions(self, versions: dict) -> bool:
        """Whether the installed ``versions`` are among the pins of every package listed."""
        for package, pins in self.versions.items():
            installed = versions.get(package)
            if installed is None:
                return False
            try:
                if not any(Version(installed) in SpecifierSet(pin) for pin in pins):
                    return False
            except InvalidVersion:
                return False
        return True

    def load_counterexample(self, layer: str) -> dict[str, Any] | None:
        """The counterexample recorded for ``layer``, or ``None`` when there is none.

        A JSON object: ``failure`` (exception type, check label and message of the
        failure as recorded) and ``example`` (the example as plain data, see
        ``harness.check.example_from_plain``).
        """
        import json

        path = self.counterexamples.get(layer)
        return None if path is None else json.loads(path.read_text(encoding="utf-8"))


def _refuse(where: str, message: str) -> HarnessUsageError:
    return HarnessUsageError(f"{where}: {message}")


def _pins(where: str, package: str, value: Any) -> tuple[str, ...]:
    pins = (value,) if isinstance(value, str) else value
    if not isinstance(pins, list | tuple) or not pins:
        raise _refuse(where, f'versions.{package} must be "==X.Y.Z" or a list of such pins')
    for pin in pins:
        try:
            spec = SpecifierSet(str(pin))
        except InvalidSpecifier:
            spec = None
        exact = spec is not None and len(spec) == 1 and next(iter(spec)).operator == "=="
        if not exact or "*" in str(pin):
            raise _refuse(
                where,
                f"versions.{package}={pin!r} is not an exact pin; list the versions seen, "
                f'e.g. ["==2.11.0", "==2.13.0"]',
            )
    return tuple(str(p) for p in pins)


def _signature(where: str, raw: Any) -> Signature:
    if not isinstance(raw, dict) or not raw:
        raise _refuse(
            where,
            'signature must be a table, e.g. { check = "state 0 after .*" } or '
            '{ exception = "TypeError", message = "NoneType" }',
        )
    extra = set(raw) - set(SIGNATURE_KEYS)
    if extra:
        raise _refuse(
            where,
            f"signature has unknown keys {', '.join(sorted(extra))}; allowed: "
            f"{', '.join(SIGNATURE_KEYS)}",
        )
    for key, value in raw.items():
        if not isinstance(value, str) or not value:
            raise _refuse(where, f"signature.{key} must be a non-empty string")
        if key != "exception":
            try:
                re.compile(value)
            except re.error as exc:
                raise _refuse(where, f"signature.{key}={value!r} is not a regex: {exc}") from None
    if "check" not in raw and "exception" not in raw:
        raise _refuse(where, "signature needs a check, or an exception (with its message)")
    return Signature(**raw)


def _entry(raw: Any, *, where: str, folder: Path, property_ids: tuple[str, ...]) -> KnownFailure:
    if not isinstance(raw, dict):
        raise _refuse(where, f"expected a table. Received: {raw!r}")
    extra = set(raw) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS)
    if extra:
        raise _refuse(
            where,
            f"unknown keys {', '.join(sorted(extra))}; allowed: "
            f"{', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}",
        )
    missing = [k for k in REQUIRED_KEYS if not raw.get(k)]
    if missing:
        raise _refuse(
            where, f"missing {', '.join(missing)}; every entry needs {', '.join(REQUIRED_KEYS)}"
        )
    for key in ("property", "test", "layer", "target", "reason"):
        if not isinstance(raw[key], str):
            raise _refuse(where, f"{key} must be a string. Received: {raw[key]!r}")
    if property_ids and raw["property"] not in property_ids:
        raise _refuse(
            where,
            f"unknown property {raw['property']!r}. Expected one of: {', '.join(property_ids)}",
        )
    if not raw["test"].startswith("test_"):
        raise _refuse(where, f"test={raw['test']!r} must name a property test function")
    if raw["layer"] not in (*ALL_LAYER_KINDS, "*"):
        raise _refuse(
            where, f"layer={raw['layer']!r}; expected one of {', '.join(ALL_LAYER_KINDS)} or '*'"
        )
    for key in ("layer", "target"):
        if raw[key] == "*" and not raw.get(f"{key}_reason"):
            raise _refuse(
                where, f'{key} = "*" needs {key}_reason: why the bug holds for every {key}'
            )
    if not isinstance(raw["versions"], dict):
        raise _refuse(where, 'versions must be a table like { keras = "==3.15.1" }')
    versions = {pkg: _pins(where, pkg, value) for pkg, value in raw["versions"].items()}
    for key, allowed in (("device", DEVICES), ("precision", PRECISIONS)):
        if key in raw and raw[key] not in allowed:
            raise _refuse(where, f"{key}={raw[key]!r}; expected one of {', '.join(allowed)}")
    raw_examples = raw.get("counterexample", {})
    if isinstance(raw_examples, str):
        raw_examples = {raw["layer"]: raw_examples}
    if not isinstance(raw_examples, dict) or "*" in raw_examples:
        raise _refuse(
            where, 'counterexample must be a table of layer kind -> file, e.g. { LSTM = "x.json" }'
        )
    counterexamples = {}
    for layer, name in raw_examples.items():
        path = folder / str(name)
        if not path.is_file():
            raise _refuse(where, f"counterexample {str(path)!r} does not exist")
        counterexamples[layer] = path
    return KnownFailure(
        property=raw["property"],
        test=raw["test"],
        layer=raw["layer"],
        target=raw["target"],
        reason=raw["reason"],
        signature=_signature(where, raw["signature"]),
        versions=versions,
        device=raw.get("device"),
        precision=raw.get("precision"),
        counterexamples=counterexamples,
        source=where,
    )


def load_known_failures(
    path: str | Path, *, property_ids: tuple[str, ...] = ()
) -> list[KnownFailure]:
    """Read and validate a known-failures file.

    Args:
        path: the TOML file.
        property_ids: the known property ids; when given, entries must name one of them.
    """
    path = Path(path)
    if not path.is_file():
        raise HarnessUsageError(
            f"Known-failures file {str(path)!r} does not exist. Pass an existing TOML file "
            "or omit the option"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HarnessUsageError(
            f"Known-failures file {str(path)!r} is not valid TOML: {exc}. "
            "Fix the syntax; see harness/known_failures.py for the format"
        ) from None
    unknown_top = set(data) - {"known_failure"}
    if unknown_top:
        raise HarnessUsageError(
            f"Known-failures file {str(path)!r}: expected only [[known_failure]] tables. "
            f"Received: {', '.join(sorted(unknown_top))}"
        )
    return [
        _entry(raw, where=f"{path}#{i}", folder=path.parent, property_ids=property_ids)
        for i, raw in enumerate(data.get("known_failure", []), start=1)
    ]


def known_failure_files(extra: Sequence[str | Path] = (), *, shipped: bool = True) -> list[Path]:
    """The known-failures files a run applies: the shipped one (unless ``shipped`` is
    false), then each of ``extra`` (a project's own), as absolute paths, each once.

    >>> known_failure_files() == [SHIPPED_KNOWN_FAILURES]
    True
    """
    files = [SHIPPED_KNOWN_FAILURES] if shipped else []
    for path in extra:
        resolved = Path(path).resolve()
        if resolved not in files:
            files.append(resolved)
    return files


def load_known_failure_files(
    files: Sequence[str | Path], *, property_ids: tuple[str, ...] = ()
) -> list[KnownFailure]:
    """The entries of every file in ``files``, in order (see ``load_known_failures``)."""
    return [e for path in files for e in load_known_failures(path, property_ids=property_ids)]


def find_known_failure(
    entries: list[KnownFailure],
    *,
    property_id: str,
    layer: str,
    target: str,
    versions: dict,
    test: str,
    device: str | None = None,
    precision: str | None = None,
) -> KnownFailure | None:
    """The first entry that matches one result, or ``None``."""
    for entry in entries:
        if entry.matches(
            property_id=property_id,
            layer=layer,
            target=target,
            versions=versions,
            test=test,
            device=device,
            precision=precision,
        ):
            return entry
    return None


def recognise(entries: list[KnownFailure], exc: BaseException) -> KnownFailure | None:
    """The first of ``entries`` whose signature ``exc`` matches, or ``None``: a new failure."""
    return next((e for e in entries if e.signature.matches(exc)), None)
