"""Micro-Manager's own demo configuration (tests/data/MMConfig_demo_upstream.cfg, the file shipped
in micro-manager's bindist) loads unchanged and behaves as in MMCore: the Core pseudo-device, Core
settings in presets, loads that never lose the previous system, partial loads, save_config."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from mmkernel_core import ConfigError, Kernel, PropertyError, UnknownDeviceError
from tests.support.paths import DATA

UPSTREAM = DATA / "MMConfig_demo_upstream.cfg"
UPSTREAM_LINES = UPSTREAM.read_text(encoding="utf-8").splitlines()
GROUPS = ("Camera", "Channel", "Channel-Multiband", "LightPath", "Objective", "System")


@pytest.fixture
def mm(k: Kernel) -> Kernel:
    k.load_config(UPSTREAM)
    return k


def variant(tmp_path: Path, *, replace: dict[int, str] | None = None, append: tuple[str, ...] = ()) -> Path:
    """The upstream file with some lines (1-based) replaced and some appended."""
    lines = list(UPSTREAM_LINES)
    for number, text in (replace or {}).items():
        lines[number - 1] = text
    path = tmp_path / "variant.cfg"
    path.write_text("\n".join([*lines, *append]) + "\n", encoding="utf-8")
    return path


def mm_saved(kernel: Kernel) -> str:
    from mmkernel_core.config import config_text

    return config_text(kernel)


def line_of(text: str) -> int:
    return UPSTREAM_LINES.index(text) + 1


def system(kernel: Kernel) -> dict[str, Any]:
    """Everything a load sets up, by value, so two kernels can be compared property by property."""
    labels = [label for label in kernel.devices() if label != "Core"]
    return {
        "devices": {
            label: (kernel.device_info(label).adapter, kernel.device_info(label).device_name) for label in labels
        },
        "parents": {label: kernel.parent_label(label) for label in labels},
        "properties": {
            label: {name: kernel.get_property(label, name) for name in kernel.property_names(label)}
            for label in [*labels, "Core"]
        },
        "labels": {label: kernel.state_labels(label) for label in labels if kernel.device_type(label) == "State"},
        "delays": {label: kernel.get_device_delay(label) for label in labels},
        "presets": {
            group: {preset: sorted(kernel.config_settings(group, preset)) for preset in kernel.config_presets(group)}
            for group in kernel.config_groups()
        },
        "pixel_sizes": {name: kernel.pixel_size_config(name) for name in kernel.pixel_size_configs()},
        "focus_directions": {
            label: kernel.focus_direction(label) for label in labels if kernel.device_type(label) == "Stage"
        },
        "roles": dataclasses.asdict(kernel.roles),
    }


# -- the upstream file loads unchanged ---------------------------------------------------------
def test_the_upstream_demo_file_loads_with_mmcores_roles(mm: Kernel) -> None:
    file_order = [line.split(",")[1] for line in UPSTREAM_LINES if line.startswith("Device,")]
    assert mm.devices() == [*sorted(file_order), "Core"]  # sorted, then Core (docs/micro-manager.md)
    text = mm_saved(mm)
    assert [line.split(",")[1] for line in text.splitlines() if line.startswith("Device,")] == file_order  # load order
    assert set(mm.devices()) == {
        "DHub", "Camera", "Dichroic", "Emission", "Excitation", "Objective", "Z", "Path", "XY",
        "White Light Shutter", "Autofocus", "LED", "LED Shutter", "Core",
    }  # fmt: skip
    assert mm.roles.camera == "Camera" and mm.roles.shutter == "White Light Shutter" and mm.roles.focus == "Z"
    # not set by the file: MMCore assigns the first device of the type at initialize
    assert mm.roles.xy_stage == "XY" and mm.roles.autofocus == "Autofocus"
    assert mm.roles.auto_shutter is True
    assert mm.roles.channel_group == "Channel"  # from the System/Startup preset
    assert mm.parent_label("Camera") == "DHub" and mm.parent_label("LED Shutter") is None
    assert mm.state_labels("Excitation")[9] == "Empty" and mm.state_labels("LED")[0] == "Closed"
    assert mm.get_property("Objective", "Label") == "Nikon 10X S Fluor"  # Startup
    assert mm.pixel_size_um() == 1.0  # Res10x
    assert mm.get_property("LED Shutter", "State Device") == "LED"


def test_core_is_a_device_whose_roles_are_properties(mm: Kernel) -> None:
    assert mm.device_type("Core") == "Core"
    names = mm.property_names("Core")
    for name in ("AutoFocus", "AutoShutter", "Camera", "ChannelGroup", "Focus", "Galvo", "SLM", "Shutter",
                 "TimeoutMs", "XYStage"):  # fmt: skip
        assert name in names
    assert mm.get_property("Core", "Camera") == "Camera"
    assert mm.property_info("Core", "Shutter").allowed == ("", "White Light Shutter", "LED Shutter")
    assert mm.property_info("Core", "Focus").allowed == ("", "Z")
    assert set(mm.property_info("Core", "ChannelGroup").allowed) == {"", *GROUPS}
    mm.set_property("Core", "Shutter", "LED Shutter")
    assert mm.roles.shutter == "LED Shutter"
    with pytest.raises(PropertyError) as caught:
        mm.set_property("Core", "Shutter", "Z")
    message = str(caught.value)
    assert "'Core'" in message and "'Shutter'" in message and "'Z'" in message and "White Light Shutter" in message
    assert mm.roles.shutter == "LED Shutter"  # nothing applied


def test_presets_carry_core_settings(mm: Kernel) -> None:
    mm.set_config("Channel-Multiband", "FITC")
    assert mm.roles.shutter == "LED Shutter"
    assert mm.get_property("LED", "Label") == "470nm"
    mm.set_config("Channel", "Cy5")
    assert mm.roles.shutter == "White Light Shutter"
    assert mm.current_config("Channel") == "Cy5"
    mm.set_property("Core", "Shutter", "LED Shutter")
    assert mm.current_config("Channel") == ""  # the Core setting no longer matches


@pytest.mark.parametrize("group", GROUPS)
def test_current_config_recognises_every_preset_of_every_group(mm: Kernel, group: str) -> None:
    for preset in mm.config_presets(group):
        mm.set_config(group, preset)
        assert mm.current_config(group) == preset, (group, preset)


def test_config_set_event_and_wait_for_config(mm: Kernel) -> None:
    seen: list[tuple[str, str]] = []
    mm.events.config_set.connect(lambda group, preset: seen.append((group, preset)))
    mm.set_device_delay("Emission", 30.0)
    mm.set_config("Channel", "DAPI")
    mm.wait_for_config("Channel", "DAPI")
    assert not mm.busy("Emission")
    mm.events.flush()
    assert seen == [("Channel", "DAPI")]
    with pytest.raises(UnknownDeviceError, match="Nope"):
        mm.wait_for_config("Channel", "Nope")


def test_example_configurations_load_by_name(k: Kernel) -> None:
    report = k.load_config("demo")
    assert report.ok and "LED Shutter" in report.loaded
    with pytest.raises(ConfigError, match="demo"):
        k.load_config("no-such-example")


# -- loads never lose the previous system ------------------------------------------------------
def test_a_failure_at_a_late_line_restores_the_previous_system_property_by_property(mm: Kernel, tmp_path: Path) -> None:
    mm.set_property("Camera", "Exposure", 42.0)
    mm.set_config("Channel", "Rhodamine")
    mm.set_config("Camera", "LowRes")
    mm.set_device_delay("Dichroic", 5.0)
    before = system(mm)
    bad = variant(tmp_path, append=("Property,Camera,Gain,99",))
    with pytest.raises(ConfigError) as caught:
        mm.load_config(bad)
    message = str(caught.value)
    assert f"line {len(UPSTREAM_LINES) + 1}" in message and "Gain" in message and "99" in message
    assert "previous system" in message and "restored" in message
    assert system(mm) == before


def test_independent_problems_are_reported_together_with_line_text_and_close_matches(
    mm: Kernel, tmp_path: Path
) -> None:
    shutter = line_of("Property,Core,AutoShutter,1")
    device = line_of("ConfigGroup,LightPath,Eyepiece,Path,State,0")
    bad = variant(tmp_path, replace={shutter: "Property,Core,AutoShutter,2",
                                     device: "ConfigGroup,LightPath,Eyepiece,Pth,State,0"})  # fmt: skip
    before = system(mm)
    with pytest.raises(ConfigError) as caught:
        mm.load_config(bad)
    message = str(caught.value)
    assert f"line {shutter}" in message and "AutoShutter,2" in message and "[0, 1]" in message  # what is allowed
    assert f"line {device}" in message and "'Pth'" in message and "Path" in message  # a close match
    assert system(mm) == before


def test_a_partial_load_keeps_what_loaded_and_reports_what_failed_and_what_was_skipped(
    k: Kernel, tmp_path: Path
) -> None:
    ghost = line_of("Device,LED,DemoCamera,DStateDevice")
    bad = variant(tmp_path, replace={ghost: "Device,LED,DemoCamera,DNoSuchDevice"})
    report = k.load_config(bad, partial=True)
    assert not report.ok
    assert [problem.line for problem in report.failed] == [ghost]
    assert "LED" not in k.devices() and "Camera" in k.devices() and "LED Shutter" in k.devices()
    skipped = {s.line for s in report.skipped}
    assert line_of("Property,LED,Number of positions,10") in skipped
    assert line_of("Label,LED,0,Closed") in skipped
    assert line_of("ConfigGroup,Channel-Multiband,DAPI,LED,Label,385nm") in skipped
    assert line_of("ConfigGroup,System,Startup,LED Shutter,State Device,LED") in skipped  # names LED as a value
    # a preset keeps the lines that do not name LED; the others work
    assert ("LED", "Label", "385nm") not in k.config_settings("Channel-Multiband", "DAPI")
    k.set_config("Channel", "FITC")
    assert k.current_config("Channel") == "FITC"
    assert "skipped" in str(report) and "DNoSuchDevice" in str(report)


def test_a_partial_load_applies_the_startup_settings_of_the_devices_that_loaded(k: Kernel, tmp_path: Path) -> None:
    ghost = line_of("Device,LED,DemoCamera,DStateDevice")
    bad = variant(tmp_path, replace={ghost: "Device,LED,DemoCamera,DNoSuchDevice"})
    report = k.load_config(bad, partial=True)
    assert [problem.line for problem in report.failed] == [ghost]
    assert k.get_property("Camera", "BitDepth") == 16 and k.get_property("Camera", "Binning") == 1  # not left 8-bit
    assert k.get_property("Objective", "Label") == "Nikon 10X S Fluor" and k.roles.channel_group == "Channel"
    startup = line_of("ConfigGroup,System,Startup,LED Shutter,State Device,LED")
    (skipped,) = [s for s in report.skipped if s.line == startup]  # each skipped line, with its own reason
    assert skipped.text == UPSTREAM_LINES[startup - 1] and f"device 'LED' failed (line {ghost})" in skipped.reason
    assert ("LED Shutter", "State Device", "LED") not in k.config_settings("System", "Startup")
    assert ("Camera", "BitDepth", "16") in k.config_settings("System", "Startup")
    skipped_lines = {s.line for s in report.skipped}
    assert line_of("ConfigGroup,Channel-Multiband,FITC,LED,Label,470nm") in skipped_lines
    assert line_of("ConfigGroup,Channel-Multiband,FITC,Dichroic,Label,89402bs") not in skipped_lines
    k.set_config("Channel-Multiband", "FITC")  # the settings of the devices that loaded
    assert k.get_property("Dichroic", "Label") == "89402bs" and k.roles.shutter == "LED Shutter"
    with pytest.raises(ConfigError, match="the previous system was restored"):  # all or nothing still fails
        k.load_config(bad)
    assert [loaded.label for loaded in k.internals.devices()] == report.loaded  # the partial system, kept


# -- save_config ---------------------------------------------------------------------------------
def test_save_then_load_gives_the_same_system_property_by_property(mm: Kernel, tmp_path: Path) -> None:
    mm.set_device_delay("Emission", 12.5)
    mm.set_focus_direction("Z", -1)
    mm.define_state_label("Path", 2, "Camera-right port")
    mm.define_config("Channel", "GFP", "Emission", "Label", "Chroma-HQ535")
    mm.define_config("Channel", "GFP", "Core", "Shutter", "LED Shutter")
    mm.set_role("XYStage", "")  # roles are written on save, so an empty role stays empty
    saved = tmp_path / "saved.cfg"
    mm.save_config(saved)
    text = saved.read_text(encoding="utf-8")
    assert "Device,White Light Shutter,DemoCamera,DShutter" in text
    assert "Parent,Camera,DHub" in text and "Delay,Emission,12.5" in text and "FocusDirection,Z,-1" in text
    assert "Property,LED,Number of positions,10" in text
    assert "PixelSizeAffine,Res10x," in text and "Property,Core,ChannelGroup,Channel" in text
    expected = system(mm)
    with Kernel(timeout=10) as other:
        other.load_config(saved)
        again = system(other)
    assert again["devices"] == expected["devices"]
    for key in expected:
        assert again[key] == expected[key], key


def test_save_refuses_devices_a_file_cannot_name(k: Kernel, tmp_path: Path) -> None:
    from mmkernel_sdk.testing import SimShutter

    k.load_device("S", SimShutter())
    with pytest.raises(ConfigError, match="'S'"):
        k.save_config(tmp_path / "x.cfg")
    assert not (tmp_path / "x.cfg").exists()


def test_a_restored_system_keeps_the_cameras_buffer_size(mm: Kernel, tmp_path: Path) -> None:
    mm.set_buffer_size("Camera", 8)
    with pytest.raises(ConfigError, match="restored"):
        mm.load_config(variant(tmp_path, append=("Property,Camera,Gain,99",)))
    assert mm.buffer_size("Camera") == 8


def test_save_keeps_every_digit_and_refuses_what_the_format_cannot_carry(mm: Kernel, tmp_path: Path) -> None:
    mm.set_device_delay("Emission", 1234.56789012345)
    mm.internals.configuration.pixel_sizes["Res10x"].pixel_size_um = 0.1 + 0.2  # 0.30000000000000004
    mm.save_config(tmp_path / "exact.cfg")
    with Kernel(timeout=10) as other:
        other.load_config(tmp_path / "exact.cfg")
        assert other.get_device_delay("Emission") == mm.get_device_delay("Emission")
        assert other.pixel_size_config("Res10x").pixel_size_um == 0.1 + 0.2
    mm.internals.device_object("Path").define_label(2, "Camera, left")  # the adapter's own name for it
    with pytest.raises(ConfigError, match=r"'Camera, left' holds a comma") as caught:
        mm.save_config(tmp_path / "comma.cfg")
    assert "Label,Path,2" in str(caught.value)
    assert not (tmp_path / "comma.cfg").exists()


@pytest.mark.parametrize("value", ["nan", "inf", 1e400, -5, 2.5, "soon"])
def test_core_timeout_refuses_what_is_not_a_positive_whole_number(mm: Kernel, value: object) -> None:
    with pytest.raises(PropertyError) as caught:
        mm.set_property("Core", "TimeoutMs", value)
    message = str(caught.value)
    assert "'Core'" in message and "'TimeoutMs'" in message and repr(value) in message
    assert message.count("allowed:") == 1 and "whole number of milliseconds" in message
    assert mm.get_property("Core", "TimeoutMs") == 10000


def test_a_role_cleared_by_unloading_its_device_is_announced(mm: Kernel) -> None:
    seen: list[tuple[str, str, object]] = []
    mm.events.property_changed.connect(lambda *change: seen.append(change))
    mm.unload("White Light Shutter")
    mm.events.flush()
    assert ("Core", "Shutter", "") in seen and mm.get_property("Core", "Shutter") == ""


def test_snaps_and_sequences_through_the_led_shutter_of_channel_multiband(mm: Kernel) -> None:
    """LED Shutter drives LED, which lives on the camera's hub runner: the auto-shutter is
    driven from the caller, never from the camera's runner (which would wait on itself)."""
    mm.set_config("Channel-Multiband", "FITC")
    mm.set_shutter_open("LED Shutter", False)
    assert mm.roles.shutter == "LED Shutter"
    assert mm.snap().shape == (512, 512)
    assert not mm.get_shutter_open("LED Shutter")  # closed again before snap() returned
    mm.set_property("Camera", "Exposure", 0.0)
    mm.start_sequence(count=None, overflow="overwrite")
    assert mm.get_shutter_open("LED Shutter")
    mm.stop_sequence()
    assert not mm.get_shutter_open("LED Shutter")  # closed before stop_sequence() returned
    mm.set_config("Channel-Multiband", "FITC")
    assert mm.current_config("Channel-Multiband") == "FITC"
