"""Two Kernels open in one process each get their own cores: both load the label Camera from
mm:DemoCamera into their default core, both snap, and closing one leaves the other working."""

from __future__ import annotations

import pytest

from mmkernel_core import Kernel
from mmkernel_sdk.errors import DeviceError

from .standin import StandInCore


def _camera(k: Kernel) -> None:
    k.load_device("Camera", "mm:DemoCamera", "DCam")
    k.load_device("Z", "mm:DemoCamera", "DStage")
    k.initialize("Camera")
    k.initialize("Z")


def test_two_kernels_load_the_same_labels_into_their_own_default_cores(mm: str) -> None:
    from mmkernel_adapter_micromanager import core_groups

    with Kernel(timeout=10) as first:
        second = Kernel(timeout=10)
        try:
            _camera(first)
            _camera(second)  # "Camera" is free in this kernel's core ("label already in use" before)
            assert core_groups().names(first) == core_groups().names(second) == ["main"]
            cores = [k.internals.device_object("Camera").core for k in (first, second)]
            assert cores[0] is not cores[1]
            assert first.internals.device_object("Z").core is cores[0]  # one kernel's devices share one
            second.set_property("Camera", "Binning", 2)
            first.set_position("Z", 3.0)
            assert first.snap("Camera").shape == (512, 512)
            assert second.snap("Camera").shape == (256, 256)
            assert (first.get_position("Z"), second.get_position("Z")) == (3.0, 0.0)
        finally:
            second.close()
        assert core_groups().names(second) == []
        assert set(cores[0].getLoadedDevices()) - {"Core"} == {"Camera", "Z"}
        assert first.snap("Camera").shape == (512, 512)
        first.set_property("Camera", "Exposure", 0)
        first.start_sequence("Camera", 5, overflow="block")
        for _ in range(5):
            first.pop_next("Camera").release()
        first.set_position("Z", 4.0)
        assert first.get_position("Z") == 4.0


def test_a_core_no_device_got_into_is_not_kept(mm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmkernel_adapter_micromanager import core_groups

    if mm != "standin":
        pytest.skip("only the stand-in's loadDevice can be made to fail after the probe succeeded")

    def refuse(self: StandInCore, label: str, module: str, name: str) -> None:
        raise RuntimeError(f'Device adapter "{module}" failed to instantiate device "{name}"')

    with Kernel(timeout=10) as k:
        k.load_device("Camera", "mm:DemoCamera", "DCam")
        monkeypatch.setattr(StandInCore, "loadDevice", refuse)
        with pytest.raises(DeviceError, match=r"'Camera'.*loadDevice.*failed to instantiate"):
            k.initialize("Camera")
        assert core_groups().names(k) == []
