"""What the conformance kit's checks are built from: running a harness, the values a check tries,
moving a stage and reading it back, the frame formats the kernel accepts, and what a device
left behind (threads by identity, open ports, file handles)."""

from __future__ import annotations

import math
import numbers
import os
import threading
import time
import unittest
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..resources import open_keys, resource_property_names
from .sim.protocol_sim import open_simulated_ports

Harness = Any  # DirectHarness or mmkernel_core.testing.KernelHarness: the same methods
HarnessFactory = Callable[[], Harness]
DEFAULT_STAGE_TRAVEL_UM = (-10.0, 10.0)  # offsets from where a stage starts: the kit moves it only this far
DEFAULT_POSITION_TOLERANCE_UM = 0.25  # how far from its target a stage may read back after a move


class ConformanceError(AssertionError):
    """The adapter does not behave as the kernel (and its users) rely on."""


class NotApplicable(unittest.SkipTest):
    """The check does not apply to this device (frames of a stage, labels of a camera). pytest
    reports a test that raises it as skipped; `check_all` lists it under `skipped`."""


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


# -- values ------------------------------------------------------------------------------------
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


def restore(h: Harness, name: str, original: Any, timeout: float) -> None:
    try:
        h.set(name, original)
        h.wait(timeout)
    except Exception:  # noqa: BLE001 - best effort; a failure here was reported above
        pass


def settles(h: Harness, what: str, timeout: float) -> None:
    try:
        h.wait(timeout)
    except Exception as error:  # noqa: BLE001
        raise ConformanceError(f"{h.label}: busy() never settles after {what}: {error}") from None


# -- stage motion --------------------------------------------------------------------------------
Position = tuple[float, ...]


