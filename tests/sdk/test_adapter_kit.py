"""The adapter author's kit: expected_protocol and the conformance kit, including the bugs they
must catch, and the simulator framework itself."""

from __future__ import annotations

import enum
import threading
import time

import numpy as np
import pytest
import serial

from mmkernel_core.testing import KernelHarness
from mmkernel_sdk import Camera, Generic, Stage, StateDevice, prop
from mmkernel_sdk.errors import PortTimeoutError, ReplyError
from mmkernel_sdk.resources import SerialPort
from mmkernel_sdk.testing import DirectHarness, ProtocolMismatch, expected_protocol
from mmkernel_sdk.testing import conformance as kit
from mmkernel_sdk.testing.sim import LineSimulator, Raw, Reply, command, publish, register_simulator, unpublish


class Lamp(Generic):
    """A lamp with an ASCII protocol: `I<n>` sets the intensity, `I?` reads it."""

    port = SerialPort(terminator="\r", answer_timeout_ms=200)
    Intensity = prop(int, query="I?", write="I{}", limits=(0, 100), units="%")

    def initialize(self) -> None:
        if self.port.query("ID?") != "LAMP":
            raise RuntimeError("not a lamp")


class LampSim(LineSimulator):
    intensity = 40

    @command(r"ID\?")
    def identify(self) -> str:
        return "LAMP"

    @command(r"I\?")
    def get(self) -> str:
        return str(self.intensity)

    @command(r"I(\d+)")
    def set(self, value: str) -> None:
        self.intensity = int(value)


register_simulator("lamp", LampSim)

INIT = [("ID?\r", "LAMP\r"), ("I?\r", "40\r")]  # initialize, then the refresh reads Intensity


# -- expected_protocol -------------------------------------------------------------------------
def test_expected_protocol_passes_when_the_device_follows_the_script() -> None:
    with expected_protocol(Lamp, [*INIT, ("I75\r", None), ("I?\r", "75\r")]) as lamp:
        lamp.Intensity = 75


def test_a_wrong_exchange_fails_showing_expected_and_actual_bytes() -> None:
    with pytest.raises(ProtocolMismatch) as info, expected_protocol(Lamp, [*INIT, ("I75\r", None)]) as lamp:
        lamp.Intensity = 57
    message = str(info.value)
    assert "exchange 3 of 3: expected the device to send b'I75\\r', it sent b'I57\\r'" in message
    assert "1. sent b'ID?\\r' -> reply b'LAMP\\r'" in message  # the transcript so far


def test_a_missing_exchange_fails() -> None:
    never = r"1 expected exchange\(s\) never happened: the device did not send b'I75\\r'"
    with pytest.raises(ProtocolMismatch, match=never):
        with expected_protocol(Lamp, [*INIT, ("I75\r", None)]):
            pass


def test_an_extra_exchange_fails() -> None:
    with pytest.raises(ProtocolMismatch, match=r"the device sent b'I\?\\r' after the last expected exchange"):
        with expected_protocol(Lamp, INIT) as lamp:
            _ = lamp.Intensity


def test_a_read_the_script_cannot_answer_fails_fast() -> None:
    class Eager(Lamp):
        def initialize(self) -> None:
            super().initialize()
            self.port.read_until()  # a second line after ID? that the lamp never sends

    with pytest.raises(ProtocolMismatch, match=r"the device waits for a reply, but the script has none"):
        with expected_protocol(Eager, INIT[:1]):
            pass


def test_a_device_waiting_for_a_reply_to_a_command_without_one_is_told_so() -> None:
    with pytest.raises(ProtocolMismatch, match=r"timed out waiting for a reply the script says never comes"):
        with expected_protocol(Lamp, [*INIT, ("I?\r", None)]) as lamp:
            _ = lamp.Intensity


class QuietLamp(Lamp):
    """Says nothing when a command succeeds and `E<n>` within 50 ms when it fails."""

    def tell(self, command: str) -> None:
        self.port.write(command)
        try:
            reply = self.port.read_until(timeout_ms=50)
        except PortTimeoutError:
            return  # silence: accepted
        raise ReplyError(self.label, command, f"the lamp refused {command!r}: {reply}")


def test_silence_after_a_command_is_a_valid_exchange() -> None:
    with expected_protocol(QuietLamp, [*INIT, ("I75\r", None), ("I?\r", "75\r")]) as lamp:
        lamp.Intensity = 75
    with pytest.raises(ReplyError, match="refused 'I75': E3"):
        with expected_protocol(QuietLamp, [*INIT, ("I75\r", "E3\r")]) as lamp:
            lamp.Intensity = 75


