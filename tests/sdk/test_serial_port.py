"""SerialPort resources through the kernel, against protocol simulators: errors, lifecycle, sharing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from mmkernel_core import (
    DeviceError,
    InitializationError,
    Kernel,
    PortError,
    PortTimeoutError,
    PropertyError,
    ReplyError,
)
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.resources import SerialPort, open_keys
from mmkernel_sdk.testing.sim import LineSimulator, command, publish, unpublish


class TagSim(LineSimulator):
    """Replies to `ask <tag>` with `tag <tag>`; keeps a gain and a mode."""

    read_terminator = "\n"
    write_terminator = "\n"
    gain = 3
    mode = 0

    @command(r"ask (\S+)")
    def tag(self, tag: str) -> str:
        return f"tag {tag}"

    @command(r"GAIN\?")
    def get_gain(self) -> str:
        return str(self.gain)

    @command(r"GAIN (\d+)")
    def set_gain(self, value: str) -> None:
        self.gain = int(value)

    @command(r"MODE\?")
    def get_mode(self) -> str:
        return str(self.mode)

    @command(r"MODE (\d)")
    def set_mode(self, value: str) -> None:
        self.mode = int(value)


class Box(Generic):
    """A box with a serial line"""

    port = SerialPort(baudrate=19200, terminator="\n", answer_timeout_ms=200)
    Gain = prop(int, query="GAIN?", write="GAIN {}", limits=(0, 10))
    Mode = prop(str, query="MODE?", write="MODE {}", mapping={"Quiet": 0, "Loud": 1})

    def tag(self, text: str) -> str:
        return self.port.query(f"ask {text}")


@pytest.fixture
def sim() -> Iterator[TagSim]:
    simulator = TagSim()
    url = publish(simulator)
    simulator.url = url  # type: ignore[attr-defined]
    yield simulator
    unpublish(url)


def box(kernel: Kernel, port: str, label: str = "Box") -> Box:
    device = Box()
    kernel.load_device(label, device)
    kernel.set_property(label, "Port", port)
    kernel.initialize(label)
    return device


def test_command_properties_read_write_and_map(kernel: Kernel, sim: TagSim) -> None:
    box(kernel, sim.url)  # type: ignore[attr-defined]
    assert kernel.get_property("Box", "Gain") == 3
    kernel.set_property("Box", "Gain", 7)
    kernel.set_property("Box", "Mode", "Loud")
    assert (sim.gain, sim.mode) == (7, 1)
    assert kernel.get_property("Box", "Mode") == "Loud"
    with pytest.raises(PropertyError, match=r"'Gain': value 11 is out of range"):
        kernel.set_property("Box", "Gain", 11)
    assert "GAIN 11" not in sim.received  # refused before anything was sent


def test_a_reply_that_does_not_parse_is_a_reply_error(kernel: Kernel, sim: TagSim) -> None:
    box(kernel, sim.url)  # type: ignore[attr-defined]
    sim.gain = "lots"  # type: ignore[assignment]
    with pytest.raises(ReplyError, match=r"property 'Gain': reply 'lots' to 'GAIN\?' cannot be read as int"):
        kernel.get_property("Box", "Gain")


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        ("silent", PortTimeoutError, r"no reply ending in b'\\n' within \d+ ms after sending 'ask x'; nothing came"),
        ("truncated", PortTimeoutError, r"after sending 'ask x'; got b'tag' so far"),
        ("garbage", ReplyError, r"reply b'\\xff\\xfe\\x00garbage\\x9c' to 'ask x' is not ascii text"),
        ("stuck", PortTimeoutError, r"after sending 'ask x'"),
    ],
)
def test_faults_are_clear_errors_and_the_device_stays_usable(
    kernel: Kernel, sim: TagSim, fault: str, error: type[Exception], message: str
) -> None:
    device = box(kernel, sim.url)  # type: ignore[attr-defined]
    sim.fail_next(fault)
    with pytest.raises(error, match=message) as info:
        kernel._call(kernel._loaded("Box"), "tag", device.tag, "x").result()
    assert info.value.device == "Box" and info.value.port == sim.url  # type: ignore[attr-defined]
    assert f"device 'Box', port '{sim.url}'" in str(info.value)  # type: ignore[attr-defined]
    sim.unstick()
    assert kernel._call(kernel._loaded("Box"), "tag", device.tag, "y").result() == "tag y"
    assert kernel.device_health("Box").ok


def test_the_port_is_open_only_while_the_device_is_initialized(kernel: Kernel, sim: TagSim) -> None:
    key = f"serial:{sim.url}"  # type: ignore[attr-defined]
    kernel.load_device("Box", Box())
    kernel.set_property("Box", "Port", sim.url)  # type: ignore[attr-defined]
    assert key not in open_keys()
    kernel.initialize("Box")
    assert key in open_keys()
    kernel.unload("Box")
    assert key not in open_keys()


class FailingBox(Box):
    def initialize(self) -> None:
        self.port.query("ask hello")
        raise OSError("firmware too old")


def test_the_port_is_closed_after_a_failed_initialize(kernel: Kernel, sim: TagSim) -> None:
    kernel.load_device("Box", FailingBox())
    kernel.set_property("Box", "Port", sim.url)  # type: ignore[attr-defined]
    with pytest.raises(DeviceError, match="firmware too old"):
        kernel.initialize("Box")
    assert open_keys() == []
    assert sim.received == ["ask hello"]


def test_a_device_without_a_port_says_what_to_set(kernel: Kernel) -> None:
    kernel.load_device("Box", Box())
    with pytest.raises(PortError, match=r"device 'Box': set its Port property before initialize\(\)"):
        kernel.initialize("Box")
    kernel.set_property("Box", "Port", "sim://no-such-instrument")
    with pytest.raises(PortError, match=r"cannot open port 'sim://no-such-instrument': no simulator named"):
        kernel.initialize("Box")
    kernel.set_property("Box", "Port", "/dev/does-not-exist-mmk")
    with pytest.raises(PortError, match="cannot open port '/dev/does-not-exist-mmk'"):
        kernel.initialize("Box")
    assert kernel.device_health("Box").state == "failed"


def test_the_port_properties_have_micro_managers_names(kernel: Kernel) -> None:
    kernel.load_device("Box", Box())
    names = set(kernel.property_names("Box"))
    assert {"Port", "BaudRate", "DataBits", "Parity", "StopBits", "Handshaking", "AnswerTimeout",
            "DelayBetweenCharsMs"} <= names  # fmt: skip
    assert kernel.get_property("Box", "BaudRate") == 19200
    assert kernel.property_info("Box", "BaudRate").pre_init
    with pytest.raises(PropertyError, match=r"'BaudRate': value 12345 is not one of the allowed values"):
        kernel.set_property("Box", "BaudRate", 12345)
    kernel.set_property("Box", "AnswerTimeout", 800)  # also before initialize, as in MM configurations


def test_two_devices_on_one_port_share_a_runner_and_never_interleave(kernel: Kernel, sim: TagSim) -> None:
    first, second = box(kernel, sim.url, "A"), box(kernel, sim.url, "B")  # type: ignore[attr-defined]
    assert kernel._loaded("A").runner is kernel._loaded("B").runner
    for label in ("A", "B"):
        kernel.set_property(label, "DelayBetweenCharsMs", 0.01)  # each command goes out byte by byte
    errors: list[str] = []

    def talk(label: str, device: Box) -> None:
        loaded = kernel._loaded(label)
        for n in range(60):
            text = f"{label}{n}"
            reply = kernel._call(loaded, "tag", device.tag, text).result()
            if reply != f"tag {text}":
                errors.append(f"{text!r} got {reply!r}")

    threads = [threading.Thread(target=talk, args=pair) for pair in (("A", first), ("B", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(sim.received[-120:]) == sorted(f"ask {x}{n}" for x in "AB" for n in range(60))


def test_two_devices_on_one_port_must_agree_on_its_settings(kernel: Kernel, sim: TagSim) -> None:
    box(kernel, sim.url, "A")  # type: ignore[attr-defined]
    kernel.load_device("B", Box())
    kernel.set_property("B", "Port", sim.url)  # type: ignore[attr-defined]
    kernel.set_property("B", "BaudRate", 9600)
    with pytest.raises(PortError, match=r"already open with other settings \(19200 baud, 8N1.*\) by A"):
        kernel.initialize("B")


def test_serial_manager_lines_load_and_the_port_device_holds_the_settings(tmp_path: Path, sim: TagSim) -> None:
    config = tmp_path / "ports.cfg"
    config.write_text(
        "Device,COM1,SerialManager,COM1\n"
        "Property,COM1,BaudRate,9600\n"
        "Property,COM1,AnswerTimeout,300\n"
        "Property,COM1,Verbose,0\n"
        "Device,Box,Test,Box\n"
        "Property,Box,Port,COM1\n"
        "Property,Core,Initialize,1\n"
    )
    from mmkernel_core import AdapterRegistry

    registry = AdapterRegistry()
    registry.register("Test", Box, "Box")
    with Kernel(timeout=5, adapters=registry, port_map={"COM1": sim.url}) as kernel:  # type: ignore[attr-defined]
        kernel.load_config(config)
        assert kernel.device_type("COM1") == "Serial"
        assert kernel.get_property("COM1", "BaudRate") == 9600
        connection = kernel._loaded("Box").device.port  # type: ignore[attr-defined]
        assert connection.target.via == "COM1" and connection.target.settings.baud_rate == 9600
        assert kernel._loaded("Box").runner is kernel._loaded("COM1").runner
        assert kernel.get_property("Box", "Gain") == 3
        assert open_keys() == [f"serial:{sim.url}"]  # type: ignore[attr-defined]  # one open port for both
    assert open_keys() == []


def test_a_port_device_holds_settings_and_only_the_devices_naming_it_open_the_line(kernel: Kernel, sim: TagSim) -> None:
    """An unused port is never held open (a VISA instrument reached through it opens it itself);
    the first device naming it opens the line, the last one to go closes it."""

    kernel.port_map["COM1"] = sim.url  # type: ignore[attr-defined]
    kernel.load_device("COM1", "SerialManager", "COM1")
    kernel.set_property("COM1", "BaudRate", 19200)
    kernel.initialize("COM1")
    assert open_keys() == []
    box(kernel, "COM1")
    assert open_keys() == [f"serial:{sim.url}"]  # type: ignore[attr-defined]
    assert kernel._loaded("Box").device.port.target.settings.baud_rate == 19200  # type: ignore[attr-defined]
    kernel.unload("Box")
    assert open_keys() == []


def test_a_loopback_url_is_a_port_too(kernel: Kernel) -> None:
    device = box(kernel, "loop://")
    assert kernel._call(kernel._loaded("Box"), "tag", device.tag, "x").result() == "ask x"  # loopback: hears itself


def test_initialize_all_reports_a_port_problem_per_device(kernel: Kernel, sim: TagSim) -> None:
    kernel.load_device("Good", Box())
    kernel.set_property("Good", "Port", sim.url)  # type: ignore[attr-defined]
    kernel.load_device("Bad", Box())
    with pytest.raises(InitializationError, match=r"Bad: device 'Bad': set its Port property"):
        kernel.initialize_all()
    assert kernel.get_property("Good", "Gain") == 3


def test_bare_pyserial_reaches_the_same_simulator(sim: TagSim) -> None:
    port = serial.serial_for_url(sim.url, timeout=1)  # type: ignore[attr-defined]
    port.write(b"ask z\n")
    assert port.read_until(b"\n") == b"tag z\n"
    port.close()
