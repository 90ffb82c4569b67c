"""Serial ports of C++ devices (stand-in core): a C++ device whose Port names an MMKernel port
device (`Device,COM1,SerialManager,COM1`) gets Micro-Manager's C++ SerialManager port of that
label in its core, with the port device's line settings, on the port device's runner; a port
used by both a Python and a C++ device is refused, whichever initializes second; the C++ port
leaves the core with its last C++ device."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmkernel_core import ConfigError, Kernel
from mmkernel_sdk import Generic
from mmkernel_sdk.errors import DeviceError, PortError, PropertyError
from mmkernel_sdk.resources import SerialPort

from . import standin
from .standin import StandInCore

CONFIG = """Device,COM1,SerialManager,COM1
Device,Z,mm:DemoSerial,DSerialStage
Device,Cam,mm:DemoCamera,DCam
Property,COM1,BaudRate,115200
Property,COM1,Parity,Even
Property,COM1,AnswerTimeout,2000
Property,Z,Port,COM1
Property,Core,Initialize,1
"""


class Wheel(Generic):
    """A Python device on a serial port"""

    port = SerialPort(terminator="\n", answer_timeout_ms=200)


@pytest.fixture
def cores(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The stand-in's core groups (DemoSerial's DSerialStage is only in the stand-in)."""
    from mmkernel_adapter_micromanager import set_core_factory

    for name in ("MMKERNEL_MM_PREFER", "MMKERNEL_MM_GROUPING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MMKERNEL_MM_ADAPTER_PATH", "")
    monkeypatch.setenv("MICROMANAGER_PATH", "/nonexistent-mm-path")
    yield set_core_factory(StandInCore)
    set_core_factory(None)


def _core(cores: Any, kernel: Kernel, name: str = "main") -> Any:
    """`kernel`'s core `name` (cores are per kernel)."""
    return cores.group(name, [], kernel).core


def _in_core(cores: Any, kernel: Kernel, name: str = "main") -> set[str]:
    return set(_core(cores, kernel, name).getLoadedDevices()) - {"Core"}


def _config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "serial.cfg"
    path.write_text(text)
    return path


def test_a_cpp_device_on_a_port_device_gets_the_cpp_serial_port_in_its_core(cores: Any, tmp_path: Path) -> None:
    with Kernel(timeout=10) as k:
        assert k.load_config(_config(tmp_path)).ok
        core = _core(cores, k)
        assert _in_core(cores, k) == {"COM1", "Z", "Cam"}
        settings = {name: core.getProperty("COM1", name) for name in ("BaudRate", "Parity", "DataBits", "StopBits")}
        assert settings == {"BaudRate": "115200", "Parity": "Even", "DataBits": "8", "StopBits": "1"}
        assert float(core.getProperty("COM1", "AnswerTimeout")) == 2000.0
        runners = {label: k.internals.device(label).runner for label in ("COM1", "Z", "Cam")}
        assert runners["COM1"] is runners["Z"] is runners["Cam"]
        k.set_position("Z", 5.0)
        assert k.get_position("Z") == pytest.approx(5.0)


def test_a_cpp_port_with_a_port_device_initialized_first_still_shares_the_runner(cores: Any) -> None:
    with Kernel(timeout=10) as k:
        k.load_device("COM1", "SerialManager", "COM1")
        k.initialize("COM1")
        k.load_device("Cam", "mm:DemoCamera", "DCam")
        k.initialize("Cam")
        k.load_device("Z", "mm:DemoSerial", "DSerialStage")
        k.set_property("Z", "Port", "COM1")
        k.initialize("Z")  # the port device holds no line: it follows the core's runner
        assert k.internals.device("COM1").runner is k.internals.device("Z").runner is k.internals.device("Cam").runner
        assert _in_core(cores, k) == {"COM1", "Z", "Cam"}


def test_a_port_a_python_device_has_open_is_refused_to_a_cpp_device(cores: Any) -> None:
    with Kernel(timeout=10, port_map={"COM1": "loop://"}) as k:
        k.load_device("COM1", "SerialManager", "COM1")
        k.load_device("Wheel", Wheel())
        k.set_property("Wheel", "Port", "COM1")
        k.initialize("COM1")
        k.initialize("Wheel")
        k.load_device("Z", "mm:DemoSerial", "DSerialStage")
        k.set_property("Z", "Port", "COM1")
        refused = r"'Z'.*cannot use port 'COM1'.*'Wheel'.*one side must own the serial line"
        with pytest.raises(DeviceError, match=refused):
            k.initialize("Z")
        assert cores.names() == []  # no C++ port was loaded, and the core made for Z went again
        assert k.internals.device_object("COM1").line_users() == ["Wheel"]  # the Python device keeps its line


def test_a_port_a_cpp_device_uses_is_refused_to_a_python_device(cores: Any) -> None:
    with Kernel(timeout=10) as k:
        k.load_device("COM1", "SerialManager", "COM1")  # not initialized: its line settings could still change
        k.load_device("Cam", "mm:DemoCamera", "DCam")
        k.load_device("Z", "mm:DemoSerial", "DSerialStage")
        k.set_property("Z", "Port", "COM1")
        k.initialize("Cam")
        k.initialize("Z")
        k.load_device("Wheel", Wheel())
        k.set_property("Wheel", "Port", "COM1")
        with pytest.raises(PortError, match=r"'Wheel' cannot use port 'COM1'.*C\+\+ SerialManager port 'COM1'.*'Z'.*"
                                            r"one side must own the serial line"):  # fmt: skip
            k.initialize("Wheel")
        with pytest.raises(PropertyError, match=r"while the port is open.*mmcore:main"):  # the C++ port has them
            k.set_property("COM1", "BaudRate", 19200)
        k.unload("Z")
        assert _in_core(cores, k) == {"Cam"}  # the C++ port left with its last C++ device
        assert k.internals.device_object("COM1").line_holder() is None
        k.set_property("COM1", "BaudRate", 19200)


