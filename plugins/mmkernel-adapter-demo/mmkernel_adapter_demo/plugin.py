"""The plugin's hook: what it offers, by import path, so listing imports no device module."""

from __future__ import annotations

from pathlib import Path

from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl

_PKG = "mmkernel_adapter_demo"

DEMO_DEVICES = [
    DeviceSpec("DCam", "Camera", "Demo camera", f"{_PKG}.camera:DemoCamera"),
    DeviceSpec("DWheel", "State", "Demo filter wheel", f"{_PKG}.state_devices:DemoFilterWheel"),
    DeviceSpec("DStateDevice", "State", "Demo State Device", f"{_PKG}.state_devices:DemoStateDevice"),
    DeviceSpec("DObjective", "State", "Demo objective turret", f"{_PKG}.state_devices:DemoObjectiveTurret"),
    DeviceSpec("DLightPath", "State", "Demo light path", f"{_PKG}.state_devices:DemoLightPath"),
    DeviceSpec("DStage", "Stage", "Demo stage", f"{_PKG}.stages:DemoStage"),
    DeviceSpec("DXYStage", "XYStage", "Demo XY stage", f"{_PKG}.stages:DemoXYStage"),
    DeviceSpec("DShutter", "Shutter", "Demo shutter", f"{_PKG}.shutter:DemoShutter"),
    DeviceSpec("DAutoFocus", "AutoFocus", "Demo auto focus", f"{_PKG}.autofocus:DemoAutoFocus"),
    DeviceSpec("D-DA", "SignalIO", "Demo DA", f"{_PKG}.signal_io:DemoDA"),
    DeviceSpec("DHub", "Hub", "DHub", f"{_PKG}.hub:DemoHub"),
]

UTILITY_DEVICES = [
    DeviceSpec(
        "State Device Shutter",
        "Shutter",
        "State device used as a shutter",
        f"{_PKG}.utilities:StateDeviceShutter",
    ),
    DeviceSpec(
        "Multi Shutter",
        "Shutter",
        "Combine multiple physical shutters into a single logical shutter",
        f"{_PKG}.utilities:MultiShutter",
    ),
]


@hookimpl
def mmkernel_example_configs() -> dict[str, str]:
    return {"demo": str(Path(__file__).with_name("MMConfig_demo.cfg"))}


@hookimpl
def mmkernel_adapters() -> list[AdapterSpec]:
    return [
        AdapterSpec("DemoCamera", "Simulated microscope (Micro-Manager DemoCamera names)", DEMO_DEVICES),
        AdapterSpec("Utilities", "Devices built from other devices", UTILITY_DEVICES),
    ]
