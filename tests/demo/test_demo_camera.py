"""DemoCamera's DCam through the kernel: its exposure, binning, sensor size, gain, pixel type and
bit depth stay consistent (one event each), its images follow exposure and the shutter, and its
ROI crops frames."""

from __future__ import annotations

import numpy as np
import pytest

from mmkernel_core import Kernel, MMKernelError, PropertyError
from tests.support.demo import Recorder, load


@pytest.fixture
def cam(k: Kernel) -> str:
    return load(k, "Cam", "DCam")


# -- DCam: exposure ------------------------------------------------------------------------------
def test_camera_exposure_defaults_to_10ms_limited_by_default_maximum(k: Kernel, cam: str) -> None:
    assert k.get_property(cam, "Exposure") == 10.0
    assert k.get_property(cam, "MaximumExposureMs") == 10000.0
    assert k.property_info(cam, "Exposure").limits == (0.0, 10000.0)
    with pytest.raises(PropertyError):
        k.set_property(cam, "Exposure", 10001)
    with pytest.raises(PropertyError):
        k.set_property(cam, "Exposure", -1)
    k.set_property(cam, "Exposure", 25.5)
    assert k.get_property(cam, "Exposure") == 25.5


def test_camera_maximum_exposure_is_pre_init_and_bounds_exposure(k: Kernel) -> None:
    k.load_device("Cam", "DemoCamera", "DCam")
    assert k.property_info("Cam", "MaximumExposureMs").pre_init
    k.set_property("Cam", "MaximumExposureMs", 500)
    k.initialize("Cam")
    assert k.property_info("Cam", "Exposure").limits == (0.0, 500.0)
    with pytest.raises(PropertyError) as err:
        k.set_property("Cam", "Exposure", 600)
    assert "500" in str(err.value)
    assert k.get_property("Cam", "Exposure") == 10.0  # nothing applied
    k.set_property("Cam", "Exposure", 500)
    assert k.get_property("Cam", "Exposure") == 500.0
    with pytest.raises(PropertyError):  # pre-init: fixed once initialized
        k.set_property("Cam", "MaximumExposureMs", 1000)


