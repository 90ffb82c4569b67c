"""Micro-Manager's own MMConfig_demo.cfg through the real C++ DemoCamera and Utilities: with
mm: names, and unchanged with MMKERNEL_MM_PREFER; snaps, a 100-frame stream, a file MMCore loads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmkernel_core import Kernel

from .conftest import DEMO, LABELS


@pytest.fixture
def k() -> Iterator[Kernel]:
    with Kernel(timeout=20) as kernel:
        yield kernel


def _check_demo(k: Kernel) -> None:
    assert k.devices() == [*LABELS, "Core"]
    assert {k.device_info(label).adapter for label in LABELS} == {"mm:DemoCamera", "mm:Utilities"}
    assert k.get_property("LED Shutter", "State Device") == "LED"  # the Startup preset
    assert k.get_property("Objective", "Label") == "Nikon 10X S Fluor"
    assert "Photon Conversion Factor" in k.property_names("Camera")  # MMCore's names
    assert k.snap("Camera").shape == (512, 512)


def test_the_demo_configuration_loads_through_mm_names(k: Kernel, mm_named: Path) -> None:
    report = k.load_config(mm_named)
    assert "13 devices loaded, 0 problem" in str(report)
    _check_demo(k)
    k.set_property("Camera", "Exposure", 0)
    k.start_sequence("Camera", 100, overflow="block")  # frames are released as they are read
    numbers = set()
    for _ in range(100):
        frame = k.pop_next("Camera")
        numbers.add(frame.meta.metadata["ImageNumber"])
        frame.release()
    assert len(numbers) == 100


def test_the_unchanged_demo_configuration_loads_with_prefer_and_saves_a_file_mmcore_loads_as_it_is(
    real: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MMKERNEL_MM_PREFER", "DemoCamera,Utilities")
    with Kernel(timeout=20) as k:
        k.load_config(DEMO)
        _check_demo(k)
        assert {k.device_info(label).requested for label in LABELS} == {"DemoCamera", "Utilities"}
        k.set_config("Channel", "FITC")
        saved = tmp_path / "saved.cfg"
        k.save_config(saved)
    text = saved.read_text()
    assert "mm:" not in text and ",MMCore," not in text
    core = _mmcore(real)
    core.loadSystemConfiguration(str(saved))  # the saved file, not a line changed
    assert sorted(core.getLoadedDevices()) == sorted([*LABELS, "Core"])
    assert core.getProperty("LED Shutter", "State Device") == "LED"  # MMCore ran the saved Startup preset
    assert core.getProperty("Objective", "Label") == "Nikon 10X S Fluor"
    assert core.getProperty("Camera", "BitDepth") == "16"
    assert core.getProperty("LED", "Number of positions") == "10"  # a pre-init value the file carries
    assert core.getAvailableConfigs("Channel") == ("Cy5", "DAPI", "FITC", "Rhodamine")
    core.unloadAllDevices()


def _mmcore(folder: str) -> Any:
    import pymmcore

    core = pymmcore.CMMCore()
    core.setDeviceAdapterSearchPaths([folder])
    return core


def test_plain_names_stay_with_the_python_adapters_without_prefer(k: Kernel, real: str) -> None:
    k.load_device("Cam", "DemoCamera", "DCam")
    assert k.device_info("Cam").adapter == "DemoCamera"