class Speed(enum.Enum):
    Slow = 0
    Fast = 1


class Motor(Generic):
    """An int-valued enum command property: written by value, read back by value (or name)"""

    port = SerialPort(terminator="\r")
    speed = prop(Speed, query="SPD?", write="SPD {}", name="Speed")


def test_an_enum_command_property_goes_on_the_wire_by_value_and_reads_back() -> None:
    script = [("SPD?\r", "0\r"), ("SPD 1\r", None), ("SPD?\r", "1\r"), ("SPD?\r", "Slow\r"), ("SPD?\r", "7\r")]
    with pytest.raises(ReplyError, match=r"reply '7' to 'SPD\?' cannot be read as Speed: not one of 0 \(Slow\)"):
        with expected_protocol(Motor, script) as motor:  # the refresh reads "0": Slow
            motor.speed = Speed.Fast  # "SPD 1", read back "1": Fast (else ReplyError for '1' here)
            assert motor.speed is Speed.Slow  # the instrument says "Slow" by name
            _ = motor.speed


def test_a_mismatch_the_adapter_swallows_is_still_reported() -> None:
    class Swallower(Lamp):
        def initialize(self) -> None:
            try:
                self.port.query("WRONG?")
            except Exception:  # noqa: BLE001 - the adapter bug under test
                pass

    with pytest.raises(ProtocolMismatch, match="expected the device to send b'ID\\?\\\\r', it sent b'WRONG\\?\\\\r'"):
        with expected_protocol(Swallower, INIT):
            pass


def test_unsolicited_data_and_writes_in_parts() -> None:
    class Chunky(Lamp):
        def initialize(self) -> None:
            assert self.port.read_until("\r") == "READY"  # the lamp announces itself
            self.port.write("I", terminator=False)
            self.port.write("D?")  # one command written in two parts
            assert self.port.read_until("\r") == "LAMP"

    with expected_protocol(Chunky, [(None, "READY\r"), ("ID?\r", "LAMP\r"), ("I?\r", "40\r")]):
        pass


# -- the simulator framework -------------------------------------------------------------------
def test_a_sequential_simulator_holds_every_later_reply_behind_a_slow_one() -> None:
    class Slow(LineSimulator):
        sequential = True  # one command at a time; by default each reply has its own due time

        @command(r"MOVE")
        def move(self) -> Reply:
            return Reply("DONE", delay_s=0.2)

        @command(r"PING")
        def ping(self) -> str:
            return "PONG"

    url = publish(Slow())
    port = serial.serial_for_url(url, timeout=2)
    started = time.monotonic()
    port.write(b"MOVE\rPING\r")
    assert port.read_until(b"\r") == b"DONE\r"
    assert port.read_until(b"\r") == b"PONG\r"  # not before the slow reply
    assert time.monotonic() - started >= 0.2
    port.close()
    unpublish(url)


def test_simulator_options_and_raw_replies() -> None:
    class Options(LineSimulator):
        unknown = Raw(b"?\r")

        def __init__(self, gain: float = 1.0, name: str = "x") -> None:
            super().__init__()
            self.gain, self.name = gain, name

        @command(r"G\?")
        def gain_query(self) -> str:
            return f"{self.gain} {self.name}"

    register_simulator("options-sim", Options)
    port = serial.serial_for_url("sim://options-sim?gain=2.5&name=abc", timeout=1)
    port.write(b"G?\rNOPE\r")
    assert port.read_until(b"\r") == b"2.5 abc\r"
    assert port.read_until(b"\r") == b"?\r"
    port.close()


# -- the conformance kit -----------------------------------------------------------------------
def lamp_harness() -> DirectHarness:
    harness = DirectHarness(Lamp())
    harness.set("Port", "sim://lamp")
    return harness


def test_a_good_adapter_passes_every_check_directly_and_in_a_kernel() -> None:
    kit.check_all(lamp_harness)
    kit.check_all(lambda: KernelHarness(Lamp(), {"Port": "sim://lamp"}))


class TestLampConformance(kit.ConformanceTests):
    """The base class as an adapter's tests use it."""

    device_class = Lamp
    pre_init = {"Port": "sim://lamp"}