def test_unloading_and_loading_again_leaves_no_cpp_port_behind(cores: Any, tmp_path: Path) -> None:
    with Kernel(timeout=10) as k:
        path = _config(tmp_path)
        assert k.load_config(path).ok
        assert k.load_config(path).ok  # the previous system goes first, its C++ port with it
        assert _in_core(cores, k) == {"COM1", "Z", "Cam"}
        k.unload("Z")
        k.unload("Cam")
        assert cores.names() == []  # the core went with its last device
        k.load_device("Z", "mm:DemoSerial", "DSerialStage")
        k.set_property("Z", "Port", "COM1")
        k.initialize("Z")
        assert _in_core(cores, k) == {"COM1", "Z"}
        assert _core(cores, k).getProperty("COM1", "BaudRate") == "115200"


def test_save_config_writes_the_port_lines_back_unchanged(cores: Any, tmp_path: Path) -> None:
    with Kernel(timeout=10) as k:
        assert k.load_config(_config(tmp_path)).ok
        saved = tmp_path / "saved.cfg"
        k.save_config(saved)
        lines = saved.read_text().splitlines()
        for line in ("Device,COM1,SerialManager,COM1", "Property,COM1,BaudRate,115200", "Property,COM1,Parity,Even",
                     "Property,COM1,AnswerTimeout,2000", "Property,Z,Port,COM1"):  # fmt: skip
            assert line in lines  # AnswerTimeout too: pre-init in Micro-Manager, before-init here
        assert not any("mm:SerialManager" in line for line in lines)
        assert not any("DelayBetweenCharsMs" in line for line in lines)  # at its default: not written
        assert k.load_config(saved).ok
        core = _core(cores, k)
        assert core.getProperty("COM1", "BaudRate") == "115200"
        assert float(core.getProperty("COM1", "AnswerTimeout")) == 2000.0


def test_without_the_cpp_serialmanager_module_the_error_says_so(
    cores: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(standin.MODULES, "SerialManager")
    with Kernel(timeout=10) as k:
        k.load_device("COM1", "SerialManager", "COM1")
        k.load_device("Z", "mm:DemoSerial", "DSerialStage")
        k.set_property("Z", "Port", "COM1")
        with pytest.raises(DeviceError, match=r"'Z'.*port 'COM1'.*no SerialManager adapter library"):
            k.initialize("Z")
        assert cores.names() == []


def test_cpp_devices_on_one_port_must_share_a_core(cores: Any, tmp_path: Path) -> None:
    with Kernel(timeout=10) as k:
        assert k.load_config(_config(tmp_path)).ok
        k.load_device("Z2", "mm:DemoSerial", "DSerialStage")
        k.set_property("Z2", "Port", "COM1")
        k.set_property("Z2", "MMCore", "second")
        with pytest.raises(DeviceError, match=r"'Z2'.*port 'COM1'.*core 'main'.*MMCore"):
            k.initialize("Z2")
        k.load_device("Z3", "mm:DemoSerial", "DSerialStage")
        k.set_property("Z3", "Port", "COM1")
        k.initialize("Z3")  # the same core: the same C++ port
        k.unload("Z")
        assert "COM1" in _in_core(cores, k)  # Z3 still uses it
        k.unload("Z3")
        assert _in_core(cores, k) == {"Cam"}


def test_a_failed_load_puts_the_cpp_port_back_with_the_previous_system(cores: Any, tmp_path: Path) -> None:
    failing = tmp_path / "failing.cfg"
    failing.write_text(CONFIG.replace("BaudRate,115200", "BaudRate,19200") + "Property,Cam,Binning,3\n")
    with Kernel(timeout=10) as k:
        assert k.load_config(_config(tmp_path)).ok
        with pytest.raises(ConfigError, match="Binning"):
            k.load_config(failing)
        assert _in_core(cores, k) == {"COM1", "Z", "Cam"}
        assert _core(cores, k).getProperty("COM1", "BaudRate") == "115200"
        k.set_position("Z", 2.0)
        assert k.get_position("Z") == pytest.approx(2.0)


def test_a_path_one_kernels_cpp_port_has_open_is_refused_to_another_kernels(cores: Any, tmp_path: Path) -> None:
    """Micro-Manager's SerialManager keeps one port object per path in a process (the real
    adapter's test: test_cpp_serial_ports)."""
    with Kernel(timeout=10, port_map={"COM1": "/dev/ttyUSB0"}) as k:
        assert k.load_config(_config(tmp_path)).ok
        with Kernel(timeout=10, port_map={"COM2": "/dev/ttyUSB0"}) as other:
            other.load_device("COM2", "SerialManager", "COM2")
            other.load_device("Z", "mm:DemoSerial", "DSerialStage")
            other.set_property("Z", "Port", "COM2")
            taken = r"'Z'.*port 'COM2' \(/dev/ttyUSB0\) is open already.*port 'COM1' in core 'main' of another kernel"
            with pytest.raises(DeviceError, match=taken):
                other.initialize("Z")
            assert cores.names(other) == []
            k.unload("Z")
            other.initialize("Z")  # the path is free again
            assert _in_core(cores, other) == {"COM2", "Z"}
