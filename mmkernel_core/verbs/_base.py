"""KernelBase: the state every group of verbs shares, and the runner-side property steps."""

from __future__ import annotations

import difflib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from mmkernel_sdk.calibration import remember
from mmkernel_sdk.errors import PropertyError, UnknownDeviceError

from ..devices import AdapterRegistry, LoadedDevice, StateCache
from ..runtime import Dispatcher, KernelEvents, Request


class KernelBase:
    """Shared state. Verb groups (mixins) use only what is declared here."""

    @property
    def adapters(self) -> AdapterRegistry:
        raise NotImplementedError

    events: KernelEvents
    _devices: dict[str, LoadedDevice]
    _table_lock: threading.Lock
    _dispatch: Dispatcher
    _cache: StateCache
    _closed: bool

    def _report(self, logger: logging.Logger, level: int, message: str, *args: Any, device: str | None = None) -> None:
        raise NotImplementedError

    # -- lookups ----------------------------------------------------------------------------
    def _device_list(self) -> list[LoadedDevice]:
        """Every device record, in load order: a copy taken under the table lock, so iterating
        it is safe while other threads load and unload (iterating the table itself is not)."""
        with self._table_lock:
            return list(self._devices.values())

    def _loaded(self, label: str) -> LoadedDevice:
        try:
            return self._devices[label]
        except (KeyError, TypeError):
            raise UnknownDeviceError(self._unknown_label(label)) from None

    def _unknown_label(self, label: object) -> str:
        labels = sorted(loaded.label for loaded in self._device_list())
        close = difflib.get_close_matches(str(label), labels, n=3)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        return f"no device loaded as {label!r}{hint}; loaded: {', '.join(labels) or '(none)'}"

    def _call(
        self,
        loaded: LoadedDevice,
        op: str,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float | None = None,
    ) -> Request:
        return self._dispatch.call(loaded, op, fn, *args, timeout=timeout)

    def _checked_value(self, loaded: LoadedDevice, name: str, value: Any) -> Any:
        """Validate on the caller's thread, before any adapter code runs."""
        loaded.props.spec(name, value)  # unknown names first, with suggestions
        if not loaded.initialized and not loaded.usable_before_init(name):
            raise _not_initialized(loaded, name, value)
        return loaded.props.coerce(name, value, initialized=loaded.initialized)

    def _checked_read(self, loaded: LoadedDevice, name: str) -> None:
        spec = loaded.props.spec(name)  # raises for unknown names
        if not loaded.initialized and not loaded.usable_before_init(spec.name):
            raise _not_initialized(loaded, name, None)

    # -- runner-side steps (these run on the device's own thread) ---------------------------
    def _apply_value(self, loaded: LoadedDevice, name: str, value: Any) -> None:
        """Validate again against the spec as it is now (an earlier set, e.g. a preset's Mode,
        may have narrowed this property's limits since the caller checked), then apply."""
        props = loaded.props
        value = props.coerce(name, value, initialized=loaded.initialized)
        props.apply(name, value)
        spec = props.spec(name)
        if spec.affects and loaded.initialized:
            with loaded.device.refreshing():  # read back together (a wheel's State and Label: one query)
                self._read_back(loaded, name, spec.affects)
        else:
            self._read_back(loaded, name, spec.affects)
        if spec.memorized:
            if loaded.initialized:
                self._memorize(loaded, name, value)
            else:  # asked for in this session: initialize keeps it (and memorizes it) instead of restoring
                loaded.memorized_before_init[name] = value
        self._mark_set(loaded)

    def _memorize(self, loaded: LoadedDevice, name: str, value: Any) -> None:
        try:
            remember(loaded.device, name, value)
        except Exception as error:  # noqa: BLE001 - the set happened; saving it is reported, not raised
            self._report(logging.getLogger("mmkernel.calibration"), logging.WARNING,
                         "device %r: memorized %r = %r not saved: %s", loaded.label, name, value, error,
                         device=loaded.label)  # fmt: skip

    def _read_back(self, loaded: LoadedDevice, name: str, affects: tuple[str, ...]) -> None:
        props = loaded.props
        self._store(loaded, name, props.get(name))
        for other in affects:
            self._store(loaded, other, props.get(other))

    def _read_value(self, loaded: LoadedDevice, name: str) -> Any:
        value = loaded.props.get(name)
        self._store(loaded, name, value)
        return value

    def _store(self, loaded: LoadedDevice, name: str, value: Any, announce: bool = True) -> None:
        if loaded.unloaded:  # a detached device's late call must not write a reused label's cache
            return
        self._cache.store(loaded.label, loaded.device_type, name, value, announce)

    @staticmethod
    def _mark_set(loaded: LoadedDevice) -> None:
        if loaded.delay_s:
            loaded.busy_until = time.monotonic() + loaded.delay_s
        if loaded.has_busy and loaded.device_type in ("Stage", "XYStage"):
            loaded.moved = True  # its position is read again when busy() first says it has arrived


def _not_initialized(loaded: LoadedDevice, name: str, value: Any) -> PropertyError:
    pre = [n for n in loaded.props.names() if loaded.usable_before_init(n) and n not in ("Name", "Description")]
    doing = "read it" if value is None else f"set it to {value!r}"
    return PropertyError(
        f"device {loaded.label!r}, property {name!r}: cannot {doing}: the device is not "
        "initialized yet; "
        f"before initialize() only pre-initialization properties can be used: "
        f"{', '.join(pre) or '(none)'}",
        device=loaded.label,
        property=name,
        value=value,
        allowed=", ".join(pre),
    )
