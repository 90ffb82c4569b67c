"""The conformance kit: what every well-behaved adapter does, checked against yours.

Subclass `ConformanceTests` in your adapter's tests and pytest runs every check:

    class TestWheelConformance(ConformanceTests):
        device_class = Wheel
        pre_init = {"Port": "sim://mywheel"}

or call `check_all` (or the `check_*` functions) yourself with a factory of harnesses. The kit
checks that `Name` and `Description` are there; every property is readable after
`initialize()`; every writable property round-trips (set, busy settles, get gives it back), at
the edges of its limits and for each allowed value; out-of-range and disallowed values are
refused and change nothing; `busy()` settles after every set and move; every Stage and XYStage
moves and arrives: it is moved within `stage_travel_um` of where it starts (and within its
declared limits), busy settles, and the position read back is the target within
`position_tolerance_um`; initialize/shutdown can be repeated and leave no thread, open port or
file handle behind (threads are compared by identity: only the harness's own, a kernel's, are
allowed); a state device's labels follow its positions; a camera declares a frame format the
kernel accepts and its frames have it. `check_names` is where the property-name registry
(`mmkernel_sdk.names`) plugs in: by default it reports every name that is a synonym of a
canonical one, or a canonical one in other units.

A check that does not apply (frames of a stage, labels of a camera, names with no registry)
raises `NotApplicable`, which pytest reports as skipped; `check_all` returns a
`ConformanceReport` saying which checks passed and which were skipped, and why.

A harness runs the device: `DirectHarness` (the SDK's own, no kernel) by default, or the
kernel's `KernelHarness` for devices that use `self.kernel`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .._device import Device
from ..errors import PropertyError
from ..names import conformance_checker
from ._conformance_support import (
    DEFAULT_POSITION_TOLERANCE_UM,
    DEFAULT_STAGE_TRAVEL_UM,
    Axes,
    ConformanceError,
    Harness,
    HarnessFactory,
    NotApplicable,
    candidates,
    dtype_problem,
    footprint,
    frame_format_problem,
    invalid_values,
    left_behind,
    moved_wrongly,
    near,
    restore,
    running,
    same,
    settles,
    shape_problem,
    um,
    writable,
)
from ._harness import DirectHarness

NameChecker = Callable[[Harness], list[str]]  # returns problems; the name registry provides one
CHECKS = (
    "check_identity",
    "check_readable",
    "check_round_trips",
    "check_rejects_invalid",
    "check_busy_settles",
    "check_motion",
    "check_lifecycle",
    "check_state_labels",
    "check_camera_frames",
    "check_names",
)


# -- the checks --------------------------------------------------------------------------------
def check_identity(make: HarnessFactory) -> None:
    with running(make) as h:
        for name in ("Name", "Description"):
            value = h.get(name) if name in h.names() else None
            if not isinstance(value, str) or not value.strip():
                raise ConformanceError(f"{h.label}: property {name!r} must be a non-empty string, got {value!r}")


def check_readable(make: HarnessFactory) -> None:
    with running(make) as h:
        problems = []
        for name in h.names():
            try:
                h.get(name)
            except Exception as error:  # noqa: BLE001 - every unreadable property is reported
                problems.append(f"{name!r}: {type(error).__name__}: {error}")
        if problems:
            raise ConformanceError(f"{h.label}: properties unreadable after initialize(): " + "; ".join(problems))


def check_round_trips(make: HarnessFactory, skip: tuple[str, ...] = (), busy_timeout_s: float = 10.0) -> None:
    with running(make) as h:
        names = _writable_or_skip(h, skip)
        problems = []
        for name in names:
            original = h.get(name)
            for value in candidates(h.spec(name), original):
                try:
                    h.set(name, value)
                    h.wait(busy_timeout_s)
                    back = h.get(name)
                except Exception as error:  # noqa: BLE001
                    problems.append(f"{name!r} = {value!r}: {type(error).__name__}: {error}")
                    continue
                if not same(back, value):
                    problems.append(f"{name!r}: set {value!r}, read back {back!r}")
            restore(h, name, original, busy_timeout_s)
        if problems:
            raise ConformanceError(f"{h.label}: set-then-get does not round-trip: " + "; ".join(problems))


def check_rejects_invalid(make: HarnessFactory, skip: tuple[str, ...] = ()) -> None:
    with running(make) as h:
        names = _writable_or_skip(h, skip)
        problems = []
        for name in names:
            spec = h.spec(name)
            before = h.get(name)
            for value in invalid_values(spec):
                try:
                    h.set(name, value)
                except PropertyError:
                    continue
                except Exception as error:  # noqa: BLE001
                    problems.append(f"{name!r} = {value!r} raised {type(error).__name__} instead of PropertyError")
                    continue
                problems.append(f"{name!r} accepted {value!r} (allowed: {spec.describe_allowed()})")
            if not same(h.get(name), before):
                problems.append(f"{name!r} changed from {before!r} after rejected values")
        if problems:
            raise ConformanceError(f"{h.label}: invalid values were not refused: " + "; ".join(problems))


def check_busy_settles(make: HarnessFactory, skip: tuple[str, ...] = (), busy_timeout_s: float = 10.0) -> None:
    """busy() becomes False after every set and every move of a state device, within
    `busy_timeout_s` (stage moves: `check_motion`)."""
    with running(make) as h:
        names = writable(h, skip)
        state = h.device.device_type == "State"
        if not names and not state:
            raise NotApplicable(f"{h.label}: nothing to set or move (no writable property the kit may write)")
        for name in names:
            h.set(name, h.get(name))
            settles(h, f"setting {name!r}", busy_timeout_s)
        if state:
            for position in range(min(3, len(h.labels()))):
                h.set("State", position)
                settles(h, f"a move to position {position}", busy_timeout_s)


def check_motion(
    make: HarnessFactory,
    skip: tuple[str, ...] = (),
    busy_timeout_s: float = 10.0,
    stage_travel_um: tuple[float, float] = DEFAULT_STAGE_TRAVEL_UM,
    position_tolerance_um: float = DEFAULT_POSITION_TOLERANCE_UM,
) -> None:
    """Every Stage and XYStage moves and arrives: moved to where it starts plus each end of
    `stage_travel_um` (offsets in um; an XY stage's X and Y in opposite directions) and back,
    never beyond its declared limits; after each move busy() settles and the position read back
    is the target within `position_tolerance_um`. A stage that does not move, converts um to its
    own units wrongly, or says it is not busy while still moving fails. `(0, 0)`: never moved."""
    low, high = (float(v) for v in stage_travel_um)
    if not low <= high:
        raise ValueError(f"stage_travel_um={stage_travel_um!r}: the first offset must not be above the second")
    with running(make) as h:
        kind = h.device.device_type
        if kind not in ("Stage", "XYStage"):
            raise NotApplicable(f"{h.label} is not a stage (its device type is {kind})")
        if low == high == 0.0:
            raise NotApplicable(f"{h.label}: no travel allowed (stage_travel_um=(0, 0)): the kit did not move it")
        if kind == "Stage" and "Position" in skip:
            raise NotApplicable(f"{h.label}: 'Position' is in skip: the kit never writes it")
        axes = Axes(h)
        start = here = axes.read()
        targets = axes.targets(start, (low, high))
        if not targets:
            raise NotApplicable(f"{h.label}: its limits leave no room to move from {um(start)} um")
        back_at_start = False
        try:
            for target in targets:  # the last one is the start
                axes.move(target)
                settles(h, f"a move to {um(target)} um", busy_timeout_s)
                back = axes.read()
                if not near(back, target, position_tolerance_um):
                    why = moved_wrongly(axes, here, target, back, position_tolerance_um)
                    raise ConformanceError(f"{h.label}: {why}")
                here = back
            back_at_start = True
        finally:
            if not back_at_start:
                try:
                    axes.move(start)  # best effort: put it back where it was
                    h.wait(busy_timeout_s)
                except Exception:  # noqa: BLE001 - the failure that brought us here is reported
                    pass


def check_lifecycle(make: HarnessFactory, cycles: int = 2) -> None:
    """One device object can be initialized and shut down again and again (a configuration
    reload does exactly that), and nothing is left behind: threads, open ports, file handles."""
    before = footprint()
    h = make()
    try:
        loaded = footprint()  # the harness's own (a kernel's threads) are not the device's
        for cycle in range(cycles):
            try:
                h.initialize()
            except Exception as error:
                again = f" again after shutdown (cycle {cycle + 1})" if cycle else ""
                raise ConformanceError(f"{h.label}: initialize(){again} failed: {error!r}") from error
            h.shutdown()
            _check_nothing_left(h, loaded, f"after shutdown (cycle {cycle + 1})")
    finally:
        h.close()
    _check_nothing_left(h, before, "after the harness closed")


def _check_nothing_left(h: Harness, before: dict[str, list[Any]], when: str) -> None:
    leaked = left_behind(h, before)
    if leaked:
        details = "; ".join(f"{what}: {', '.join(map(str, items))}" for what, items in leaked.items())
        raise ConformanceError(f"{h.label}: {when} these were left behind: {details}")


def check_state_labels(make: HarnessFactory, busy_timeout_s: float = 10.0) -> None:
    with running(make) as h:
        if h.device.device_type != "State":
            raise NotApplicable(f"{h.label} is not a state device (its device type is {h.device.device_type})")
        labels = h.labels()
        if len(set(labels)) != len(labels):
            raise ConformanceError(f"{h.label}: labels are not unique: {labels}")
        for position, label in enumerate(labels):
            h.set("State", position)
            h.wait(busy_timeout_s)
            if h.get("Label") != label or h.get("State") != position:
                raise ConformanceError(
                    f"{h.label}: after State = {position}, State/Label read {h.get('State')!r}/{h.get('Label')!r}, "
                    f"expected {position}/{label!r}"
                )
            h.set("Label", label)
            h.wait(busy_timeout_s)
            if h.get("State") != position:
                raise ConformanceError(f"{h.label}: after Label = {label!r}, State reads {h.get('State')!r}")


def check_camera_frames(make: HarnessFactory) -> None:
    """The camera declares a frame format the kernel accepts (2-d, or 3-d with 1..4 components; a
    plain numeric dtype), and a snapped frame has it."""
    with running(make) as h:
        device: Any = h.device
        if device.device_type != "Camera":
            raise NotApplicable(f"{h.label} is not a camera (its device type is {device.device_type})")
        shape, dtype = device.frame_shape(), device.frame_dtype()
        problem = frame_format_problem(shape, dtype)
        if problem:
            raise ConformanceError(f"{h.label}: the kernel refuses this camera's frames: {problem}")
        shape, dtype = tuple(int(d) for d in shape), np.dtype(dtype)
        image = h.snap()
        if image.shape != shape or image.dtype != dtype:
            raise ConformanceError(
                f"{h.label}: frames are {image.shape} {image.dtype}, "
                f"but frame_shape()/frame_dtype() say {shape} {dtype}"
            )


def check_names(make: HarnessFactory, checker: NameChecker | None = None) -> None:
    """Property names against a registry of canonical names (none given: skipped)."""
    if checker is None:
        raise NotApplicable("no property-name registry given: names not checked")
    with running(make) as h:
        problems = checker(h)
        if problems:
            raise ConformanceError(f"{h.label}: non-canonical property names: " + "; ".join(problems))


@dataclass
class ConformanceReport:
    """What `check_all` found: the checks that passed, and those skipped with the reason why."""

    passed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        skipped = "; ".join(f"{check} ({why})" for check, why in self.skipped.items())
        return f"passed: {', '.join(self.passed) or 'none'}; skipped: {skipped or 'none'}"


def check_all(
    make: HarnessFactory,
    skip: tuple[str, ...] = (),
    names: NameChecker | None = conformance_checker,
    *,
    stage_travel_um: tuple[float, float] = DEFAULT_STAGE_TRAVEL_UM,
    position_tolerance_um: float = DEFAULT_POSITION_TOLERANCE_UM,
    busy_timeout_s: float = 10.0,
) -> ConformanceReport:
    """Every check in order; the first failure raises (ConformanceError), checks that do not
    apply are listed in the report's `skipped`."""
    wait = busy_timeout_s
    runs: dict[str, Callable[[], None]] = {
        "check_round_trips": lambda: check_round_trips(make, skip, wait),
        "check_rejects_invalid": lambda: check_rejects_invalid(make, skip),
        "check_busy_settles": lambda: check_busy_settles(make, skip, wait),
        "check_motion": lambda: check_motion(make, skip, wait, stage_travel_um, position_tolerance_um),
        "check_state_labels": lambda: check_state_labels(make, wait),
        "check_names": lambda: check_names(make, names),
    }
    report = ConformanceReport()
    for check in CHECKS:
        try:
            runs.get(check, lambda check=check: globals()[check](make))()
        except NotApplicable as why:
            report.skipped[check] = str(why)
        else:
            report.passed.append(check)
    return report


# -- as a base class for an adapter's tests ----------------------------------------------------
class ConformanceTests:
    """Subclass as `TestXyzConformance(ConformanceTests)` and set `device_class` (and
    `pre_init`, e.g. a simulator URL for Port). Override `harness()` to run it elsewhere.
    `stage_travel_um` is how far (offsets in um from where it starts) the kit may move a stage:
    e.g. `(0.0, 10.0)` to move a focus drive only away from the sample, `(0.0, 0.0)` never."""

    device_class: ClassVar[type[Device]]
    pre_init: ClassVar[dict[str, Any]] = {}
    skip_properties: ClassVar[tuple[str, ...]] = ()  # never written by the kit (dangerous on hardware)
    name_checker: ClassVar[NameChecker | None] = staticmethod(conformance_checker)  # the name registry
    stage_travel_um: ClassVar[tuple[float, float]] = DEFAULT_STAGE_TRAVEL_UM
    position_tolerance_um: ClassVar[float] = DEFAULT_POSITION_TOLERANCE_UM

    def harness(self) -> Harness:
        harness = DirectHarness(self.device_class())
        for name, value in self.pre_init.items():
            harness.set(name, value)
        return harness

    def test_identity(self) -> None:
        _as_test(check_identity, self.harness)

    def test_readable(self) -> None:
        _as_test(check_readable, self.harness)

    def test_round_trips(self) -> None:
        _as_test(check_round_trips, self.harness, self.skip_properties)

    def test_rejects_invalid(self) -> None:
        _as_test(check_rejects_invalid, self.harness, self.skip_properties)

    def test_busy_settles(self) -> None:
        _as_test(check_busy_settles, self.harness, self.skip_properties)

    def test_motion(self) -> None:
        travel, tolerance = self.stage_travel_um, self.position_tolerance_um
        _as_test(check_motion, self.harness, self.skip_properties, 10.0, travel, tolerance)

    def test_lifecycle(self) -> None:
        _as_test(check_lifecycle, self.harness)

    def test_state_labels(self) -> None:
        _as_test(check_state_labels, self.harness)

    def test_camera_frames(self) -> None:
        _as_test(check_camera_frames, self.harness)

    def test_names(self) -> None:
        _as_test(check_names, self.harness, type(self).name_checker)


def _as_test(check: Callable[..., None], *args: Any) -> None:
    """Run a check as a test: under pytest a check that does not apply is pytest's skip (its
    report then points here, not into pytest); elsewhere NotApplicable is unittest's SkipTest."""
    try:
        check(*args)
    except NotApplicable as why:
        pytest = sys.modules.get("pytest")  # never imported here: only used when it runs the tests
        if pytest is None:
            raise
        pytest.skip(str(why))


def _writable_or_skip(h: Harness, skip: tuple[str, ...]) -> list[str]:
    names = writable(h, skip)
    if not names:
        raise NotApplicable(f"{h.label}: no writable property the kit may write")
    return names


__all__ = [
    "CHECKS",
    "ConformanceError",
    "ConformanceReport",
    "ConformanceTests",
    "NotApplicable",
    "candidates",
    "check_all",
    "check_busy_settles",
    "check_camera_frames",
    "check_identity",
    "check_lifecycle",
    "check_motion",
    "check_names",
    "check_readable",
    "check_rejects_invalid",
    "check_round_trips",
    "check_state_labels",
    "conformance_checker",
    "dtype_problem",
    "frame_format_problem",
    "invalid_values",
    "running",
    "same",
    "shape_problem",
    "writable",
]
