"""Colour cameras and Utilities' Multi Camera through the bridge: MM's packed colour (32bitRGB,
64bitRGB: 4 components) arrives as (h, w, 4) B, G, R, A frames in snaps and sequences; a format
MMKernel's frames cannot carry is refused before a snap or a sequence starts; Multi Camera is
refused at initialize, naming what to use instead."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from mmkernel_core import Kernel
from mmkernel_sdk.errors import DeviceError


@pytest.fixture
def k(mm: str) -> Iterator[Kernel]:
    with Kernel(timeout=10) as kernel:
        kernel.load_device("Cam", "mm:DemoCamera", "DCam")
        kernel.initialize("Cam")
        kernel.set_property("Cam", "Exposure", 0)
        yield kernel


def _bgra(image: np.ndarray, mm: str, level: int) -> None:
    """The stand-in's pixels are B=level, G=level+50, R=level+100; DCam's test image lights each
    of B, G and R somewhere. MM's fourth component (alpha) is 0."""
    if mm == "standin":
        assert (image == np.array([level, level + 50, level + 100, 0], dtype=image.dtype)).all()
    else:
        assert all(image[..., c].any() for c in range(3)) and not image[..., 3].any()


def test_a_32bit_rgb_snap_is_height_by_width_by_four_bgra_bytes(k: Kernel, mm: str) -> None:
    k.set_property("Cam", "Exposure", 10)
    k.set_property("Cam", "PixelType", "32bitRGB")
    image = k.snap("Cam")
    assert image.shape == (512, 512, 4) and image.dtype == np.uint8
    _bgra(image, mm, level=2)
    k.set_property("Cam", "Binning", 2)
    assert k.snap("Cam").shape == (256, 256, 4)


def test_a_32bit_rgb_sequence_streams_bgra_frames(k: Kernel, mm: str) -> None:
    k.set_property("Cam", "Exposure", 10 if mm == "real" else 0)
    k.set_property("Cam", "PixelType", "32bitRGB")
    k.start_sequence("Cam", 5, overflow="block")
    for number in range(5):
        frame = k.pop_next("Cam")
        assert frame.array.shape == (512, 512, 4) and frame.array.dtype == np.uint8
        _bgra(frame.array, mm, level=number % 50 + 1)
        frame.release()


def test_a_64bit_rgb_snap_is_four_16_bit_components(k: Kernel, mm: str) -> None:
    if mm != "real":
        pytest.skip("the stand-in has no 64bitRGB")
    k.set_property("Cam", "Exposure", 10)
    k.set_property("Cam", "PixelType", "64bitRGB")
    image = k.snap("Cam")
    assert image.shape == (512, 512, 4) and image.dtype == np.uint16
    _bgra(image, mm, level=0)


def test_a_pixel_format_frames_cannot_carry_is_refused_before_a_snap_or_sequence(
    k: Kernel, mm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mm != "standin":
        pytest.skip("only the stand-in can report 3 components")
    from mmkernel_adapter_micromanager import core_groups

    core = core_groups().group("main", [], k).core
    k.set_property("Cam", "PixelType", "32bitRGB")
    monkeypatch.setattr(core, "getNumberOfComponents", lambda: 3)
    allowed = r"allowed: grey .*packed BGRA .*32bitRGB, 64bitRGB"
    with pytest.raises(DeviceError, match=rf"'Cam': PixelType '32bitRGB' gives 3 component\(s\) of 4 .*{allowed}"):
        k.snap("Cam")
    with pytest.raises(DeviceError, match="PixelType '32bitRGB'"):
        k.start_sequence("Cam", 5)
    assert not k.is_sequence_running("Cam")


@pytest.fixture
def cameras(real: str) -> Iterator[Kernel]:
    """Two DemoCamera cameras and Utilities' Multi Camera in one core (as Micro-Manager has them)."""
    with Kernel(timeout=10) as kernel:
        for label, module, name in (("A", "DemoCamera", "DCam"), ("B", "DemoCamera", "DCam"),
                                    ("Multi", "Utilities", "Multi Camera")):  # fmt: skip
            kernel.load_device(label, f"mm:{module}", name)
        kernel.initialize("A")
        kernel.initialize("B")
        yield kernel


def test_multi_camera_is_refused_at_initialize_naming_what_to_use_instead(cameras: Kernel) -> None:
    with pytest.raises(DeviceError, match=r"'Multi': Utilities' Multi Camera is not bridged.*MMCore.*record") as caught:
        cameras.initialize("Multi")
    assert (caught.value.device, caught.value.operation) == ("Multi", "initialize")
    assert cameras.device_health("Multi").state == "failed"
    assert cameras.snap("A").shape == (512, 512)  # the physical cameras work on their own
    assert cameras.snap("B").shape == (512, 512)


def test_mms_multi_camera_in_one_core_gives_a_snap_only_its_first_camera(real: str) -> None:
    """Why the bridge refuses it: in one CMMCore, getImage() after a Multi Camera snap is the
    first physical camera's image, and a sequence interleaves both cameras' frames."""
    import pymmcore

    core = pymmcore.CMMCore()
    core.setDeviceAdapterSearchPaths([real])
    for label, module, name in (("A", "DemoCamera", "DCam"), ("B", "DemoCamera", "DCam"),
                                ("Multi", "Utilities", "Multi Camera")):  # fmt: skip
        core.loadDevice(label, module, name)
        core.initializeDevice(label)
    try:
        core.setProperty("Multi", "Physical Camera 1", "A")
        core.setProperty("Multi", "Physical Camera 2", "B")
        core.setCameraDevice("Multi")
        assert core.getNumberOfCameraChannels() == 2
        core.snapImage()
        assert core.getImage().shape == core.getImage(0).shape
        assert [core.getCameraChannelName(i) for i in range(2)] == ["A", "B"]
    finally:
        core.unloadAllDevices()
