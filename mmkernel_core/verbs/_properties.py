"""Property verbs: get, set, describe, refresh."""

from __future__ import annotations

import logging
from collections import defaultdict
from contextlib import ExitStack
from typing import Any

from mmkernel_sdk import PropertySpec
from mmkernel_sdk.errors import RefreshError

from ..devices import LoadedDevice
from ..runtime import Request, Runner, gather
from ._base import KernelBase
from ._core_device import CORE, CoreDevice
from ._faces import closed_error, verb

log = logging.getLogger("mmkernel.devices")


class PropertyVerbs(KernelBase):
    _core: CoreDevice

    @verb
    def get_property(self, label: str, name: str, *, from_cache: bool = False, timeout: float | None = None) -> Request:
        """Read a property from the device (one hop), or from the cache with from_cache=True."""
        if label == CORE:
            return Request.completed(label, "get_property", self._core.get(name))
        if from_cache:
            return Request.completed(label, "get_property", self._cache.get(label, name))
        loaded = self._loaded(label)
        self._checked_read(loaded, name)
        return self._call(loaded, f"get {name}", self._read_value, loaded, name, timeout=timeout)

    @get_property.blocking
    def get_property(self, label: str, name: str, *, from_cache: bool = False, timeout: float | None = None) -> Any:
        if self._closed:
            raise closed_error("get_property")
        if label == CORE:
            return self._core.get(name)
        if from_cache:  # no Request, no hop: a dict lookup
            return self._cache.get(label, name)
        return PropertyVerbs.get_property.fn(self, label, name, timeout=timeout).result()

    @verb
    def set_property(self, label: str, name: str, value: Any, *, timeout: float | None = None) -> Request:
        """Validate (on the caller's thread), then apply on the device's thread. `Core`
        properties (roles, AutoShutter, ChannelGroup, TimeoutMs, Initialize) apply at once."""
        if label == CORE:
            self._core.set(name, value)
            return Request.completed(label, "set_property", None)
        loaded = self._loaded(label)
        typed = self._checked_value(loaded, name, value)
        return self._call(loaded, f"set {name}", self._apply_value, loaded, name, typed, timeout=timeout)

    @verb
    def property_names(self, label: str) -> Request:
        """Sorted property names of a device."""
        if label == CORE:
            return Request.completed(label, "property_names", self._core.names())
        return Request.completed(label, "property_names", self._loaded(label).props.names())

    @verb
    def property_info(self, label: str, name: str) -> Request:
        """The PropertySpec: type, default, limits, allowed, units, read_only, pre_init..."""
        spec: PropertySpec = self._core.spec(name) if label == CORE else self._loaded(label).props.spec(name)
        return Request.completed(label, "property_info", spec)

    @verb
    def has_property(self, label: str, name: str) -> Request:
        if label == CORE:
            return Request.completed(label, "has_property", name in self._core.names())
        return Request.completed(label, "has_property", name in self._loaded(label).props)

    @verb
    def update_cache(self, *, timeout: float | None = None) -> Request:
        """Re-read every property of every initialized device: one hop per runner, all at once,
        so it costs the slowest device, not the sum. Changes are announced as events."""
        by_runner: dict[Runner, list[LoadedDevice]] = defaultdict(list)
        for loaded in self._device_list():
            if loaded.initialized:
                by_runner[loaded.runner].append(loaded)
        parts = [
            self._dispatch.call_or_fail(
                (runner, "+".join(d.label for d in group)),
                "update_cache",
                self._refresh_devices,
                group,
                timeout=timeout,
            )
            for runner, group in by_runner.items()
        ]
        groups = list(by_runner.values())
        return gather("*", "update_cache", parts, lambda done: _combine_refresh(done, groups))

    @verb
    def system_state(self) -> Request:
        """The cached snapshot {label: {property: value}} (no device is asked), Core's included."""
        state = self._cache.snapshot()
        state[CORE] = {name: self._core.get(name) for name in self._core.names()}
        return Request.completed("*", "system_state", state)

    def _reread_request(self, labels: list[str]) -> Request:
        """Every property of these (initialized) devices read again, one hop per runner, changes
        announced, failures logged (as after an adapter's invalidate()): it never raises."""
        by_runner: dict[Runner, list[LoadedDevice]] = defaultdict(list)
        for label in labels:
            loaded = self._devices.get(label)
            if loaded is not None and loaded.initialized:
                by_runner[loaded.runner].append(loaded)
        parts = [
            self._dispatch.call_or_fail(
                (runner, "+".join(d.label for d in group)), "re-read all properties", self._reread_all, group
            )
            for runner, group in by_runner.items()
        ]
        return gather("*", "re-read", parts, self._log_unread)

    def _log_unread(self, parts: list[Request]) -> None:
        """A runner that could not read (faulted, closed) is logged, as a property that could
        not be read is: nobody waits for these reads' values."""
        for part in parts:
            error = part.exception()
            if error is not None:
                self._report(log, logging.WARNING, "devices %r not read again: %s", part.label, error)

    def _reread_all(self, group: list[LoadedDevice]) -> None:
        for loaded in group:
            self._reread(loaded, ())

    # -- runner side ------------------------------------------------------------------------
    def _refresh_devices(self, group: list[LoadedDevice]) -> list[tuple[str, str, BaseException]]:
        failures = []
        for loaded in group:
            if not loaded.unloaded:  # unloaded since the snapshot: gone, not a failure
                failures.extend(self._refresh_one(loaded, announce=True))
        return failures

    def _refresh_one(self, loaded: LoadedDevice, announce: bool) -> list[tuple[str, str, BaseException]]:
        """Read every property (inside the device's `refreshing()` context, so properties that
        share one hardware query ask it once); each failure, BaseException included, is
        collected with its property instead of stopping the others."""
        failures: list[tuple[str, str, BaseException]] = []
        with ExitStack() as scope:
            try:
                scope.enter_context(loaded.device.refreshing())
            except BaseException:  # noqa: BLE001 - the reads below fail one by one and say why
                pass
            props, label, kind, store = loaded.props, loaded.label, loaded.device_type, self._cache.store
            for name in props.names():  # as _store does, bound once: every property of every device at a load
                try:
                    value = props.get(name)
                    if not loaded.unloaded:  # a detached device's late read must not write a reused label's cache
                        store(label, kind, name, value, announce)
                except BaseException as error:  # noqa: BLE001 - collected and reported together
                    failures.append((label, name, error))
        if loaded.device_type == "XYStage":
            try:
                self._cache.store_xy(loaded.label, self._xy_of(loaded), announce)  # type: ignore[attr-defined]
            except BaseException as error:  # noqa: BLE001
                failures.append((loaded.label, "XYPosition", error))
        return failures

    def _reread(self, loaded: LoadedDevice, names: tuple[str, ...]) -> None:
        """After an adapter's invalidate(): read the named properties (all if none) again so
        the cache and events follow what the hardware did; failures are logged, not raised
        (nobody is waiting for this read)."""
        if loaded.unloaded or not loaded.initialized:
            return
        if not names:
            failures = self._refresh_one(loaded, announce=True)
        else:
            failures = []
            for name in names:
                try:
                    self._store(loaded, name, loaded.props.get(name))
                except BaseException as error:  # noqa: BLE001 - logged below, the runner goes on
                    failures.append((loaded.label, name, error))
            if loaded.device_type == "XYStage":
                try:
                    self._cache.store_xy(loaded.label, self._xy_of(loaded))  # type: ignore[attr-defined]
                except BaseException as error:  # noqa: BLE001
                    failures.append((loaded.label, "XYPosition", error))
        for label, name, error in failures:
            self._report(log, logging.WARNING, "device %r: property %r unreadable after invalidate(): %r",
                         label, name, error, device=label)  # fmt: skip


def _combine_refresh(parts: list[Request], groups: list[list[LoadedDevice]]) -> None:
    failures: list[tuple[str, str, BaseException]] = []
    for part, group in zip(parts, groups, strict=True):
        error = part.exception()
        if error is not None:
            if not all(loaded.unloaded for loaded in group):  # a runner that went with its devices is no failure
                failures.append((part.label, "*", error))
        else:
            failures.extend(part.result())
    if failures:
        raise RefreshError(failures)
