"""One wire, one runner: devices whose ports (or instruments) are one wire are moved onto one
runner before initialize, so their bytes can never interleave."""

from __future__ import annotations

import logging

from mmkernel_sdk.errors import DeviceStateError, KernelClosedError
from mmkernel_sdk.resources import wires_of

from ..devices import LoadedDevice
from ..runtime import Runner
from ._base import KernelBase

log = logging.getLogger("mmkernel.devices")


class WireSharing(KernelBase):
    # -- helpers ----------------------------------------------------------------------------
    def _share_wire(
        self, loaded: LoadedDevice, timeout: float | None, known: dict[int, set[str]] | None = None
    ) -> None:
        """Before initialize: devices whose ports (or instruments) are one wire end up on one
        runner, so their bytes can never interleave. Whole runners merge (a hub moves with its
        peripherals); the group without an initialized device moves, as a request on its old
        runner, so everything queued there before still runs first, in order. `known` keeps
        the wires asked already (initialize_all asks each device once, not once per pair)."""
        known = {} if known is None else known
        while not loaded.initialized and not loaded.unloaded:
            wires = _wires(loaded, known)
            if not wires:
                return
            with self._table_lock:
                snapshot = [d for d in self._devices.values() if not d.unloaded and d is not loaded]
            sharing = [d for d in snapshot if wires & _wires(d, known)]  # adapter code: no lock held
            with self._table_lock:
                plan = self._wire_merge(loaded, sharing, wires)
            if plan is None:
                return
            movers, source, target = plan
            move = self._dispatch.call(
                (source, "+".join(d.label for d in movers)), "share runner", self._move_runner, movers, source, target,
                timeout=timeout,
            )  # fmt: skip
            move.result()

    def _wire_merge(
        self, loaded: LoadedDevice, sharing: list[LoadedDevice], wires: set[str]
    ) -> tuple[list[LoadedDevice], Runner, Runner] | None:
        """Under the table lock: which devices move from which runner to which, or None."""
        elsewhere = [d for d in sharing if not d.unloaded and d.runner is not loaded.runner and not d.runner.closed]
        other = elsewhere[0] if elsewhere else None
        if other is None or loaded.unloaded:
            return None
        live = [d for d in self._devices.values() if not d.unloaded]
        mine = [d for d in live if d.runner is loaded.runner]
        theirs = [d for d in live if d.runner is other.runner]
        if any(_bound(d) for d in mine):
            if any(_bound(d) for d in theirs):
                raise DeviceStateError(
                    f"devices {loaded.label!r} and {other.label!r} share the wire {', '.join(sorted(wires))} but were "
                    "initialized on different runners; unload them and initialize them together (or load one port "
                    "device they both name)"
                )
            return theirs, other.runner, loaded.runner
        return mine, loaded.runner, other.runner

    def _move_runner(self, movers: list[LoadedDevice], source: Runner, target: Runner) -> None:
        """On the old runner: hand its devices to `target`. Calls queued here for them after
        this are forwarded by the runner. Re-checked under the table lock: the plan was made
        before this ran, and a device may have been unloaded (or the target closed) since; then
        nothing moves and the caller plans again."""
        with self._table_lock:
            movers = [d for d in movers if d.runner is source and not d.unloaded]
            if not any(d.runner is target and not d.unloaded for d in self._devices.values()):
                return
            for index, device in enumerate(movers):
                try:
                    target.retain()
                except KernelClosedError:  # its last device left just now; only the first can fail
                    movers = movers[:index]
                    break
                device.runner = target
        if movers:
            labels = [d.label for d in movers]
            log.info("devices %s share a runner with the devices on %s: one wire", labels, target.name)
        for device in movers:
            source.release(f"device {device.label!r} moved to runner {target.name} (one wire); call it again")


def _wires(device: LoadedDevice, known: dict[int, set[str]]) -> set[str]:
    wires = known.get(id(device))
    if wires is None:
        wires = known[id(device)] = set(wires_of(device.device))
    return wires


def _bound(device: LoadedDevice) -> bool:
    """An initialized device is bound to its runner's thread (vendor SDKs, open handles), except a
    port device: it holds settings, not the line, so it may follow a device that names it."""
    return device.initialized and device.device_type != "Serial"
