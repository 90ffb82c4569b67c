"""A failed load puts the previous system back whatever its shape: devices loaded in any file
order, hubs under hubs; a Parent line that would make hubs go round in a circle is refused with
its line, so no system holds one that could not be put back."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmkernel_core import ConfigError, DeviceStateError, Kernel
from mmkernel_sdk import Hub
from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl
from mmkernel_sdk.testing import SimStage


class Box(Hub):
    """A hub."""


class BoxPlugin:
    @hookimpl
    def mmkernel_adapters(self) -> list[AdapterSpec]:
        return [AdapterSpec("Box", "", [DeviceSpec("Hub", "Hub", "", Box), DeviceSpec("Z", "Stage", "", SimStage)])]


@pytest.fixture
def boxes() -> Kernel:
    with Kernel(plugins=[BoxPlugin()], discover=False, timeout=5) as kernel:
        yield kernel


def write(tmp_path: Path, text: str, name: str = "system.cfg") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def shape(kernel: Kernel) -> list[tuple[str, str | None, bool]]:
    return [(label, kernel.parent_label(label), kernel.device_info(label).initialized)
            for label in kernel.devices() if label != "Core"]  # fmt: skip


def test_a_system_whose_peripheral_was_loaded_before_its_hub_is_restored(k: Kernel, tmp_path: Path) -> None:
    # legal, and loads in MMCore: the hub is named by a later Parent line
    k.load_config(write(tmp_path, "Device,Camera,DemoCamera,DCam\nDevice,DHub,DemoCamera,DHub\n"
                                  "Parent,Camera,DHub\nProperty,Core,Initialize,1\n"))  # fmt: skip
    k.set_property("Camera", "Exposure", 42.0)
    before = shape(k)
    with pytest.raises(ConfigError, match="the previous system was restored"):
        k.load_config(write(tmp_path, "Device,X,DemoCamera,NoSuchDevice\n", "bad.cfg"))
    assert shape(k) == before == [("Camera", "DHub", True), ("DHub", None, True)]
    assert k.get_property("Camera", "Exposure") == 42.0
    assert k.snap().shape == (512, 512)


def test_a_chain_of_hubs_loaded_peripheral_first_is_restored(boxes: Kernel, tmp_path: Path) -> None:
    text = ("Device,Z,Box,Z\nDevice,Inner,Box,Hub\nDevice,Outer,Box,Hub\n"
            "Parent,Z,Inner\nParent,Inner,Outer\nProperty,Core,Initialize,1\n")  # fmt: skip
    boxes.load_config(write(tmp_path, text))
    before = shape(boxes)
    with pytest.raises(ConfigError, match="the previous system was restored"):
        boxes.load_config(write(tmp_path, "Device,X,Box,Nothing\n", "bad.cfg"))
    assert shape(boxes) == before == [("Inner", "Outer", True), ("Outer", None, True), ("Z", "Inner", True)]


CYCLES = {
    "its own hub": ("Device,A,Box,Hub\nParent,A,A\n", 2, "A -> A"),
    "two hubs": ("Device,A,Box,Hub\nDevice,B,Box,Hub\nParent,A,B\nParent,B,A\n", 4, "B -> A -> B"),
    "three hubs": ("Device,A,Box,Hub\nDevice,B,Box,Hub\nDevice,C,Box,Hub\nParent,A,B\nParent,B,C\nParent,C,A\n",
                   6, "C -> A -> B -> C"),
}  # fmt: skip


@pytest.mark.parametrize("case", CYCLES, ids=list(CYCLES))
def test_parent_lines_that_make_hubs_go_round_in_a_circle_are_refused_with_their_line(
    boxes: Kernel, tmp_path: Path, case: str
) -> None:
    text, line, circle = CYCLES[case]
    boxes.load_device("Old", SimStage())
    with pytest.raises(ConfigError) as caught:
        boxes.load_config(write(tmp_path, text + "Property,Core,Initialize,1\n"))
    message = str(caught.value)
    assert f"system.cfg line {line}: " in message and circle in message and "allowed: a hub that is not" in message
    assert "the previous system was restored" in message and boxes.devices() == ["Old", "Core"]
    report = boxes.load_config(write(tmp_path, text), partial=True)  # what loaded stays, the line is reported
    assert [(problem.line, problem.text) for problem in report.failed] == [(line, text.splitlines()[line - 1])]
    before = shape(boxes)
    with pytest.raises(ConfigError, match="the previous system was restored"):  # a later failed load loses nothing
        boxes.load_config(write(tmp_path, "Device,X,Box,Nothing\n", "bad.cfg"))
    assert shape(boxes) == before


def test_set_parent_refuses_a_hub_under_the_device_itself(boxes: Kernel) -> None:
    boxes.load_device("A", "Box", "Hub")
    boxes.load_device("B", "Box", "Hub", parent="A")
    with pytest.raises(DeviceStateError, match=r"set_parent\('A', 'B'\).*A -> B -> A"):
        boxes.set_parent("A", "B")
    with pytest.raises(DeviceStateError, match=r"A -> A"):
        boxes.set_parent("A", "A")
    assert boxes.parent_label("A") is None and boxes.parent_label("B") == "A"
