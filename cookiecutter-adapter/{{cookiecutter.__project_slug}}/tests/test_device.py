{%- set t = cookiecutter.transport -%}
{%- set d = cookiecutter.device_type -%}
{%- set c = cookiecutter.controller == "yes" -%}
"""The {{ cookiecutter.__instrument_q }} adapter: the SDK's conformance kit, and the device
through a real kernel."""

from __future__ import annotations
{% if t == "visa" %}
import inspect
from pathlib import Path
{% endif %}
from mmkernel_core import Kernel
from mmkernel_sdk.testing.conformance import ConformanceTests
{%- if t == "serial" %}
from mmkernel_sdk.testing.sim import register_simulator
{%- endif %}

{% if c or (cookiecutter.__package ~ cookiecutter.__class_name) | length > 100 -%}
from {{ cookiecutter.__package }}.device import (
    {{ cookiecutter.__class_name }},
{%- if c %}
    {{ cookiecutter.__class_name }}Focus,
{%- endif %}
)
{% else -%}
from {{ cookiecutter.__package }}.device import {{ cookiecutter.__class_name }}
{% endif -%}
from {{ cookiecutter.__package }}.plugin import ADAPTER, DEVICE{% if c %}, FOCUS{% endif %}
{%- if t == "serial" %}
from {{ cookiecutter.__package }}.simulator import Simulator
{%- endif %}
{% if t == "serial" %}
PORT = register_simulator("{{ cookiecutter.__slug }}-tests", Simulator)
PRE_INIT = {"Port": PORT + "?move_s=0.01"}
{%- elif t == "visa" %}
YAML = Path(inspect.getfile({{ cookiecutter.__class_name }})).with_name("instrument.yaml")
PRE_INIT = {"Resource": "ASRL1::INSTR", "Backend": f"{YAML}@sim"}
{%- else %}
PRE_INIT = {"SerialNumber": "TEST-0001"}
{%- endif %}


class TestConformance(ConformanceTests):
    """Everything a well-behaved adapter does (see mmkernel_sdk.testing.conformance)."""

    device_class = {{ cookiecutter.__class_name }}
    pre_init = PRE_INIT
{%- if d in ("Stage", "XYStage") %}
    # The kit moves the stage this far (um) from where it starts, and back; on hardware choose what
    # is safe: (0.0, 10.0) moves a focus drive only away from the sample, (0.0, 0.0) never moves it.
    stage_travel_um = (-10.0, 10.0)
{%- endif %}


def test_the_kernel_finds_it_and_runs_it() -> None:
    with Kernel() as kernel:
        offered = {offer for info in kernel.adapters.adapters() if info.name == ADAPTER for offer in info.devices}
        assert DEVICE in offered, f"the kernel does not offer {ADAPTER}/{DEVICE}: is the package installed?"
        kernel.load_device("Device", ADAPTER, DEVICE)
        for name, value in PRE_INIT.items():
            kernel.set_property("Device", name, value)
        kernel.initialize("Device")
{%- if d == "StateDevice" %}
        kernel.set_state("Device", 3)
        kernel.wait_for("Device")
        assert kernel.get_state("Device") == 3 and kernel.get_state_label("Device") == "State-3"
{%- elif d == "Stage" %}
        kernel.set_position("Device", 12.5)
        kernel.wait_for("Device")
        assert kernel.get_position("Device") == 12.5
{%- elif d == "XYStage" %}
        kernel.set_xy_position("Device", 10.0, 20.0)
        kernel.wait_for("Device")
        assert kernel.get_xy_position("Device") == (10.0, 20.0)
{%- elif d == "Shutter" %}
        kernel.set_shutter_open("Device", True)
        assert kernel.get_shutter_open("Device") is True
{%- elif d == "Camera" %}
        kernel.set_property("Device", "Exposure", 5.0)
        image = kernel.snap("Device")
        assert image.shape == (256, 320) and image.dtype == "uint16"
{%- else %}
        kernel.set_property("Device", "Intensity", 42.0)
        assert kernel.get_property("Device", "Intensity") == 42.0
{%- endif %}
{%- if c %}


class TestFocusConformance(ConformanceTests):
    device_class = {{ cookiecutter.__class_name }}Focus
    pre_init = PRE_INIT
    stage_travel_um = (-10.0, 10.0)


def test_the_controllers_devices_share_its_wire_and_a_home_updates_both() -> None:
    with Kernel() as kernel:
        for label, name in (("Device", DEVICE), ("Focus", FOCUS)):
            kernel.load_device(label, ADAPTER, name)
            for setting, value in PRE_INIT.items():
                kernel.set_property(label, setting, value)
        kernel.initialize_all()
        device, focus = (kernel.internals.device_object(label) for label in ("Device", "Focus"))
        assert focus.siblings() == [device]  # one wire: one thread runs both, in the order they are called
        assert focus.controller is device.controller  # one state
        kernel.set_position("Focus", 50.0)
        kernel.wait_for("Focus")
{%- if t == "serial" %}
{%- if d == "StateDevice" %}
        kernel.set_state("Device", 3)
{%- elif d == "Stage" %}
        kernel.set_position("Device", 12.5)
{%- elif d == "XYStage" %}
        kernel.set_xy_position("Device", 10.0, 20.0)
{%- elif d == "Shutter" %}
        kernel.set_shutter_open("Device", True)
{%- elif d == "Camera" %}
        kernel.set_property("Device", "Exposure", 5.0)
{%- else %}
        kernel.set_property("Device", "Intensity", 42.0)
{%- endif %}
{%- endif %}
        kernel.home("Focus")  # HOME resets the whole controller
        kernel.wait_for("Device")  # the re-reads the home asked for have run
        assert device.controller.homed
{%- if t == "serial" %}
        # the simulator reset both devices, and the kernel's cache followed (pyvisa-sim cannot show
        # this: one command there never changes another property)
        assert kernel.get_property("Focus", "Position", from_cache=True) == 0.0
{%- if d == "StateDevice" %}
        assert kernel.get_property("Device", "State", from_cache=True) == 0
{%- elif d == "Stage" %}
        assert kernel.get_property("Device", "Position", from_cache=True) == 0.0
{%- elif d == "XYStage" %}
        assert kernel.get_xy_position("Device") == (0.0, 0.0)
{%- elif d == "Shutter" %}
        assert kernel.get_property("Device", "State", from_cache=True) == 0
{%- elif d == "Camera" %}
        assert kernel.get_property("Device", "Exposure", from_cache=True) == 10.0
{%- else %}
        assert kernel.get_property("Device", "Intensity", from_cache=True) == 0.0
{%- endif %}
{%- endif %}
{%- endif %}
