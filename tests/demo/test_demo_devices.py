"""The demo adapter plugin (DemoCamera and Utilities) as a user drives it through the kernel:
every device loads, the camera's properties stay consistent and its images follow exposure and
the shutter, stages move (and stop) like stages, state devices and shutters behave, and the demo
.cfg loads a whole microscope."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from mmkernel_core import Kernel, MMKernelError, PropertyError
from mmkernel_sdk import Generic

DEMO_NAMES = [
    "DCam",
    "DWheel",
    "DStateDevice",
    "DObjective",
    "DLightPath",
    "DStage",
    "DXYStage",
    "DShutter",
    "DAutoFocus",
    "D-DA",
    "DHub",
]
UTILITY_NAMES = ["State Device Shutter", "Multi Shutter"]


def load(k: Kernel, label: str, device_name: str, adapter: str = "DemoCamera", **kwargs: Any) -> str:
    k.load_device(label, adapter, device_name, **kwargs)
    k.initialize(label)
    return label


@pytest.fixture
def cam(k: Kernel) -> str:
    return load(k, "Cam", "DCam")


class Recorder:
    """Collects property_changed events; `count` after a flush."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.events: list[tuple[str, str, Any]] = []
        k.events.property_changed.connect(self)

    def __call__(self, label: str, name: str, value: Any) -> None:
        self.events.append((label, name, value))

    def flushed(self) -> list[tuple[str, str, Any]]:
        assert self.k.events.flush()
        return list(self.events)

    def count(self, label: str, name: str) -> int:
        return sum(1 for e in self.flushed() if e[:2] == (label, name))

    def values(self, label: str, name: str) -> list[Any]:
        return [e[2] for e in self.flushed() if e[:2] == (label, name)]

    def clear(self) -> None:
        self.flushed()
        self.events.clear()


# -- every device loads --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("adapter", "name"),
    [("DemoCamera", n) for n in DEMO_NAMES] + [("Utilities", n) for n in UTILITY_NAMES],
)
def test_every_demo_device_loads_initializes_and_has_read_only_name_and_description(
    k: Kernel, adapter: str, name: str
) -> None:
    load(k, "Dev", name, adapter)
    info = k.device_info("Dev")
    assert info.initialized and info.adapter == adapter and info.device_name == name
    assert k.device_health("Dev").state == "ok"
    assert k.get_property("Dev", "Name") == name
    description = k.get_property("Dev", "Description")
    assert isinstance(description, str) and description.strip()
    for prop_name, value in (("Name", "Other"), ("Description", "Something else")):
        assert k.property_info("Dev", prop_name).read_only
        with pytest.raises(PropertyError):
            k.set_property("Dev", prop_name, value)
        assert k.get_property("Dev", prop_name) != value


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


# -- DStage ---------------------------------------------------------------------------------------
def test_stage_position_is_limited_to_300um_and_moves_instantly(k: Kernel) -> None:
    z = load(k, "Z", "DStage")
    assert k.property_info(z, "Position").limits is None  # as in MM: the setter refuses instead
    with pytest.raises(PropertyError, match=r"within \[-300, 300\]"):
        k.set_position(z, 301)
    with pytest.raises(PropertyError):
        k.set_position(z, -301)
    assert k.get_position(z) == 0.0
    k.set_position(z, -300)
    assert not k.busy(z)
    assert k.get_position(z) == -300.0
    k.set_position(z, 123.5)
    assert not k.busy(z)
    assert k.get_position(z) == 123.5


def test_stage_relative_move_cannot_leave_the_limits(k: Kernel) -> None:
    z = load(k, "Z", "DStage")
    k.set_position(z, 300)
    with pytest.raises(MMKernelError):
        k.set_relative_position(z, 50)
    assert k.get_position(z) == 300.0


# -- DXYStage -------------------------------------------------------------------------------------
def test_xy_stage_is_busy_for_distance_over_velocity(k: Kernel) -> None:
    xy = load(k, "XY", "DXYStage")
    assert k.get_property(xy, "Velocity") == 10.0
    assert k.property_info(xy, "Velocity").units == "mm/s"
    start = time.monotonic()
    k.set_xy_position(xy, 2000, 0)  # 2000 um at 10 mm/s: 0.2 s
    assert k.busy(xy)
    x, _ = k.get_xy_position(xy)
    assert 0.0 <= x < 2000.0
    k.wait_for(xy)
    assert time.monotonic() - start >= 0.19
    assert not k.busy(xy)
    assert k.get_xy_position(xy) == pytest.approx((2000.0, 0.0))
    k.set_xy_position(xy, 2000, -500)
    k.wait_for(xy)
    assert k.get_xy_position(xy) == pytest.approx((2000.0, -500.0))


