"""Loading, initializing and unloading devices, and the errors bad input gets."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest

from mmkernel_core import (
    AdapterRegistry,
    ConfigError,
    DeviceError,
    DeviceStateError,
    DeviceTimeoutError,
    DeviceTypeError,
    InitializationError,
    Kernel,
    KernelClosedError,
    LogEntry,
    UnknownDeviceError,
)
from mmkernel_sdk import Generic, Hub, prop
from mmkernel_sdk.testing import Gate, SimShutter, SimStage, SimWheel


class Tracked(Generic):
    """Records lifecycle calls and the thread they ran on."""

    def __init__(self, fail_init: bool = False) -> None:
        self.fail_init = fail_init
        self.calls: list[tuple[str, str]] = []

    def initialize(self) -> None:
        self.calls.append(("initialize", threading.current_thread().name))
        if self.fail_init:
            raise OSError("port COM9 not found")

    def shutdown(self) -> None:
        self.calls.append(("shutdown", threading.current_thread().name))


@pytest.fixture
def registry() -> AdapterRegistry:
    registry = AdapterRegistry()
    registry.register("Sim", SimStage, "Stage")
    registry.register("Sim", SimShutter, "Shutter")
    registry.register("Sim", SimWheel, "Wheel")
    return registry


def test_load_by_adapter_and_device_name(registry: AdapterRegistry) -> None:
    with Kernel(adapters=registry) as kernel:
        kernel.load_device("Z", "Sim", "Stage")
        kernel.initialize("Z")
        assert kernel.device_type("Z") == "Stage"
        assert kernel.get_property("Z", "Name") == "Stage"
        assert kernel.devices() == ["Z", "Core"]


def test_unknown_adapter_and_device_names_list_what_exists(registry: AdapterRegistry) -> None:
    with Kernel(adapters=registry) as kernel:
        with pytest.raises(
            UnknownDeviceError,
            match=r"no adapter named 'Simm' \(did you mean 'Sim'\?\); available adapters: SerialManager, Sim",
        ):
            kernel.load_device("Z", "Simm", "Stage")
        with pytest.raises(
            UnknownDeviceError,
            match=r"has no device named 'Stag' \(did you mean 'Stage'\?\); "
            r"its devices: Shutter, Stage, Wheel",
        ):
            kernel.load_device("Z", "Sim", "Stag")
        assert kernel.devices() == ["Core"]


def test_loading_a_label_twice_is_refused(kernel: Kernel) -> None:
    kernel.load_device("Z", SimStage())
    with pytest.raises(DeviceStateError, match="already loaded as 'Z'"):
        kernel.load_device("Z", SimShutter())
    assert kernel.device_type("Z") == "Stage"


@pytest.mark.parametrize("label", ["", " Z", "A,B"])
def test_bad_labels_are_refused(kernel: Kernel, label: str) -> None:
    with pytest.raises(DeviceStateError, match="invalid device label"):
        kernel.load_device(label, SimStage())


def test_constructor_failure_leaves_nothing_loaded(registry: AdapterRegistry) -> None:
    class Broken(Generic):
        def __init__(self) -> None:
            raise ImportError("vendor SDK missing")

    registry.register("Sim", Broken, "Broken")
    with Kernel(adapters=registry) as kernel:
        with pytest.raises(DeviceError, match="load failed: ImportError: vendor SDK missing"):
            kernel.load_device("B", "Sim", "Broken")
        assert kernel.devices() == ["Core"]
        kernel.load_device("B", "Sim", "Stage")  # the label is free again
        assert kernel.devices() == ["B", "Core"]


def test_initialize_all_reports_every_failure_and_keeps_the_others(kernel: Kernel) -> None:
    good, bad1, bad2 = Tracked(), Tracked(fail_init=True), Tracked(fail_init=True)
    kernel.load_device("Good", good)
    kernel.load_device("Bad1", bad1)
    kernel.load_device("Bad2", bad2)
    with pytest.raises(InitializationError, match="2 devices failed to initialize") as info:
        kernel.initialize_all()
    assert sorted(info.value.failures) == ["Bad1", "Bad2"]
    assert "port COM9 not found" in str(info.value)
    assert kernel.device_health("Good").ok
    assert kernel.device_health("Bad1").state == "failed"
    assert good.calls == [("initialize", "mmkernel-runner-Good")]
    kernel.get_property("Good", "Name")  # usable


def test_initialize_twice_is_refused(kernel: Kernel) -> None:
    kernel.load_device("T", Tracked())
    kernel.initialize("T")
    with pytest.raises(DeviceStateError, match="'T' is already initialized"):
        kernel.initialize("T")


def test_unload_runs_shutdown_on_the_device_thread(kernel: Kernel) -> None:
    tracked = Tracked()
    kernel.load_device("T", tracked)
    kernel.initialize("T")
    kernel.unload("T")
    assert tracked.calls[-1] == ("shutdown", "mmkernel-runner-T")
    assert kernel.devices() == ["Core"]
    with pytest.raises(UnknownDeviceError, match="no device loaded as 'T'"):
        kernel.get_property("T", "Name")


def test_hub_with_peripherals_unloads_after_them(kernel: Kernel) -> None:
    kernel.load_device("Hub", Hub())
    kernel.load_device("P", Tracked(), parent="Hub")
    with pytest.raises(DeviceStateError, match="'Hub' is the hub of P; unload those first"):
        kernel.unload("Hub")
    kernel.unload_all()
    assert kernel.devices() == ["Core"]


def test_close_shuts_every_device_down_and_refuses_later_calls() -> None:
    devices = [Tracked() for _ in range(3)]
    kernel = Kernel()
    for index, device in enumerate(devices):
        kernel.load_device(f"T{index}", device)
    kernel.initialize_all()
    kernel.close()
    for index, device in enumerate(devices):
        assert device.calls[-1] == ("shutdown", f"mmkernel-runner-T{index}")
    with pytest.raises((KernelClosedError, UnknownDeviceError)):
        kernel.get_property("T0", "Name")


def test_verbs_check_the_device_type(kernel: Kernel) -> None:
    kernel.load_device("Shutter", SimShutter())
    kernel.initialize("Shutter")
    with pytest.raises(DeviceTypeError, match="'Shutter' is a Shutter device; set_position\\(\\) needs a Stage"):
        kernel.set_position("Shutter", 1)
    with pytest.raises(DeviceTypeError, match="get_xy_position\\(\\) needs a XYStage"):
        kernel.get_xy_position("Shutter")
    with pytest.raises(DeviceTypeError, match="set_state\\(\\) needs a State device"):
        kernel.set_state("Shutter", 1)


def test_unknown_label_suggests_close_matches(kernel: Kernel) -> None:
    kernel.load_device("Camera", SimShutter())
    with pytest.raises(UnknownDeviceError, match=r"no device loaded as 'Camra' \(did you mean 'Camera'\?\)"):
        kernel.busy("Camra")


def test_log_callback_gets_structured_records_from_adapters(kernel: Kernel) -> None:
    entries: list[LogEntry] = []

    class Chatty(Generic):
        def initialize(self) -> None:
            self.log.info("homing axis %d", 2)

    kernel.add_log_callback(entries.append, level=logging.INFO)
    kernel.load_device("C", Chatty())
    kernel.initialize("C")
    kernel.events.flush()
    kernel.remove_log_callback(entries.append)
    entry = next(e for e in entries if e.message == "homing axis 2")
    assert (entry.level, entry.device, entry.thread) == ("INFO", "C", "mmkernel-runner-C")
    assert entry.time > 0


def test_a_load_that_times_out_leaves_nothing_behind(kernel: Kernel) -> None:
    from mmkernel_core import DeviceTimeoutError
    from mmkernel_sdk.testing import Gate

    gate = Gate()

    class SlowToBuild(Generic):
        def __init__(self) -> None:
            gate.hold()

    registry = kernel.adapters
    registry.register("Sim", SlowToBuild, "Slow")
    with pytest.raises(DeviceTimeoutError, match="'load' timed out"):
        kernel.load_device("S", "Sim", "Slow", timeout=0.1)
    gate.release.set()
    kernel.events.flush()
    assert kernel.devices() == ["Core"]
    kernel.load_device("S", SimStage())  # the label is free
    assert kernel.device_type("S") == "Stage"


class SlowPort(Generic):
    """A pre-init Port whose setter hangs, like opening a dead serial line."""

    Port = prop(str, default="", pre_init=True)
    gate: Gate

    @Port.setter
    def Port(self, value: str) -> None:
        if value == "COM-dead":
            type(self).gate.hold()


def test_a_load_whose_pre_init_step_times_out_leaves_nothing_behind(tmp_path: Path) -> None:
    SlowPort.gate = Gate()
    registry = AdapterRegistry()
    registry.register("Test", SlowPort, "Port device")
    config = tmp_path / "dead.cfg"
    config.write_text("Property,Core,TimeoutMs,200\nDevice,P,Test,Port device\nProperty,P,Port,COM-dead\n")
    with Kernel(timeout=5, adapters=registry) as kernel:
        with pytest.raises(ConfigError, match="line 3"):
            kernel.load_config(config)
        assert kernel.devices() == ["Core"]
        kernel.load_device("P", "Test", "Port device")  # the label can be reused at once
        kernel.set_property("P", "Port", "COM2")
        kernel.initialize("P")
        assert kernel.get_property("P", "Port") == "COM2"
        SlowPort.gate.release.set()


class SlowToRead(Generic):
    """A pre-init property whose getter asks the hardware and hangs (a dead serial line)."""

    Port = prop(str, pre_init=True)
    gate: Gate

    @Port.getter
    def Port(self) -> str:
        type(self).gate.hold()
        return "COM1"


def test_a_load_that_times_out_reading_a_pre_init_property_leaves_no_zombie() -> None:
    """The load's deadline passes while the runner reads the device's pre-init properties: the
    label must not stay behind half-loaded (listed, every call "the load failed", not unloadable,
    never loadable again)."""
    SlowToRead.gate = Gate()
    with Kernel(timeout=5) as kernel:
        with pytest.raises(DeviceTimeoutError):
            kernel.load_device("D", SlowToRead(), timeout=0.2)
        SlowToRead.gate.wait_entered()
        SlowToRead.gate.release.set()  # the read returns after its caller gave up
        kernel.wait_for_system()
        assert kernel.devices() == ["Core"]
        kernel.load_device("D", SimStage())  # the label is free again
        kernel.initialize("D")
        kernel.set_position("D", 3.0)
        kernel.unload("D")
        assert kernel.devices() == ["Core"]


def test_loads_and_unloads_on_other_threads_never_break_initialize_all_or_unload() -> None:
    """initialize_all() and unload() once iterated the device table while other threads changed
    it ("dictionary changed size during iteration"); a thread switch every 10 us makes that likely."""
    problems: list[str] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with Kernel(timeout=10) as kernel:
            done = threading.Event()

            def churn(prefix: str) -> None:
                for index in range(150):
                    label = f"{prefix}{index % 4}"
                    try:
                        kernel.load_device(label, SimShutter() if index % 2 else SimStage())
                        kernel.set_role("Shutter", label) if index % 2 else None
                        kernel.unload(label)
                    except Exception as error:  # noqa: BLE001 - collected and checked below
                        problems.append(f"{label}: {error!r}")

            def initialize() -> None:
                while not done.is_set():
                    try:
                        kernel.initialize_all()
                        kernel.update_cache()
                    except Exception as error:  # noqa: BLE001
                        if "changed size" in str(error) or isinstance(error, RuntimeError):
                            problems.append(repr(error))

            churners = [threading.Thread(target=churn, args=(prefix,)) for prefix in "AB"]
            other = threading.Thread(target=initialize)
            for thread in [*churners, other]:
                thread.start()
            for thread in churners:
                thread.join(120)
            done.set()
            other.join(60)
    finally:
        sys.setswitchinterval(interval)
    assert problems == []
