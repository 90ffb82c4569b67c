"""VisaInstrument resources through the kernel, against pyvisa-sim."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmkernel_core import AdapterRegistry, DeviceError, Kernel, PortError, PortTimeoutError
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.resources import SerialPort, VisaInstrument, open_keys, wires_of
from mmkernel_sdk.resources._visa import visa_wire
from mmkernel_sdk.testing import DirectHarness
from tests.support.paths import DATA

SIMULATED = f"{DATA / 'visa_meter.yaml'}@sim"


class Meter(Generic):
    """A voltmeter over VISA"""

    visa = VisaInstrument(read_termination="\n", write_termination="\n", timeout_ms=500)
    Voltage = prop(float, query="VOLT?", write="VOLT {:.3f}", limits=(0.0, 10.0), units="V")
    Identity = prop(str, query="*IDN?")


def meter(kernel: Kernel, resource: str = "ASRL1::INSTR", label: str = "Meter") -> None:
    kernel.load_device(label, Meter())
    kernel.set_property(label, "Resource", resource)
    kernel.set_property(label, "Backend", SIMULATED)
    kernel.initialize(label)


@pytest.mark.parametrize(
    ("resource", "wire"),
    [("ASRL1::INSTR", "ASRL1::INSTR"), ("TCPIP::192.168.0.5::INSTR", "TCPIP0::192.168.0.5::INST0::INSTR")],
)
def test_read_write_query_on_the_sim_backend(kernel: Kernel, resource: str, wire: str) -> None:
    meter(kernel, resource)
    assert kernel.get_property("Meter", "Identity") == "ACME,Meter 2000,SN1234,1.0"
    kernel.set_property("Meter", "Voltage", 3.25)
    assert kernel.get_property("Meter", "Voltage") == 3.25
    assert f"handle:visa:{SIMULATED}:{wire}" in open_keys()  # one handle per instrument, by its full name
    kernel.unload("Meter")
    assert open_keys() == []


def test_a_read_without_a_reply_times_out_clearly_and_the_device_stays_usable(kernel: Kernel) -> None:
    meter(kernel)
    before = kernel.get_property("Meter", "Voltage")  # the simulated meter keeps its state in the process
    connection = kernel._loaded("Meter").device.visa  # type: ignore[attr-defined]
    with pytest.raises(PortTimeoutError, match=r"device 'Meter', VISA resource 'ASRL1::INSTR': no reply within"):
        kernel._call(kernel._loaded("Meter"), "read", connection.read, timeout=5).result()
    assert kernel.get_property("Meter", "Voltage") == before


def test_an_unknown_command_gets_the_instruments_error_reply(kernel: Kernel) -> None:
    meter(kernel)
    connection = kernel._loaded("Meter").device.visa  # type: ignore[attr-defined]
    assert kernel._call(kernel._loaded("Meter"), "q", connection.query, "BOGUS?").result() == "ERROR"


def test_resource_problems_are_clear(kernel: Kernel) -> None:
    kernel.load_device("Meter", Meter())
    with pytest.raises(PortError, match=r"device 'Meter': set its Resource property before initialize\(\)"):
        kernel.initialize("Meter")
    kernel.set_property("Meter", "Resource", "ASRL1::INSTR")
    kernel.set_property("Meter", "Backend", "no-such-file.yaml@sim")
    with pytest.raises(PortError, match=r"cannot open VISA resource 'ASRL1::INSTR'"):
        kernel.initialize("Meter")
    assert open_keys() == []


class FailingMeter(Meter):
    def initialize(self) -> None:
        raise OSError("calibration expired")


def test_the_instrument_is_closed_after_a_failed_initialize(kernel: Kernel) -> None:
    kernel.load_device("Meter", FailingMeter())
    kernel.set_property("Meter", "Resource", "ASRL1::INSTR")
    kernel.set_property("Meter", "Backend", SIMULATED)
    with pytest.raises(DeviceError, match="calibration expired"):
        kernel.initialize("Meter")
    assert open_keys() == []


def test_two_devices_on_one_instrument_share_a_runner(kernel: Kernel) -> None:
    meter(kernel, label="A")
    meter(kernel, label="B")
    assert kernel._loaded("A").runner is kernel._loaded("B").runner
    kernel.set_property("A", "Voltage", 2.0)
    assert kernel.get_property("B", "Voltage") == 2.0  # one instrument, one open session


class _SerialBox(Generic):
    """serial"""

    port = SerialPort()


def _wire(device_class: type, **props: object) -> list[str]:
    h = DirectHarness(device_class())
    for name, value in props.items():
        h.set(name, value)
    return wires_of(h.device)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"Resource": "GPIB0::5::INSTR"}, {"Resource": "gpib0::5::instr"}),
        ({"Resource": "GPIB::5"}, {"Resource": "GPIB0::5::INSTR"}),
        ({"Resource": "TCPIP::10.0.0.2::INSTR"}, {"Resource": "TCPIP0::10.0.0.2::inst0::INSTR"}),
        ({"Resource": "ASRL1::INSTR", "Backend": ""}, {"Resource": "ASRL1::INSTR", "Backend": "@py"}),
    ],
)
def test_one_instrument_is_one_wire_however_it_is_named(one: dict, other: dict) -> None:
    assert _wire(Meter, **one) == _wire(Meter, **other)


def test_a_visa_serial_resource_and_a_serial_port_on_one_tty_are_one_wire() -> None:
    assert _wire(Meter, Resource="ASRL/dev/ttyS0::INSTR") == _wire(_SerialBox, Port="/dev/ttyS0")


def test_simulated_instruments_of_different_files_are_different_wires() -> None:
    one = _wire(Meter, Resource="ASRL1::INSTR", Backend=SIMULATED)
    assert one != _wire(Meter, Resource="ASRL1::INSTR", Backend="")


# -- VISA as a first-class path: serial line settings, errors, wires, shared handles, MM configs ----
class SerialMeter(Generic):
    """The voltmeter as a Micro-Manager configuration names it: through a Port."""

    visa = VisaInstrument(read_termination="\n", write_termination="\n", timeout_ms=500, serial=True,
                          baudrate=9600, backend=SIMULATED)  # fmt: skip
    Identity = prop(str, query="*IDN?")


def test_a_serial_visa_device_loads_from_a_micro_manager_configuration_through_its_port(tmp_path: Path) -> None:
    """`Port` names a SerialManager port device, whose line settings apply to the ASRL resource."""
    registry = AdapterRegistry()
    registry.register("Meters", SerialMeter, "Meter")
    config = tmp_path / "meter.cfg"
    config.write_text("Device,COM1,SerialManager,COM1\nProperty,COM1,BaudRate,19200\nProperty,COM1,Parity,Even\n"
                      "Device,Meter,Meters,Meter\nProperty,Meter,Port,COM1\nProperty,Core,Initialize,1\n")  # fmt: skip
    with Kernel(timeout=5, adapters=registry, port_map={"COM1": "1"}) as kernel:
        kernel.load_config(config)
        assert kernel.get_property("Meter", "Identity") == "ACME,Meter 2000,SN1234,1.0"
        instrument = kernel.internals.device_object("Meter").visa.instrument  # type: ignore[attr-defined]
        assert instrument.resource_name == "ASRL1::INSTR"
        assert instrument.baud_rate == 19200 and int(instrument.parity) == 2  # the port device's settings


def test_an_asrl_resource_gets_the_line_settings_its_class_declares(kernel: Kernel) -> None:
    class Slow(Meter):
        visa = VisaInstrument(read_termination="\n", write_termination="\n", baudrate=2400, data_bits=7,
                              stop_bits="2")  # fmt: skip

    kernel.load_device("Meter", Slow())
    kernel.set_property("Meter", "Resource", "ASRL1::INSTR")
    kernel.set_property("Meter", "Backend", SIMULATED)
    kernel.initialize("Meter")
    instrument = kernel.internals.device_object("Meter").visa.instrument  # type: ignore[attr-defined]
    assert (instrument.baud_rate, instrument.data_bits) == (2400, 7)


def test_a_visa_error_is_reported_as_what_it_is_not_as_a_timeout(kernel: Kernel) -> None:
    import pyvisa
    from pyvisa import constants

    meter(kernel)
    instrument = kernel.internals.device_object("Meter").visa.instrument  # type: ignore[attr-defined]

    def lost(*args: object, **kwargs: object) -> str:
        raise pyvisa.errors.VisaIOError(constants.StatusCode.error_connection_lost)

    instrument.read = lost
    with pytest.raises(
        PortError, match="VI_ERROR_CONN_LOST: The connection for the given session has been lost"
    ) as caught:
        kernel.get_property("Meter", "Identity")
    assert not isinstance(caught.value, PortTimeoutError) and "no reply within" not in str(caught.value)


def test_one_usb_instrument_written_several_ways_is_one_wire() -> None:
    spellings = ["USB0::0x1AB1::0x04CE::DS1ZA1::INSTR", "USB::6833::1230::DS1ZA1::INSTR",
                 "usb0::0x01ab1::0x4ce::ds1za1::instr", "USB0::06833::01230::DS1ZA1"]  # fmt: skip
    assert len({visa_wire(name, "") for name in spellings}) == 1


def test_devices_sharing_one_visa_handle_must_agree_on_its_terminations(kernel: Kernel) -> None:
    class OtherEnds(Meter):
        visa = VisaInstrument(read_termination="\r", write_termination="\r")

    meter(kernel, label="A")
    kernel.load_device("B", OtherEnds())
    kernel.set_property("B", "Resource", "ASRL1::INSTR")
    kernel.set_property("B", "Backend", SIMULATED)
    with pytest.raises(Exception, match=r"ASRL1::INSTR' is shared, but it is already open with other settings .* by A"):
        kernel.initialize("B")


def test_a_port_handed_over_to_another_stack_is_refused_to_a_visa_device(tmp_path: Path) -> None:
    """A port device's line driven elsewhere (the bridge's C++ SerialManager port) is not opened."""
    registry = AdapterRegistry()
    registry.register("Meters", SerialMeter, "Meter")
    with Kernel(timeout=5, adapters=registry, port_map={"COM1": "1"}) as kernel:
        kernel.load_device("COM1", "SerialManager", "COM1")
        kernel.load_device("Meter", "Meters", "Meter")
        kernel.set_property("Meter", "Port", "COM1")
        port = kernel.internals.device_object("COM1")
        port.hand_over("elsewhere", "the other stack has it")  # type: ignore[attr-defined]
        assert port.line_holder() == "elsewhere"  # type: ignore[attr-defined]
        with pytest.raises(PortError, match=r"'Meter' cannot use VISA resource 'ASRL1::INSTR': the other stack has it"):
            kernel.initialize("Meter")
        port.take_back("elsewhere")  # type: ignore[attr-defined]
        kernel.initialize("Meter")  # given back: the line opens
