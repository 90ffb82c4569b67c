"""What the plugin offers, named as Micro-Manager's ThorlabsFilterWheel adapter so existing
configurations load unchanged."""

from __future__ import annotations

from pathlib import Path

from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl

HERE = Path(__file__).parent


@hookimpl
def mmkernel_adapters() -> list[AdapterSpec]:
    wheel = DeviceSpec(
        "Thorlabs Filter Wheel",
        "State",
        "Thorlabs FW102C/FW212C filter wheel",
        "mmkernel_adapter_thorlabs_fw.wheel:ThorlabsFilterWheel",
    )
    return [AdapterSpec("ThorlabsFilterWheel", "Thorlabs FW102C/FW212C motorized filter wheels", [wheel])]


@hookimpl
def mmkernel_example_configs() -> dict[str, str]:
    return {
        "fw102c": str(HERE / "FW102C-sim.cfg"),  # on the simulator: runs anywhere
        "fw102c-com1": str(HERE / "FW102C.cfg"),  # a real wheel on COM1 (MMKERNEL_PORT_MAP maps it)
    }
