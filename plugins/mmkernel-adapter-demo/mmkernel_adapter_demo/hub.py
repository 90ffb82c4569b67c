"""DHub: the demo hub. Every demo device works with or without it."""

from __future__ import annotations

from mmkernel_sdk import Hub

from .plugin import DEMO_DEVICES


class DemoHub(Hub):
    """Demo hub: offers every other demo device as a peripheral."""

    def detect_installed_devices(self) -> list[str]:
        return [d.name for d in DEMO_DEVICES if d.name != "DHub"]
