"""What this plugin offers the kernel (found through the `mmkernel.adapters` entry point)."""

from __future__ import annotations

from pathlib import Path

from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl

ADAPTER = "{{ cookiecutter.adapter_name }}"
DEVICE = "{{ cookiecutter.instrument }}"
DEVICE_TYPE = "{{ 'State' if cookiecutter.device_type == 'StateDevice' else cookiecutter.device_type }}"


@hookimpl
def mmkernel_adapters() -> list[AdapterSpec]:
    device = DeviceSpec(DEVICE, DEVICE_TYPE, "{{ cookiecutter.vendor }} {{ cookiecutter.instrument }}",
                        "{{ cookiecutter.package }}.device:{{ cookiecutter.class_name }}")  # fmt: skip
    return [AdapterSpec(ADAPTER, "{{ cookiecutter.vendor }} devices", [device])]


@hookimpl
def mmkernel_example_configs() -> dict[str, str]:
    return {"{{ cookiecutter.slug }}": str(Path(__file__).with_name("example.cfg"))}
