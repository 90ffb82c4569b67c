"""A load that fails or passes its deadline leaves nothing behind, at whatever moment that
happens: the label is free again by the time the caller hears of it, no value of the abandoned
device stays in the cache, its device_loaded never follows its device_unloaded, and a peripheral
whose hub was unloaded while it waited says so.

The moments are forced with gates in the kernel's own steps (its cleanup after a failed load,
its cache store), so each test exercises the same interleaving every run."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from mmkernel_core import DeviceError, DeviceStateError, DeviceTimeoutError, Kernel
from mmkernel_sdk import Generic, Hub, prop
from mmkernel_sdk.errors import MMKernelError
from mmkernel_sdk.testing import Gate, SimStage


class ReadsForever(Generic):
    """A pre-init property whose getter hangs until the test lets it go (a dead serial line)."""

    Port = prop(str, pre_init=True)

    def __init__(self) -> None:
        self.gate = Gate()

    @Port.getter
    def Port(self) -> str:
        self.gate.hold()
        return "COM1"


class ReadFails(Generic):
    Port = prop(str, pre_init=True)

    @Port.getter
    def Port(self) -> str:
        raise OSError("no such hardware")


@pytest.mark.parametrize("how", ["times out", "fails"])
def test_the_label_is_free_again_when_the_caller_hears_its_load_failed(how: str) -> None:
    """The caller retries at once, while the kernel is still cleaning up after the failure: the
    retry is not refused as "already loaded" (the caller is told only once the label is free)."""
    cleaning_up = Gate()
    device = ReadsForever() if how == "times out" else ReadFails()
    with Kernel(timeout=5) as kernel:
        abandon = kernel._abandon

        def slow_abandon(*args: Any) -> None:
            cleaning_up.hold()
            abandon(*args)

        kernel._abandon = slow_abandon  # type: ignore[method-assign]
        outcome: dict[str, Any] = {}

        def load_then_retry() -> None:
            try:
                kernel.load_device("A", device, timeout=0.2)
            except DeviceError as error:
                outcome["load"] = error
            try:
                kernel.load_device("A", SimStage())
                outcome["retry"] = kernel.device_type("A")
            except MMKernelError as error:
                outcome["retry"] = error

        caller = threading.Thread(target=load_then_retry)
        caller.start()
        cleaning_up.wait_entered()
        cleaning_up.release.set()
        caller.join(10)
        if isinstance(device, ReadsForever):
            device.gate.release.set()
        assert isinstance(outcome["load"], DeviceTimeoutError if how == "times out" else DeviceError)
        assert outcome["retry"] == "Stage"


class OwnedLock:
    """A stand-in for the kernel's device-table lock that says which thread holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.owner: int | None = None

    def __enter__(self) -> OwnedLock:
        self._lock.acquire()
        self.owner = threading.get_ident()
        return self

    def __exit__(self, *exc: object) -> None:
        self.owner = None
        self._lock.release()


class Described(Generic):
    Port = prop(str, default="COM1", pre_init=True)


def test_a_deadline_just_after_the_device_entered_the_table_leaves_nothing_of_it() -> None:
    """The load's deadline passes (and the kernel takes the device out again) right after the
    runner put it in the device table, before it cached its pre-init values."""
    with Kernel(timeout=5) as kernel:
        table_lock = kernel._table_lock = OwnedLock()  # type: ignore[assignment]
        events: list[tuple[str, str]] = []
        kernel.events.device_loaded.connect(lambda label: events.append(("loaded", label)))
        kernel.events.device_unloaded.connect(lambda label: events.append(("unloaded", label)))
        abandon, abandoning, abandoned = kernel._abandon, threading.Event(), threading.Event()

        def observed_abandon(*args: Any) -> None:
            abandoning.set()
            abandon(*args)
            abandoned.set()

        kernel._abandon = observed_abandon  # type: ignore[method-assign]
        cache = kernel.internals.cache
        store = cache.store

        def store_after_the_deadline(label: str, *args: Any, **kwargs: Any) -> None:
            if label == "X" and abandoning.wait(10) and table_lock.owner != threading.get_ident():
                abandoned.wait(10)  # the kernel could take the device out before this store
            store(label, *args, **kwargs)

        cache.store = store_after_the_deadline  # type: ignore[method-assign]
        with pytest.raises(DeviceTimeoutError):
            kernel.load_device("X", Described(), timeout=0.2)
        kernel.wait_for_system()
        kernel.events.flush()
        assert kernel.devices() == ["Core"]
        assert "X" not in kernel.system_state()
        assert events in ([], [("loaded", "X"), ("unloaded", "X")])
        kernel.load_device("X", SimStage())  # the label is free
        assert "Port" not in kernel.system_state()["X"]


class HubShutsDownSlowly(Hub):
    def __init__(self) -> None:
        self.gate = Gate()

    def shutdown(self) -> None:
        self.gate.hold()


def test_a_peripheral_queued_behind_its_hubs_shutdown_says_its_hub_was_unloaded() -> None:
    with Kernel(timeout=5) as kernel:
        hub = HubShutsDownSlowly()
        kernel.load_device("H", hub)
        kernel.initialize("H")
        unloading = kernel.submit.unload_all()
        hub.gate.wait_entered()  # the hub's shutdown runs on the runner the peripheral would share
        loading = kernel.submit.load_device("P", Generic(), parent="H")
        hub.gate.release.set()
        unloading.result(5)
        with pytest.raises(DeviceStateError, match="its hub 'H' was unloaded while it loaded"):
            loading.result(5)
        assert kernel.devices() == ["Core"]
        kernel.load_device("P", Generic())  # the label is free
