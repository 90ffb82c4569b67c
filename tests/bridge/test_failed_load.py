"""A configuration load that fails late (after C++ devices were loaded and initialized) puts the
previous system back as it was, and leaves no device of the failed file in any C++ core; the
next good file then loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmkernel_core import ConfigError, Kernel

from .conftest import LABELS

PREVIOUS = """Device,Cam,mm:DemoCamera,DCam
Device,Z,mm:DemoCamera,DStage
Device,W,mm:DemoCamera,DWheel
Device,Own,mm:DemoCamera,DCam
Property,Cam,MaximumExposureMs,5000
Property,Own,MMCore,second
Property,Core,Initialize,1
Label,W,2,Green
"""
FAILING = """Device,Hub,mm:DemoCamera,DHub
Device,Cam,mm:DemoCamera,DCam
Device,Cam2,mm:DemoCamera,DCam
Device,Shutter,mm:DemoCamera,DShutter
Parent,Cam,Hub
Property,Core,Initialize,1
Property,Cam,Gain,2
Property,Cam2,Binning,3
"""


def _in_cores(k: Kernel) -> dict[str, set[str]]:
    """Every core group of `k`: the labels the bridge keeps in it and those the C++ core holds."""
    from mmkernel_adapter_micromanager import core_groups

    groups = core_groups()
    found = {}
    for name in groups.names(k):
        group = groups.group(name, [], k)
        found[name] = set(group.devices)
        found[f"{name} (C++)"] = set(group.core.getLoadedDevices()) - {"Core"}
    return found


def _state(k: Kernel) -> dict[str, object]:
    return {"devices": k.devices(), "Cam Gain": k.get_property("Cam", "Gain"),
            "Cam Exposure": k.get_property("Cam", "Exposure"), "Cam max": k.get_property("Cam", "MaximumExposureMs"),
            "Z": k.get_position("Z"), "W": k.get_property("W", "State"), "W labels": k.state_labels("W")[:3],
            "adapters": [k.device_info(label).adapter for label in ("Cam", "Z", "W")],
            "Own": (k.get_property("Own", "MMCore"), k.get_property("Own", "Binning"))}  # fmt: skip


def test_a_load_failing_on_its_last_line_restores_the_cpp_devices_and_their_cores(k: Kernel, tmp_path: Path) -> None:
    previous, failing, good = tmp_path / "previous.cfg", tmp_path / "failing.cfg", tmp_path / "good.cfg"
    previous.write_text(PREVIOUS)
    failing.write_text(FAILING)
    good.write_text(FAILING.replace("Binning,3", "Binning,2"))
    k.load_config(previous)
    k.set_property("Cam", "Gain", 3)
    k.set_property("Cam", "Exposure", 37.5)
    k.set_position("Z", 12.5)
    k.set_property("W", "State", 2)
    k.set_property("Own", "Binning", 4)
    before = _state(k)
    cores = {"main": {"Cam", "Z", "W"}, "main (C++)": {"Cam", "Z", "W"}, "second": {"Own"}, "second (C++)": {"Own"}}
    assert _in_cores(k) == cores
    with pytest.raises(ConfigError, match=r"line 8: .*'Cam2'.*'Binning'.*3.*allowed: one of \[1, 2, 4, 8\]"):
        k.load_config(failing)
    assert _state(k) == before
    assert _in_cores(k) == cores
    assert k.snap("Cam").shape == (512, 512)  # the C++ cameras are back in their cores, not only in the kernel
    assert k.snap("Own").shape == (128, 128)
    assert k.load_config(good).ok
    assert k.devices() == ["Cam", "Cam2", "Hub", "Shutter", "Core"] and k.get_property("Cam2", "Binning") == 2
    assert _in_cores(k) == {"main": {"Hub", "Cam", "Cam2", "Shutter"}, "main (C++)": {"Hub", "Cam", "Cam2", "Shutter"}}


@pytest.mark.parametrize(
    ("last", "why"),
    [("Property,Camera,PixelType,64bit", r"line \d+: device 'Camera', property 'PixelType': value '64bit'"),
     ("ConfigGroup,System,Startup,Camera,Binning,3", r"after the last line: device 'Camera', property 'Binning'")],
    ids=["a bad value", "the Startup preset"],
)  # fmt: skip
def test_the_demo_configuration_failing_at_its_end_keeps_the_demo_system(
    real: str, tmp_path: Path, mm_named: Path, last: str, why: str
) -> None:
    failing = tmp_path / "failing.cfg"
    failing.write_text(f"{mm_named.read_text()}{last}\n")
    with Kernel(timeout=20) as k:
        k.load_config(mm_named)
        k.set_config("Channel", "DAPI")
        k.set_property("Camera", "Gain", 4)
        before = {label: _values(k, label) for label in LABELS}
        with pytest.raises(ConfigError, match=rf"{why}.*allowed: one of \["):
            k.load_config(failing)
        assert {label: _values(k, label) for label in LABELS} == before
        assert k.current_config("Channel") == "DAPI"
        assert _in_cores(k) == {"main": set(LABELS), "main (C++)": set(LABELS)}
        k.set_config("Channel", "FITC")  # the restored Utilities and state devices still work in C++
        assert k.get_property("Dichroic", "Label") == "Q505LP"
        assert k.load_config(mm_named).ok and k.current_config("Channel") != "FITC"


def _values(k: Kernel, label: str) -> dict[str, object]:
    return {name: k.get_property(label, name) for name in k.property_names(label)}