class Axes:
    """A Stage (one axis, through its Position property) or an XYStage (two), as the kit moves it."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.xy = h.device.device_type == "XYStage"
        self.what = "XY position" if self.xy else "'Position'"
        if self.xy:
            lim = getattr(h.device, "xy_limits", None)
            self.limits = None if lim is None else [(lim[0], lim[1]), (lim[2], lim[3])]
        else:
            lim = h.spec("Position").limits
            self.limits = None if lim is None else [(float(lim[0]), float(lim[1]))]

    def read(self) -> Position:
        return tuple(float(v) for v in self.h.xy()) if self.xy else (float(self.h.get("Position")),)

    def move(self, target: Position) -> None:
        if self.xy:
            self.h.move_xy(*target)
        else:
            self.h.set("Position", target[0])

    def targets(self, start: Position, travel: tuple[float, float]) -> list[Position]:
        """Out one way, out the other (X and Y in opposite directions, so swapped axes show), and
        back to the start; each within the declared limits, leaving out moves that go nowhere."""
        lo, hi = travel
        offsets = [(hi, lo), (lo, hi), (0.0, 0.0)] if self.xy else [(hi,), (lo,), (0.0,)]
        found: list[Position] = []
        here = start
        for offset in offsets:
            target = tuple(self._clip(i, s + o) for i, (s, o) in enumerate(zip(start, offset, strict=True)))
            if target != here:
                found.append(target)
                here = target
        return found

    def _clip(self, axis: int, value: float) -> float:
        if self.limits is None:
            return value
        lo, hi = self.limits[axis]
        return min(max(value, lo), hi)


def near(a: Position, b: Position, tolerance: float) -> bool:
    return max(abs(x - y) for x, y in zip(a, b, strict=True)) <= tolerance + 1e-9


def um(position: Position) -> str:
    text = ", ".join(f"{v + 0.0:g}" for v in position)  # + 0.0: never "-0"
    return f"({text})" if len(position) > 1 else text


def moved_wrongly(axes: Axes, here: Position, target: Position, back: Position, tolerance: float) -> str:
    """Why a position read back after a move is not the target (reading it once more tells a move
    still under way from one that ended in the wrong place)."""
    moved = f"{axes.what}: moved to {um(target)} um from {um(here)} um"
    again = axes.read()
    if not near(again, back, tolerance):
        return (
            f"{moved}; it read {um(back)} um, then {um(again)} um: it was still moving after busy() said the move "
            "had ended (busy() must be True until the stage has arrived)"
        )
    if near(back, here, tolerance):
        return f"{moved}, but it did not move (it reads {um(back)} um)"
    return (
        f"{moved}, read back {um(back)} um (tolerance {tolerance:g} um): is the conversion between um and the "
        "controller's units (steps, mm) right both ways?"
    )


# -- frames ------------------------------------------------------------------------------------
# The kernel's rule (mmkernel_core/frames/_frame_format.py), stated again here because the SDK
# never imports the kernel; tests/sdk/test_conformance_kit.py checks that both agree.
PLAIN_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex
MAX_COMPONENTS = 4  # BGRA
SHAPES_ACCEPTED = f"(height, width) or (height, width, components <= {MAX_COMPONENTS}) of whole numbers >= 1"
DTYPES_ACCEPTED = "a plain numeric or bool dtype (e.g. uint8, uint16, float32)"


def shape_problem(shape: Any) -> str | None:
    try:
        dims = tuple(shape)
    except TypeError:
        dims = ()
    good = len(dims) in (2, 3) and all(
        isinstance(d, numbers.Integral) and not isinstance(d, (bool, np.bool_)) and d >= 1 for d in dims
    )
    if good and not (len(dims) == 3 and dims[2] > MAX_COMPONENTS):
        return None
    return f"frame_shape() returned {shape!r}; the kernel accepts {SHAPES_ACCEPTED}"


def dtype_problem(dtype: Any) -> str | None:
    try:
        typed = np.dtype(dtype)
    except (TypeError, ValueError):
        typed = np.dtype(object)
    if typed.hasobject or typed.fields is not None or typed.subdtype is not None or typed.kind not in PLAIN_KINDS:
        return f"frame_dtype() returned {dtype!r}; the kernel accepts {DTYPES_ACCEPTED}"
    return None


def frame_format_problem(shape: Any, dtype: Any) -> str | None:
    """Why the kernel would refuse a camera declaring this frame shape and dtype (None: it accepts them)."""
    problems = [p for p in (shape_problem(shape), dtype_problem(dtype)) if p]
    return "; ".join(problems) or None


# -- what is left behind -------------------------------------------------------------------------
ENDING_S = 2.0  # a new thread still alive this long after shutdown() returned is left behind


def footprint() -> dict[str, list[Any]]:
    """Threads (the objects: identity, not names), open ports and file handles."""
    found: dict[str, list[Any]] = {
        "threads": threading.enumerate(),
        "open ports": open_keys() + [f"{port} (simulated)" for port in open_simulated_ports()],
    }
    fd_dir = "/proc/self/fd"
    if os.path.isdir(fd_dir):
        handles = ((fd, _target(fd_dir, fd)) for fd in os.listdir(fd_dir))
        # "?": closed before it could be read (the listing's own directory handle, among others)
        found["file handles"] = [f"fd {fd} -> {where}" for fd, where in handles
                                 if where != "?" and not where.startswith("/proc/")]  # fmt: skip
    return found


def left_behind(h: Harness, before: dict[str, list[Any]]) -> dict[str, list[str]]:
    """What exists now and did not in `before`: a thread is the device's unless the harness runs
    it (`own_threads()`: a kernel's runners, event and callback threads) or it is ending."""
    after = footprint()
    own = set(h.own_threads()) if hasattr(h, "own_threads") else set()
    earlier = set(before["threads"])
    threads = _still_running([t for t in after["threads"] if t not in earlier and t not in own])
    leaked = {"threads": sorted(f"{t.name} ({t.ident})" for t in threads)}
    deadline = time.monotonic() + ENDING_S
    while True:  # a handle the other end of a local connection is closing goes within moments
        handles = {what: sorted(set(now) - set(before[what])) for what, now in after.items() if what != "threads"}
        if not any(handles.values()) or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
        after = footprint()
    leaked.update(handles)
    return {what: items for what, items in leaked.items() if items}


def _still_running(threads: list[threading.Thread]) -> list[threading.Thread]:
    """The threads that do not end within ENDING_S (all waited for at once): one that is just
    finishing after shutdown() asked it to stop is not left behind."""
    deadline = time.monotonic() + ENDING_S
    for thread in threads:
        while True:
            try:
                thread.join(max(0.0, deadline - time.monotonic()))
                break
            except RuntimeError:  # started a moment ago and not running yet: it cannot be joined
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.001)
    return [thread for thread in threads if thread.is_alive()]


def _target(directory: str, fd: str) -> str:
    try:
        return os.readlink(os.path.join(directory, fd))
    except OSError:
        return "?"
