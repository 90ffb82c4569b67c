"""A saved configuration names each C++ device's module as it was asked for (plain `DemoCamera`
chosen through MMKERNEL_MM_PREFER stays plain, `mm:DemoCamera` stays explicit), and writes the
bridge's own MMCore setting only when it is not the default, so Micro-Manager can read the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmkernel_core import ConfigError, Kernel


def _device_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.startswith("Device,")]


def test_a_device_is_saved_under_the_module_name_it_was_loaded_by(
    mm: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MMKERNEL_MM_PREFER", "DemoCamera")
    with Kernel(timeout=10) as k:
        k.load_device("Plain", "DemoCamera", "DCam")
        k.load_device("Explicit", "mm:DemoCamera", "DStage")
        k.initialize_all()
        assert k.device_info("Plain").adapter == "mm:DemoCamera"  # the adapter chosen ...
        assert k.device_info("Plain").requested == "DemoCamera"  # ... and the name asked for
        assert k.device_info("Explicit").requested == "mm:DemoCamera"
        saved = tmp_path / "saved.cfg"
        k.save_config(saved)
    assert _device_lines(saved) == ["Device,Plain,DemoCamera,DCam", "Device,Explicit,mm:DemoCamera,DStage"]
    with Kernel(timeout=10) as again:
        assert again.load_config(saved).ok
        assert again.device_info("Plain").adapter == "mm:DemoCamera"
        saved_again = tmp_path / "saved-again.cfg"
        again.save_config(saved_again)
    assert _device_lines(saved_again) == _device_lines(saved)


def test_the_mmcore_setting_is_saved_only_when_it_is_not_the_default(mm: str, tmp_path: Path) -> None:
    saved = tmp_path / "saved.cfg"
    with Kernel(timeout=10) as k:  # closed before the file is loaded again: the cores are the process's
        k.load_device("A", "mm:DemoCamera", "DCam")
        k.load_device("B", "mm:DemoCamera", "DCam")
        k.set_property("B", "MMCore", "second")
        k.initialize_all()
        k.save_config(saved)
    lines = saved.read_text().splitlines()
    assert [line for line in lines if ",MMCore," in line] == ["Property,B,MMCore,second"]
    assert "Property,A,MaximumExposureMs,10000" in lines  # the adapter's own pre-init properties stay
    with Kernel(timeout=10) as again:
        assert again.load_config(saved).ok
        assert again.get_property("B", "MMCore") == "second" and again.get_property("A", "MMCore") == ""


def test_a_failed_load_puts_the_devices_back_under_the_names_they_were_loaded_by(
    mm: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MMKERNEL_MM_PREFER", "DemoCamera")
    previous, failing, saved = tmp_path / "previous.cfg", tmp_path / "failing.cfg", tmp_path / "saved.cfg"
    previous.write_text("Device,Cam,DemoCamera,DCam\nDevice,Z,mm:DemoCamera,DStage\nProperty,Core,Initialize,1\n")
    failing.write_text("Device,Cam,DemoCamera,DCam\nProperty,Core,Initialize,1\nProperty,Cam,Binning,3\n")
    with Kernel(timeout=10) as k:
        k.load_config(previous)
        with pytest.raises(ConfigError, match="previous system was restored"):
            k.load_config(failing)
        assert [k.device_info(label).requested for label in ("Cam", "Z")] == ["DemoCamera", "mm:DemoCamera"]
        k.save_config(saved)
    assert _device_lines(saved) == ["Device,Cam,DemoCamera,DCam", "Device,Z,mm:DemoCamera,DStage"]
