"""DirectHarness: drive one device as the kernel would, on the calling thread, without a kernel.

Adapter tests (expected_protocol, the conformance kit) use it so an adapter distribution can
test itself with the SDK alone. Values are validated exactly as the kernel validates them (the
same PropertySpec), resources are opened before `initialize()` and closed after `shutdown()`.
Devices that operate other devices through `self.kernel` need the kernel's harness instead
(`mmkernel_core.testing.KernelHarness`, same methods).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .._device import Device
from .._spec import PropertySpec
from ..calibration import remember, restore_memorized
from ..errors import DeviceError
from ..resources import PortTarget, close_resources, open_resources

log = logging.getLogger("mmkernel.calibration")


class DirectHarness:
    def __init__(
        self, device: Device, label: str | None = None, data_dir: str | os.PathLike[str] | None = None
    ) -> None:
        """`data_dir` holds the device's calibration store; by default a throwaway one (removed
        at close()), so tests never read or write the user's real calibrations."""
        self.device = device
        self.label = label or type(device).__name__
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._temporary: str | None = None
        self.site_data_dir: Path | None = None
        self._chosen: dict[str, Any] = {}
        self.initialized = False
        self.notified: list[tuple[str, Any]] = []
        self.problems: list[str] = []  # what initialize() could not restore (also logged, as the kernel does)
        device._attach(self, None, self.label, type(device).__name__)

    # -- what the device sees as its host ---------------------------------------------------
    def property_notified(self, device: Device, name: str, value: Any) -> None:
        self.notified.append((name, value))

    def resolve_port(self, device: Device, address: str) -> PortTarget:
        return PortTarget(address)

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:  # made when first needed: most devices never touch calibration
            self._temporary = tempfile.mkdtemp(prefix="mmkernel-harness-")
            self._data_dir = Path(self._temporary)
        return self._data_dir

    def calibration_roots(self) -> tuple[Path, Path | None]:
        return self.data_dir, self.site_data_dir

    # -- lifecycle --------------------------------------------------------------------------
    def initialize(self, refresh: bool = True) -> None:
        """Open the resources, initialize, then (as the kernel does) read every property once,
        in name order, inside the device's `refreshing()`; so a wire-level test sees the same
        traffic the kernel causes."""
        open_resources(self.device)
        try:
            self.device.initialize()
        except BaseException:
            close_resources(self.device)
            raise
        self.initialized = True
        chosen, self._chosen = self._chosen, {}
        for problem in restore_memorized(self.device, skip=chosen):
            self.problems.append(problem)
            log.warning("device %r: %s", self.label, problem, extra={"device": self.label})
        for name, value in chosen.items():
            self._memorize(name, value)
        if refresh:
            self.refresh()

    def refresh(self) -> dict[str, Any]:
        """Every property's value (an unreadable one maps to its exception)."""
        values: dict[str, Any] = {}
        with self.device.refreshing():
            for name in self.names():
                try:
                    values[name] = self.get(name)
                except Exception as error:  # noqa: BLE001 - reported per property, like the kernel
                    values[name] = error
        if self.device.device_type == "XYStage":  # the kernel reads an XY stage's position too
            try:
                values["XYPosition"] = self.xy()
            except Exception as error:  # noqa: BLE001
                values["XYPosition"] = error
        return values

    def shutdown(self) -> None:
        try:
            if self.initialized:
                self.device.shutdown()
        finally:
            self.initialized = False
            close_resources(self.device)

    def close(self) -> None:
        """Nothing more will run (the kernel's harness closes its kernel here); a throwaway
        calibration store goes."""
        try:
            if self.initialized:
                self.shutdown()
        finally:
            if self._temporary is not None:
                shutil.rmtree(self._temporary, ignore_errors=True)

    def own_threads(self) -> set[Any]:
        """Threads the harness runs itself (none: the device runs on the caller's thread); the
        conformance kit takes any other new thread for the device's."""
        return set()

    # -- properties -------------------------------------------------------------------------
    def names(self) -> list[str]:
        return self.device._props.names()

    def spec(self, name: str) -> PropertySpec:
        return self.device._props.spec(name)

    def get(self, name: str) -> Any:
        return self.device._props.get(name)

    def set(self, name: str, value: Any) -> None:
        """Validate as the kernel does (PropertyError, nothing applied), then apply."""
        props = self.device._props
        spec = props.spec(name, value)
        if not self.initialized and not (spec.pre_init or spec.before_init):
            why = "cannot be set before initialize(): it is not a pre-initialization property"
            raise spec.error(self.label, value, why)
        typed = props.coerce(name, value, initialized=self.initialized)
        props.apply(name, typed)
        if spec.memorized:
            if self.initialized:
                self._memorize(name, typed)
            else:
                self._chosen[name] = typed  # kept over the stored value at initialize, as the kernel does

    def _memorize(self, name: str, value: Any) -> None:
        """Keep a memorized value; a store that cannot take it is a problem shown, not raised (the
        set happened), as in the kernel."""
        try:
            remember(self.device, name, value)
        except Exception as error:  # noqa: BLE001 - reported, like the kernel
            problem = f"memorized {name!r} = {value!r} not saved: {error}"
            self.problems.append(problem)
            log.warning("device %r: %s", self.label, problem, extra={"device": self.label})

    # -- motion and busy --------------------------------------------------------------------
    def busy(self) -> bool:
        return bool(self.device.busy())

    def wait(self, timeout: float = 10.0) -> None:
        """Until busy() is False; DeviceError if it is still busy after `timeout` seconds."""
        poll = type(self.device).busy_poll_s or 0.005
        deadline = time.monotonic() + timeout
        while self.device.busy():
            if time.monotonic() > deadline:
                raise DeviceError(self.label, "wait", f"device {self.label!r} still reports busy after {timeout} s")
            time.sleep(poll)  # polling the hardware, as the kernel does

    def move_xy(self, x_um: float, y_um: float) -> None:
        self.device.set_xy_position(x_um, y_um)  # type: ignore[attr-defined]

    def xy(self) -> tuple[float, float]:
        x, y = self.device.get_xy_position()  # type: ignore[attr-defined]
        return float(x), float(y)

    def labels(self) -> list[str]:
        return list(self.device.labels)  # type: ignore[attr-defined]

    def snap(self) -> np.ndarray:
        device: Any = self.device
        image = np.empty(device.frame_shape(), dtype=device.frame_dtype())
        device.snap(image)
        return image

    def __enter__(self) -> DirectHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.initialized:
            self.shutdown()
