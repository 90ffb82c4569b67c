"""Micro-Manager's demo configuration on the demo devices: devices, parents and roles, state
labels, channel presets, the System/Startup preset and the pixel size following the objective."""

from __future__ import annotations

import numpy as np
import pytest

from mmkernel_core import Kernel


# -- the demo configuration ------------------------------------------------------------------------
@pytest.fixture
def demo(k: Kernel) -> Kernel:
    k.load_config(k.adapters.examples["demo"])
    return k


def test_demo_config_loads_devices_parents_and_roles(demo: Kernel) -> None:
    k = demo
    assert set(k.devices()) == {
        "DHub",
        "Camera",
        "Dichroic",
        "Emission",
        "Excitation",
        "Objective",
        "Z",
        "Path",
        "XY",
        "White Light Shutter",
        "Autofocus",
        "LED",
        "LED Shutter",
        "Core",
    }
    assert all(k.device_info(label).initialized for label in k.devices())
    assert k.device_info("Camera").device_name == "DCam"
    assert k.device_info("Camera").parent == "DHub"
    assert k.parent_label("LED Shutter") is None
    assert k.get_property("Camera", "HubID") == ""  # as in MMCore, whatever the Parent line says
    assert k.roles.camera == "Camera"
    assert k.roles.shutter == "White Light Shutter"
    assert k.roles.focus == "Z"
    assert k.roles.xy_stage == "XY"  # MMCore's default roles
    assert k.roles.autofocus == "Autofocus"
    assert k.roles.auto_shutter
    assert k.get_device_delay("White Light Shutter") == 0.0  # no Delay lines
    image = k.snap()
    assert image.shape == (512, 512) and image.dtype == np.uint16 and image.std() > 0
    assert not k.get_shutter_open("White Light Shutter")


def test_demo_config_state_labels(demo: Kernel) -> None:
    k = demo
    assert k.state_labels("Dichroic")[:3] == ["400DCLP", "Q505LP", "Q585LP"]
    k.set_state("Dichroic", 1)
    assert k.get_state_label("Dichroic") == "Q505LP"
    k.set_state_label("Emission", "Chroma-HQ700")
    assert k.get_state("Emission") == 3


def test_demo_config_channel_presets(demo: Kernel) -> None:
    k = demo
    assert set(k.config_presets("Channel")) == {"Cy5", "DAPI", "FITC", "Rhodamine"}
    k.set_config("Channel", "FITC")
    assert k.current_config("Channel") == "FITC"
    assert k.get_state_label("Dichroic") == "Q505LP"
    assert k.get_state_label("Emission") == "Chroma-HQ535"
    assert k.get_state_label("Excitation") == "Chroma-HQ480"
    assert k.roles.shutter == "White Light Shutter"
    k.set_config("Channel", "DAPI")
    assert k.current_config("Channel") == "DAPI"
    assert k.get_state("Dichroic") == 0
    k.set_config("Channel-Multiband", "FITC")  # a Core setting in a preset: the LED Shutter
    assert k.roles.shutter == "LED Shutter" and k.get_state_label("LED") == "470nm"


def test_demo_config_applies_system_startup(demo: Kernel) -> None:
    k = demo
    # Startup: BitDepth 16 on the 8bit camera switches it to 16bit (MMCore section 3.6)
    assert (k.get_property("Camera", "PixelType"), k.get_property("Camera", "BitDepth")) == ("16bit", 16)
    assert k.get_property("Camera", "ScanMode") == 1 and k.get_property("Camera", "Binning") == 1
    assert k.get_state("Objective") == 1
    assert k.get_property("LED Shutter", "State Device") == "LED"
    assert k.roles.channel_group == "Channel"
    assert k.current_config("System") == "Startup"
    k.set_config("Camera", "LowRes")  # 16bit with BitDepth 8: PixelType does not go back to 8bit
    assert (k.get_property("Camera", "PixelType"), k.get_property("Camera", "BitDepth")) == ("16bit", 8)
    assert k.snap().shape == (128, 128)


def test_demo_config_pixel_size_follows_the_objective(demo: Kernel) -> None:
    k = demo
    assert k.get_state_label("Objective") == "Nikon 10X S Fluor"
    assert k.pixel_size_um() == 1.0
    k.set_config("Objective", "20X")
    assert k.current_config("Objective") == "20X"
    assert k.pixel_size_um() == 0.5
    k.set_config("Objective", "40X")
    assert k.pixel_size_um() == 0.25
