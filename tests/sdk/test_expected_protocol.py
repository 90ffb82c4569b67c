"""expected_protocol is strict: every reply byte must be read before the next command (or by
the end), wherever it waits (on the wire, or in the port's read-ahead), and VISA devices run
their scripts as serial devices do."""

from __future__ import annotations

import pytest

from mmkernel_sdk import Generic, prop
from mmkernel_sdk.errors import PortTimeoutError
from mmkernel_sdk.resources import SerialPort, VisaInstrument
from mmkernel_sdk.testing import ProtocolMismatch, expected_protocol


class Sensor(Generic):
    """A sensor: `V?` answers its value"""

    port = SerialPort(terminator="\r", answer_timeout_ms=200)
    Value = prop(str, query="V?")


class Chatty(Generic):
    """Sends a command and never reads its reply"""

    port = SerialPort(terminator="\r", answer_timeout_ms=200)

    def initialize(self) -> None:
        self.port.write("HELLO")


class Purging(Sensor):
    def initialize(self) -> None:
        self.port.write("HELLO")
        self.port.purge()  # the reply is dropped on purpose: that is reading it


# -- unread reply bytes --------------------------------------------------------------------------
def test_a_reply_left_in_the_ports_read_ahead_fails_at_the_end() -> None:
    # The port reads everything that has arrived; the device used only the first line.
    with pytest.raises(ProtocolMismatch) as info:
        with expected_protocol(Sensor, [("V?\r", "1\r"), ("V?\r", "2\rEXTRA\r")]) as sensor:
            assert sensor.Value == "2"
    message = str(info.value)
    assert "device 'Sensor': the test ended with b'EXTRA\\r' of exchange 2's reply b'2\\rEXTRA\\r' never read" in (
        message
    )


def test_a_leftover_line_cannot_answer_the_next_query() -> None:
    script = [("V?\r", "1\r1\r"), ("V?\r", "2\r")]  # the refresh's reply has a second line
    with pytest.raises(ProtocolMismatch) as info:
        with expected_protocol(Sensor, script) as sensor:
            _ = sensor.Value  # would read the leftover "1", not "2"
    message = str(info.value)
    assert (
        "device 'Sensor': exchange 2 of 2: the device sent b'V?\\r' while b'1\\r' of exchange 1's reply "
        "b'1\\r1\\r' was still unread"
    ) in message
    assert "1. sent b'V?\\r' -> reply b'1\\r1\\r'" in message  # the transcript so far


def test_a_reply_never_taken_from_the_wire_fails_at_the_end() -> None:
    with pytest.raises(ProtocolMismatch, match=r"device 'Chatty': the test ended with b'HI\\r' of exchange 1's"):
        with expected_protocol(Chatty, [("HELLO\r", "HI\r")]):
            pass


def test_a_reply_not_read_before_the_next_command_names_both_exchanges() -> None:
    class Rude(Chatty):
        Value = prop(str, query="V?")

    with pytest.raises(ProtocolMismatch, match=r"exchange 2 of 3: the device sent b'V\?\\r' while b'HI\\r' of"):
        with expected_protocol(Rude, [("HELLO\r", "HI\r"), ("V?\r", "1\r"), ("V?\r", "1\r")]):
            pass


def test_unsolicited_data_must_be_read_too() -> None:
    with pytest.raises(ProtocolMismatch, match=r"while b'READY\\r' of exchange 1's reply b'READY\\r' was still"):
        with expected_protocol(Sensor, [(None, "READY\r"), ("V?\r", "1\r")]):
            pass


def test_a_purged_reply_is_not_unread() -> None:
    with expected_protocol(Purging, [("HELLO\r", "HI\r"), ("V?\r", "1\r"), ("V?\r", "1\r")]) as sensor:
        assert sensor.Value == "1"


def test_replies_read_in_full_pass() -> None:
    class TwoLines(Sensor):
        @prop(str)
        def Pair(self) -> str:
            self.port.write("P?")
            return self.port.read_until() + "," + self.port.read_until()

    with expected_protocol(TwoLines, [("P?\r", "a\rb\r"), ("V?\r", "1\r"), ("P?\r", "c\rd\r")]) as device:
        assert device.Pair == "c,d"


