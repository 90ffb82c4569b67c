"""SDK device types as the kernel sees them: state devices, shutters, stages, the standard
Name/Description properties, and adapters written the way authors really write them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import ClassVar

import pytest

from mmkernel_core import DeviceError, DeviceTypeError, Kernel, PropertyError
from mmkernel_sdk import (
    DEVICE_TYPES,
    AutoFocus,
    Camera,
    Device,
    Generic,
    Hub,
    Shutter,
    SignalIO,
    Stage,
    StateDevice,
    XYStage,
    prop,
)
from tests.support.paths import ROOT


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    with Kernel(timeout=5) as k:
        yield k


# -- StateDevice -------------------------------------------------------------------------------
class Wheel(StateDevice):
    """A four-position wheel that records every move sent to the hardware."""

    num_positions: ClassVar[int] = 4

    def __init__(self) -> None:
        self.moves: list[int] = []
        self.at = 0

    def set_state(self, position: int) -> None:
        self.moves.append(position)
        self.at = position

    def get_state(self) -> int:
        return self.at


class TwoPosition(StateDevice):
    """Keeps the base class's default number of positions."""


@pytest.fixture
def wheel(kernel: Kernel) -> Wheel:
    device = Wheel()
    kernel.load_device("W", device)
    kernel.initialize("W")
    return device


def test_default_labels(kernel: Kernel, wheel: Wheel) -> None:
    expected = ["State-0", "State-1", "State-2", "State-3"]
    assert wheel.labels == expected
    assert kernel.state_labels("W") == expected
    assert kernel.property_info("W", "Label").allowed == tuple(expected)
    assert kernel.property_info("W", "State").limits == (0, 3)
    assert kernel.get_state("W") == 0
    assert kernel.get_state_label("W") == "State-0"

    kernel.load_device("T", TwoPosition())
    assert kernel.state_labels("T") == ["State-0", "State-1"]


def test_labels_property_is_a_copy(wheel: Wheel) -> None:
    wheel.labels.append("Sneaky")
    wheel.labels[0] = "Sneaky"
    assert wheel.labels == ["State-0", "State-1", "State-2", "State-3"]


def test_set_state_keeps_label_in_sync(kernel: Kernel, wheel: Wheel) -> None:
    kernel.define_state_label("W", 2, "GFP")
    kernel.set_state("W", 2)
    assert wheel.moves == [2]
    assert kernel.get_state("W") == 2
    assert kernel.get_state_label("W") == "GFP"
    assert kernel.get_state_label("W", from_cache=True) == "GFP"
    assert kernel.get_property("W", "Label", from_cache=True) == "GFP"

    kernel.set_property("W", "State", "1")  # strings are coerced on the property path too
    assert wheel.moves == [2, 1]
    assert kernel.get_state_label("W", from_cache=True) == "State-1"
    assert kernel.get_state("W", from_cache=True) == 1


def test_set_state_label_moves_to_that_position(kernel: Kernel, wheel: Wheel) -> None:
    kernel.define_state_label("W", 3, "DAPI")
    kernel.set_state_label("W", "DAPI")
    assert wheel.moves == [3]  # the hardware was told the index, not the label
    assert kernel.get_state("W") == 3
    assert kernel.get_state("W", from_cache=True) == 3
    assert kernel.get_property("W", "State", from_cache=True) == 3
    assert kernel.get_state_label("W") == "DAPI"

    kernel.set_property("W", "Label", "State-0")
    assert wheel.moves == [3, 0]
    assert kernel.get_state("W", from_cache=True) == 0


def test_hardware_moving_on_its_own_is_seen_by_both_properties(kernel: Kernel, wheel: Wheel) -> None:
    wheel.at = 2  # someone turned the wheel by hand
    assert kernel.get_state_label("W") == "State-2"
    assert kernel.get_state("W") == 2


def test_define_label_of_current_position_updates_cached_label(kernel: Kernel, wheel: Wheel) -> None:
    kernel.set_state("W", 1)
    kernel.define_state_label("W", 1, "Mirror")
    assert kernel.state_labels("W") == ["State-0", "Mirror", "State-2", "State-3"]
    assert kernel.get_state_label("W", from_cache=True) == "Mirror"
    assert kernel.property_info("W", "Label").allowed == ("State-0", "Mirror", "State-2", "State-3")
    with pytest.raises(PropertyError):
        kernel.set_state_label("W", "State-1")  # the old name is gone
    kernel.set_state_label("W", "Mirror")
    assert kernel.get_state("W") == 1


