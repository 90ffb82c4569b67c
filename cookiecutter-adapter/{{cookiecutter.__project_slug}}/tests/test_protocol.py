{%- set d = cookiecutter.device_type -%}
{%- set c = cookiecutter.controller == "yes" -%}
{%- set n = "\\r" if cookiecutter.transport == "serial" else "\\n" -%}
"""The {{ cookiecutter.__instrument_q }} adapter on the wire: every byte it sends and reads."""

from __future__ import annotations

import pytest
from mmkernel_sdk.errors import ReplyError
from mmkernel_sdk.testing import expected_protocol

{% if c or (cookiecutter.__package ~ cookiecutter.__class_name) | length > 100 -%}
from {{ cookiecutter.__package }}.device import (
    {{ cookiecutter.__class_name }},
{%- if c %}
    {{ cookiecutter.__class_name }}Focus,
{%- endif %}
)
{% else -%}
from {{ cookiecutter.__package }}.device import {{ cookiecutter.__class_name }}
{% endif %}
IDENTITY = ("*IDN?{{ n }}", "{{ cookiecutter.__wire_vendor }} {{ cookiecutter.__wire_instrument }} v1.0{{ n }}")
# initialize() asks who it is; then (as the kernel does) every property is read once
INITIALIZE = [
    IDENTITY,
{%- if d == "StateDevice" %}
    ("POS?{{ n }}", "1{{ n }}"),  # State and Label: one query
    IDENTITY,
{%- elif d == "Stage" %}
    IDENTITY,
    ("Z?{{ n }}", "0.000{{ n }}"),
{%- elif d == "XYStage" %}
    IDENTITY,
    ("X?{{ n }}", "0.000{{ n }}"),
    ("Y?{{ n }}", "0.000{{ n }}"),
{%- elif d == "Shutter" %}
    IDENTITY,
    ("SHUTTER?{{ n }}", "0{{ n }}"),
{%- elif d == "Camera" %}
    ("EXP?{{ n }}", "10.000{{ n }}"),
    IDENTITY,
{%- else %}
    IDENTITY,
    ("INT?{{ n }}", "0.0{{ n }}"),
{%- endif %}
]


def test_initialize() -> None:
    with expected_protocol({{ cookiecutter.__class_name }}, INITIALIZE):
        pass


def test_a_command_goes_out_as_the_instrument_expects() -> None:
{%- if d == "StateDevice" %}
    exchanges = [*INITIALIZE, ("POS 3{{ n }}", "OK{{ n }}"), ("BUSY?{{ n }}", "0{{ n }}")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        device.set_state(2)
        assert not device.busy()
{%- elif d == "Stage" %}
    exchanges = [*INITIALIZE, ("Z 1.500{{ n }}", "OK{{ n }}"), ("BUSY?{{ n }}", "0{{ n }}")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        device.set_position(1.5)
        assert not device.busy()
{%- elif d == "XYStage" %}
    exchanges = [*INITIALIZE, ("X 1.000{{ n }}", "OK{{ n }}"), ("Y 2.000{{ n }}", "OK{{ n }}")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        device.set_xy_position(1.0, 2.0)
{%- elif d == "Shutter" %}
    exchanges = [*INITIALIZE, ("SHUTTER 1{{ n }}", "OK{{ n }}")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        device.set_open(True)
{%- elif d == "Camera" %}
    exchanges = [*INITIALIZE, ("EXP 5.000{{ n }}", "OK{{ n }}")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        device.set_exposure(5.0)
{%- else %}
    exchanges = [*INITIALIZE, ("INT 42.0{{ n }}", "OK{{ n }}"), ("INT?{{ n }}", "42.0{{ n }}")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        device.Intensity = 42.0  # written, then read back
{%- endif %}


def test_a_refused_command_is_a_clear_error() -> None:
    exchanges = [*INITIALIZE, ("BOGUS{{ n }}", "ERR{{ n }}")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        with pytest.raises(ReplyError, match="the instrument refused 'BOGUS'"):
            device.tell("BOGUS")

{%- if d in ("StateDevice", "Stage", "XYStage") %}


def test_a_lost_busy_reply_is_asked_again() -> None:
    exchanges = [*INITIALIZE, ("BUSY?{{ n }}", None), ("BUSY?{{ n }}", "0{{ n }}")]  # the first reply never came
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges, AnswerTimeout=50) as device:
        assert not device.busy()
{%- endif %}
{%- if c %}


FOCUS_INITIALIZE = [("F?{{ n }}", "0.000{{ n }}")]


def test_the_focus_drive_moves_and_homes_the_controller() -> None:
    exchanges = [*FOCUS_INITIALIZE, ("F 25.000{{ n }}", "OK{{ n }}"), ("HOME{{ n }}", "OK{{ n }}")]
    with expected_protocol({{ cookiecutter.__class_name }}Focus, exchanges) as focus:
        focus.set_position(25.0)
        focus.home()
        assert focus.controller.homed


def test_the_focus_drive_asks_again_when_a_busy_reply_is_lost() -> None:
    exchanges = [*FOCUS_INITIALIZE, ("BUSY?{{ n }}", None), ("BUSY?{{ n }}", "1{{ n }}")]
    with expected_protocol({{ cookiecutter.__class_name }}Focus, exchanges, AnswerTimeout=50) as focus:
        assert focus.busy()
{%- endif %}
