{%- set t = cookiecutter.transport -%}
{%- set d = cookiecutter.device_type -%}
{%- set c = cookiecutter.controller == "yes" -%}
"""{{ cookiecutter.__vendor_q }} {{ cookiecutter.__instrument_q }}: a {{ d }}{% if t == "serial" %} on a serial port{% elif t == "visa" %} reached through VISA{% else %} driven through its vendor's SDK{% endif %}.

{% if t != "none" -%}
The instrument speaks ASCII, one command per line: `*IDN?` identifies it, a command that sets
something answers `OK`, a query answers the value. Change the commands to your instrument's.
{%- else -%}
The vendor's SDK is stood in for by `vendor_sdk.py`: replace it with the real one (imported
inside `initialize()`, never at module level, so listing adapters stays fast).
{%- endif %}
The kernel runs every method on this device's own thread, one at a time: no locks needed.
{%- if c %}
The controller also drives a focus: `{{ cookiecutter.__class_name }}Focus` is a second device on the same wire,
so both run on one thread, and `Controller` is the state they share.
{%- endif %}
"""

from __future__ import annotations
{%- if d == "Camera" or t == "none" %}

from typing import Any
{%- endif %}

{% if d == "Camera" %}import numpy as np
{% endif %}from mmkernel_sdk import {% if c and d != "Stage" %}{{ [d, "Stage"] | sort | join(", ") }}, prop{% else %}{{ d }}, prop{% endif %}
{%- if t != "none" %}
from mmkernel_sdk.errors import ReplyError
{%- endif %}
{%- if t == "serial" %}
from mmkernel_sdk.resources import SerialPort{% if c %}, Shared{% endif %}
{%- elif t == "visa" %}
from mmkernel_sdk.resources import {% if c %}Shared, {% endif %}VisaInstrument
{%- endif %}

{%- if t != "none" %}

MAKER = "{{ cookiecutter.__wire_vendor }}"  # how the instrument names its maker when asked *IDN?
{%- endif %}
{%- if c %}


class Controller:
    """What the controller's devices share: one object for every device on its wire, made
    before the first of them initializes (they run on one thread: no lock)."""

    def __init__(self) -> None:
        self.homed = False  # HOME ran: every axis is at its reference
{%- endif %}


