"""The demo configuration's presets beyond Startup (Channel, Channel-Multiband, Objective,
Camera, LightPath, System) set the C++ devices through the kernel as they do through MMCore:
the same file is loaded into pymmcore in the same test, each preset is set on both, and the
device properties, the current presets, the shutter role and the resolution are compared."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mmkernel_core import Kernel

from .conftest import DEMO

WATCHED = [("Dichroic", "Label"), ("Dichroic", "State"), ("Emission", "Label"), ("Excitation", "Label"),
           ("LED", "Label"), ("LED", "State"), ("Objective", "Label"), ("Objective", "State"), ("Path", "State"),
           ("Camera", "Binning"), ("Camera", "BitDepth"), ("Camera", "ScanMode"), ("LED Shutter", "State Device"),
           ("Core", "Shutter")]  # fmt: skip
PRESETS = [("Channel", "FITC"), ("Objective", "20X"), ("Channel-Multiband", "Cy5"), ("Camera", "LowRes"),
           ("Objective", "40X"), ("Channel", "DAPI"), ("LightPath", "Camera-right"), ("Camera", "MedRes"),
           ("Channel-Multiband", "FITC"), ("Objective", "10X"), ("Channel", "Rhodamine"),
           ("System", "Startup")]  # fmt: skip


@pytest.fixture
def both(real: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Kernel, Any]]:
    """The unchanged demo file through the kernel (MMKERNEL_MM_PREFER) and through pymmcore."""
    import pymmcore

    monkeypatch.setenv("MMKERNEL_MM_PREFER", "DemoCamera,Utilities")
    core = pymmcore.CMMCore()
    core.setDeviceAdapterSearchPaths([real])
    core.loadSystemConfiguration(str(DEMO))
    try:
        with Kernel(timeout=20) as k:
            k.load_config(DEMO)
            yield k, core
    finally:
        core.unloadAllDevices()


def _through_kernel(k: Kernel) -> dict[tuple[str, str], str]:
    return {(label, name): _text(k.get_property(label, name)) for label, name in WATCHED}


def _through_mmcore(core: Any) -> dict[tuple[str, str], str]:
    return {(label, name): core.getProperty(label, name) for label, name in WATCHED}


def _text(value: object) -> str:
    return str(int(value)) if isinstance(value, (int, float)) and float(value).is_integer() else str(value)


def test_the_demo_presets_set_the_cpp_devices_as_mmcore_does(both: tuple[Kernel, Any]) -> None:
    k, core = both
    assert _through_kernel(k) == _through_mmcore(core)  # after both ran System/Startup
    for group, preset in PRESETS:
        k.set_config(group, preset)
        core.setConfig(group, preset)
        core.waitForConfig(group, preset)
        assert _through_kernel(k) == _through_mmcore(core), f"{group}/{preset}"
        assert k.current_config(group) == core.getCurrentConfig(group), f"{group}/{preset}"
        # The matching resolution's calibrated size (MMCore's getPixelSizeUm also multiplies by binning).
        assert k.pixel_size_um() == core.getPixelSizeUmByID(core.getCurrentPixelSizeConfig()), f"{group}/{preset}"


def test_a_channel_preset_moves_the_filter_wheels_and_the_shutter_role(both: tuple[Kernel, Any]) -> None:
    k, _ = both
    k.set_config("Channel-Multiband", "Rhodamine")
    assert k.get_property("LED", "Label") == "550nm" and k.get_property("Excitation", "Label") == "Empty"
    assert k.roles.shutter == "LED Shutter"
    k.set_config("Channel", "Cy5")
    assert (k.get_property("Dichroic", "State"), k.get_property("Emission", "State")) == (0, 3)
    assert k.roles.shutter == "White Light Shutter"
    k.set_config("Objective", "20X")
    assert k.get_property("Objective", "Label") == "Nikon 20X Plan Fluor ELWD" and k.pixel_size_um() == 0.5
