"""Testing hooks for tests and benchmarks, and KernelHarness, the conformance kit's harness.

`KernelHarness` runs the device inside a real Kernel with the same methods as the SDK's
DirectHarness, so `mmkernel_sdk.testing.conformance` checks run unchanged through the kernel's
request path (runner thread, validation, cache, busy), and devices that operate other devices
through `self.kernel` (Utilities) can be checked too:

    check_all(lambda: KernelHarness(DemoCamera()))

`wait_until_resident(kernel)` makes every camera's frame memory resident and waits for it, so a
benchmark measures a running system rather than first-touch page faults.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mmkernel_sdk import Device, PropertySpec

from ._kernel import Kernel


def wait_until_resident(kernel: Kernel, timeout: float = 60.0) -> bool:
    """Make the frame memory of every initialized camera resident now (as its first sequence
    would) and wait until it is; False if `timeout` passed first. Benchmarks measure a running
    system this way, not first-touch page faults."""
    deadline = time.monotonic() + timeout
    buffers = [d.camera.buffer for d in kernel.internals.devices() if d.device_type == "Camera" and d.camera.buffer]
    for buffer in buffers:
        buffer.memory.populate_in_background()
    return all(buffer.memory.populated.wait(max(0.0, deadline - time.monotonic())) for buffer in buffers)


class KernelHarness:
    def __init__(
        self,
        device: Device,
        pre_init: dict[str, Any] | None = None,
        *,
        label: str = "DUT",
        setup: Callable[[Kernel], None] | None = None,
        configure: Callable[[Kernel, str], None] | None = None,
        timeout: float = 10.0,
    ) -> None:
        """`setup(kernel)` loads whatever else the device needs (e.g. the devices a Utilities
        shutter drives) before the device under test is loaded; `configure(kernel, label)`
        sets what can only be set after its initialize()."""
        self.device = device
        self.label = label
        self._configure = configure
        self._pre_init = dict(pre_init or {})
        self._temporary = tempfile.mkdtemp(prefix="mmkernel-harness-")  # never the user's real calibrations
        self.kernel = Kernel(timeout=timeout, buffer_mb=16, data_dir=self._temporary)
        if setup is not None:
            setup(self.kernel)
        self._load()

    def _load(self) -> None:
        self.kernel.load_device(self.label, self.device)
        for name, value in self._pre_init.items():
            self.kernel.set_property(self.label, name, value)

    def initialize(self) -> None:
        """Initialize the device; after a shutdown() the same instance is loaded again first
        (as a configuration reload does), so a lifecycle check cycles one device object."""
        if self.label not in self.kernel.devices():
            self._load()
        self.kernel.initialize(self.label)
        if self._configure is not None:
            self._configure(self.kernel, self.label)

    def shutdown(self) -> None:
        """Shut the device down and unload it; the kernel stays open until close()."""
        if self.label in self.kernel.devices():
            self.kernel.unload(self.label)

    def close(self) -> None:
        try:
            self.kernel.close()
        finally:
            shutil.rmtree(self._temporary, ignore_errors=True)

    def own_threads(self) -> set[threading.Thread]:
        """The threads a kernel runs (runners, events, callbacks, the watchdog, parked runner
        threads, a camera's memory), known by the kernel code they run, not by their names: the
        conformance kit's leak check allows these and no other new thread."""
        return self.kernel.internals.threads()

    def names(self) -> list[str]:
        return list(self.kernel.property_names(self.label))

    def spec(self, name: str) -> PropertySpec:
        return self.kernel.property_info(self.label, name)  # type: ignore[no-any-return]

    def get(self, name: str) -> Any:
        return self.kernel.get_property(self.label, name)

    def set(self, name: str, value: Any) -> None:
        self.kernel.set_property(self.label, name, value)

    def busy(self) -> bool:
        return bool(self.kernel.busy(self.label))

    def wait(self, timeout: float = 10.0) -> None:
        self.kernel.wait_for(self.label, timeout=timeout)

    def move_xy(self, x_um: float, y_um: float) -> None:
        self.kernel.set_xy_position(self.label, x_um, y_um)

    def xy(self) -> tuple[float, float]:
        return self.kernel.get_xy_position(self.label)  # type: ignore[no-any-return]

    def labels(self) -> list[str]:
        return list(self.kernel.state_labels(self.label))

    def snap(self) -> np.ndarray:
        return self.kernel.snap(self.label)  # type: ignore[no-any-return]
