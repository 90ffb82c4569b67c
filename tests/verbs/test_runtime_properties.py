"""Properties an adapter adds, removes or narrows at run time (devices that learn their
properties from the hardware): the kernel offers, forgets and enforces them as declared ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mmkernel_core import Kernel, PropertyError
from mmkernel_sdk import Generic, prop


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    with Kernel(timeout=5) as k:
        yield k


# -- properties registered at runtime ----------------------------------------------------------
class Learner(Generic):
    """Learns some of its properties from the hardware."""

    def __init__(self) -> None:  # deliberately no super().__init__()
        self.calls: list[tuple[str, Any]] = []
        self.gain = 1.0
        self.add_property("SerialNumber", str, default="SN-7", read_only=True)
        self.add_property("Speed", int, default=5, limits=(1, 10))

    def initialize(self) -> None:
        self.add_property("Temperature", float, getter=lambda: 37.0, units="degC")
        self.add_property("Gain", float, getter=self._get_gain, setter=self._set_gain, limits=(0, 5))
        self.add_property("Filter", str, default="A", allowed=("A", "B"))

    def _get_gain(self) -> float:
        return self.gain

    def _set_gain(self, value: float) -> None:
        self.calls.append(("Gain", value))
        self.gain = value


def test_properties_added_in_init_and_initialize(kernel: Kernel) -> None:
    device = Learner()
    kernel.load_device("L", device)
    names = kernel.property_names("L")
    assert {"SerialNumber", "Speed"} <= set(names)
    assert "Gain" not in names
    kernel.initialize("L")
    assert {"SerialNumber", "Speed", "Temperature", "Gain", "Filter"} <= set(kernel.property_names("L"))

    # read, from the device and from the cache filled by initialize
    assert kernel.get_property("L", "SerialNumber") == "SN-7"
    assert kernel.get_property("L", "Temperature", from_cache=True) == 37.0
    assert kernel.get_property("L", "Gain") == 1.0

    # set, validated by the kernel against the runtime spec
    kernel.set_property("L", "Speed", "9")
    assert kernel.get_property("L", "Speed") == 9
    kernel.set_property("L", "Gain", 4.5)
    assert device.calls == [("Gain", 4.5)]
    assert kernel.get_property("L", "Gain", from_cache=True) == 4.5
    kernel.set_property("L", "Filter", "B")
    assert kernel.get_property("L", "Filter") == "B"

    for name, value, reason in [
        ("Speed", 11, "out of range"),
        ("Gain", 5.5, "out of range"),
        ("Filter", "C", "not one of the allowed values"),
        ("Temperature", 20.0, "read-only"),  # getter without setter
        ("SerialNumber", "SN-8", "read-only"),
    ]:
        with pytest.raises(PropertyError, match=reason) as info:
            kernel.set_property("L", name, value)
        assert info.value.property == name
        assert info.value.device == "L"
    assert device.calls == [("Gain", 4.5)]
    assert kernel.get_property("L", "Speed") == 9
    assert kernel.get_property("L", "Filter") == "B"

    info_gain = kernel.property_info("L", "Gain")
    assert (info_gain.kind, info_gain.limits, info_gain.read_only) == (float, (0, 5), False)
    assert kernel.property_info("L", "Temperature").read_only is True


class Channels(Generic):
    """Has as many channel properties as its Count says (a light source with swappable heads)."""

    Count = prop(int, default=3, limits=(0, 3))

    def initialize(self) -> None:
        self.heads = 3
        for index in range(3):
            self.add_property(f"Level {index}", int, default=index, limits=(0, 100))

    @Count.setter
    def Count(self, count: int) -> None:
        while self.heads > count:
            self.heads -= 1
            self.remove_property(f"Level {self.heads}")


def test_a_property_added_at_runtime_can_be_removed_and_the_kernel_forgets_it(kernel: Kernel) -> None:
    kernel.load_device("Light", Channels())
    kernel.initialize("Light")
    assert kernel.get_property("Light", "Level 2", from_cache=True) == 2
    kernel.set_property("Light", "Count", 1)
    assert "Level 2" not in kernel.property_names("Light") and "Level 0" in kernel.property_names("Light")
    assert "Light" not in [label for label, values in kernel.system_state().items() if "Level 2" in values]
    with pytest.raises(PropertyError, match=r"device 'Light' has no property 'Level 2'"):
        kernel.set_property("Light", "Level 2", 5)
    with pytest.raises(PropertyError, match=r"'Count': cannot be removed: it is declared by the adapter class"):
        kernel.internals.device_object("Light").remove_property("Count")
    assert kernel.get_property("Light", "Count") == 1


class Narrowing(Generic):
    """Narrows limits and allowed values once it knows the hardware."""

    Exposure = prop(float, default=10.0, limits=(0, 10_000), units="ms")
    Binning = prop(int, default=1, allowed=(1, 2, 4, 8))
    Pattern = prop(str, default="a", allowed=("a", "b"))
    max_exposure = prop(float, default=500.0, pre_init=True, name="Max exposure")

    def __init__(self) -> None:
        self.set_calls = 0

    @Exposure.setter
    def Exposure(self, value: float) -> None:
        self.set_calls += 1

    def initialize(self) -> None:
        self.set_limits("Exposure", 0, self.max_exposure)
        self.set_allowed("Binning", (1, 2))
        self.set_allowed("Pattern", None)  # removes the restriction


def test_limits_and_allowed_narrowed_at_initialize_are_enforced(kernel: Kernel) -> None:
    device = Narrowing()
    kernel.load_device("N", device)
    assert kernel.property_info("N", "Exposure").limits == (0, 10_000)
    assert kernel.property_info("N", "Binning").allowed == (1, 2, 4, 8)
    kernel.set_property("N", "Max exposure", "300")
    kernel.initialize("N")

    assert kernel.property_info("N", "Exposure").limits == (0, 300)
    assert kernel.property_info("N", "Binning").allowed == (1, 2)
    assert kernel.property_info("N", "Pattern").allowed is None

    with pytest.raises(PropertyError) as info:
        kernel.set_property("N", "Exposure", 400)
    assert "within [0, 300] ms" in str(info.value)
    assert device.set_calls == 0
    assert kernel.get_property("N", "Exposure") == 10.0
    kernel.set_property("N", "Exposure", 299.5)
    assert device.set_calls == 1
    assert kernel.get_property("N", "Exposure") == 299.5

    with pytest.raises(PropertyError) as info:
        kernel.set_property("N", "Binning", 4)
    assert "one of [1, 2]" in str(info.value)
    assert kernel.get_property("N", "Binning") == 1
    kernel.set_property("N", "Binning", 2)
    assert kernel.get_property("N", "Binning") == 2

    kernel.set_property("N", "Pattern", "anything")
    assert kernel.get_property("N", "Pattern") == "anything"


class Unlimited(Generic):
    """A controller that declares no limits, as Micro-Manager's demo State and Position do."""

    Position = prop(float, default=0.0, limits=(-10.0, 10.0))

    def initialize(self) -> None:
        self.remove_limits("Position")


def test_remove_limits_lets_the_setter_decide(kernel: Kernel) -> None:
    kernel.load_device("U", Unlimited())
    assert kernel.property_info("U", "Position").limits == (-10.0, 10.0)  # as declared
    kernel.initialize("U")
    assert kernel.property_info("U", "Position").limits is None
    kernel.set_property("U", "Position", 50.0)
    assert kernel.get_property("U", "Position") == 50.0
