"""Properties through the kernel: the three ways to declare one, what callers send coerced before
adapter code sees it, every way the kernel rejects a value, what an adapter's getter may return,
and what property_info says (properties added at run time: test_runtime_properties.py).

A rejected value must raise PropertyError naming the device, the property, the value and what is
allowed, and must never reach adapter code: the test devices count every setter call.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmkernel_core import DeviceError, Kernel, MMKernelError, PropertyError
from mmkernel_sdk import Generic, PropertySpec, prop
from tests.support.properties import MAX_EXACT_INT, Mode, same


class Dev(Generic):
    """A camera-like test device that records every setter call."""

    Exposure = prop(float, default=10.0, limits=(0, 100), units="ms")
    Binning = prop(int, default=1, allowed=(1, 2, 4))
    Speed = prop(Mode, default=Mode.FAST)
    Flag = prop(bool, default=False)
    Port = prop(str, default="COM1", pre_init=True)
    SerialNumber = prop(str, default="SN-0001", read_only=True)
    Count = prop(int, default=0)

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.temperature = 21.5
        self.gain = 1.0
        self.positions = 6

    # stored values whose setters record what reached the adapter
    @Exposure.setter
    def Exposure(self, value: float) -> None:
        self.calls.append(("Exposure", value))

    @Binning.setter
    def Binning(self, value: int) -> None:
        self.calls.append(("Binning", value))

    @Speed.setter
    def Speed(self, value: Mode) -> None:
        self.calls.append(("Speed", value))

    @Flag.setter
    def Flag(self, value: bool) -> None:
        self.calls.append(("Flag", value))

    @Port.setter
    def Port(self, value: str) -> None:
        self.calls.append(("Port", value))

    @Count.setter
    def Count(self, value: int) -> None:
        self.calls.append(("Count", value))

    # a getter without a setter: read-only
    @prop(float, units="degC")
    def Temperature(self) -> float:
        """Sensor temperature."""
        return self.temperature

    # getter and setter: the value lives on the "hardware"
    @prop(float, limits=(0, 10))
    def Gain(self) -> float:
        return self.gain

    @Gain.setter
    def Gain(self, value: float) -> None:
        self.calls.append(("Gain", value))
        self.gain = value

    # a public name with spaces, different from the attribute name
    @prop(int, name="Number of positions", limits=(1, 12))
    def number_of_positions(self) -> int:
        return self.positions

    @number_of_positions.setter
    def number_of_positions(self, value: int) -> None:
        self.calls.append(("Number of positions", value))
        self.positions = value


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    with Kernel(timeout=5) as k:
        yield k


@pytest.fixture
def dev(kernel: Kernel) -> Dev:
    device = Dev()
    kernel.load_device("D", device)
    kernel.initialize("D")
    return device


# -- the three ways to declare a property --------------------------------------------------------
def test_stored_value_property_round_trips_through_the_kernel(kernel: Kernel, dev: Dev) -> None:
    kernel.set_property("D", "Count", 7)
    assert kernel.get_property("D", "Count") == 7
    assert kernel.get_property("D", "Count", from_cache=True) == 7
    assert dev.Count == 7  # adapter code sees the stored value through the attribute
    assert dev.calls == [("Count", 7)]


def test_getter_property_is_read_on_every_non_cached_get(kernel: Kernel, dev: Dev) -> None:
    assert kernel.get_property("D", "Temperature") == 21.5
    dev.temperature = 30.0  # the hardware changed on its own
    assert kernel.get_property("D", "Temperature", from_cache=True) == 21.5
    assert kernel.get_property("D", "Temperature") == 30.0
    assert kernel.get_property("D", "Temperature", from_cache=True) == 30.0


def test_getter_with_setter_calls_setter_with_typed_value(kernel: Kernel, dev: Dev) -> None:
    kernel.set_property("D", "Gain", "2.5")
    assert dev.calls == [("Gain", 2.5)]
    assert type(dev.calls[0][1]) is float
    assert dev.gain == 2.5
    assert kernel.get_property("D", "Gain") == 2.5
    assert kernel.get_property("D", "Gain", from_cache=True) == 2.5


def test_getter_without_setter_is_read_only(kernel: Kernel, dev: Dev) -> None:
    assert kernel.property_info("D", "Temperature").read_only is True
    assert kernel.property_info("D", "Gain").read_only is False
    with pytest.raises(PropertyError, match="read-only"):
        kernel.set_property("D", "Temperature", 25.0)
    assert dev.temperature == 21.5


class Liar(Generic):
    Reading = prop(float)
    answer: Any = 1.0

    @Reading.getter
    def Reading(self) -> float:
        return self.answer


@pytest.mark.parametrize("answer", ["abc", None, [1.0], float("nan")])
def test_a_getter_returning_a_value_its_type_cannot_hold_is_a_device_error(kernel: Kernel, answer: Any) -> None:
    liar = Liar()
    kernel.load_device("L", liar)
    kernel.initialize("L")
    seen: list[Any] = []
    kernel.events.property_changed.connect(lambda label, name, value: seen.append(value))
    liar.answer = answer
    with pytest.raises(DeviceError, match=r"device 'L', property 'Reading': the adapter's getter returned .* number"):
        kernel.get_property("L", "Reading")
    assert kernel.get_property("L", "Reading", from_cache=True) == 1.0
    kernel.events.flush()
    assert seen == []


def test_getter_docstring_becomes_the_property_doc(kernel: Kernel, dev: Dev) -> None:
    assert kernel.property_info("D", "Temperature").doc == "Sensor temperature."


def test_public_name_with_spaces(kernel: Kernel, dev: Dev) -> None:
    names = kernel.property_names("D")
    assert "Number of positions" in names
    assert "number_of_positions" not in names
    assert kernel.has_property("D", "Number of positions")
    assert not kernel.has_property("D", "number_of_positions")
    assert kernel.get_property("D", "Number of positions") == 6
    kernel.set_property("D", "Number of positions", "8")
    assert dev.positions == 8
    assert dev.calls == [("Number of positions", 8)]
    assert kernel.get_property("D", "Number of positions", from_cache=True) == 8
    with pytest.raises(PropertyError) as info:
        kernel.set_property("D", "number_of_positions", 3)
    assert "did you mean 'Number of positions'" in str(info.value)
    assert dev.positions == 8


# -- coercion ----------------------------------------------------------------------------------
def test_kernel_coerces_strings_before_the_adapter_sees_them(kernel: Kernel, dev: Dev) -> None:
    kernel.set_property("D", "Count", "2.0")
    kernel.set_property("D", "Binning", "4")
    kernel.set_property("D", "Flag", "yes")
    kernel.set_property("D", "Speed", "SLOW")
    kernel.set_property("D", "Exposure", "12.5")
    assert dev.calls == [
        ("Count", 2),
        ("Binning", 4),
        ("Flag", True),
        ("Speed", Mode.SLOW),
        ("Exposure", 12.5),
    ]
    assert [type(v) for _, v in dev.calls] == [int, int, bool, Mode, float]
    assert kernel.get_property("D", "Count") == 2
    assert kernel.get_property("D", "Flag") is True
    assert kernel.get_property("D", "Speed") is Mode.SLOW
    kernel.set_property("D", "Flag", "0")
    assert kernel.get_property("D", "Flag") is False
    kernel.set_property("D", "Speed", 1)  # enum by value
    assert kernel.get_property("D", "Speed") is Mode.FAST


class Switch(Generic):
    On = prop(bool, default=False)


def test_numpy_bools_are_accepted_for_bool_properties(kernel: Kernel) -> None:
    kernel.load_device("B", Switch())
    kernel.initialize("B")
    kernel.set_property("B", "On", np.bool_(True))
    assert kernel.get_property("B", "On") is True
    kernel.set_property("B", "On", np.array([False])[0])
    assert kernel.get_property("B", "On") is False


# -- kernel-side rejections --------------------------------------------------------------------
REJECTIONS = [
    # (property, value, reason in the message, allowed text)
    ("Exposure", 150, "out of range", "number within [0, 100] ms"),
    ("Exposure", -0.5, "out of range", "number within [0, 100] ms"),
    ("Exposure", "100.5", "out of range", "number within [0, 100] ms"),
    ("Exposure", "abc", "not a valid number", "number within [0, 100] ms"),
    ("Exposure", float("nan"), "not a valid number", "number within [0, 100] ms"),
    ("Exposure", True, "not a valid number", "number within [0, 100] ms"),
    ("Gain", 10.5, "out of range", "number within [0, 10]"),
    ("Binning", 3, "not one of the allowed values", "one of [1, 2, 4]"),
    ("Binning", "8", "not one of the allowed values", "one of [1, 2, 4]"),
    ("Binning", 2.5, "not a valid integer", "one of [1, 2, 4]"),
    ("Binning", True, "not a valid integer", "one of [1, 2, 4]"),
    ("Count", "abc", "not a valid integer", "any integer"),
    ("Count", 2.5, "not a valid integer", "any integer"),
    ("Speed", "MEDIUM", "not a valid Mode", "one of ['FAST', 'SLOW']"),
    ("Speed", 3, "not a valid Mode", "one of ['FAST', 'SLOW']"),
    ("Flag", "maybe", "not a valid boolean", "any boolean"),
    ("Flag", 2, "not a valid boolean", "any boolean"),
    ("Temperature", 25.0, "read-only", "nothing (read-only)"),
    ("SerialNumber", "SN-2", "read-only", "nothing (read-only)"),
    ("Name", "Other", "read-only", "nothing (read-only)"),
    ("Description", "Other", "read-only", "nothing (read-only)"),
    ("Port", "COM2", "pre-initialization property", "any string"),
]


@pytest.mark.parametrize(("name", "value", "reason", "allowed"), REJECTIONS)
def test_rejection_names_everything_and_changes_nothing(
    kernel: Kernel, dev: Dev, name: str, value: Any, reason: str, allowed: str
) -> None:
    cached_before = kernel.get_property("D", name, from_cache=True)
    live_before = kernel.get_property("D", name)
    with pytest.raises(PropertyError) as info:
        kernel.set_property("D", name, value)
    err = info.value
    message = str(err)
    assert "'D'" in message
    assert repr(name) in message
    assert repr(value) in message
    assert reason in message
    assert allowed in message
    assert err.device == "D"
    assert err.property == name
    assert same(err.value, value)
    assert err.allowed == allowed
    # nothing reached the adapter, nothing changed
    assert dev.calls == []
    assert kernel.get_property("D", name, from_cache=True) == cached_before
    assert kernel.get_property("D", name) == live_before


@pytest.mark.parametrize(("name", "value", "reason", "allowed"), REJECTIONS)
def test_rejection_is_the_same_on_the_futures_and_asyncio_faces(
    kernel: Kernel, dev: Dev, name: str, value: Any, reason: str, allowed: str
) -> None:
    with pytest.raises(PropertyError, match=reason):
        kernel.submit.set_property("D", name, value).result(timeout=5)

    async def via_aio() -> None:
        await kernel.aio.set_property("D", name, value)

    with pytest.raises(PropertyError, match=reason):
        asyncio.run(via_aio())
    assert dev.calls == []


def test_property_error_attributes_and_classes(kernel: Kernel, dev: Dev) -> None:
    with pytest.raises(PropertyError) as info:
        kernel.set_property("D", "Exposure", 150)
    err = info.value
    assert (err.device, err.property, err.value, err.allowed) == (
        "D",
        "Exposure",
        150,
        "number within [0, 100] ms",
    )
    assert str(err) == (
        "device 'D', property 'Exposure': value 150 is out of range; allowed: number within [0, 100] ms"
    )
    assert isinstance(err, MMKernelError)
    assert isinstance(err, ValueError)  # callers catching ValueError keep working
    assert dev.Exposure == 10.0


def test_pre_init_property_can_be_set_before_initialize_only(kernel: Kernel) -> None:
    device = Dev()
    kernel.load_device("P", device)
    kernel.set_property("P", "Port", "COM7")
    assert device.calls == [("Port", "COM7")]
    assert kernel.get_property("P", "Port") == "COM7"
    kernel.initialize("P")
    assert kernel.get_property("P", "Port", from_cache=True) == "COM7"
    with pytest.raises(PropertyError) as info:
        kernel.set_property("P", "Port", "COM8")
    assert "already initialized" in str(info.value)
    assert info.value.property == "Port"
    assert device.calls == [("Port", "COM7")]
    assert kernel.get_property("P", "Port") == "COM7"


def test_non_pre_init_property_is_rejected_before_initialize(kernel: Kernel) -> None:
    device = Dev()
    kernel.load_device("U", device)
    with pytest.raises(PropertyError) as info:
        kernel.set_property("U", "Exposure", 20)
    err = info.value
    message = str(err)
    assert "'U'" in message
    assert "'Exposure'" in message
    assert "not initialized" in message
    assert "Port" in message  # what can be used before initialize
    assert (err.device, err.property, err.value, err.allowed) == ("U", "Exposure", 20, "Port")
    with pytest.raises(PropertyError, match="not initialized"):
        kernel.get_property("U", "Exposure")
    assert device.calls == []
    kernel.initialize("U")
    assert kernel.get_property("U", "Exposure") == 10.0
    assert device.calls == []


def test_not_initialized_message_names_the_value(kernel: Kernel) -> None:
    kernel.load_device("U", Dev())
    with pytest.raises(PropertyError) as info:
        kernel.set_property("U", "Exposure", 20.25)
    assert "20.25" in str(info.value)


@pytest.mark.parametrize("initialized", [True, False])
def test_unknown_property_suggests_close_matches(kernel: Kernel, initialized: bool) -> None:
    device = Dev()
    kernel.load_device("D", device)
    if initialized:
        kernel.initialize("D")
    with pytest.raises(PropertyError) as info:
        kernel.set_property("D", "Exposre", 20)
    err = info.value
    message = str(err)
    assert "'D'" in message
    assert "'Exposre'" in message
    assert "did you mean 'Exposure'" in message
    assert err.device == "D"
    assert err.property == "Exposre"
    assert "Exposure" in err.allowed.split(", ")
    assert device.calls == []
    assert not kernel.has_property("D", "Exposre")
    with pytest.raises(PropertyError, match="did you mean 'Exposure'"):
        kernel.get_property("D", "Exposre")
    with pytest.raises(PropertyError, match="did you mean 'Exposure'"):
        kernel.property_info("D", "Exposre")


def test_unknown_property_error_names_the_value(kernel: Kernel, dev: Dev) -> None:
    with pytest.raises(PropertyError) as info:
        kernel.set_property("D", "Exposre", 20.25)
    assert info.value.value == 20.25
    assert "20.25" in str(info.value)


def test_huge_int_for_float_property_is_a_property_error(kernel: Kernel, dev: Dev) -> None:
    with pytest.raises(PropertyError):
        kernel.set_property("D", "Exposure", 10**400)
    assert dev.calls == []


# -- property_info ----------------------------------------------------------------------------
def test_property_info_describes_the_spec(kernel: Kernel, dev: Dev) -> None:
    exposure = kernel.property_info("D", "Exposure")
    assert isinstance(exposure, PropertySpec)
    assert exposure.name == "Exposure"
    assert exposure.kind is float
    assert exposure.default == 10.0
    assert exposure.limits == (0, 100)
    assert exposure.allowed is None
    assert exposure.units == "ms"
    assert exposure.read_only is False
    assert exposure.pre_init is False

    binning = kernel.property_info("D", "Binning")
    assert (binning.kind, binning.default, binning.allowed, binning.limits) == (int, 1, (1, 2, 4), None)

    speed = kernel.property_info("D", "Speed")
    assert speed.kind is Mode
    assert speed.allowed == (Mode.FAST, Mode.SLOW)  # an enum's members are its allowed values
    assert speed.default is Mode.FAST

    port = kernel.property_info("D", "Port")
    assert (port.kind, port.default, port.pre_init, port.read_only) == (str, "COM1", True, False)

    serial = kernel.property_info("D", "SerialNumber")
    assert serial.read_only is True

    temperature = kernel.property_info("D", "Temperature")
    assert (temperature.kind, temperature.units, temperature.read_only) == (float, "degC", True)

    positions = kernel.property_info("D", "Number of positions")
    assert (positions.name, positions.kind, positions.limits) == ("Number of positions", int, (1, 12))


# -- property-based ----------------------------------------------------------------------------
def test_float_limits_accept_exactly_the_values_within_them() -> None:
    with Kernel(timeout=5) as k:
        device = Dev()
        k.load_device("D", device)
        k.initialize("D")

        @settings(max_examples=300, deadline=None)
        @given(value=st.floats(allow_nan=False), as_text=st.booleans())
        def check(value: float, as_text: bool) -> None:
            before = k.get_property("D", "Exposure")
            calls = len(device.calls)
            sent: Any = repr(value) if as_text else value
            if 0 <= value <= 100:
                k.set_property("D", "Exposure", sent)
                assert k.get_property("D", "Exposure") == value
                assert k.get_property("D", "Exposure", from_cache=True) == value
                assert device.calls[-1] == ("Exposure", value)
                assert len(device.calls) == calls + 1
            else:
                with pytest.raises(PropertyError, match="out of range" if math.isfinite(value) else "not a finite"):
                    k.set_property("D", "Exposure", sent)
                assert k.get_property("D", "Exposure") == before
                assert k.get_property("D", "Exposure", from_cache=True) == before
                assert len(device.calls) == calls

        check()


def test_int_strings_round_trip_through_the_kernel() -> None:
    with Kernel(timeout=5) as k:
        k.load_device("D", Dev())
        k.initialize("D")

        @settings(max_examples=100, deadline=None)
        @given(st.integers(min_value=-MAX_EXACT_INT, max_value=MAX_EXACT_INT))
        def check(n: int) -> None:
            k.set_property("D", "Count", str(n))
            assert k.get_property("D", "Count") == n

        check()
