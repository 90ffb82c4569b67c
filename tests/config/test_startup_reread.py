"""After the Startup preset, the devices it set are read again: a set that changes another
property without the device saying so is in the cache (and told once) when the load returns,
and a property that cannot be read then does not fail the load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmkernel_core import Kernel
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl


class Coupled(Generic):
    """Setting Depth changes Format silently (as DemoCamera's BitDepth changes PixelType)."""

    Depth = prop(int, default=8, allowed=(8, 16))
    Format = prop(str, doc="follows Depth")
    Flaky = prop(int, doc="unreadable once `broken`")

    def __init__(self) -> None:
        self.depth, self.broken = 8, False

    @Depth.getter
    def Depth(self) -> int:
        return self.depth

    @Depth.setter
    def Depth(self, value: int) -> None:
        self.depth = value
        self.broken = Coupled.break_on_set

    @Format.getter
    def Format(self) -> str:
        return f"{self.depth}bit"

    @Flaky.getter
    def Flaky(self) -> int:
        if self.broken:
            raise RuntimeError("the controller stopped answering")
        return 1

    break_on_set = False


class Plugin:
    @hookimpl
    def mmkernel_adapters(self) -> list[AdapterSpec]:
        return [AdapterSpec("Sim", "", [DeviceSpec("Coupled", "Generic", "", Coupled)])]


CONFIG = "Device,C,Sim,Coupled\nProperty,Core,Initialize,1\nConfigGroup,System,Startup,C,Depth,16\n"


def test_a_silent_change_by_the_startup_preset_is_cached_and_told_once(tmp_path: Path) -> None:
    Coupled.break_on_set = False
    path = tmp_path / "system.cfg"
    path.write_text(CONFIG)
    with Kernel(plugins=[Plugin()], discover=False, timeout=5) as k:
        told: list[tuple[str, str, Any]] = []
        k.events.property_changed.connect(lambda label, name, value: told.append((label, name, value)))
        k.load_config(path)
        k.events.flush()
        assert k.get_property("C", "Format", from_cache=True) == "16bit"
        assert told.count(("C", "Format", "16bit")) == 1
        assert told.count(("C", "Depth", 16)) == 1


def test_a_property_unreadable_at_the_reread_does_not_fail_the_load(tmp_path: Path) -> None:
    Coupled.break_on_set = True
    path = tmp_path / "system.cfg"
    path.write_text(CONFIG)
    try:
        with Kernel(plugins=[Plugin()], discover=False, timeout=5) as k:
            report = k.load_config(path)
            assert report.ok and k.get_property("C", "Format", from_cache=True) == "16bit"
    finally:
        Coupled.break_on_set = False
