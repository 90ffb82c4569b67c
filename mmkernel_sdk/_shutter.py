"""Shutter: something that opens and closes a light path."""

from __future__ import annotations

from ._abstract import must_override
from ._device import Device
from ._prop import prop


class Shutter(Device):
    """Implement `set_open(bool)` and `is_open()`; the State property (0/1) maps onto them."""

    device_type = "Shutter"

    State = prop(int, allowed=(0, 1), doc="1 when open, 0 when closed.")

    @State.getter
    def State(self) -> int:  # noqa: N802 - Micro-Manager's property name
        return int(bool(self.is_open()))

    @State.setter
    def State(self, value: int) -> None:  # noqa: N802
        self.set_open(bool(value))

    def set_open(self, open: bool) -> None:  # noqa: A002 - reads best at call sites
        must_override(self, "set_open")

    def is_open(self) -> bool:
        must_override(self, "is_open")