def test_xy_stage_stop_freezes_mid_move(k: Kernel) -> None:
    xy = load(k, "XY", "DXYStage")
    k.set_property(xy, "Velocity", 0.1)  # 0.1 um/ms: 10000 um takes 100 s
    k.set_xy_position(xy, 10000, 0)
    assert k.busy(xy)
    deadline = time.monotonic() + 5
    while k.get_xy_position(xy)[0] <= 0.0:  # let it leave the start (a condition, not a sleep)
        assert time.monotonic() < deadline
    k.stop(xy)
    assert not k.busy(xy)
    stopped = k.get_xy_position(xy)
    assert 0.0 < stopped[0] < 10000.0
    assert stopped[1] == 0.0
    assert k.get_xy_position(xy) == stopped  # frozen: no longer advancing
    k.wait_for(xy, timeout=1)
    assert k.get_xy_position(xy) == stopped


# -- state devices ---------------------------------------------------------------------------------
def test_filter_wheel_has_10_positions_and_a_closed_position(k: Kernel) -> None:
    wheel = load(k, "Wheel", "DWheel")
    assert k.state_labels(wheel) == [f"State-{i}" for i in range(10)]
    assert k.get_property(wheel, "ClosedPosition") == 0
    k.set_state(wheel, 9)
    assert k.get_state_label(wheel) == "State-9"
    with pytest.raises(PropertyError):
        k.set_state(wheel, 10)
    with pytest.raises(PropertyError):
        k.set_property(wheel, "ClosedPosition", 10)
    k.set_property(wheel, "ClosedPosition", 5)
    assert k.get_property(wheel, "ClosedPosition") == 5


def test_objective_turret_has_six_lettered_positions(k: Kernel) -> None:
    turret = load(k, "Objective", "DObjective")
    assert k.state_labels(turret) == [f"Objective-{c}" for c in "ABCDEF"]
    k.set_state_label(turret, "Objective-D")
    assert k.get_state(turret) == 3
    with pytest.raises(PropertyError):
        k.set_state(turret, 6)


def test_light_path_has_three_positions(k: Kernel) -> None:
    path = load(k, "Path", "DLightPath")
    assert k.state_labels(path) == ["State-0", "State-1", "State-2"]
    k.set_state(path, 2)
    assert k.get_state(path) == 2
    with pytest.raises(PropertyError):
        k.set_state(path, 3)


def test_state_device_number_of_positions_is_pre_init(k: Kernel) -> None:
    k.load_device("SD", "DemoCamera", "DStateDevice")
    assert k.get_property("SD", "Number of positions") == 10
    k.set_property("SD", "Number of positions", 4)
    k.initialize("SD")
    assert k.state_labels("SD") == ["State-0", "State-1", "State-2", "State-3"]
    k.set_state("SD", 3)
    assert k.get_state_label("SD") == "State-3"
    with pytest.raises(PropertyError):
        k.set_state("SD", 4)
    with pytest.raises(PropertyError):
        k.set_property("SD", "Number of positions", 6)
    assert k.get_property("SD", "Number of positions") == 4


def test_state_device_defaults_to_ten_positions(k: Kernel) -> None:
    sd = load(k, "SD", "DStateDevice")
    assert len(k.state_labels(sd)) == 10
    k.set_state(sd, 9)
    assert k.get_state(sd) == 9


# -- DShutter -------------------------------------------------------------------------------------
def test_shutter_state_is_0_or_1(k: Kernel) -> None:
    shutter = load(k, "Shutter", "DShutter")
    assert k.get_property(shutter, "State") == 0
    assert not k.get_shutter_open(shutter)
    k.set_property(shutter, "State", 1)
    assert k.get_shutter_open(shutter)
    k.set_shutter_open(shutter, False)
    assert k.get_property(shutter, "State") == 0
    with pytest.raises(PropertyError):
        k.set_property(shutter, "State", 2)


def test_shutter_is_busy_during_its_delay(k: Kernel) -> None:
    shutter = load(k, "Shutter", "DShutter")
    k.set_device_delay(shutter, 20)
    for open_ in (True, False):
        start = time.monotonic()
        k.set_shutter_open(shutter, open_)
        # busy right after the change (unless the 20 ms already ran out on a loaded machine)
        assert k.busy(shutter) or time.monotonic() - start >= 0.02
        k.wait_for(shutter)
        assert time.monotonic() - start >= 0.02
        assert not k.busy(shutter)
        assert k.get_shutter_open(shutter) is open_