# -- DCam: binning, sensor size, gain ------------------------------------------------------------
def test_camera_binning_values_and_image_shape(k: Kernel, cam: str) -> None:
    assert set(k.property_info(cam, "Binning").allowed) == {1, 2, 4, 8}
    with pytest.raises(PropertyError):
        k.set_property(cam, "Binning", 3)
    for binning in (1, 2, 4, 8):
        k.set_property(cam, "Binning", binning)
        image = k.snap(cam)
        assert image.shape == (512 // binning, 512 // binning)


def test_camera_scan_mode_narrows_binning(k: Kernel, cam: str) -> None:
    k.set_property(cam, "Binning", 8)
    events = Recorder(k)
    k.set_property(cam, "ScanMode", 3)
    assert set(k.property_info(cam, "Binning").allowed) == {1, 2}
    assert k.get_property(cam, "Binning") == 2
    assert k.get_property(cam, "Binning", from_cache=True) == 2
    assert events.values(cam, "Binning") == [2]  # announced exactly once
    with pytest.raises(PropertyError):
        k.set_property(cam, "Binning", 4)
    assert k.snap(cam).shape == (256, 256)
    k.set_property(cam, "ScanMode", 2)
    assert set(k.property_info(cam, "Binning").allowed) == {1, 2, 4}
    k.set_property(cam, "Binning", 4)
    k.set_property(cam, "ScanMode", 1)
    assert set(k.property_info(cam, "Binning").allowed) == {1, 2, 4, 8}
    assert k.get_property(cam, "Binning") == 4  # still allowed: unchanged
    k.set_property(cam, "Binning", 8)
    with pytest.raises(PropertyError):
        k.set_property(cam, "ScanMode", 4)


def test_camera_sensor_size_sets_image_shape(k: Kernel, cam: str) -> None:
    assert k.get_property(cam, "OnCameraCCDXSize") == 512
    assert k.get_property(cam, "OnCameraCCDYSize") == 512
    assert k.snap(cam).shape == (512, 512)
    k.set_property(cam, "OnCameraCCDXSize", 256)
    k.set_property(cam, "OnCameraCCDYSize", 128)
    assert k.snap(cam).shape == (128, 256)
    k.set_property(cam, "Binning", 2)
    assert k.snap(cam).shape == (64, 128)


def test_camera_gain_limits(k: Kernel, cam: str) -> None:
    assert k.property_info(cam, "Gain").limits == (-5, 8)
    for bad in (-6, 9):
        with pytest.raises(PropertyError):
            k.set_property(cam, "Gain", bad)
    for good in (-5, 8, 0):
        k.set_property(cam, "Gain", good)
        assert k.get_property(cam, "Gain") == good


# -- DCam: pixel type and bit depth --------------------------------------------------------------
def test_camera_pixel_types_allowed(k: Kernel, cam: str) -> None:
    assert set(k.property_info(cam, "PixelType").allowed) == {"8bit", "16bit", "32bit", "32bitRGB", "64bitRGB"}
    assert k.get_property(cam, "PixelType") == "8bit"
    assert k.get_property(cam, "BitDepth") == 8
    with pytest.raises(PropertyError):
        k.set_property(cam, "PixelType", "128bitRGB")


def test_camera_pixel_type_and_bit_depth_stay_consistent_with_one_event_each(k: Kernel, cam: str) -> None:
    events = Recorder(k)

    k.set_property(cam, "PixelType", "16bit")
    assert (k.get_property(cam, "PixelType"), k.get_property(cam, "BitDepth")) == ("16bit", 16)
    assert k.get_property(cam, "BitDepth", from_cache=True) == 16
    assert events.values(cam, "PixelType") == ["16bit"]
    assert events.values(cam, "BitDepth") == [16]
    assert k.snap(cam).dtype == np.uint16
    events.clear()

    k.set_property(cam, "BitDepth", 8)  # 8 bits while 16bit: PixelType stays (as in MM)
    assert (k.get_property(cam, "PixelType"), k.get_property(cam, "BitDepth")) == ("16bit", 8)
    assert events.count(cam, "PixelType") == 0
    assert events.values(cam, "BitDepth") == [8]
    events.clear()

    k.set_property(cam, "PixelType", "8bit")
    events.clear()
    k.set_property(cam, "BitDepth", 12)  # more than 8 bits while 8bit: 16bit, and MM's depth 16
    assert (k.get_property(cam, "PixelType"), k.get_property(cam, "BitDepth")) == ("16bit", 16)
    assert k.get_property(cam, "PixelType", from_cache=True) == "16bit"
    assert events.values(cam, "PixelType") == ["16bit"]
    assert events.values(cam, "BitDepth") == [16]
    events.clear()

    k.set_property(cam, "BitDepth", 14)  # already 16bit: PixelType untouched, not re-announced
    assert k.get_property(cam, "PixelType") == "16bit"
    assert events.count(cam, "PixelType") == 0
    assert events.values(cam, "BitDepth") == [14]
    events.clear()

    k.set_property(cam, "PixelType", "32bitRGB")
    assert (k.get_property(cam, "PixelType"), k.get_property(cam, "BitDepth")) == ("32bitRGB", 8)
    assert events.values(cam, "PixelType") == ["32bitRGB"]
    assert events.values(cam, "BitDepth") == [8]


def test_camera_32bit_rgb_images(k: Kernel, cam: str) -> None:
    k.set_property(cam, "PixelType", "32bitRGB")
    assert k.get_property(cam, "BitDepth") == 8
    image = k.snap(cam)
    assert image.shape == (512, 512, 4)
    assert image.dtype == np.uint8
    assert image[..., :3].std() > 0


def test_camera_16bit_pixels_respect_bit_depth(k: Kernel, cam: str) -> None:
    k.set_property(cam, "PixelType", "16bit")
    k.set_property(cam, "BitDepth", 12)
    k.set_property(cam, "SaturatePixels", 1)  # saturated pixels sit at 2**12 - 1
    image = k.snap(cam)
    assert image.dtype == np.uint16
    assert int(image.max()) == 4095


# -- DCam: image content -------------------------------------------------------------------------
@pytest.mark.parametrize("pixel_type", ["8bit", "16bit", "32bitRGB"])
@pytest.mark.parametrize("mode", ["Artificial Waves", "Noise", "Color Test Pattern"])
def test_camera_every_mode_produces_images(k: Kernel, cam: str, mode: str, pixel_type: str) -> None:
    assert set(k.property_info(cam, "Mode").allowed) == {
        "Artificial Waves",
        "Noise",
        "Color Test Pattern",
        "Fluorescent Beads",
    }
    k.set_property(cam, "PixelType", pixel_type)
    k.set_property(cam, "Mode", mode)
    k.set_property(cam, "Exposure", 2)  # Noise at 50 photons/ms saturates 8 bits from ~5 ms on
    image = k.snap(cam)
    if pixel_type == "32bitRGB":
        assert (image.shape, image.dtype) == ((512, 512, 4), np.uint8)
        if mode != "Noise":  # MM's Noise mode draws 8bit and 16bit only
            assert image[..., :3].std() > 0
    else:
        dtype = np.uint8 if pixel_type == "8bit" else np.uint16
        assert (image.shape, image.dtype) == ((512, 512), dtype)
        assert image.std() > 0


def test_camera_artificial_waves_are_real_images(k: Kernel, cam: str) -> None:
    assert k.get_property(cam, "Mode") == "Artificial Waves"
    first = k.snap(cam)
    second = k.snap(cam)
    assert first.std() > 0
    assert len(np.unique(first)) > 10
    assert not np.array_equal(first, second)  # the pattern drifts from frame to frame


@pytest.mark.parametrize("pixel_type", ["8bit", "16bit"])
def test_camera_brightness_grows_with_exposure(k: Kernel, cam: str, pixel_type: str) -> None:
    k.set_property(cam, "PixelType", pixel_type)
    k.set_property(cam, "Exposure", 10)
    short = float(k.snap(cam).mean())
    k.set_property(cam, "Exposure", 50)
    long = float(k.snap(cam).mean())
    assert short > 0
    assert long > 2 * short


def test_camera_is_dark_while_the_system_shutter_is_closed(k: Kernel, cam: str) -> None:
    """An MMKernel addition: Micro-Manager's demo camera ignores shutters."""
    load(k, "Shutter", "DShutter")
    k.set_role("Camera", cam)
    k.set_role("Shutter", "Shutter")
    k.roles.auto_shutter = False
    k.set_property(cam, "Exposure", 50)
    assert not k.get_shutter_open("Shutter")
    assert float(k.snap().mean()) < 1.0
    k.set_shutter_open("Shutter", True)
    assert float(k.snap().mean()) > 20.0
    k.set_shutter_open("Shutter", False)
    assert float(k.snap().mean()) < 1.0


def test_camera_auto_shutter_opens_for_the_exposure_only(k: Kernel, cam: str) -> None:
    load(k, "Shutter", "DShutter")
    k.set_role("Camera", cam)
    k.set_role("Shutter", "Shutter")
    assert k.roles.auto_shutter
    k.set_property(cam, "Exposure", 50)
    assert float(k.snap().mean()) > 20.0
    assert not k.get_shutter_open("Shutter")


def test_camera_fast_image_repeats_frames_of_the_right_shape(k: Kernel, cam: str) -> None:
    k.set_property(cam, "FastImage", 1)
    first = k.snap(cam)
    assert first.shape == (512, 512)
    for _ in range(20):
        again = k.snap(cam)
        assert again.shape == (512, 512) and again.dtype == np.uint8
        assert np.array_equal(again, first)
    k.set_property(cam, "Binning", 2)  # a new shape is a new image, repeated from then on
    binned = k.snap(cam)
    assert binned.shape == (256, 256)
    assert np.array_equal(k.snap(cam), binned)
    k.set_property(cam, "FastImage", 0)
    assert not np.array_equal(k.snap(cam), k.snap(cam))


def test_camera_fast_image_repeats_the_latest_frame_after_being_re_enabled(k: Kernel, cam: str) -> None:
    k.set_property(cam, "FastImage", 1)
    k.snap(cam)
    k.set_property(cam, "FastImage", 0)
    k.set_property(cam, "Exposure", 50)
    latest = k.snap(cam)
    k.set_property(cam, "FastImage", 1)
    assert np.array_equal(k.snap(cam), latest)


def test_camera_roi_crops_frames_and_is_validated(k: Kernel) -> None:
    cam = load(k, "Cam", "DCam")
    k.set_roi(cam, 10, 20, 100, 50)
    assert k.get_roi(cam) == (10, 20, 100, 50)
    assert k.snap(cam).shape == (50, 100)
    with pytest.raises(MMKernelError, match="does not fit the 512x512"):
        k.set_roi(cam, 500, 0, 100, 10)
    with pytest.raises(PropertyError, match="ROI width 0 is not allowed"):
        k.set_roi(cam, 0, 0, 0, 10)
    k.set_property(cam, "Binning", 2)  # MM keeps the physical ROI: divided by the binning factor
    assert k.get_roi(cam) == (5, 10, 50, 25)
    assert k.snap(cam).shape == (25, 50)
    k.set_roi(cam, 0, 0, 64, 64)
    k.clear_roi(cam)
    assert k.snap(cam).shape == (256, 256)
    k.start_sequence(cam, count=None)
    with pytest.raises(MMKernelError, match="is streaming"):
        k.set_roi(cam, 0, 0, 8, 8)
    k.stop_sequence(cam)
