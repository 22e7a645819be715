"""pytest plugin: target selection, Hypothesis profiles, known failures, results.

Registered through the ``pytest11`` entry point, so ``pytest properties`` needs
no conftest. Laid out in the order pytest calls the hooks. Options share the
``--rnn-`` prefix (``--target`` is kept as a short alias).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.errors import Flaky

from harness.catalogue import PROPERTY_IDS
from harness.check import PropertyCheck
from harness.env import apply_target_environment, installed_versions
from harness.errors import HarnessUsageError
from harness.known_failures import load_known_failures, recognise
from harness.precision import PRECISION_ENV, precision_from_env, validate_precision
from harness.profiles import (
    DEFAULT_PROFILE,
    PROFILE_ENV,
    PROFILES,
    register_profiles,
    without_shrinking,
)
from harness.recognition import Recognition
from harness.report.row import ResultRow
from harness.specs import LAYER_KINDS
from harness.targets import default_target_name, get_target, validate_target_name

KNOWN_FAILURES_FILE = "known_failures.toml"
register_profiles()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnn-harness", "rnn-harness: Keras recurrent-layer state semantics")
    group.addoption(
        "--rnn-target",
        "--target",
        dest="rnn_target",
        default=None,
        help="framework target to test (default: keras3-$KERAS_BACKEND, else keras3-tensorflow)",
    )
    group.addoption(
        "--rnn-precision",
        dest="rnn_precision",
        default=None,
        help="float32 precision on GPUs: strict (TF32 off, tolerances close to the CPU's) or "
        f"native (framework defaults, measured tolerances); default: ${PRECISION_ENV}, else strict",
    )
    group.addoption(
        "--rnn-no-shrink",
        dest="rnn_no_shrink",
        action="store_true",
        help="keep the first failing example instead of shrinking it (for scarce machines)",
    )
    group.addoption(
        "--rnn-layers",
        dest="rnn_layers",
        default=None,
        help="comma list of layer kinds to run (default: LSTM,GRU,SimpleRNN)",
    )
    group.addoption(
        "--rnn-known-failures",
        dest="rnn_known_failures",
        default=None,
        help=f"known-failures TOML file (default: ./{KNOWN_FAILURES_FILE} if present)",
    )
    group.addoption(
        "--rnn-progress",
        dest="rnn_progress",
        default=None,
        help="append one JSON line per test start and finish to this file (default: none)",
    )
    group.addoption(
        "--rnn-results",
        dest="rnn_results",
        default=None,
        help="write per-test results as JSON to this file (default: not written)",
    )


def _profile_name(config: pytest.Config) -> str:
    explicit = config.getoption("hypothesis_profile", default=None)
    name = explicit or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if name not in PROFILES and explicit is None:
        raise pytest.UsageError(
            f"{PROFILE_ENV}={name!r} is not a profile; expected one of {', '.join(PROFILES)}"
        )
    return name


def _layers(config: pytest.Config) -> tuple[str, ...]:
    raw = config.getoption("rnn_layers")
    if not raw:
        return LAYER_KINDS
    layers = tuple(s.strip() for s in raw.split(",") if s.strip())
    unknown = [s for s in layers if s not in LAYER_KINDS]
    if unknown or not layers:
        raise pytest.UsageError(
            f"--rnn-layers={raw!r}: unknown layer kind(s) {', '.join(unknown) or '(none given)'}; "
            f"expected a comma list of {', '.join(LAYER_KINDS)}"
        )
    return layers


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rnn_property(id): the catalogue id a property test checks")
    target = config.getoption("rnn_target") or default_target_name()
    try:
        validate_target_name(target)
    except HarnessUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config._rnn_target = target
    config._rnn_layers = _layers(config)
    try:
        precision = config.getoption("rnn_precision")
        if precision is not None:
            # Through the environment: targets read it, and so do xdist workers.
            os.environ[PRECISION_ENV] = validate_precision(precision, source="--rnn-precision")
        config._rnn_precision = precision_from_env()
    except HarnessUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    # Keras 3 reads the backend at import: fix it before any test module imports keras.
    apply_target_environment(target)
    # Loaded explicitly so that CI=true does not silently swap in Hypothesis's own profile.
    config._rnn_profile = _profile_name(config)
    settings.load_profile(config._rnn_profile)
    if config.getoption("hypothesis_seed", default=None) is not None and settings().derandomize:
        # An explicit seed replaces derandomization, so that --hypothesis-seed means something.
        settings.register_profile(
            f"{config._rnn_profile}-seeded", parent=settings(), derandomize=False
        )
        settings.load_profile(f"{config._rnn_profile}-seeded")
    config._rnn_shrink = not config.getoption("rnn_no_shrink", default=False)
    if not config._rnn_shrink:
        current = settings()
        settings.register_profile(
            f"{config._rnn_profile}-no-shrink", parent=without_shrinking(current)
        )
        settings.load_profile(f"{config._rnn_profile}-no-shrink")
    path = config.getoption("rnn_known_failures")  # "" means: use no file
    default = Path(str(config.rootpath)) / KNOWN_FAILURES_FILE
    if path is None and default.is_file():
        path = str(default)
    try:
        config._rnn_known = load_known_failures(path, property_ids=PROPERTY_IDS) if path else []
    except HarnessUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(ResultCollector(config), "rnn-harness-results")


def pytest_report_header(config: pytest.Config) -> list[str]:
    profile = settings()  # the profile as loaded, after any --hypothesis-seed adjustment
    seed = config.getoption("hypothesis_seed", default=None)
    if profile.derandomize:
        seed_text = "derandomized (fixed per test)"
    elif seed is not None:
        seed_text = str(seed)
    else:
        seed_text = "random (replay a failure with its printed @reproduce_failure blob)"
    versions = ", ".join(f"{k} {v}" for k, v in installed_versions(config._rnn_target).items())
    return [
        f"rnn-harness: target={config._rnn_target} layers={','.join(config._rnn_layers)} "
        f"precision={config._rnn_precision}",
        f"rnn-harness: versions: {versions}",
        f"rnn-harness: hypothesis profile={config._rnn_profile} "
        f"(max_examples={profile.max_examples}"
        + ("" if config._rnn_shrink else ", no shrinking")
        + f"), seed={seed_text}",
        f"rnn-harness: replay with: pytest --target {config._rnn_target} "
        f"--rnn-precision {config._rnn_precision} --hypothesis-profile {config._rnn_profile}"
        + (f" --hypothesis-seed {seed}" if seed is not None else ""),
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "layer_kind" in metafunc.fixturenames:
        metafunc.parametrize("layer_kind", metafunc.config._rnn_layers)


def _property_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("rnn_property")
    return marker.args[0] if marker else None


def _layer(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("layer_kind") if callspec else None


def test_name(item: pytest.Item) -> str:
    """The test function and its parameters other than the layer, e.g. ``test_paths[fit]``."""
    callspec = getattr(item, "callspec", None)
    params = [str(v) for k, v in (callspec.params.items() if callspec else []) if k != "layer_kind"]
    name = getattr(item, "originalname", None) or item.name
    return f"{name}[{'-'.join(params)}]" if params else name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config._rnn_known:
        return
    versions = installed_versions(config._rnn_target)
    for item in items:
        prop, layer = _property_id(item), _layer(item)
        if prop is None or layer is None:
            continue
        entries = [
            e
            for e in config._rnn_known
            if e.matches(
                property_id=prop,
                layer=layer,
                target=config._rnn_target,
                versions=versions,
                test=test_name(item),
            )
        ]
        if entries:
            item._rnn_known = entries


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config):
    """The framework target under test (``--target``), built once per session."""
    try:
        return get_target(pytestconfig._rnn_target)
    except HarnessUsageError as exc:
        pytest.exit(f"rnn-harness: {exc}", returncode=2)


@pytest.fixture
def check(request: pytest.FixtureRequest, target) -> PropertyCheck:
    """Evidence collector and comparison helper for one property x layer x target."""
    prop = _property_id(request.node)
    if prop is None:
        raise pytest.UsageError(
            f"{request.node.nodeid} uses the `check` fixture but has no "
            "@pytest.mark.rnn_property(id) marker"
        )
    evidence = PropertyCheck(
        prop, _layer(request.node) or "-", target.name, on_example=target.new_example
    )
    request.node._rnn_check = evidence
    request.node._rnn_start = time.perf_counter()
    yield evidence
    # Cached models are keyed per test; dropping them keeps memory flat over a run.
    target.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Replay and recognise the known failures of this test (``harness.recognition``).

    Each entry's recorded counterexample runs first; then a ``@given`` test runs all
    its examples, those that fail as an entry's signature says being recorded, not
    raised. A test that is not ``@given`` (the state machine) stops at its first
    failure, which is known only if it matches a signature; it runs without
    shrinking, since a known failure was minimised when it was reviewed.
    """
    entries = getattr(item, "_rnn_known", None)
    evidence: PropertyCheck | None = getattr(item, "_rnn_check", None)
    target = getattr(item, "funcargs", {}).get("target")
    if entries and target is not None:
        entries = [
            e
            for e in entries
            if e.device in (None, target.device) and e.precision in (None, target.precision)
        ]
    if not entries or evidence is None:
        return (yield)
    recognition = Recognition(entries, evidence)
    item._rnn_recognition = recognition
    recognition.replay(item.module, test_name(item), target, _layer(item))
    test = getattr(item, "obj", None)
    hypothesis = getattr(test, "hypothesis", None)
    if hypothesis is not None:
        inner = hypothesis.inner_test
        hypothesis.inner_test = recognition.wrap(inner)
        try:
            return (yield)
        finally:
            hypothesis.inner_test = inner
    profile = settings()
    settings.register_profile("_rnn_known_failure", parent=without_shrinking(profile))
    settings.load_profile("_rnn_known_failure")
    try:
        return (yield)
    finally:
        settings.register_profile("_rnn_restore", parent=profile)
        settings.load_profile("_rnn_restore")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    evidence: PropertyCheck | None = getattr(item, "_rnn_check", None)
    if evidence is None or report.when not in ("setup", "call"):
        return report
    if report.when == "setup" and report.passed:
        return report
    recognition: Recognition | None = getattr(item, "_rnn_recognition", None)
    excinfo = call.excinfo
    details = {}
    known_reason = None
    if recognition is not None:
        if excinfo is not None and not excinfo.errisinstance(Flaky):
            recognition.record(excinfo.value)  # a test that is not @given: its one failure
        details = recognition.summary()
    if excinfo is not None and excinfo.errisinstance(Flaky):
        # A failure that did not fail again when Hypothesis replayed it (on a fresh
        # runner: runners live for one example): a harness defect until shown otherwise.
        status = "flaky"
        first = [str(e).strip() for e in getattr(excinfo.value, "exceptions", ())]
        details["first_run"] = {"outcome": "failed", "messages": first}
        details["replay"] = {"outcome": "passed: the same example did not fail again"}
    elif report.skipped:
        status = "skipped"
    elif (
        recognition is not None
        and (recognition.hits or recognition.not_reproduced)
        and (excinfo is None or recognise(recognition.entries, excinfo.value) is not None)
    ):
        status, known_reason = _known_status(recognition, evidence)
    elif report.passed:
        status = "passed"
    elif excinfo is not None and excinfo.errisinstance(AssertionError):
        status = "failed"
    else:
        status = "error"
    message = None
    if status in ("known_failure", "fixed"):
        message = known_reason
    elif status in ("failed", "error", "flaky") and excinfo is not None:
        message = str(excinfo.value).strip()
        if status in ("error", "flaky"):
            message = f"{excinfo.typename}: {message}"
    elif status == "skipped":
        message = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else None
    row = ResultRow(
        property=evidence.property_id,
        test=test_name(item),
        layer=evidence.layer,
        target=evidence.target,
        status=status,
        examples=evidence.examples,
        duration_s=round(time.perf_counter() - item._rnn_start, 3),
        max_abs_error=evidence.max_abs_error,
        tolerance=evidence.tolerance.to_dict() if evidence.tolerance else None,
        message=message,
        counterexample=_counterexample(status, evidence, recognition),
        known_failure=_known_reasons(status, recognition),
        nodeid=item.nodeid,
        details=details,
    )
    # Carried on the report so that pytest-xdist ships it from workers to the controller.
    report.user_properties.append(("rnn_result", row.to_dict()))
    return report