def test_redefining_a_label_on_its_own_position_is_allowed(wheel: Wheel) -> None:
    wheel.define_label(1, "Mirror")
    wheel.define_label(1, "Mirror")
    assert wheel.labels == ["State-0", "Mirror", "State-2", "State-3"]


def test_duplicate_label_is_rejected(kernel: Kernel, wheel: Wheel) -> None:
    kernel.define_state_label("W", 2, "GFP")
    with pytest.raises(DeviceError) as info:
        kernel.define_state_label("W", 1, "GFP")
    assert "'GFP'" in str(info.value)
    assert "position 2" in str(info.value)
    assert kernel.state_labels("W") == ["State-0", "State-1", "GFP", "State-3"]
    # directly, as adapter code calling it from initialize() would
    with pytest.raises(ValueError, match="already used by position 2"):
        wheel.define_label(0, "GFP")
    assert wheel.labels == ["State-0", "State-1", "GFP", "State-3"]
    kernel.set_state_label("W", "GFP")
    assert kernel.get_state("W") == 2


@pytest.mark.parametrize("position", [4, 99, -1])
def test_label_for_unknown_position_is_rejected(kernel: Kernel, wheel: Wheel, position: int) -> None:
    with pytest.raises(DeviceError) as info:
        kernel.define_state_label("W", position, "Nowhere")
    assert f"position {position} is out of range 0..3" in str(info.value)
    with pytest.raises(ValueError, match="out of range"):
        wheel.define_label(position, "Nowhere")
    assert wheel.labels == ["State-0", "State-1", "State-2", "State-3"]


def test_unknown_label_and_position_are_rejected_before_the_hardware(kernel: Kernel, wheel: Wheel) -> None:
    with pytest.raises(PropertyError) as info:
        kernel.set_state_label("W", "Nowhere")
    assert "'Nowhere'" in str(info.value)
    assert "State-3" in str(info.value)  # the message lists the labels that exist
    with pytest.raises(PropertyError, match=r"within \[0, 3\]"):
        kernel.set_state("W", 4)
    with pytest.raises(PropertyError):
        kernel.set_state("W", -1)
    assert wheel.moves == []
    assert kernel.get_state("W") == 0


def test_state_verbs_refuse_other_device_types(kernel: Kernel) -> None:
    kernel.load_device("G", Generic())
    kernel.initialize("G")
    with pytest.raises(DeviceTypeError, match="State"):
        kernel.set_state("G", 1)
    with pytest.raises(DeviceTypeError):
        kernel.get_state_label("G")


class Configurable(StateDevice):
    """Learns its number of positions from the hardware at initialize."""

    count = prop(int, default=6, pre_init=True, name="Number of positions")

    def initialize(self) -> None:
        self.set_num_positions(self.count)
        self.define_label(0, "Empty")


def test_set_num_positions_at_initialize(kernel: Kernel) -> None:
    device = Configurable()
    kernel.load_device("C", device)
    assert kernel.state_labels("C") == ["State-0", "State-1"]
    kernel.set_property("C", "Number of positions", 6)
    kernel.initialize("C")
    assert kernel.state_labels("C") == ["Empty", *(f"State-{i}" for i in range(1, 6))]
    assert kernel.property_info("C", "State").limits == (0, 5)
    kernel.set_state("C", 5)
    assert kernel.get_state_label("C") == "State-5"
    with pytest.raises(PropertyError, match=r"within \[0, 5\]"):
        kernel.set_state("C", 6)
    kernel.set_state_label("C", "Empty")
    assert kernel.get_state("C") == 0


def test_set_num_positions_resets_labels_and_refuses_zero() -> None:
    device = Wheel()
    device.define_label(0, "Custom")
    device.set_num_positions(3)
    assert device.labels == ["State-0", "State-1", "State-2"]
    assert device.property_spec("State").limits == (0, 2)
    assert device.property_spec("Label").allowed == ("State-0", "State-1", "State-2")
    with pytest.raises(ValueError, match="at least one position"):
        device.set_num_positions(0)
    assert device.labels == ["State-0", "State-1", "State-2"]


