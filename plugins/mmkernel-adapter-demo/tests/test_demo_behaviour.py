"""DCam behaves as Micro-Manager's DemoCamera: pixel formulas, transposes (metadata only),
beads, saturated and dropped pixels, BitDepth/PixelType and ScanMode/Binning rules, the image
number, 32bit and 64bitRGB frames, and exposure timing in every mode (lower bounds only)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import numpy as np
import pytest

from mmkernel_core import Kernel, MMKernelError, PropertyError


@pytest.fixture
def k() -> Iterator[Kernel]:
    with Kernel(timeout=10) as kernel:
        yield kernel


@pytest.fixture
def cam(k: Kernel) -> str:
    k.load_device("Cam", "DemoCamera", "DCam")
    k.initialize("Cam")
    return "Cam"


def test_nothing_is_computed_before_the_first_snap(k: Kernel, cam: str) -> None:
    device = k.internals.device(cam).device
    assert device._img is None
    k.snap(cam)
    assert device._img is not None


def test_waves_follow_mmcores_formula(k: Kernel, cam: str) -> None:
    k.set_property(cam, "PixelType", "16bit")  # the demo cfg's state: pedestal 3276.7, amplitude 2570
    image = k.snap(cam)
    assert (int(image.min()), int(image.max())) == (706, 5846)
    k.set_property(cam, "PixelType", "8bit")
    image = k.snap(cam)
    assert 2 <= int(image.min()) and int(image.max()) <= 22  # 12.7 +- 10


def test_stripe_width_zero_gives_a_flat_image(k: Kernel, cam: str) -> None:
    k.set_property(cam, "StripeWidth", 0)
    assert np.ptp(k.snap(cam)) == 0


def test_transposes_are_metadata_only_as_in_mm(k: Kernel, cam: str) -> None:
    """MMCore and DemoCamera never read TransposeXY/MirrorX/MirrorY: the pixels do not change."""
    k.set_property(cam, "StripeWidth", 0)  # a frame that does not drift, to compare
    plain = k.snap(cam)
    for name in ("TransposeXY", "TransposeMirrorX", "TransposeMirrorY", "TransposeCorrection"):
        k.set_property(cam, name, 1)
    assert np.array_equal(k.snap(cam), plain)


def test_fluorescent_beads_are_spots_on_black_that_blur_out_of_focus(k: Kernel, cam: str) -> None:
    k.load_device("Z", "DemoCamera", "DStage")
    k.initialize("Z")
    k.set_property(cam, "Mode", "Fluorescent Beads")
    k.set_property(cam, "PixelType", "16bit")  # 8 bits saturate where beads overlap
    sharp = k.snap(cam).astype(float)
    assert np.median(sharp) < 5 and sharp.max() > 100
    assert np.array_equal(k.snap(cam), sharp)  # a deterministic field
    k.set_position("Z", 20)
    blurred = k.snap(cam).astype(float)
    assert blurred.max() < sharp.max()
    k.set_property(cam, "BeadDensity", 10)
    k.set_position("Z", 0)
    assert k.snap(cam).astype(float).sum() < sharp.sum()


def test_beads_follow_the_xy_stage(k: Kernel, cam: str) -> None:
    k.load_device("XY", "DemoCamera", "DXYStage")
    k.initialize("XY")
    k.set_property(cam, "Mode", "Fluorescent Beads")
    k.set_property(cam, "PixelType", "16bit")
    here = k.snap(cam).astype(int)
    k.set_xy_position("XY", 10, 0)
    k.wait_for("XY")
    moved = k.snap(cam).astype(int)
    assert np.abs(moved[:, :-10] - here[:, 10:]).max() <= 1  # 1 px = 1 um, as in MM (+-1 rounding)
    assert np.abs(moved - here).max() > 10


@pytest.mark.parametrize("pixel_type", ["8bit", "16bit", "32bit"])
def test_saturate_and_drop_pixels(k: Kernel, cam: str, pixel_type: str) -> None:
    k.set_property(cam, "PixelType", pixel_type)
    k.set_property(cam, "FractionOfPixelsToDropOrSaturate", 0.01)
    top = {"8bit": 255, "16bit": 65535, "32bit": 255.0}[pixel_type]
    assert (k.snap(cam) == top).sum() == 0
    k.set_property(cam, "SaturatePixels", 1)
    saturated = int((k.snap(cam) == top).sum())
    assert 0.008 * 512 * 512 < saturated <= 0.01 * 512 * 512 + 1
    k.set_property(cam, "SaturatePixels", 0)
    k.set_property(cam, "DropPixels", 1)
    dropped = int((k.snap(cam) == 0).sum())
    assert 0.008 * 512 * 512 < dropped <= 0.01 * 512 * 512 + 1


def test_bit_depth_and_pixel_type_follow_mmcores_rules(k: Kernel, cam: str) -> None:
    rules = [  # (pixel type before, bit depth set) -> (pixel type, bit depth read back)
        (("8bit", 12), ("16bit", 16)),
        (("8bit", 32), ("32bit", 32)),
        (("8bit", 8), ("8bit", 8)),
        (("16bit", 10), ("16bit", 10)),
        (("16bit", 8), ("16bit", 8)),
        (("32bitRGB", 12), ("32bitRGB", 12)),
    ]
    for (before, depth), after in rules:
        k.set_property(cam, "PixelType", before)
        k.set_property(cam, "BitDepth", depth)
        assert (k.get_property(cam, "PixelType"), k.get_property(cam, "BitDepth")) == after, (before, depth)
    for pixel_type, depth in (("8bit", 8), ("16bit", 16), ("32bitRGB", 8), ("64bitRGB", 16), ("32bit", 32)):
        k.set_property(cam, "PixelType", pixel_type)
        assert k.get_property(cam, "BitDepth") == depth


@pytest.mark.parametrize(
    ("pixel_type", "shape", "dtype"),
    [("32bit", (512, 512), np.float32), ("64bitRGB", (512, 512, 4), np.uint16), ("32bitRGB", (512, 512, 4), np.uint8)],
)
def test_wide_pixel_types_give_frames_of_the_right_shape(
    k: Kernel, cam: str, pixel_type: str, shape: tuple, dtype: type
) -> None:
    k.set_property(cam, "PixelType", pixel_type)
    image = k.snap(cam)
    assert (image.shape, image.dtype) == (shape, dtype)
    assert image[..., :3].std() > 0 if image.ndim == 3 else image.std() > 0
    if image.ndim == 3:
        assert not image[..., 3].any()  # alpha is 0


def test_scan_mode_narrows_binning_and_forces_it_down(k: Kernel, cam: str) -> None:
    k.set_property(cam, "Binning", 8)
    k.set_property(cam, "ScanMode", 2)
    assert k.get_property(cam, "Binning") == 4
    k.set_property(cam, "ScanMode", 3)
    assert k.get_property(cam, "Binning") == 2
    assert set(k.property_info(cam, "Binning").allowed) == {1, 2}
    k.set_property(cam, "ScanMode", 1)
    assert set(k.property_info(cam, "Binning").allowed) == {1, 2, 4, 8}


def test_display_image_number_draws_sequence_frame_numbers(k: Kernel, cam: str) -> None:
    k.set_property(cam, "DisplayImageNumber", 1)
    k.set_property(cam, "Exposure", 1)
    assert k.snap(cam)[2:22, 2:22].any()  # the counter is 0 before any sequence: nothing drawn
    with k.stream(cam, count=3) as stream:
        frames = [frame.array.copy() for frame in stream]
    digit = frames[0][2:22, 2:22]
    assert (digit == 0).any() and (digit == frames[0].max()).any()  # black cell, bright segments
    assert not np.array_equal(frames[0][2:22, 2:22], frames[1][2:22, 2:22])  # "1", then "2"


def test_ccd_size_has_no_declared_limits_but_bad_sizes_are_refused(k: Kernel, cam: str) -> None:
    assert k.property_info(cam, "OnCameraCCDXSize").limits is None
    with pytest.raises(PropertyError, match=r"'OnCameraCCDXSize'.*\b0\b.*within \[16, 33000\]"):
        k.set_property(cam, "OnCameraCCDXSize", 0)
    assert k.get_property(cam, "OnCameraCCDXSize") == 512


def test_ccd_temperature_is_writable_and_mirrored_read_only(k: Kernel, cam: str) -> None:
    k.set_property(cam, "CCDTemperature", -20)
    assert k.get_property(cam, "CCDTemperature RO") == -20.0
    with pytest.raises(PropertyError):
        k.set_property(cam, "CCDTemperature RO", 0)


def test_simulate_crash_raises_a_clear_error_and_the_camera_keeps_working(k: Kernel, cam: str) -> None:
    with pytest.raises(MMKernelError, match=r"SimulateCrash.*Divide by Zero.*keeps running"):
        k.set_property(cam, "SimulateCrash", "Divide by Zero")
    assert k.get_property(cam, "SimulateCrash") == ""
    assert k.snap(cam).shape == (512, 512)


def test_async_follower_takes_the_leaders_value_after_the_delay(k: Kernel, cam: str) -> None:
    seen: list[str] = []
    k.events.property_changed.connect(
        lambda label, name, value: seen.append(value) if name == "AsyncPropertyFollower" else None
    )
    k.set_property(cam, "AsyncPropertyDelayMS", 10)
    k.set_property(cam, "AsyncPropertyLeader", "hello")
    deadline = time.monotonic() + 5
    while k.get_property(cam, "AsyncPropertyFollower") != "hello":
        assert time.monotonic() < deadline
    k.events.flush()
    assert seen == ["hello"]


# -- timing: lower bounds only ----------------------------------------------------------------
@pytest.mark.parametrize("fast", [0, 1])
@pytest.mark.parametrize("mode", ["Artificial Waves", "Noise", "Color Test Pattern", "Fluorescent Beads"])
def test_a_snap_takes_at_least_the_exposure_in_every_mode(k: Kernel, cam: str, mode: str, fast: int) -> None:
    k.set_property(cam, "Mode", mode)
    k.set_property(cam, "FastImage", fast)
    k.set_property(cam, "Exposure", 30)
    k.snap(cam)  # the first FastImage snap computes the image it repeats
    start = time.monotonic()
    k.snap(cam)
    assert time.monotonic() - start >= 0.030


def test_a_snap_adds_the_readout_time(k: Kernel, cam: str) -> None:
    k.set_property(cam, "Exposure", 10)
    k.set_property(cam, "ReadoutTime", 20)
    start = time.monotonic()
    k.snap(cam)
    assert time.monotonic() - start >= 0.030


@pytest.mark.parametrize("fast", [0, 1])
def test_sequence_frames_are_at_least_an_exposure_apart(k: Kernel, cam: str, fast: int) -> None:
    k.set_property(cam, "FastImage", fast)
    k.set_property(cam, "Exposure", 10)
    with k.stream(cam, count=6) as stream:
        times = [frame.meta.camera_time for frame in stream]
    assert all(later - earlier >= 10.0 for earlier, later in itertools.pairwise(times)), times


def test_a_sequence_interval_longer_than_the_exposure_paces_it(k: Kernel, cam: str) -> None:
    k.set_property(cam, "Exposure", 5)
    with k.stream(cam, count=4, interval_ms=30) as stream:
        times = [frame.meta.camera_time for frame in stream]
    assert times[-1] >= 3 * 30 + 5, times  # from the start: three intervals, then an exposure


def test_exposure_zero_streams_without_waiting(k: Kernel, cam: str) -> None:
    k.set_property(cam, "Exposure", 0)
    k.set_property(cam, "FastImage", 1)
    with k.stream(cam, count=50) as stream:
        assert sum(1 for _ in stream) == 50
