"""A device failing its initialize during a configuration load is one problem of the Initialize
line that names the device once, with the adapter's own words."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmkernel_core import ConfigError, Kernel
from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl
from mmkernel_sdk.testing import SimShutter


class Unplugged(SimShutter):
    def initialize(self) -> None:
        raise RuntimeError("no controller answers on COM7")


class Plugin:
    @hookimpl
    def mmkernel_adapters(self) -> list[AdapterSpec]:
        return [AdapterSpec("Sim", "", [DeviceSpec("Shutter", "Shutter", "", Unplugged)])]


def test_a_device_failing_to_initialize_is_named_once_with_the_adapters_words(tmp_path: Path) -> None:
    cfg = tmp_path / "system.cfg"
    cfg.write_text("Device,Shutter,Sim,Shutter\nProperty,Core,Initialize,1\n")
    with Kernel(plugins=[Plugin()], discover=False, timeout=5) as k:
        with pytest.raises(ConfigError) as caught:
            k.load_config(cfg)
    message = str(caught.value)
    assert "line 2" in message and "no controller answers on COM7" in message
    assert message.count("device 'Shutter'") == 1, message
