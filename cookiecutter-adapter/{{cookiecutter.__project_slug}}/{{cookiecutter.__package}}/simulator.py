{%- set d = cookiecutter.device_type -%}
{%- macro power_on() %}
{%- if d == "StateDevice" %}
        self.position = 1
{%- elif d == "Stage" %}
        self.z = 0.0
{%- elif d == "XYStage" %}
        self.x = self.y = 0.0
{%- elif d == "Shutter" %}
        self.open = False
{%- elif d == "Camera" %}
        self.exposure = 10.0
{%- else %}
        self.intensity = 0.0
{%- endif %}
{%- if cookiecutter.controller == "yes" %}
        self.focus = 0.0
{%- endif %}
{%- endmacro -%}
"""A simulated {{ cookiecutter.__vendor_q }} {{ cookiecutter.__instrument_q }}: its protocol, for tests
and for trying the adapter without hardware. The kernel reaches it as the port
`sim://{{ cookiecutter.__slug }}` (options after `?` go to the constructor:
`sim://{{ cookiecutter.__slug }}?move_s=0.01`);
`mmkernel simulate {{ cookiecutter.__slug }}` serves it on a TCP port.
"""

from __future__ import annotations

import time

from mmkernel_sdk.testing.sim import LineSimulator, command

NUMBER = r"(-?\d+(?:\.\d+)?)"


class Simulator(LineSimulator):
    read_terminator = write_terminator = "\r"
    unknown = "ERR"  # the reply to a command the instrument does not know

    def __init__(self, move_s: float = 0.2) -> None:
        super().__init__()
        self.move_s = float(move_s)  # how long a move takes
        self.arrives = 0.0
{{- power_on() }}

    @command(r"\*IDN\?")
    def identify(self) -> str:
        return "{{ cookiecutter.__wire_vendor }} {{ cookiecutter.__wire_instrument }} v1.0"

    @command(r"BUSY\?")
    def busy(self) -> str:
        return "1" if time.monotonic() < self.arrives else "0"

    def _moving(self) -> str:
        self.arrives = time.monotonic() + self.move_s
        return "OK"
{% if d == "StateDevice" %}
    @command(r"POS (\d+)")
    def move(self, value: str) -> str:
        if not 1 <= int(value) <= 6:
            return "ERR"
        self.position = int(value)
        return self._moving()

    @command(r"POS\?")
    def where(self) -> str:
        return str(self.position)
{%- elif d == "Stage" %}
    @command(r"Z " + NUMBER)
    def move(self, value: str) -> str:
        self.z = float(value)
        return self._moving()

    @command(r"Z\?")
    def where(self) -> str:
        return f"{self.z:.3f}"
{%- elif d == "XYStage" %}
    @command(r"([XY]) " + NUMBER)
    def move(self, axis: str, value: str) -> str:
        setattr(self, axis.lower(), float(value))
        return self._moving()

    @command(r"([XY])\?")
    def where(self, axis: str) -> str:
        return f"{getattr(self, axis.lower()):.3f}"
{%- elif d == "Shutter" %}
    @command(r"SHUTTER ([01])")
    def set_open(self, value: str) -> str:
        self.open = value == "1"
        return "OK"

    @command(r"SHUTTER\?")
    def get_open(self) -> str:
        return "1" if self.open else "0"
{%- elif d == "Camera" %}
    @command(r"EXP " + NUMBER)
    def set_exposure(self, value: str) -> str:
        self.exposure = float(value)
        return "OK"

    @command(r"EXP\?")
    def get_exposure(self) -> str:
        return f"{self.exposure:.3f}"
{%- else %}
    @command(r"INT " + NUMBER)
    def set_intensity(self, value: str) -> str:
        if not 0 <= float(value) <= 100:
            return "ERR"
        self.intensity = float(value)
        return "OK"

    @command(r"INT\?")
    def get_intensity(self) -> str:
        return f"{self.intensity:.1f}"
{%- endif %}
{%- if cookiecutter.controller == "yes" %}

    @command(r"F " + NUMBER)
    def move_focus(self, value: str) -> str:
        self.focus = float(value)
        return self._moving()

    @command(r"F\?")
    def where_focus(self) -> str:
        return f"{self.focus:.3f}"

    @command(r"HOME")
    def home(self) -> str:
        """The controller's reset: every device on it back to where it was switched on."""
{{- power_on() }}
        return self._moving()
{%- endif %}