class IgnoresLimits(Stage):
    """A stage whose hardware stops at 50 um although it declares +-100 um."""

    def __init__(self) -> None:
        self._z = 0.0
        self.set_limits("Position", -100.0, 100.0)

    def set_position(self, um: float) -> None:
        self._z = max(-50.0, min(50.0, um))

    def get_position(self) -> float:
        return self._z


class NeverSettles(Generic):
    """Always busy."""

    Value = prop(int, default=0, limits=(0, 3))

    def busy(self) -> bool:
        return True


class LeaksAThread(Generic):
    """Starts a polling thread in initialize and never stops it."""

    def initialize(self) -> None:
        self._stop = threading.Event()
        threading.Thread(target=self._stop.wait, name="lamp-poller", daemon=True).start()

    def shutdown(self) -> None:
        """Forgets to set self._stop."""


class LeaksAPort(Generic):
    """Opens its own serial port and never closes it."""

    def initialize(self) -> None:
        self._raw = serial.serial_for_url("sim://lamp")

    def shutdown(self) -> None:
        """Forgets self._raw.close()."""


class OnceOnly(Generic):
    """Cannot be initialized a second time (keeps state from the first run)."""

    def initialize(self) -> None:
        if getattr(self, "_ran", False):
            raise RuntimeError("already initialized once")
        self._ran = True


class WrongLabels(StateDevice):
    """Reports a Label one off from its State."""

    num_positions = 4

    @StateDevice.Label.getter
    def Label(self) -> str:
        return self.labels[(self.get_state() + 1) % 4]


class WrongFrames(Camera):
    """Says 8x8 uint16, delivers 4x4 uint8."""

    def frame_shape(self) -> tuple[int, ...]:
        return (8, 8)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    def snap(self, out: np.ndarray) -> None:
        raise ValueError("filled a 4x4 uint8 scratch image instead")


class Nameless(Generic):
    pass


@pytest.mark.parametrize(
    ("device_class", "check", "message"),
    [
        (IgnoresLimits, kit.check_round_trips, r"'Position': set 100.0, read back 50.0"),
        (NeverSettles, kit.check_busy_settles, r"busy\(\) never settles after setting 'Value'"),
        (LeaksAThread, kit.check_lifecycle, r"left behind: threads: lamp-poller"),
        (LeaksAPort, kit.check_lifecycle, r"left behind: open ports: sim://lamp \(simulated\)"),
        (OnceOnly, kit.check_lifecycle, r"initialize\(\) again after shutdown \(cycle 2\) failed: .*once"),
        (WrongLabels, kit.check_state_labels, r"after State = 0, State/Label read 0/'State-1', expected 0/'State-0'"),
        (Nameless, kit.check_identity, r"property 'Description' must be a non-empty string"),
    ],
)
def test_the_kit_catches_each_seeded_bug(device_class: type, check: object, message: str) -> None:
    options = {"busy_timeout_s": 0.2} if check is kit.check_busy_settles else {}
    with pytest.raises(kit.ConformanceError, match=message):
        check(lambda: DirectHarness(device_class()), **options)  # type: ignore[operator]


def test_the_kernel_harness_cycles_one_device_object_too() -> None:
    with pytest.raises(kit.ConformanceError, match=r"again after shutdown \(cycle 2\) failed"):
        kit.check_lifecycle(lambda: KernelHarness(OnceOnly()))
    kit.check_lifecycle(lambda: KernelHarness(Lamp(), {"Port": "sim://lamp"}))


def test_the_kit_catches_frames_that_differ_from_the_declared_format() -> None:
    with pytest.raises(ValueError, match="scratch image"):
        kit.check_camera_frames(lambda: DirectHarness(WrongFrames()))


def test_the_name_hook_reports_what_a_checker_returns() -> None:
    with pytest.raises(kit.ConformanceError, match="non-canonical property names: 'Intensity' is fine; nothing"):
        kit.check_names(lamp_harness, lambda h: ["'Intensity' is fine; nothing"])
    with pytest.raises(kit.NotApplicable):  # no registry given: nothing to check, reported as skipped
        kit.check_names(lamp_harness, None)


def test_a_simulator_option_it_does_not_take_is_a_clear_port_error() -> None:
    from mmkernel_core import Kernel, PortError

    with Kernel(timeout=5) as kernel:
        kernel.load_device("Lamp", Lamp())
        kernel.set_property("Lamp", "Port", "sim://lamp?colour=red")
        with pytest.raises(PortError, match=r"simulator 'lamp' does not take the options \{'colour': 'red'\}"):
            kernel.initialize("Lamp")
