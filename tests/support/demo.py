"""Helpers for tests of the demo adapter plugin: load-and-initialize, an event recorder, and the
names of the demo's devices."""

from __future__ import annotations

from typing import Any

from mmkernel_core import Kernel

DEMO_NAMES = [
    "DCam",
    "DWheel",
    "DStateDevice",
    "DObjective",
    "DLightPath",
    "DStage",
    "DXYStage",
    "DShutter",
    "DAutoFocus",
    "D-DA",
    "DHub",
]
UTILITY_NAMES = ["State Device Shutter", "Multi Shutter"]


def load(k: Kernel, label: str, device_name: str, adapter: str = "DemoCamera", **kwargs: Any) -> str:
    k.load_device(label, adapter, device_name, **kwargs)
    k.initialize(label)
    return label


class Recorder:
    """Collects property_changed events; `count` after a flush."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.events: list[tuple[str, str, Any]] = []
        k.events.property_changed.connect(self)

    def __call__(self, label: str, name: str, value: Any) -> None:
        self.events.append((label, name, value))

    def flushed(self) -> list[tuple[str, str, Any]]:
        assert self.k.events.flush()
        return list(self.events)

    def count(self, label: str, name: str) -> int:
        return sum(1 for e in self.flushed() if e[:2] == (label, name))

    def values(self, label: str, name: str) -> list[Any]:
        return [e[2] for e in self.flushed() if e[:2] == (label, name)]

    def clear(self) -> None:
        self.flushed()
        self.events.clear()