class {{ cookiecutter.__class_name }}({{ d }}):
    """{{ cookiecutter.__vendor_q }} {{ cookiecutter.__instrument_q }}"""
{% if d == "StateDevice" %}
    num_positions = 6
{%- endif %}
{%- if d in ("StateDevice", "Stage", "XYStage") %}
    busy_poll_s = 0.02  # how often the kernel asks busy() while someone waits
{%- endif %}
{%- if t == "serial" %}
    port = SerialPort(baudrate=9600, terminator="\r", answer_timeout_ms=500)
{%- elif t == "visa" %}
    visa = VisaInstrument(read_termination="\n", write_termination="\n", timeout_ms=2000)
{%- else %}
    serial_number_property = "SerialNumber"  # calibration is stored under the instrument's serial number
    SerialNumber = prop(str, default="DEMO-0001", pre_init=True, doc="Which instrument to open.")
{%- endif %}
{%- if t != "none" %}
    Identity = prop(str, query="*IDN?", doc="What the instrument says it is.")
{%- endif %}
{%- if c %}
    controller = Shared(Controller)
{%- endif %}
{%- if d == "Generic" %}
{%- if t != "none" %}
    Intensity = prop(float, query="INT?", write="INT {:.1f}", limits=(0.0, 100.0), units="%")
{%- else %}
    Intensity = prop(float, default=0.0, limits=(0.0, 100.0), units="%")
{%- endif %}
{%- endif %}
{%- if d == "Camera" %}
    Binning = prop(int, default=1, allowed=(1, 2, 4))
{%- endif %}
{% if t == "none" %}
    def __init__(self) -> None:
        self._sdk: Any = None  # opened in initialize(); no I/O in the constructor

    def initialize(self) -> None:
        from .vendor_sdk import Controller  # the vendor's SDK, imported when needed

        self._sdk = Controller(self.SerialNumber)
{%- if d == "StateDevice" %}
        self.set_num_positions(self._sdk.positions())
{%- elif d == "Stage" %}
        self.set_limits("Position", *self._sdk.travel())
{%- endif %}

    def shutdown(self) -> None:
        if self._sdk is not None:
            self._sdk.close()
            self._sdk = None
{%- else %}
{%- if d == "Camera" %}
    def __init__(self) -> None:
        self._frames = 0
{% endif %}
    def initialize(self) -> None:
        identity = self.ask("*IDN?")
        if not identity.startswith(MAKER):
            message = f"expected a {MAKER} instrument, it says it is {identity!r}"
            raise ReplyError(self.label, "initialize", message)
{%- if d == "Stage" %}
        self.set_limits("Position", -5000.0, 5000.0)  # the travel, in um
{%- endif %}

    def tell(self, command: str) -> None:
        """What command properties write with: the instrument answers OK to a command it accepts."""
        reply = self.ask(command)
        if reply != "OK":
            raise ReplyError(self.label, command, f"the instrument refused {command!r}: {reply!r}")
{%- endif %}
{% if d == "StateDevice" %}
    def set_state(self, position: int) -> None:
{%- if t == "none" %}
        self._sdk.move_to(position + 1)
{%- else %}
        self.tell(f"POS {position + 1}")  # the kernel counts from 0, the instrument from 1
{%- endif %}

    def get_state(self) -> int:
{%- if t == "none" %}
        return int(self._sdk.position()) - 1
{%- else %}
        return int(self.ask("POS?")) - 1
{%- endif %}

    def busy(self) -> bool:
{%- if t == "none" %}
        return bool(self._sdk.is_moving())
{%- else %}
        return self.{{ "port" if t == "serial" else "visa" }}.query("BUSY?", retries=1) == "1"  # asked again if lost
{%- endif %}
{%- elif d == "Stage" %}
    def set_position(self, um: float) -> None:
{%- if t == "none" %}
        self._sdk.move_to(um)
{%- else %}
        self.tell(f"Z {um:.3f}")
{%- endif %}

    def get_position(self) -> float:
{%- if t == "none" %}
        return float(self._sdk.position())
{%- else %}
        return float(self.ask("Z?"))
{%- endif %}

    def busy(self) -> bool:
{%- if t == "none" %}
        return bool(self._sdk.is_moving())
{%- else %}
        return self.{{ "port" if t == "serial" else "visa" }}.query("BUSY?", retries=1) == "1"  # asked again if lost
{%- endif %}
{%- elif d == "XYStage" %}
    def set_xy_position(self, x_um: float, y_um: float) -> None:
{%- if t == "none" %}
        self._sdk.move_to(x_um, y_um)
{%- else %}
        self.tell(f"X {x_um:.3f}")
        self.tell(f"Y {y_um:.3f}")
{%- endif %}

    def get_xy_position(self) -> tuple[float, float]:
{%- if t == "none" %}
        x, y = self._sdk.position()
        return float(x), float(y)
{%- else %}
        return float(self.ask("X?")), float(self.ask("Y?"))
{%- endif %}

    def busy(self) -> bool:
{%- if t == "none" %}
        return bool(self._sdk.is_moving())
{%- else %}
        return self.{{ "port" if t == "serial" else "visa" }}.query("BUSY?", retries=1) == "1"  # asked again if lost
{%- endif %}
{%- elif d == "Shutter" %}
    def set_open(self, open: bool) -> None:
{%- if t == "none" %}
        self._sdk.set_open(open)
{%- else %}
        self.tell(f"SHUTTER {int(open)}")
{%- endif %}

    def is_open(self) -> bool:
{%- if t == "none" %}
        return bool(self._sdk.is_open())
{%- else %}
        return self.ask("SHUTTER?") == "1"
{%- endif %}
{%- elif d == "Camera" %}
    def set_exposure(self, ms: float) -> None:
{%- if t == "none" %}
        self._sdk.set_exposure(ms)
{%- else %}
        self.tell(f"EXP {ms:.3f}")
{%- endif %}

    def get_exposure(self) -> float:
{%- if t == "none" %}
        return float(self._sdk.exposure())
{%- else %}
        return float(self.ask("EXP?"))
{%- endif %}

    def frame_shape(self) -> tuple[int, ...]:
        return (256 // self.Binning, 320 // self.Binning)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    def read_frame(self, out: np.ndarray) -> dict[str, Any]:
        """Fill `out` (a view into the kernel's buffer) with the next frame."""
{%- if t == "none" %}
        number = self._sdk.grab(out)
{%- else %}
        # Frames of a camera controlled over {{ t }} come through its frame grabber; this makes one.
        self._frames += 1
        number = self._frames
        out[...] = np.add.outer(np.arange(out.shape[0]), np.arange(out.shape[1])) + number
{%- endif %}
        return {"ImageNumber": number}
{%- endif %}
{%- if d == "Generic" and t == "none" %}
    @Intensity.setter
    def Intensity(self, value: float) -> None:
        self._sdk.set_intensity(value)
{%- endif %}
{%- if c %}


class {{ cookiecutter.__class_name }}Focus(Stage):
    """{{ cookiecutter.__vendor_q }} {{ cookiecutter.__instrument_q }}: the controller's focus drive"""

    busy_poll_s = 0.02
{%- if t == "serial" %}
    port = SerialPort(baudrate=9600, terminator="\r", answer_timeout_ms=500)  # the same port: one wire
{%- else %}
    visa = VisaInstrument(read_termination="\n", write_termination="\n", timeout_ms=2000)  # the same instrument
{%- endif %}
    controller = Shared(Controller)

    def initialize(self) -> None:
        self.set_limits("Position", -5000.0, 5000.0)  # the travel, in um

    def tell(self, command: str) -> None:
        reply = self.ask(command)
        if reply != "OK":
            raise ReplyError(self.label, command, f"the instrument refused {command!r}: {reply!r}")

    def set_position(self, um: float) -> None:
        self.tell(f"F {um:.3f}")

    def get_position(self) -> float:
        return float(self.ask("F?"))

    def busy(self) -> bool:
        return self.{{ "port" if t == "serial" else "visa" }}.query("BUSY?", retries=1) == "1"

    def home(self) -> None:
        """The controller's HOME resets every device on it: the kernel must re-read them all."""
        self.expect_duration(30)  # a homing run is long, not slow
        self.tell("HOME")
        self.controller.homed = True
        self.invalidate("Position")
        for other in self.siblings():  # the other devices on this wire
            other.invalidate()  # every property: the kernel re-reads them, its cache and events follow
{%- endif %}
