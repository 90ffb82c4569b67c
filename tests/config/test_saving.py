"""save_config never writes half a system (a save waits for a load running on another thread),
and names a configuration file cannot carry are refused where they are made, not on saving."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmkernel_core import ConfigError, Kernel, PropertyError
from tests.support.paths import DATA

UPSTREAM = DATA / "MMConfig_demo_upstream.cfg"
DEVICES = [line.split(",")[1] for line in UPSTREAM.read_text(encoding="utf-8").splitlines()
           if line.startswith("Device,")]  # fmt: skip


@pytest.fixture
def racy() -> Iterator[None]:
    """Thread switches every 10 us: a race that can happen does."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


def test_a_save_during_a_load_on_another_thread_writes_the_whole_system(k: Kernel, tmp_path: Path, racy: None) -> None:
    k.load_config(UPSTREAM)
    saved: list[Path] = []
    errors: list[BaseException] = []
    saving = threading.Event()

    def save() -> None:
        try:
            saving.set()
            for number in range(40):
                path = tmp_path / f"saved-{number}.cfg"
                k.save_config(path)
                saved.append(path)
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    saver = threading.Thread(target=save)
    saver.start()
    saving.wait()
    try:
        while saver.is_alive():  # the user's reloads, one after another, while the saves run
            k.load_config(UPSTREAM)
    finally:
        saver.join()
    assert errors == [] and len(saved) == 40
    with Kernel(timeout=10) as other:
        for path in saved:
            text = path.read_text(encoding="utf-8")
            assert [line.split(",")[1] for line in text.splitlines() if line.startswith("Device,")] == DEVICES, path
            assert other.load_config(path).ok and other.devices() == [*sorted(DEVICES), "Core"], path


@pytest.mark.parametrize(
    ("group", "preset", "which", "why"),
    [("", None, "group", "is empty"), ("", "P", "group", "is empty"), ("G", "", "preset", "is empty"),
     ("G,H", "P", "group", "holds a comma"), ("G", "P,Q", "preset", "holds a comma"),
     ("G\nH", None, "group", "holds a line break"), ("G", "P\r", "preset", "holds a line break")],
)  # fmt: skip
def test_a_group_or_preset_name_a_file_cannot_carry_is_refused_by_define_config(
    k: Kernel, tmp_path: Path, group: str, preset: str | None, which: str, why: str
) -> None:
    k.load_config(UPSTREAM)
    groups = {name: k.config_presets(name) for name in k.config_groups()}
    setting = ("Camera", "Exposure", "10") if preset is not None else ()
    expected = rf"the {which} name .* {why}, which a configuration file cannot carry; allowed: a non-empty name"
    with pytest.raises(ConfigError, match=expected):
        k.define_config(group, preset, *setting)
    assert {name: k.config_presets(name) for name in k.config_groups()} == groups  # nothing was made
    k.save_config(tmp_path / "saved.cfg")
    assert k.load_config(tmp_path / "saved.cfg").ok  # what is saved loads back


@pytest.mark.parametrize(
    ("text", "why"),
    [("", "is empty"), ("Camera, left", "holds a comma"), ("Camera\nleft", "holds a line break"),
     ("left\r", "holds a line break")],
)  # fmt: skip
def test_a_state_label_a_file_cannot_carry_is_refused_by_define_state_label(
    k: Kernel, tmp_path: Path, text: str, why: str
) -> None:
    k.load_config(UPSTREAM)
    labels = k.state_labels("Path")
    expected = rf"device 'Path', position 2: the label .* {why}.*allowed: a non-empty name"
    with pytest.raises(PropertyError, match=expected):
        k.define_state_label("Path", 2, text)
    assert k.state_labels("Path") == labels
    k.save_config(tmp_path / "saved.cfg")
    assert k.load_config(tmp_path / "saved.cfg").ok and k.state_labels("Path") == labels


def test_a_file_line_that_lost_its_preset_name_is_a_problem_of_its_line(k: Kernel, tmp_path: Path) -> None:
    """A file cannot make such names (empty fields collapse): what an old save wrote for an
    empty preset is reported with its line, not loaded as something else."""
    path = tmp_path / "empty.cfg"
    path.write_text("Device,Camera,DemoCamera,DCam\nProperty,Core,Initialize,1\nConfigGroup,G,,Camera,Exposure,10\n")
    report = k.load_config(path, partial=True)
    assert [problem.line for problem in report.failed] == [3] and k.config_groups() == []


def test_a_device_line_names_the_module_as_it_was_asked_for_and_a_kernel_setting_only_off_default(
    tmp_path: Path,
) -> None:
    from mmkernel_sdk import Generic, prop
    from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl

    class Box(Generic):
        """A device with a setting of MMKernel's own."""

        Runner = prop(str, default="", pre_init=True, kernel_setting=True)
        Port = prop(str, default="COM1", pre_init=True)

    class Plugin:
        @hookimpl
        def mmkernel_adapters(self) -> list[AdapterSpec]:
            return [AdapterSpec("x:Boxes", "", [DeviceSpec("Box", "Generic", "", Box)], alias="Boxes")]

    saved = tmp_path / "saved.cfg"
    with Kernel(plugins=[Plugin()], discover=False) as kernel:
        kernel.load_device("A", "Boxes", "Box")
        kernel.load_device("B", "x:Boxes", "Box")
        kernel.set_property("B", "Runner", "own")
        kernel.initialize_all()
        assert kernel.device_info("A").adapter == "x:Boxes" and kernel.device_info("A").requested == "Boxes"
        kernel.save_config(saved)
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if line.startswith("Device,")] == ["Device,A,Boxes,Box", "Device,B,x:Boxes,Box"]
    assert sorted(line for line in lines if line.startswith(("Property,A,", "Property,B,"))) == [
        "Property,A,Port,COM1", "Property,B,Port,COM1", "Property,B,Runner,own"]  # fmt: skip
