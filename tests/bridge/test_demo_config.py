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


def test_after_the_load_every_property_is_cached_with_the_devices_values_and_told_at_most_once(
    k: Kernel, mm_named: Path, real: str
) -> None:
    """What a load does in fewer hops (Label runs, initial reads on the runner) leaves the same
    system: the cache holds what the C++ devices show (a Startup set that changes another
    property silently, DCam's BitDepth its PixelType, included), the labels are MMCore's for
    the same file, and each change of a device's property at the load is one event."""
    told: list[tuple[str, str, Any]] = []
    k.events.property_changed.connect(lambda label, name, value: told.append((label, name, value)))
    k.load_config(mm_named)
    k.events.flush()
    names = {label: k.property_names(label) for label in LABELS}
    cached = {label: {n: k.get_property(label, n, from_cache=True) for n in names[label]} for label in LABELS}
    for label in LABELS:
        for name in k.property_names(label):
            assert cached[label][name] == k.get_property(label, name), (label, name)
    assert cached["Camera"]["PixelType"] == "16bit" and cached["Camera"]["BitDepth"] == 16
    core = _mmcore(real)
    core.loadSystemConfiguration(str(DEMO))
    try:
        for label in LABELS:
            if k.device_type(label) == "State":
                assert k.state_labels(label) == list(core.getStateLabels(label))
                assert cached[label]["Label"] == core.getProperty(label, "Label")
    finally:
        core.unloadAllDevices()
    last: dict[tuple[str, str], Any] = {}
    for label, name, value in told:
        if label != "Core":  # Core's every set is told (concepts.md); a device's real changes only
            assert last.get((label, name), object()) != value, (label, name, value)  # once per change
            last[label, name] = value
    assert last["Camera", "PixelType"] == "16bit"  # 8bit -> 16bit by the Startup preset's BitDepth
    assert last["Objective", "Label"] == "Nikon 10X S Fluor" == cached["Objective"]["Label"]
