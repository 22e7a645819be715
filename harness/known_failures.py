"""The reviewed known-failures file: real framework bugs the harness has found.

A TOML file of ``[[known_failure]]`` tables::

    [[known_failure]]
    property = "paths_agree"          # a property id from the catalogue
    layer = "*"                       # LSTM, GRU, SimpleRNN or "*"
    target = "keras3-jax"             # a target name or "*"
    versions = { keras = "==3.15.1", jax = "==0.10.2" }   # PEP 440 specifiers
    test = "test_one_predict_carries_state_from_batch_to_batch"  # optional: one test
    reason = "one line: what is wrong"

A matching failure becomes ``known_failure``; a matching pass becomes ``fixed``.
Keep properties strict: this file records a bug, it never hides one.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.errors import HarnessUsageError
from harness.specs import LAYER_KINDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

REQUIRED_KEYS = ("property", "layer", "target", "reason")
OPTIONAL_KEYS = ("versions", "test")


@dataclass(frozen=True)
class KnownFailure:
    property: str
    layer: str
    target: str
    reason: str
    versions: dict[str, str] = field(default_factory=dict)
    test: str | None = None
    source: str = ""

    def matches(
        self,
        *,
        property_id: str,
        layer: str,
        target: str,
        versions: dict,
        test: str | None = None,
    ) -> bool:
        """Whether this entry covers one result of a target with ``versions`` installed.

        An entry with a ``test`` covers only that test function of the property;
        ``test=None`` (a report row, which has no test name) matches any entry.
        """
        if self.property != property_id:
            return False
        if self.test is not None and test is not None and self.test != test:
            return False
        if self.layer not in ("*", layer) or self.target not in ("*", target):
            return False
        return self.covers_versions(versions)

    def covers_versions(self, versions: dict) -> bool:
        """Whether the installed ``versions`` satisfy every specifier of this entry."""
        for package, spec in self.versions.items():
            installed = versions.get(package)
            if installed is None:
                return False
            try:
                if Version(installed) not in SpecifierSet(spec):
                    return False
            except InvalidVersion:
                return False
        return True


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
            "or omit the option to use none"
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
    entries = []
    for i, raw in enumerate(data.get("known_failure", []), start=1):
        where = f"{path}: entry {i}"
        if not isinstance(raw, dict):
            raise HarnessUsageError(f"{where}: expected a table. Received: {raw!r}")
        missing = [k for k in REQUIRED_KEYS if not isinstance(raw.get(k), str) or not raw.get(k)]
        if missing:
            raise HarnessUsageError(
                f"{where}: expected non-empty string keys {', '.join(REQUIRED_KEYS)}. "
                f"Missing or empty: {', '.join(missing)}"
            )
        extra = set(raw) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS)
        if extra:
            raise HarnessUsageError(
                f"{where}: unknown keys {', '.join(sorted(extra))}; allowed: "
                f"{', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}"
            )
        if property_ids and raw["property"] not in property_ids:
            raise HarnessUsageError(
                f"{where}: unknown property {raw['property']!r}. Expected one of: "
                f"{', '.join(property_ids)}"
            )
        if raw["layer"] not in (*LAYER_KINDS, "*"):
            raise HarnessUsageError(
                f"{where}: layer={raw['layer']!r}; expected one of {', '.join(LAYER_KINDS)} or '*'"
            )
        if "test" in raw and not (isinstance(raw["test"], str) and raw["test"].startswith("test_")):
            raise HarnessUsageError(
                f"{where}: test={raw['test']!r} must name a property test function, "
                "e.g. 'test_short_last_batch_in_predict_is_refused'"
            )
        versions = raw.get("versions", {})
        if not isinstance(versions, dict):
            raise HarnessUsageError(
                f'{where}: versions must be a table like {{ keras = "==3.15.1" }}. '
                f"Received: {versions!r}"
            )
        for package, spec in versions.items():
            try:
                SpecifierSet(str(spec))
            except InvalidSpecifier:
                raise HarnessUsageError(
                    f"{where}: versions.{package}={spec!r} is not a version specifier; "
                    "use e.g. '==3.15.1' or '>=3.0,<3.16'"
                ) from None
        entries.append(
            KnownFailure(
                property=raw["property"],
                layer=raw["layer"],
                target=raw["target"],
                reason=raw["reason"],
                versions={k: str(v) for k, v in versions.items()},
                test=raw.get("test"),
                source=f"{path}#{i}",
            )
        )
    return entries


def find_known_failure(
    entries: list[KnownFailure],
    *,
    property_id: str,
    layer: str,
    target: str,
    versions: dict,
    test: str | None = None,
) -> KnownFailure | None:
    """The first entry that matches one result, or ``None``."""
    for entry in entries:
        if entry.matches(
            property_id=property_id, layer=layer, target=target, versions=versions, test=test
        ):
            return entry
    return None