def _known_status(recognition: Recognition, evidence: PropertyCheck) -> tuple[str, str]:
    """``known_failure`` with what hit, or ``fixed`` when a recorded example no longer fails."""
    if recognition.hits:
        parts = [
            f"{h.count} example(s) failed as {source} records ({h.entry.reason}): {h.message}"
            for source, h in recognition.hits.items()
        ]
        return "known_failure", "\n".join(parts)
    names = ", ".join(e.source for e in recognition.not_reproduced)
    return "fixed", (
        f"known failure {names} did not reproduce on the versions it was recorded for "
        f"(its recorded example passed, and none of {evidence.examples} examples failed as "
        "it records): investigate, then update or remove the entry"
    )


def _known_reasons(status: str, recognition: Recognition | None) -> str | None:
    """The reasons of the entries a known or fixed row is about."""
    if recognition is None:
        return None
    if status == "known_failure":
        return "; ".join(h.entry.reason for h in recognition.hits.values())
    if status == "fixed":
        return "; ".join(e.reason for e in recognition.not_reproduced)
    return None


def _counterexample(status: str, evidence: PropertyCheck, recognition) -> dict | None:
    """The example a reader needs: a known failure's first hit, else the failing one."""
    if status == "known_failure" and recognition is not None and recognition.hits:
        return next(iter(recognition.hits.values())).counterexample
    if status in ("failed", "error", "flaky"):
        return evidence.counterexample()
    return None


