"""The demo adapter plugin (DemoCamera and Utilities) as a user drives it through the kernel:
every device loads, stages move (and stop) like stages, state devices, shutters, the DA and the
hub behave, and the Utilities shutters drive the devices they name."""

from __future__ import annotations

import threading
import time

import pytest

from mmkernel_core import Kernel, MMKernelError, PropertyError
from mmkernel_sdk import Generic
from tests.support.demo import DEMO_NAMES, UTILITY_NAMES, load


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
