{%- set d = cookiecutter.device_type -%}
"""A stand-in for the {{ cookiecutter.__vendor_q }} SDK (a vendor's Python wrapper or ctypes binding):
the calls an adapter typically makes, with the instrument simulated. Replace its use in
`device.py` with the real SDK and keep this for the tests."""

from __future__ import annotations

import time
{%- if d == "Camera" %}
from typing import Any
{%- endif %}


class Controller:
    """Opens the instrument with this serial number."""

    def __init__(self, serial_number: str) -> None:
        if not serial_number:
            raise ConnectionError("no instrument with an empty serial number")
        self.serial_number = serial_number
        self._arrives = 0.0
        self._closed = False
{%- if d == "StateDevice" %}
        self._position = 1

    def positions(self) -> int:
        return 6

    def move_to(self, position: int) -> None:
        self._position = position
        self._arrives = time.monotonic() + 0.05

    def position(self) -> int:
        return self._position
{%- elif d == "Stage" %}
        self._z = 0.0

    def travel(self) -> tuple[float, float]:
        return (-5000.0, 5000.0)

    def move_to(self, um: float) -> None:
        self._z = um
        self._arrives = time.monotonic() + 0.05

    def position(self) -> float:
        return self._z
{%- elif d == "XYStage" %}
        self._xy = (0.0, 0.0)

    def move_to(self, x: float, y: float) -> None:
        self._xy = (x, y)
        self._arrives = time.monotonic() + 0.05

    def position(self) -> tuple[float, float]:
        return self._xy
{%- elif d == "Shutter" %}
        self._open = False

    def set_open(self, open: bool) -> None:
        self._open = open

    def is_open(self) -> bool:
        return self._open
{%- elif d == "Camera" %}
        self._exposure = 10.0
        self._frames = 0

    def set_exposure(self, ms: float) -> None:
        self._exposure = ms

    def exposure(self) -> float:
        return self._exposure

    def grab(self, out: Any) -> int:
        """Fill `out` with the next frame; returns its number."""
        self._frames += 1
        out[...] = self._frames % 4096
        return self._frames
{%- else %}
        self._intensity = 0.0

    def set_intensity(self, percent: float) -> None:
        self._intensity = percent
{%- endif %}

    def is_moving(self) -> bool:
        return time.monotonic() < self._arrives

    def close(self) -> None:
        self._closed = True
