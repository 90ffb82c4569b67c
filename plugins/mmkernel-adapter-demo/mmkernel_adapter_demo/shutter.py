"""DShutter: a shutter that remembers whether it is open."""

from __future__ import annotations

from mmkernel_sdk.testing import SimShutter


class DemoShutter(SimShutter):
    """Demo shutter driver"""
