"""DShutter: a shutter that remembers whether it is open."""

from __future__ import annotations

from mmkernel_sdk import Shutter


class DemoShutter(Shutter):
    """Demo shutter driver"""

    def __init__(self) -> None:
        self._open = False

    def set_open(self, open: bool) -> None:  # noqa: A002
        self._open = open

    def is_open(self) -> bool:
        return self._open