# -- VISA devices --------------------------------------------------------------------------------
class Meter(Generic):
    """A voltmeter over VISA"""

    visa = VisaInstrument(read_termination="\n", write_termination="\n", timeout_ms=200)
    Identity = prop(str, query="*IDN?")
    Voltage = prop(float, query="VOLT?", write="VOLT {:.3f}", limits=(0.0, 10.0), units="V")


REFRESH = [("*IDN?\n", "ACME,Meter\n"), ("VOLT?\n", "1.5\n")]


def test_a_visa_device_follows_its_script() -> None:
    with expected_protocol(Meter, [*REFRESH, ("VOLT 3.250\n", None), ("VOLT?\n", "3.25\n")]) as meter:
        meter.Voltage = 3.25  # written, then read back


def test_a_visa_device_sending_the_wrong_bytes_fails_with_both_sides() -> None:
    with pytest.raises(ProtocolMismatch) as info:
        with expected_protocol(Meter, [*REFRESH, ("VOLT 3.000\n", None)]) as meter:
            meter.Voltage = 2
    assert (
        "device 'Meter': exchange 3 of 3: expected the device to send b'VOLT 3.000\\n', it sent b'VOLT 2.000\\n'"
        in (str(info.value))
    )


def test_a_visa_device_waiting_on_silence_times_out_as_on_a_real_instrument() -> None:
    with pytest.raises(ProtocolMismatch, match=r"timed out waiting for a reply the script says never comes"):
        with expected_protocol(Meter, [*REFRESH, ("VOLT?\n", None)]) as meter:
            _ = meter.Voltage


class QuietMeter(Meter):
    """Says nothing when a command succeeds, an error line when it fails."""

    def tell(self, command: str) -> None:
        self.visa.write(command)
        try:
            reply = self.visa.read(timeout_ms=20)
        except PortTimeoutError as error:
            assert "no reply within" in str(error)  # a VISA timeout, as pyvisa reports one
            return
        raise RuntimeError(f"refused: {reply}")


def test_a_visa_device_may_listen_after_a_command_without_reply() -> None:
    with expected_protocol(QuietMeter, [*REFRESH, ("VOLT 3.000\n", None), ("VOLT?\n", "3.0\n")]) as meter:
        meter.Voltage = 3.0
    with pytest.raises(RuntimeError, match="refused: E1"):
        with expected_protocol(QuietMeter, [*REFRESH, ("VOLT 3.000\n", "E1\n")]) as meter:
            meter.Voltage = 3.0


def test_a_visa_reply_left_unread_fails() -> None:
    with pytest.raises(ProtocolMismatch, match=r"device 'Meter': the test ended with b'EXTRA\\n' of exchange 2's"):
        with expected_protocol(Meter, [REFRESH[0], ("VOLT?\n", "1.5\nEXTRA\n")]):
            pass


# -- the harness cleans up and tells ----------------------------------------------------------------
class Remembering(Generic):
    """Keeps its gain in the calibration store"""

    port = SerialPort(terminator="\r", answer_timeout_ms=200)
    Gain = prop(int, default=1, limits=(0, 10), memorized=True)
    most = 10  # what this unit's gain goes up to (learnt at initialize on a real one)

    def initialize(self) -> None:
        self.set_limits("Gain", 0, self.most)


def test_a_protocol_test_of_a_device_with_a_memorized_property_leaves_no_folder_behind(tmp_path, monkeypatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for _ in range(3):
        with expected_protocol(Remembering, []) as device:
            device.calibration["note"] = "touched"  # the throwaway store is made
    assert list(tmp_path.glob("mmkernel-harness-*")) == []


def test_direct_harness_shows_the_memorized_values_it_could_not_restore(tmp_path, caplog) -> None:
    import logging

    from mmkernel_sdk.testing import DirectHarness

    first = DirectHarness(Remembering(), data_dir=tmp_path)
    first.set("Port", "loop://")
    first.initialize(refresh=False)
    first.set("Gain", 9)
    first.close()

    narrower = Remembering()
    narrower.most = 5  # the same instrument, whose gain now stops at 5
    again = DirectHarness(narrower, data_dir=tmp_path)
    again.set("Port", "loop://")
    with caplog.at_level(logging.WARNING, logger="mmkernel.calibration"):
        again.initialize(refresh=False)
    try:
        assert again.problems and "Gain" in again.problems[0] and "9" in again.problems[0]
        assert any("Gain" in record.getMessage() for record in caplog.records)
        assert again.get("Gain") == 1  # started with its default, as in the kernel
    finally:
        again.close()