class ResultCollector:
    """Gathers result rows on the controlling process and writes ``--rnn-results``.

    With ``--rnn-progress`` it also appends a JSON line when each test starts
    and finishes, which ``rnn-harness run`` follows to show progress.
    """

    def __init__(self, config: pytest.Config):
        self.config = config
        self.results: list[dict] = []
        progress = config.getoption("rnn_progress", default=None)
        self.progress = Path(progress) if progress and not hasattr(config, "workerinput") else None

    def _event(self, **event) -> None:
        if self.progress is not None:
            with self.progress.open("a", encoding="utf-8") as stream:
                stream.write(json.dumps(event) + "\n")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # Every process that collects lists its tests (with -n each worker, the same list),
        # in one append: rnn-harness run keeps the first, for its time estimate and for the
        # "not run" rows of an interrupted run.
        path = self.config.getoption("rnn_progress", default=None)
        if not path:
            return
        tests = [
            {"nodeid": item.nodeid, "property": prop, "test": test_name(item), "layer": layer}
            for item in session.items
            if (prop := _property_id(item)) is not None and (layer := _layer(item)) is not None
        ]
        line = json.dumps({"event": "collected", "tests": tests}) + "\n"
        with open(path, "ab", buffering=0) as stream:  # one write: workers append at once
            stream.write(line.encode("utf-8"))

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        self._event(event="start", nodeid=nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        rows = [v for k, v in report.user_properties if k == "rnn_result"]
        self.results.extend(rows)
        for row in rows:
            self._event(
                event="finish",
                nodeid=report.nodeid,
                property=row["property"],
                test=row["test"],
                layer=row["layer"],
                status=row["status"],
                examples=row["examples"],
                duration_s=row["duration_s"],
            )

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config = self.config
        path = config.getoption("rnn_results", default=None)
        if not path or hasattr(config, "workerinput"):
            return
        target_info = {
            "name": config._rnn_target,
            "versions": {},
            "device": "cpu",
            "precision": config._rnn_precision,
        }
        try:
            target_info = get_target(config._rnn_target).info()
        except HarnessUsageError as exc:
            target_info["error"] = str(exc)
        if not config._rnn_shrink:
            target_info["shrink"] = False
        profile = settings()
        payload = {
            "profile": config._rnn_profile,
            "seed": 0 if profile.derandomize else config.getoption("hypothesis_seed", default=None),
            "target": target_info,
            "results": self.results,
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