# -- Shutter -----------------------------------------------------------------------------------
class RecordingShutter(Shutter):
    def __init__(self) -> None:
        self.opened = False
        self.commands: list[bool] = []

    def set_open(self, open: bool) -> None:  # noqa: A002
        self.commands.append(open)
        self.opened = open

    def is_open(self) -> bool:
        return self.opened


def test_shutter_state_maps_to_set_open_and_is_open(kernel: Kernel) -> None:
    shutter = RecordingShutter()
    kernel.load_device("S", shutter)
    kernel.initialize("S")
    assert kernel.get_shutter_open("S") is False
    assert kernel.get_property("S", "State") == 0

    kernel.set_shutter_open("S", True)
    assert shutter.commands == [True]
    assert type(shutter.commands[0]) is bool
    assert kernel.get_shutter_open("S") is True
    assert kernel.get_shutter_open("S", from_cache=True) is True
    assert kernel.get_property("S", "State") == 1

    kernel.set_shutter_open("S", False)
    assert shutter.commands == [True, False]
    assert kernel.get_property("S", "State", from_cache=True) == 0
    assert kernel.get_shutter_open("S") is False

    kernel.set_property("S", "State", "1")
    assert shutter.commands == [True, False, True]
    assert kernel.get_shutter_open("S") is True

    shutter.opened = False  # closed by hand: the kernel asks is_open()
    assert kernel.get_shutter_open("S") is False


def test_shutter_state_accepts_only_zero_and_one(kernel: Kernel) -> None:
    shutter = RecordingShutter()
    kernel.load_device("S", shutter)
    kernel.initialize("S")
    with pytest.raises(PropertyError, match=r"one of \[0, 1\]"):
        kernel.set_property("S", "State", 2)
    with pytest.raises(PropertyError):
        kernel.set_shutter_open("S", 2)
    assert shutter.commands == []
    with pytest.raises(DeviceTypeError):
        kernel.set_state("S", 1)  # a shutter is not a state device


# -- a device type method the adapter forgot ---------------------------------------------------
class ForgetfulStage(Stage):
    """Implements set_position but forgets get_position."""

    def set_position(self, um: float) -> None:
        self.z = um


class StageWithoutMove(Stage):
    def get_position(self) -> float:
        return 0.0


class ShutterWithoutQuery(Shutter):
    def set_open(self, open: bool) -> None:  # noqa: A002
        pass


def test_forgotten_get_position_names_class_and_method(kernel: Kernel) -> None:
    kernel.load_device("Z", ForgetfulStage())
    kernel.initialize("Z")
    with pytest.raises(DeviceError) as info:
        kernel.get_position("Z")
    message = str(info.value)
    assert f"{__name__}.ForgetfulStage" in message
    assert "(Stage)" in message
    assert "must implement get_position()" in message
    assert info.value.device == "Z"
    assert isinstance(info.value.__cause__, NotImplementedError)


def test_forgotten_set_position_names_class_and_method(kernel: Kernel) -> None:
    kernel.load_device("Z", StageWithoutMove())
    kernel.initialize("Z")
    assert kernel.get_position("Z") == 0.0
    with pytest.raises(DeviceError, match=r"StageWithoutMove \(Stage\) must implement set_position\(\)"):
        kernel.set_position("Z", 10.0)


def test_forgotten_is_open_names_class_and_method(kernel: Kernel) -> None:
    kernel.load_device("S", ShutterWithoutQuery())
    kernel.initialize("S")
    with pytest.raises(DeviceError, match=r"ShutterWithoutQuery \(Shutter\) must implement is_open\(\)"):
        kernel.get_shutter_open("S")


# -- Name and Description on every device ------------------------------------------------------
def _concrete(base: type[Device]) -> type[Device]:
    return type(f"My{base.__name__}", (base,), {"__doc__": "  First line of the doc.\n\n  More detail.\n"})


