{%- set d = cookiecutter.device_type -%}
"""The {{ cookiecutter.__instrument_q }} adapter on the wire: every byte it sends and reads."""

from __future__ import annotations

import pytest
from mmkernel_sdk.errors import ReplyError
from mmkernel_sdk.testing import expected_protocol

{% if (cookiecutter.__package ~ cookiecutter.__class_name) | length > 100 -%}
from {{ cookiecutter.__package }}.device import (
    {{ cookiecutter.__class_name }},
)
{% else -%}
from {{ cookiecutter.__package }}.device import {{ cookiecutter.__class_name }}
{% endif %}
IDENTITY = ("*IDN?\r", "{{ cookiecutter.__wire_vendor }} {{ cookiecutter.__wire_instrument }} v1.0\r")
# initialize() asks who it is; then (as the kernel does) every property is read once
INITIALIZE = [
    IDENTITY,
{%- if d == "StateDevice" %}
    ("POS?\r", "1\r"),  # State and Label: one query
    IDENTITY,
{%- elif d == "Stage" %}
    IDENTITY,
    ("Z?\r", "0.000\r"),
{%- elif d == "XYStage" %}
    IDENTITY,
    ("X?\r", "0.000\r"),
    ("Y?\r", "0.000\r"),
{%- elif d == "Shutter" %}
    IDENTITY,
    ("SHUTTER?\r", "0\r"),
{%- elif d == "Camera" %}
    ("EXP?\r", "10.000\r"),
    IDENTITY,
{%- else %}
    IDENTITY,
    ("INT?\r", "0.0\r"),
{%- endif %}
]


def test_initialize() -> None:
    with expected_protocol({{ cookiecutter.__class_name }}, INITIALIZE):
        pass


def test_a_command_goes_out_as_the_instrument_expects() -> None:
{%- if d == "StateDevice" %}
    exchanges = [*INITIALIZE, ("POS 3\r", "OK\r"), ("BUSY?\r", "0\r")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        device.set_state(2)
        assert not device.busy()
{%- elif d == "Stage" %}
    exchanges = [*INITIALIZE, ("Z 1.500\r", "OK\r"), ("BUSY?\r", "0\r")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        device.set_position(1.5)
        assert not device.busy()
{%- elif d == "XYStage" %}
    exchanges = [*INITIALIZE, ("X 1.000\r", "OK\r"), ("Y 2.000\r", "OK\r")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        device.set_xy_position(1.0, 2.0)
{%- elif d == "Shutter" %}
    exchanges = [*INITIALIZE, ("SHUTTER 1\r", "OK\r")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        device.set_open(True)
{%- elif d == "Camera" %}
    exchanges = [*INITIALIZE, ("EXP 5.000\r", "OK\r")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        device.set_exposure(5.0)
{%- else %}
    exchanges = [*INITIALIZE, ("INT 42.0\r", "OK\r"), ("INT?\r", "42.0\r")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        device.Intensity = 42.0  # written, then read back
{%- endif %}


def test_a_refused_command_is_a_clear_error() -> None:
    exchanges = [*INITIALIZE, ("BOGUS\r", "ERR\r")]
    with expected_protocol({{ cookiecutter.__class_name }}, exchanges) as device:
        with pytest.raises(ReplyError, match="the instrument refused 'BOGUS'"):
            device.tell("BOGUS")
