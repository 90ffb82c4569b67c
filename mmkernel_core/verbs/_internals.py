"""KernelInternals: the kernel's documented interface for its own subpackages.

Applications use the verbs. `config/` (loading, saving, restoring a system), `recording/`,
the CLI, `mmkernel_core.testing` and first-party plugins need a little more: the device
records, the cache, the configuration state, a camera's buffer, a verb's Request without
waiting for it. They get it here, through `kernel.internals`, and never through the kernel's
underscore attributes, so the kernel can change its insides without breaking them. It may
change between versions; nothing here is for applications.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmkernel_sdk import Device

from ..devices import LoadedDevice, StateCache
from ..frames import FrameBuffer, Sequence, frame_format
from ..runtime import Request, kernel_threads

if TYPE_CHECKING:
    from ..config import SystemConfiguration
    from ._core_device import CoreDevice


class KernelInternals:
    def __init__(self, kernel: Any) -> None:
        self._kernel = kernel

    # -- the device table -------------------------------------------------------------------
    def devices(self) -> list[LoadedDevice]:
        """Every loaded device's record, in load order (a copy: safe while others load)."""
        kernel = self._kernel
        with kernel._table_lock:
            return list(kernel._devices.values())

    def device(self, label: str) -> LoadedDevice:
        """The record of `label`, or UnknownDeviceError naming what is loaded."""
        return self._kernel._loaded(label)  # type: ignore[no-any-return]

    def find(self, label: str) -> LoadedDevice | None:
        """The record of `label`, or None."""
        return self._kernel._devices.get(label)  # type: ignore[no-any-return]

    def device_object(self, label: str) -> Device:
        """The adapter object loaded as `label` (tests and benchmarks look at its state)."""
        return self.device(label).device

    def threads(self) -> set[threading.Thread]:
        """The live threads kernel code started (known by identity, not by name): what a leak
        check allows besides the device's own."""
        return kernel_threads()

    def loads_pending(self) -> bool:
        """True while a load_device has been queued and its device is not in the table yet."""
        return bool(self._kernel._reserved)

    def keep_order(self, labels: list[str]) -> None:
        """List devices in this order (labels not named go first, as loaded)."""
        kernel = self._kernel
        rank = {label: index for index, label in enumerate(labels)}
        with kernel._table_lock:
            ordered = sorted(kernel._devices.items(), key=lambda item: rank.get(item[0], -1))
            kernel._devices.clear()
            kernel._devices.update(ordered)

    def load_object(
        self, label: str, device: Device, adapter: str, device_name: str, parent: str | None, requested: str = ""
    ) -> None:
        """Load a device object again as it was loaded before: same adapter (and the name it was
        asked for by), device name, parent."""
        self._kernel._load_object(label, device, adapter, device_name, parent, requested)

    def request(self, verb_name: str, *args: Any, **kwargs: Any) -> Request:
        """The Request a verb makes, without waiting for it (many lines of a configuration are
        queued at once; a shutter is closed without the caller waiting)."""
        kernel = self._kernel
        return getattr(type(kernel), verb_name).fn(kernel, *args, **kwargs)  # type: ignore[no-any-return]

    def define_state_labels(self, label: str, items: list[tuple[int, str]]) -> Request:
        """Several (position, label) names of one state device in one runner hop, without
        waiting; the result is one outcome per item (None, or the error it raised)."""
        return self._kernel._define_labels_request(label, items)  # type: ignore[no-any-return]

    def reread(self, labels: list[str]) -> Request:
        """Read every property of these devices again on their runners, without waiting:
        changes are announced, unreadable properties logged (what invalidate() asks for)."""
        return self._kernel._reread_request(labels)  # type: ignore[no-any-return]

    # -- state ------------------------------------------------------------------------------
    @property
    def cache(self) -> StateCache:
        return self._kernel._cache  # type: ignore[no-any-return]

    @property
    def configuration(self) -> SystemConfiguration:
        """Presets, pixel sizes, focus directions and the file they came from."""
        return self._kernel._configuration  # type: ignore[no-any-return]

    @property
    def core(self) -> CoreDevice:
        """The `Core` pseudo-device: its properties, and its Initialize flag."""
        return self._kernel._core  # type: ignore[no-any-return]

    def reset_configuration(self) -> None:
        """Forget presets, pixel sizes, focus directions, roles and the file (a new load)."""
        self._kernel._reset_configuration()

    def configuration_record(self) -> dict[str, Any]:
        """The configuration, as a recording stores it: file, text, presets, roles, pixel size."""
        return self._kernel._configuration_record()  # type: ignore[no-any-return]

    def config_path(self, path: str | Path) -> Path:
        """A file, or the file of an example configuration a plugin ships ("demo")."""
        return self._kernel._config_path(Path(path))  # type: ignore[no-any-return]

    @contextmanager
    def load_lock(self) -> Iterator[None]:
        """The lock a configuration load holds from start to end (restore included): a save
        taken under it never sees half a system."""
        with self._kernel._load_lock:
            yield

    @contextmanager
    def loading(self) -> Iterator[None]:
        """One configuration load at a time; cameras loaded meanwhile reuse the memory of the
        cameras the load unloaded (what is left over goes at the end)."""
        kernel = self._kernel
        with self.load_lock():  # a second load waits for the first
            kernel._loading_config = True
            try:
                yield
            finally:
                kernel._loading_config = False
                kernel._spare_memory.clear()

    # -- cameras ----------------------------------------------------------------------------
    def camera(self, label: str | None, verb_name: str, need_init: bool = True) -> LoadedDevice:
        """The camera `label` (default: the Camera role), or a clear error for `verb_name`."""
        return self._kernel._camera(label, verb_name, need_init)  # type: ignore[no-any-return]

    def streaming(self, loaded: LoadedDevice) -> bool:
        return self._kernel._streaming(loaded)  # type: ignore[no-any-return]

    def buffer_of(self, camera: str | None, verb_name: str) -> FrameBuffer:
        """The camera's frame buffer (StreamEnded if it has none yet)."""
        return self._kernel._buffer_of(camera, verb_name)  # type: ignore[no-any-return]

    def frame_format(self, camera: str | None) -> tuple[tuple[int, ...], np.dtype]:
        """The (shape, dtype) the camera's next frame will have (asked on its runner)."""
        loaded = self.camera(camera, "frame_format")
        device = loaded.device
        return self._kernel._call(loaded, "frame format", frame_format, device, loaded.label).result()  # type: ignore[no-any-return]

    def exposure_s(self, camera: str) -> float:
        """The camera's cached exposure in seconds (0 if unknown)."""
        return self._kernel._exposure_s(camera)  # type: ignore[no-any-return]

    def start_sequence(
        self, camera: str | None, count: int | None = None, interval_ms: float = 0.0, overflow: str = "stop"
    ) -> tuple[Request, Sequence]:
        """start_sequence's request, and the sequence it starts: its owner (a stream, a
        recording) stops it, and only it, with `stop_sequence(camera, sequence)`."""
        return self._kernel._start_sequence(camera, count, interval_ms, overflow, None)  # type: ignore[no-any-return]

    def stop_sequence(self, camera: str, sequence: Sequence, timeout: float | None = None) -> Request:
        """Stop `sequence` if it still runs on `camera` (never another one started since)."""
        loaded = self.find(camera)
        if loaded is None:
            return Request.completed(camera, "stop_sequence", None)
        return self._kernel._stop_request(loaded, timeout, sequence)  # type: ignore[no-any-return]

    def interrupt_sequence(self, camera: str, sequence: Sequence | None = None) -> None:
        """From any thread: make the camera's sequence (only `sequence`, if given) end at its
        next step."""
        loaded = self.find(camera)
        if loaded is not None:
            self._kernel._interrupt_sequence(loaded, sequence)

    # -- recordings -------------------------------------------------------------------------
    def add_recording(self, recording: Any) -> None:
        """A running recording: closing the kernel stops it and lets it write what it has."""
        self._kernel._recordings.add(recording)

    def remove_recording(self, recording: Any) -> None:
        self._kernel._recordings.discard(recording)