@pytest.mark.parametrize("base", DEVICE_TYPES, ids=lambda t: t.__name__)
def test_name_and_description_exist_on_every_device_type(kernel: Kernel, base: type[Device]) -> None:
    cls = _concrete(base)
    kernel.load_device("X", cls())
    names = kernel.property_names("X")
    assert "Name" in names
    assert "Description" in names
    # readable before initialize, from the device and from the cache
    assert kernel.get_property("X", "Name") == f"My{base.__name__}"
    assert kernel.get_property("X", "Name", from_cache=True) == f"My{base.__name__}"
    assert kernel.get_property("X", "Description") == "First line of the doc."
    assert kernel.get_property("X", "Description", from_cache=True) == "First line of the doc."
    for name in ("Name", "Description"):
        spec = kernel.property_info("X", name)
        assert spec.kind is str
        assert spec.read_only is True
        with pytest.raises(PropertyError, match="read-only"):
            kernel.set_property("X", name, "changed")
    assert kernel.get_property("X", "Name") == f"My{base.__name__}"


def test_all_device_types_are_covered() -> None:
    assert set(DEVICE_TYPES) == {
        Camera,
        Stage,
        XYStage,
        Shutter,
        StateDevice,
        AutoFocus,
        SignalIO,
        Generic,
        Hub,
    }


def test_name_is_the_registered_device_name(kernel: Kernel) -> None:
    kernel.adapters.register("DemoAdapter", Wheel, "DWheel")
    kernel.load_device("W", "DemoAdapter", "DWheel")
    kernel.initialize("W")
    assert kernel.get_property("W", "Name") == "DWheel"
    assert kernel.get_property("W", "Description") == (
        "A four-position wheel that records every move sent to the hardware."
    )


class Undocumented(Generic):
    pass


class Described(Generic):
    """The docstring."""

    description = "Set explicitly."


def test_description_fallbacks(kernel: Kernel) -> None:
    kernel.load_device("U", Undocumented())
    kernel.load_device("E", Described())
    assert kernel.get_property("U", "Description") == ""
    assert kernel.get_property("E", "Description") == "Set explicitly."


def test_bare_device_has_name_and_description(kernel: Kernel) -> None:
    kernel.load_device("B", Device())
    assert {"Name", "Description"} <= set(kernel.property_names("B"))


# -- the SDK stands alone ----------------------------------------------------------------------
def test_sdk_imports_without_the_kernel() -> None:
    code = (
        "import mmkernel_sdk, mmkernel_sdk.testing, sys; "
        "loaded = sorted(m for m in sys.modules if m.startswith('mmkernel_core')); "
        "assert not loaded, loaded"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# -- adapters that skip super().__init__() -----------------------------------------------------
class NoSuperGeneric(Generic):
    """Sets its fields and never calls super().__init__()."""

    Exposure = prop(float, default=5.0, limits=(0, 50))

    def __init__(self, port: str) -> None:
        self.port = port
        self.add_property("Port name", str, default=port, read_only=True)


class NoSuperWheel(StateDevice):
    num_positions: ClassVar[int] = 3

    def __init__(self, names: list[str]) -> None:
        for position, name in enumerate(names):
            self.define_label(position, name)


class NoSuperStage(Stage):
    def __init__(self, start: float) -> None:
        self.z = start

    def set_position(self, um: float) -> None:
        self.z = um

    def get_position(self) -> float:
        return self.z


def test_adapter_without_super_init_works(kernel: Kernel) -> None:
    generic = NoSuperGeneric("COM3")
    kernel.load_device("G", generic)
    kernel.initialize("G")
    assert generic.label == "G"
    assert generic.kernel is kernel
    assert kernel.get_property("G", "Name") == "NoSuperGeneric"
    assert kernel.get_property("G", "Description") == "Sets its fields and never calls super().__init__()."
    assert kernel.get_property("G", "Port name") == "COM3"
    kernel.set_property("G", "Exposure", "12")
    assert kernel.get_property("G", "Exposure") == 12.0
    assert generic.Exposure == 12.0
    with pytest.raises(PropertyError, match="out of range"):
        kernel.set_property("G", "Exposure", 51)

    wheel = NoSuperWheel(["Open", "Closed"])
    kernel.load_device("W", wheel)
    kernel.initialize("W")
    assert kernel.state_labels("W") == ["Open", "Closed", "State-2"]
    kernel.set_state_label("W", "Closed")
    assert kernel.get_state("W") == 1

    stage = NoSuperStage(start=3.0)
    kernel.load_device("Z", stage)
    kernel.initialize("Z")
    assert kernel.get_position("Z") == 3.0
    kernel.set_position("Z", 7.5)
    assert stage.z == 7.5
    assert kernel.get_position("Z", from_cache=True) == 7.5