# -- D-DA -----------------------------------------------------------------------------------------
def test_da_voltage_range_and_real_voltage(k: Kernel) -> None:
    da = load(k, "DA", "D-DA")
    assert k.property_info(da, "Voltage").limits == (0.0, 10.0)
    for bad in (11, -0.5):
        with pytest.raises(PropertyError):
            k.set_property(da, "Voltage", bad)
    k.set_property(da, "Voltage", 3.5)
    assert k.get_property(da, "Real Voltage") == 3.5
    assert k.get_property(da, "Real Voltage", from_cache=True) == 3.5
    k.set_property(da, "Voltage", 10)
    assert k.get_property(da, "Real Voltage") == 10.0
    assert k.property_info(da, "Real Voltage").read_only
    with pytest.raises(PropertyError):
        k.set_property(da, "Real Voltage", 1.0)


# -- DHub -----------------------------------------------------------------------------------------
class HubProbe(Generic):
    """Records the thread it is initialized on and what the hub detects."""

    def __init__(self) -> None:
        self.thread = ""
        self.installed: list[str] = []

    def initialize(self) -> None:
        self.thread = threading.current_thread().name
        self.installed = self.hub.detect_installed_devices()


def test_hub_peripherals_share_the_hub_and_it_lists_the_demo_devices(k: Kernel) -> None:
    load(k, "Hub", "DHub")
    load(k, "Cam", "DCam", parent="Hub")
    assert k.device_info("Cam").parent == "Hub"
    assert k.parent_label("Cam") == "Hub"
    assert k.snap("Cam").shape == (512, 512)
    probe = HubProbe()
    k.load_device("Probe", probe, parent="Hub")
    k.initialize("Probe")
    assert probe.thread == "mmkernel-runner-Hub"
    assert sorted(probe.installed) == sorted(n for n in DEMO_NAMES if n != "DHub")


# -- State Device Shutter --------------------------------------------------------------------------
@pytest.fixture
def sds(k: Kernel) -> str:
    load(k, "Wheel", "DWheel")
    load(k, "Plain", "DShutter")
    return load(k, "SDS", "State Device Shutter", "Utilities")


def test_state_device_shutter_closes_to_closed_position_and_reopens(k: Kernel, sds: str) -> None:
    assert k.get_property(sds, "State Device") == "None"
    k.set_property(sds, "State Device", "Wheel")
    assert k.get_property("Wheel", "ClosedPosition") == 0
    k.set_state("Wheel", 3)
    assert k.get_shutter_open(sds)
    k.set_shutter_open(sds, False)
    assert k.get_state("Wheel") == 0
    assert not k.get_shutter_open(sds)
    k.set_shutter_open(sds, True)
    assert k.get_state("Wheel") == 3
    assert k.get_shutter_open(sds)


def test_state_device_shutter_accepts_only_state_devices(k: Kernel, sds: str) -> None:
    with pytest.raises(PropertyError) as err:
        k.set_property(sds, "State Device", "Plain")
    assert "'Wheel'" in str(err.value)
    assert "'Plain'" not in str(err.value).split("allowed")[-1]
    assert k.get_property(sds, "State Device") == "None"


def test_state_device_shutter_opening_an_open_shutter_keeps_it_open(k: Kernel, sds: str) -> None:
    k.set_property(sds, "State Device", "Wheel")
    k.set_state("Wheel", 3)
    k.set_shutter_open(sds, True)
    assert k.get_shutter_open(sds)
    assert k.get_state("Wheel") == 3


# -- Multi Shutter ---------------------------------------------------------------------------------
def test_multi_shutter_opens_and_closes_every_assigned_shutter(k: Kernel) -> None:
    for label in ("S1", "S2", "S3"):
        load(k, label, "DShutter")
    multi = load(k, "Multi", "Multi Shutter", "Utilities")
    for slot in range(1, 6):
        assert k.get_property(multi, f"Physical Shutter {slot}") == "Undefined"
    k.set_property(multi, "Physical Shutter 1", "S1")
    k.set_property(multi, "Physical Shutter 2", "S2")
    with pytest.raises(PropertyError):
        k.set_property(multi, "Physical Shutter 3", "NoSuchShutter")
    assert k.get_property(multi, "Physical Shutter 3") == "Undefined"

    k.set_shutter_open(multi, True)
    assert k.get_shutter_open(multi)
    assert k.get_shutter_open("S1") and k.get_shutter_open("S2")
    assert not k.get_shutter_open("S3")  # not assigned: untouched

    k.set_shutter_open(multi, False)
    assert not k.get_shutter_open(multi)
    assert not k.get_shutter_open("S1") and not k.get_shutter_open("S2")


