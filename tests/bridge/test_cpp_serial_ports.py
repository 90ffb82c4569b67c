"""Serial ports of C++ devices with Micro-Manager's real SerialManager and ThorlabsSC10 adapters
(built by plugins/mmkernel-adapter-micromanager/tools/build-mm-serial-adapters.sh) on a pseudo-
terminal: the bridge loads the C++ SerialManager port of the port device's label into the
shutter's core, and the bytes on the wire are the SC10's protocol, answered by a simulator.
Skipped unless MMKERNEL_TEST_MM_ADAPTERS holds both libraries."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmkernel_core import ConfigError, Kernel
from mmkernel_sdk import Generic
from mmkernel_sdk.errors import DeviceError, DeviceTimeoutError, PortError
from mmkernel_sdk.resources import SerialPort
from mmkernel_sdk.testing.sim import LineSimulator, command

from .conftest import real_folder, skip_reason
from .ptysim import PtySimulator

LIBS = ("libmmgr_dal_SerialManager.so.0", "libmmgr_dal_ThorLabsSC10.so.0")
CONFIG = """Device,COM1,SerialManager,COM1
Device,Shutter,ThorLabsSC10,SC10
Property,COM1,BaudRate,9600
Property,COM1,AnswerTimeout,300
Property,Shutter,Port,COM1
Property,Core,Initialize,1
"""


class SC10Sim(LineSimulator):
    """Thorlabs SC10: echoes each command, then its answer line, then the prompt '>'."""

    read_terminator = "\r"
    write_terminator = "\r"
    echo = True
    prompt = ">"
    unknown = "CMD_NOT_DEFINED"
    enabled = 0
    mode = 0

    @command(r"\*idn\?")
    def identify(self) -> str:
        return "THORLABS SC10 VERSION 1.07"

    @command(r"mode=(\d)")
    def set_mode(self, mode: str) -> None:
        self.mode = int(mode)

    @command(r"ens\?")
    def get_enabled(self) -> str:
        return str(self.enabled)

    @command(r"ens")
    def toggle(self) -> None:
        self.enabled ^= 1


class Wheel(Generic):
    """A Python device on a serial port"""

    port = SerialPort(terminator="\r", answer_timeout_ms=200)


@pytest.fixture
def cores(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """pymmcore's core groups with the real adapters' folder, or a one-line skip."""
    folder = real_folder()
    if folder is None or skip_reason().startswith("pymmcore"):
        pytest.skip(skip_reason())
    missing = [lib for lib in LIBS if not (Path(folder) / lib).exists()]
    if missing:
        build = "plugins/mmkernel-adapter-micromanager/tools/build-mm-serial-adapters.sh"
        pytest.skip(f"{', '.join(missing)} not in {folder} ({build} builds them)")
    from mmkernel_adapter_micromanager import set_core_factory

    for name in ("MMKERNEL_MM_PREFER", "MMKERNEL_MM_GROUPING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MMKERNEL_MM_ADAPTER_PATH", folder)
    yield set_core_factory(None)
    set_core_factory(None)


@pytest.fixture
def sim() -> Iterator[PtySimulator]:
    with PtySimulator(SC10Sim()) as pty:
        yield pty


@pytest.fixture
def k(cores: Any, sim: PtySimulator) -> Iterator[Kernel]:
    """A kernel whose port COM1 is the simulator's pseudo-terminal."""
    with Kernel(timeout=10, port_map={"COM1": sim.path}) as kernel:
        yield kernel


def _config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "sc10.cfg"
    path.write_text(text)
    return path


def _in_core(cores: Any, k: Kernel) -> set[str]:
    return set(cores.group("main", [], k).core.getLoadedDevices()) - {"Core"}


