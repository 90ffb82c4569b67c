"""The conformance kit: what every well-behaved adapter does, checked against yours.

Subclass `ConformanceTests` in your adapter's tests and pytest runs every check:

    class TestWheelConformance(ConformanceTests):
        device_class = Wheel
        pre_init = {"Port": "sim://mywheel"}

or call the `check_*` functions yourself with a factory of harnesses. The kit checks that
`Name` and `Description` are there; every property is readable after `initialize()`; every
writable property round-trips (set, busy settles, get gives it back), at the edges of its
limits and for each allowed value; out-of-range and disallowed values are refused and change
nothing; `busy()` settles after every set and move; initialize/shutdown can be repeated and
leave no thread, open port or file handle behind; a state device's labels follow its
positions; a camera's frames have the shape and dtype it declares. `check_names` is where the
property-name registry (`mmkernel_sdk.names`) plugs in: by default it reports every name that is
a synonym of a canonical one, or a canonical one in other units.

A harness runs the device: `DirectHarness` (the SDK's own, no kernel) by default, or the
kernel's `KernelHarness` for devices that use `self.kernel`.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from .._device import Device
from ..errors import PropertyError
from ..names import conformance_checker
from ..resources import open_keys, resource_property_names
from ._harness import DirectHarness
from .sim.protocol_sim import open_simulated_ports

Harness = Any  # DirectHarness or mmkernel_core.testing.KernelHarness: the same methods
HarnessFactory = Callable[[], Harness]
NameChecker = Callable[[Harness], list[str]]  # returns problems; the name registry provides one
CHECKS = (
    "check_identity",
    "check_readable",
    "check_round_trips",
    "check_rejects_invalid",
    "check_busy_settles",
    "check_lifecycle",
    "check_state_labels",
    "check_camera_frames",
    "check_names",
)


class ConformanceError(AssertionError):
    """The adapter does not behave as the kernel (and its users) rely on."""


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
        problems = []
        for name in writable(h, skip):
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
            _restore(h, name, original, busy_timeout_s)
        if problems:
            raise ConformanceError(f"{h.label}: set-then-get does not round-trip: " + "; ".join(problems))


def check_rejects_invalid(make: HarnessFactory, skip: tuple[str, ...] = ()) -> None:
    with running(make) as h:
        problems = []
        for name in writable(h, skip):
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
    """busy() becomes False after every set and every move, within `busy_timeout_s`."""
    with running(make) as h:
        for name in writable(h, skip):
            h.set(name, h.get(name))
            _settles(h, f"setting {name!r}", busy_timeout_s)
        device_type = h.device.device_type
        if device_type == "XYStage":
            x, y = h.xy()
            h.move_xy(x + 1.0, y + 1.0)
            _settles(h, "an XY move", busy_timeout_s)
        elif device_type == "State":
            for position in range(min(3, len(h.labels()))):
                h.set("State", position)
                _settles(h, f"a move to position {position}", busy_timeout_s)


def check_lifecycle(make: HarnessFactory, cycles: int = 2) -> None:
    """One device object can be initialized and shut down again and again (a configuration
    reload does exactly that), and nothing is left behind: threads, open ports, file handles."""
    before = _footprint()
    h = make()
    try:
        loaded = _footprint()  # the harness's own (a kernel's threads) are not the device's
        for cycle in range(cycles):
            try:
                h.initialize()
            except Exception as error:
                again = f" again after shutdown (cycle {cycle + 1})" if cycle else ""
                raise ConformanceError(f"{h.label}: initialize(){again} failed: {error!r}") from error
            h.shutdown()
            _check_nothing_left(h.label, loaded, f"after shutdown (cycle {cycle + 1})")
    finally:
        h.close()
    _check_nothing_left(h.label, before, "after the harness closed")


def _check_nothing_left(label: str, before: dict[str, list[Any]], when: str) -> None:
    after = _footprint()
    leaked = {what: sorted(set(now) - set(before[what])) for what, now in after.items()}
    leaked = {what: items for what, items in leaked.items() if items}
    if leaked:
        details = "; ".join(f"{what}: {', '.join(map(str, items))}" for what, items in leaked.items())
        raise ConformanceError(f"{label}: {when} these were left behind: {details}")


def check_state_labels(make: HarnessFactory, busy_timeout_s: float = 10.0) -> None:
    with running(make) as h:
        if h.device.device_type != "State":
            return
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
    with running(make) as h:
        device: Any = h.device
        if device.device_type != "Camera":
            return
        shape, dtype = tuple(device.frame_shape()), device.frame_dtype()
        image = h.snap()
        if image.shape != shape or image.dtype != dtype:
            raise ConformanceError(
                f"{h.label}: frames are {image.shape} {image.dtype}, "
                f"but frame_shape()/frame_dtype() say {shape} {dtype}"
            )


def check_names(make: HarnessFactory, checker: NameChecker | None = None) -> None:
    """Property names against a registry of canonical names (none given: nothing to check)."""
    if checker is None:
        return
    with running(make) as h:
        problems = checker(h)
        if problems:
            raise ConformanceError(f"{h.label}: non-canonical property names: " + "; ".join(problems))


def check_all(
    make: HarnessFactory, skip: tuple[str, ...] = (), names: NameChecker | None = conformance_checker
) -> None:
    for check in CHECKS:
        function = globals()[check]
        if check in ("check_round_trips", "check_rejects_invalid", "check_busy_settles"):
            function(make, skip)
        elif check == "check_names":
            function(make, names)
        else:
            function(make)


# -- as a base class for an adapter's tests ----------------------------------------------------
class ConformanceTests:
    """Subclass as `TestXyzConformance(ConformanceTests)` and set `device_class` (and
    `pre_init`, e.g. a simulator URL for Port). Override `harness()` to run it elsewhere."""

    device_class: ClassVar[type[Device]]
    pre_init: ClassVar[dict[str, Any]] = {}
    skip_properties: ClassVar[tuple[str, ...]] = ()  # never written by the kit (dangerous on hardware)
    name_checker: ClassVar[NameChecker | None] = staticmethod(conformance_checker)  # the name registry

    def harness(self) -> Harness:
        harness = DirectHarness(self.device_class())
        for name, value in self.pre_init.items():
            harness.set(name, value)
        return harness

    def test_identity(self) -> None:
        check_identity(self.harness)

    def test_readable(self) -> None:
        check_readable(self.harness)

    def test_round_trips(self) -> None:
        check_round_trips(self.harness, self.skip_properties)

    def test_rejects_invalid(self) -> None:
        check_rejects_invalid(self.harness, self.skip_properties)

    def test_busy_settles(self) -> None:
        check_busy_settles(self.harness, self.skip_properties)

    def test_lifecycle(self) -> None:
        check_lifecycle(self.harness)

    def test_state_labels(self) -> None:
        check_state_labels(self.harness)

    def test_camera_frames(self) -> None:
        check_camera_frames(self.harness)

    def test_names(self) -> None:
        check_names(self.harness, type(self).name_checker)


# -- helpers -----------------------------------------------------------------------------------
@contextmanager
def running(make: HarnessFactory) -> Iterator[Harness]:
    harness = make()
    try:
        harness.initialize()
        yield harness
    finally:
        try:
            harness.shutdown()
        finally:
            harness.close()


def writable(h: Harness, skip: tuple[str, ...] = ()) -> list[str]:
    """Properties the kit writes: not read-only, not pre-init, not skipped, and not the ones a
    resource added (AnswerTimeout, DelayBetweenCharsMs configure the link, not the instrument;
    the SDK's own tests cover them)."""
    link = resource_property_names(type(h.device))
    names = []
    for name in h.names():
        spec = h.spec(name)
        if not (spec.read_only or spec.pre_init or name in skip or name in link):
            names.append(name)
    return names


def candidates(spec: Any, current: Any) -> list[Any]:
    """Values a round trip tries: every allowed value, the edges and middle of the limits."""
    if spec.allowed is not None:
        return list(spec.allowed)
    if spec.kind is bool:
        return [True, False]
    if spec.limits is not None:
        lo, hi = spec.limits
        middle = (lo + hi) / 2
        values = [lo, hi, int(middle) if spec.kind is int else middle]
        return [spec.kind(v) for v in dict.fromkeys(values)]
    return [current] if current is not None else []


def invalid_values(spec: Any) -> list[Any]:
    if spec.allowed is not None:
        if spec.kind is str:
            return ["\x00 not allowed"]
        if spec.kind in (int, float):
            return [max(spec.allowed, default=0) + 1]
        return []
    if spec.limits is not None:
        lo, hi = spec.limits
        step = 1 if spec.kind is int else max(abs(hi - lo) * 1e-3, 1e-6)
        return [lo - step, hi + step]
    if spec.kind is float:
        return [float("nan"), "not a number"]
    if spec.kind is int:
        return ["not a number", 1.5]
    return []


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def _restore(h: Harness, name: str, original: Any, timeout: float) -> None:
    try:
        h.set(name, original)
        h.wait(timeout)
    except Exception:  # noqa: BLE001 - best effort; a failure here was reported above
        pass


def _settles(h: Harness, what: str, timeout: float) -> None:
    try:
        h.wait(timeout)
    except Exception as error:  # noqa: BLE001
        raise ConformanceError(f"{h.label}: busy() never settles after {what}: {error}") from None


def _footprint() -> dict[str, list[Any]]:
    threads = [t for t in threading.enumerate() if not t.name.startswith(("mmkernel-", "MainThread"))]
    found: dict[str, list[Any]] = {
        "threads": [f"{t.name} ({t.ident})" for t in threads],
        "open ports": open_keys() + [f"{port} (simulated)" for port in open_simulated_ports()],
    }
    fd_dir = "/proc/self/fd"
    if os.path.isdir(fd_dir):
        handles = ((fd, _target(fd_dir, fd)) for fd in os.listdir(fd_dir))
        # "?": closed before it could be read (the listing's own directory handle, among others)
        found["file handles"] = [f"fd {fd} -> {where}" for fd, where in handles
                                 if where != "?" and not where.startswith("/proc/")]  # fmt: skip
    return found


def _target(directory: str, fd: str) -> str:
    try:
        return os.readlink(os.path.join(directory, fd))
    except OSError:
        return "?"
