"""DShutter: a shutter that remembers whether it is open."""

from __future__ import annotations

from mmkernel_sdk.testing import SimShutter

from ._peripheral import HubPeripheral


class DemoShutter(HubPeripheral, SimShutter):
    """Demo shutter driver"""
