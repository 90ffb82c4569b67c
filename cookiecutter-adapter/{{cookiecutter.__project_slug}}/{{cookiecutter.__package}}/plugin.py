"""What this plugin offers the kernel (found through the `mmkernel.adapters` entry point)."""

from __future__ import annotations

from pathlib import Path

from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl

ADAPTER = "{{ cookiecutter.__adapter_name }}"
DEVICE = {{ cookiecutter.__device_py }}
DEVICE_TYPE = "{{ 'State' if cookiecutter.device_type == 'StateDevice' else cookiecutter.device_type }}"
VENDOR = {{ cookiecutter.__vendor_py }}
{%- if cookiecutter.controller == "yes" %}
FOCUS = f"{DEVICE} Focus"  # the controller's second device, on the same wire
{%- endif %}


@hookimpl
def mmkernel_adapters() -> list[AdapterSpec]:
    device = DeviceSpec(
        DEVICE,
        DEVICE_TYPE,
        {{ cookiecutter.__description_py }},
        "{{ cookiecutter.__package }}.device:{{ cookiecutter.__class_name }}",
    )
{%- if cookiecutter.controller == "yes" %}
    focus = DeviceSpec(
        FOCUS,
        "Stage",
        "The controller's focus drive",
        "{{ cookiecutter.__package }}.device:{{ cookiecutter.__class_name }}Focus",
    )
    return [AdapterSpec(ADAPTER, f"{VENDOR} devices", [device, focus])]
{%- else %}
    return [AdapterSpec(ADAPTER, f"{VENDOR} devices", [device])]
{%- endif %}


@hookimpl
def mmkernel_example_configs() -> dict[str, str]:
    example = Path(__file__).with_name("example.cfg")
    return {"{{ cookiecutter.__slug }}": str(example)}