# -- the demo configuration ------------------------------------------------------------------------
@pytest.fixture
def demo(k: Kernel) -> Kernel:
    k.load_config(k.adapters.examples["demo"])
    return k


def test_demo_config_loads_devices_parents_and_roles(demo: Kernel) -> None:
    k = demo
    assert set(k.devices()) == {
        "DHub",
        "Camera",
        "Dichroic",
        "Emission",
        "Excitation",
        "Objective",
        "Z",
        "Path",
        "XY",
        "White Light Shutter",
        "Autofocus",
        "LED",
        "LED Shutter",
        "Core",
    }
    assert all(k.device_info(label).initialized for label in k.devices())
    assert k.device_info("Camera").device_name == "DCam"
    assert k.device_info("Camera").parent == "DHub"
    assert k.parent_label("LED Shutter") is None
    assert k.get_property("Camera", "HubID") == ""  # as in MMCore, whatever the Parent line says
    assert k.roles.camera == "Camera"
    assert k.roles.shutter == "White Light Shutter"
    assert k.roles.focus == "Z"
    assert k.roles.xy_stage == "XY"  # MMCore's default roles
    assert k.roles.autofocus == "Autofocus"
    assert k.roles.auto_shutter
    assert k.get_device_delay("White Light Shutter") == 0.0  # no Delay lines
    image = k.snap()
    assert image.shape == (512, 512) and image.dtype == np.uint16 and image.std() > 0
    assert not k.get_shutter_open("White Light Shutter")


def test_demo_config_state_labels(demo: Kernel) -> None:
    k = demo
    assert k.state_labels("Dichroic")[:3] == ["400DCLP", "Q505LP", "Q585LP"]
    k.set_state("Dichroic", 1)
    assert k.get_state_label("Dichroic") == "Q505LP"
    k.set_state_label("Emission", "Chroma-HQ700")
    assert k.get_state("Emission") == 3


def test_demo_config_channel_presets(demo: Kernel) -> None:
    k = demo
    assert set(k.config_presets("Channel")) == {"Cy5", "DAPI", "FITC", "Rhodamine"}
    k.set_config("Channel", "FITC")
    assert k.current_config("Channel") == "FITC"
    assert k.get_state_label("Dichroic") == "Q505LP"
    assert k.get_state_label("Emission") == "Chroma-HQ535"
    assert k.get_state_label("Excitation") == "Chroma-HQ480"
    assert k.roles.shutter == "White Light Shutter"
    k.set_config("Channel", "DAPI")
    assert k.current_config("Channel") == "DAPI"
    assert k.get_state("Dichroic") == 0
    k.set_config("Channel-Multiband", "FITC")  # a Core setting in a preset: the LED Shutter
    assert k.roles.shutter == "LED Shutter" and k.get_state_label("LED") == "470nm"


def test_demo_config_applies_system_startup(demo: Kernel) -> None:
    k = demo
    # Startup: BitDepth 16 on the 8bit camera switches it to 16bit (MMCore section 3.6)
    assert (k.get_property("Camera", "PixelType"), k.get_property("Camera", "BitDepth")) == ("16bit", 16)
    assert k.get_property("Camera", "ScanMode") == 1 and k.get_property("Camera", "Binning") == 1
    assert k.get_state("Objective") == 1
    assert k.get_property("LED Shutter", "State Device") == "LED"
    assert k.roles.channel_group == "Channel"
    assert k.current_config("System") == "Startup"
    k.set_config("Camera", "LowRes")  # 16bit with BitDepth 8: PixelType does not go back to 8bit
    assert (k.get_property("Camera", "PixelType"), k.get_property("Camera", "BitDepth")) == ("16bit", 8)
    assert k.snap().shape == (128, 128)


def test_demo_config_pixel_size_follows_the_objective(demo: Kernel) -> None:
    k = demo
    assert k.get_state_label("Objective") == "Nikon 10X S Fluor"
    assert k.pixel_size_um() == 1.0
    k.set_config("Objective", "20X")
    assert k.current_config("Objective") == "20X"
    assert k.pixel_size_um() == 0.5
    k.set_config("Objective", "40X")
    assert k.pixel_size_um() == 0.25


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