def _opened(sim: PtySimulator) -> int:
    """How many of the process's file descriptors have the simulator's tty open besides its own."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("no /proc/self/fd to see which files are open")
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.path.realpath(fd) == sim.path
        except OSError:
            continue  # closed while listed
    return count - 1


def test_the_config_loads_and_the_shutter_speaks_sc10_through_the_cpp_port(
    cores: Any, sim: PtySimulator, k: Kernel, tmp_path: Path
) -> None:
    assert k.load_config(_config(tmp_path)).ok
    assert k.devices() == ["COM1", "Shutter", "Core"]  # the C++ port is not a device of its own
    assert _in_core(cores, k) == {"COM1", "Shutter"}
    core = cores.group("main", [], k).core
    assert core.getProperty("COM1", "BaudRate") == "9600"
    assert float(core.getProperty("COM1", "AnswerTimeout")) == 300.0
    assert sim.simulator.received[:2] == ["*idn?", "mode=1"]  # SC10's initialize, on the wire
    assert sim.simulator.mode == 1
    assert k.get_property("Shutter", "Device Info").startswith("THORLABS SC10")
    sim.simulator.received.clear()
    k.set_shutter_open("Shutter", True)
    assert sim.simulator.enabled == 1
    assert k.get_shutter_open("Shutter") is True
    assert sim.simulator.received[:2] == ["ens?", "ens"]  # the SC10 toggles: it asks first
    k.set_shutter_open("Shutter", False)
    assert sim.simulator.enabled == 0


def test_a_python_device_is_refused_the_port_the_cpp_shutter_uses(k: Kernel, tmp_path: Path) -> None:
    assert k.load_config(_config(tmp_path)).ok
    k.load_device("Wheel", Wheel())
    k.set_property("Wheel", "Port", "COM1")
    with pytest.raises(PortError, match=r"'Wheel' cannot use port 'COM1[^']*'.*C\+\+ SerialManager port.*'Shutter'"):
        k.initialize("Wheel")
    assert k.get_shutter_open("Shutter") is False  # the C++ shutter still has its line


def test_unloading_and_loading_again_leaves_no_cpp_port_behind(
    cores: Any, sim: PtySimulator, k: Kernel, tmp_path: Path
) -> None:
    path = _config(tmp_path)
    assert k.load_config(path).ok
    assert _opened(sim) == 1  # the C++ port
    k.unload("Shutter")
    assert cores.names(k) == []  # the C++ port left with its only C++ device, and the core went
    assert _opened(sim) == 0  # and closed the tty
    assert k.internals.device_object("COM1").line_holder() is None
    sim.simulator.received.clear()
    k.load_device("Shutter", "ThorLabsSC10", "SC10")
    k.set_property("Shutter", "Port", "COM1")
    k.initialize("Shutter")  # the pty opens again: the earlier C++ port closed it
    assert _in_core(cores, k) == {"COM1", "Shutter"}
    assert sim.simulator.received[:2] == ["*idn?", "mode=1"]
    assert k.load_config(path).ok  # the previous system goes first, its C++ port with it
    assert _in_core(cores, k) == {"COM1", "Shutter"}
    k.set_shutter_open("Shutter", True)
    assert sim.simulator.enabled == 1


def test_save_config_round_trips_the_port_device_and_the_shutter(
    cores: Any, sim: PtySimulator, k: Kernel, tmp_path: Path
) -> None:
    assert k.load_config(_config(tmp_path)).ok
    saved = tmp_path / "saved.cfg"
    k.save_config(saved)
    lines = saved.read_text().splitlines()
    for line in ("Device,COM1,SerialManager,COM1", "Device,Shutter,ThorLabsSC10,SC10", "Property,COM1,BaudRate,9600",
                 "Property,COM1,AnswerTimeout,300", "Property,Shutter,Port,COM1"):  # fmt: skip
        assert line in lines
    assert k.load_config(saved).ok
    assert _in_core(cores, k) == {"COM1", "Shutter"}
    core = cores.group("main", [], k).core
    assert core.getProperty("COM1", "BaudRate") == "9600"
    assert float(core.getProperty("COM1", "AnswerTimeout")) == 300.0  # not MM's 500 again
    k.set_shutter_open("Shutter", True)
    assert sim.simulator.enabled == 1


def test_a_controller_that_stops_answering_is_a_device_error_naming_the_shutter(
    sim: PtySimulator, k: Kernel, tmp_path: Path
) -> None:
    assert k.load_config(_config(tmp_path)).ok
    sim.simulator.fail_next("stuck")
    with pytest.raises(DeviceError, match=r"'Shutter'") as caught:
        k.set_shutter_open("Shutter", True, timeout=5)
    assert "timed out" not in str(caught.value).split("'Shutter'", 1)[0]  # the C++ answer timeout, not the kernel's
    assert k.device_health("Shutter").state == "ok"
    sim.simulator.unstick()
    k.set_shutter_open("Shutter", True)  # the kernel and the line answer again
    assert sim.simulator.enabled == 1


def test_a_controller_silent_past_the_kernels_deadline_faults_the_core_until_the_cpp_call_returns(
    sim: PtySimulator, k: Kernel, tmp_path: Path
) -> None:
    assert k.load_config(_config(tmp_path, CONFIG.replace("AnswerTimeout,300", "AnswerTimeout,1500"))).ok
    recovered = threading.Event()

    def on_log(entry: Any) -> None:
        if "recovered" in entry.message and entry.device == "Shutter":
            recovered.set()

    k.add_log_callback(on_log, level=logging.WARNING)
    sim.simulator.fail_next("stuck")
    with pytest.raises(DeviceTimeoutError, match=r"'Shutter'"):
        k.set_shutter_open("Shutter", True, timeout=0.3)  # SerialManager waits 1.5 s for the answer
    assert k.device_health("Shutter").state == "faulted"
    assert k.device_health("COM1").state == "faulted"  # the port device shares the core's runner
    assert recovered.wait(10)  # the C++ answer timeout ended the call
    sim.simulator.unstick()
    k.set_shutter_open("Shutter", True)
    assert sim.simulator.enabled == 1


def test_a_port_mapped_to_a_missing_tty_names_the_path_and_leaves_nothing_behind(cores: Any, tmp_path: Path) -> None:
    missing = str(tmp_path / "ttyUSB9")
    with Kernel(timeout=10, port_map={"COM1": missing}) as k:
        k.load_device("COM1", "SerialManager", "COM1")
        k.load_device("Shutter", "ThorLabsSC10", "SC10")
        k.set_property("Shutter", "Port", "COM1")
        with pytest.raises(DeviceError, match=rf"'Shutter'.*initialize port 'COM1' \({missing}\).*No such file"):
            k.initialize("Shutter")
        assert cores.names(k) == []  # neither the C++ port nor the core made for it stayed
        assert k.internals.device_object("COM1").line_holder() is None


def test_a_second_kernel_is_refused_the_tty_a_cpp_port_has_open_and_gets_it_once_free(
    cores: Any, sim: PtySimulator, k: Kernel, tmp_path: Path
) -> None:
    """MM's SerialManager keeps one port object per path in a process: a second core loading the
    path would share it, and unloading either closed it under the other's shutter."""
    path = _config(tmp_path)
    assert k.load_config(path).ok
    with Kernel(timeout=10, port_map={"COM1": sim.path}) as other:
        other.load_device("COM1", "SerialManager", "COM1")
        other.load_device("Shutter", "ThorLabsSC10", "SC10")
        other.set_property("Shutter", "Port", "COM1")
        taken = rf"'Shutter'.*port 'COM1' \({sim.path}\) is open already.*core 'main' of another kernel.*'Shutter'"
        with pytest.raises(DeviceError, match=taken):
            other.initialize("Shutter")
        assert cores.names(other) == []
        k.set_shutter_open("Shutter", True)  # the first kernel's shutter still has its line
        assert sim.simulator.enabled == 1
        k.unload("Shutter")
        other.initialize("Shutter")  # the path is free again
        other.set_shutter_open("Shutter", False)
        assert sim.simulator.enabled == 0


def test_a_failed_load_puts_the_cpp_port_back_with_the_previous_system(
    cores: Any, sim: PtySimulator, k: Kernel, tmp_path: Path
) -> None:
    assert k.load_config(_config(tmp_path)).ok
    failing = tmp_path / "failing.cfg"
    failing.write_text(CONFIG.replace("BaudRate,9600", "BaudRate,19200") + "Property,Shutter,Nope,1\n")
    with pytest.raises(ConfigError, match="Nope"):
        k.load_config(failing)
    assert _in_core(cores, k) == {"COM1", "Shutter"}
    assert cores.group("main", [], k).core.getProperty("COM1", "BaudRate") == "9600"
    assert _opened(sim) == 1  # one C++ port again, the failed file's closed
    k.set_shutter_open("Shutter", True)
    assert sim.simulator.enabled == 1
