"""Hardware sequences of the demo devices, and the simulated trigger line that steps them.

As in Micro-Manager's DemoCamera, D-DA and DObjective step a started sequence when their
`Trigger` property is set to '+' (DCam's `TriggerDevice` does that before each sequence frame),
and '+' without a running sequence is refused. MMKernel adds what real hardware has and
DemoCamera lacks, a trigger line: while a demo camera runs a sequence it pulses the line once per
frame, before the frame's exposure, and every demo device of the same kernel whose sequence is
started steps to its next value (DStage, DXYStage, D-DA, DObjective, DStateDevice). The device
named by the camera's TriggerDevice is stepped through its Trigger instead: once per frame.

Threads: a pulse runs on the camera's thread while the stepped device lives on its own runner.
A `DemoSequence` changes its device's state only under its lock (which the device's own methods
take too) and tells the kernel with notify() / invalidate(), which forward to the device's runner
(the cache and the events stay right).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from mmkernel_sdk import prop

from ._specs import refuse

log = logging.getLogger("mmkernel.demo")

Step = Callable[[Any], dict[str, Any] | None]
"""Applies one value (under the sequence's lock); returns the properties to notify, or None to
invalidate the device (its XY position is no property)."""


class DemoSequence:
    """One device's loaded values, where the sequence is, whether it runs."""

    def __init__(self, device: Any, step: Step) -> None:
        self.device = device
        self.lock = threading.RLock()  # the device's state changes only under it
        self._step = step
        self._values: list[Any] = []
        self._index = 0
        self.running = False

    def load(self, values: list[Any]) -> None:
        with self.lock:
            self._values, self._index = list(values), 0

    def start(self) -> None:
        """Run from the first value (nothing loaded: nothing runs, as in DemoCamera)."""
        with self.lock:
            running = self.running = bool(self._values)
            self._index = 0
        if running:
            line_of(self.device).arm(self)

    def stop(self) -> None:
        with self.lock:
            self.running, self._index = False, 0
        line_of(self.device).disarm(self)

    def step(self) -> bool:
        """Apply the next value (wrapping round); False when no sequence runs."""
        with self.lock:
            if not self.running:
                return False
            value = self._values[self._index]
            self._index = (self._index + 1) % len(self._values)
            changed = self._step(value)
        if changed is None:
            self.device.invalidate()
        else:
            for name, reported in changed.items():
                self.device.notify(name, reported)
        return True


class TriggerLine:
    """The started sequences of one kernel's demo devices; `pulse()` steps each once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[DemoSequence] = []

    def arm(self, sequence: DemoSequence) -> None:
        with self._lock:
            if sequence not in self._armed:
                self._armed.append(sequence)

    def disarm(self, sequence: DemoSequence) -> None:
        with self._lock:
            if sequence in self._armed:
                self._armed.remove(sequence)

    def pulse(self, skip: str = "") -> None:
        """One trigger (a camera frame): every armed sequence but `skip`'s device steps."""
        with self._lock:
            armed = list(self._armed)
        for sequence in armed:
            if sequence.device.label == skip:
                continue
            try:
                sequence.step()
            except Exception as error:  # noqa: BLE001 - a device's step must not fail the camera's frame
                log.warning("trigger: %r did not step: %s", sequence.device.label, error)


_lines: weakref.WeakKeyDictionary[Any, TriggerLine] = weakref.WeakKeyDictionary()
_lines_lock = threading.Lock()
_unattached = TriggerLine()  # devices driven without a kernel (DirectHarness)


def line_of(device: Any) -> TriggerLine:
    """The trigger line of the kernel `device` is loaded in."""
    kernel = device.kernel
    if kernel is None:
        return _unattached
    with _lines_lock:
        line = _lines.get(kernel)
        if line is None:
            line = _lines[kernel] = TriggerLine()
        return line


class SequenceTrigger:
    """Mixin: Micro-Manager's `Trigger` ('+' steps the device's running `self.sequence`);
    `sequence_kind` ("DA", "State") names the sequence in the refusal."""

    sequence_kind: ClassVar[str] = "device"
    sequence: DemoSequence

    Trigger = prop(str, default="-", allowed=("+", "-"), doc="'+' steps a running hardware sequence.")

    @Trigger.getter
    def Trigger(self) -> str:  # noqa: N802 - Micro-Manager's property name
        return "-"

    @Trigger.setter
    def Trigger(self, value: str) -> None:  # noqa: N802
        if value == "+" and not self.sequence.step():
            raise refuse(self, "Trigger", value, f"'-' (no {self.sequence_kind} sequence is running)",  # type: ignore[arg-type]
                         "cannot be set: sequence triggered, but sequence is not running")  # fmt: skip
