"""C++ devices through the bridge, against the stand-in core and (when available) the real
DemoCamera: discovery as mm:<Module>, properties with MM's types and limits, MM's errors as
DeviceErrors, stages, state devices, shutters, snaps and sequences in the kernel's buffer,
C++ announcements as events exactly once, one thread per core."""

from __future__ import annotations

import threading

import pytest

from mmkernel_core import Kernel
from mmkernel_sdk.errors import DeviceError, PropertyError

from .conftest import load_demo as _load


def test_the_modules_are_offered_as_mm_adapters(k: Kernel) -> None:
    adapters = {a.name: a for a in k.adapters.adapters()}
    demo = adapters["mm:DemoCamera"]
    assert {"DCam", "DStage", "DWheel"} <= set(demo.devices)
    assert demo.devices["DCam"].device_type == "Camera"


def test_properties_carry_mms_types_limits_allowed_values_and_flags(k: Kernel) -> None:
    cam = _load(k, "Cam", "DCam")
    assert k.get_property(cam, "Exposure") == 10.0
    assert k.property_info(cam, "Binning").allowed == (1, 2, 4, 8)
    assert k.property_info(cam, "Gain").limits == (-5.0, 8.0)
    assert k.property_info(cam, "CameraName").read_only
    assert k.property_info(cam, "MaximumExposureMs").pre_init
    k.set_property(cam, "Gain", 3)
    assert k.get_property(cam, "Gain") == 3


def test_a_value_mm_would_take_loosely_is_refused_naming_what_is_allowed(k: Kernel) -> None:
    cam = _load(k, "Cam", "DCam")
    with pytest.raises(PropertyError, match="Binning"):
        k.set_property(cam, "Binning", 3)
    with pytest.raises(PropertyError, match="Gain"):
        k.set_property(cam, "Gain", 1000)
    with pytest.raises(PropertyError, match="read-only"):
        k.set_property(cam, "CameraName", "x")


def test_a_cpp_error_is_a_device_error_with_mms_text(k: Kernel) -> None:
    cam = _load(k, "Cam", "DCam")
    device = k.internals.device(cam).device
    with pytest.raises(DeviceError, match=r'Cam.*getPosition.*Device "Cam" is of the wrong type') as caught:
        device.mm("getPosition", device.core.getPosition, cam)
    assert caught.value.device == cam and caught.value.operation == "getPosition"


def test_stage_state_and_shutter_calls_reach_the_cpp_device(k: Kernel) -> None:
    z, wheel, shutter = _load(k, "Z", "DStage"), _load(k, "W", "DWheel"), _load(k, "S", "DShutter")
    k.set_position(z, 12.5)
    assert k.get_position(z) == pytest.approx(12.5)
    k.set_property(wheel, "State", 3)
    assert k.get_property(wheel, "Label") == "State-3"
    k.set_property(shutter, "State", 1)
    assert k.get_property(shutter, "State") == 1


def test_a_label_defined_through_the_kernel_names_the_cpp_devices_position(k: Kernel) -> None:
    wheel = _load(k, "W", "DWheel")
    k.define_state_label(wheel, 2, "GFP")
    k.set_state_label(wheel, "GFP")
    assert k.get_state(wheel) == 2 and k.get_property(wheel, "Label") == "GFP"
    assert k.internals.device_object(wheel).core.getStateLabel(wheel) == "GFP"  # the C++ side agrees
    assert "GFP" in k.property_info(wheel, "Label").allowed


def test_snap_lands_in_the_kernels_buffer_at_the_cameras_size(k: Kernel) -> None:
    cam = _load(k, "Cam", "DCam")
    assert k.snap(cam).shape == (512, 512)
    k.set_property(cam, "Binning", 2)
    image = k.snap(cam)
    assert image.shape == (256, 256) and image.any()


def test_a_sequence_of_100_frames_streams_into_the_buffer_with_mms_tags(k: Kernel) -> None:
    cam = _load(k, "Cam", "DCam")
    k.set_property(cam, "Exposure", 0)
    k.start_sequence(cam, 100, overflow="block")  # frames are released as they are read
    numbers = []
    for _ in range(100):
        frame = k.pop_next(cam)
        numbers.append(int(frame.meta.metadata["ImageNumber"]))
        assert frame.array.shape == (512, 512)
        frame.release()
    assert numbers == sorted(numbers) and len(set(numbers)) == 100


def test_what_the_cpp_side_announces_arrives_as_one_event(k: Kernel) -> None:
    cam = _load(k, "Cam", "DCam")
    seen: list[tuple[str, object]] = []
    done = threading.Event()

    def on_change(label: str, name: str, value: object) -> None:
        if label == cam and name == "Binning":
            seen.append((name, value))
        if label == cam and name == "Gain":
            done.set()  # a later change: everything before it has been delivered

    k.events.property_changed.connect(on_change)
    k.set_property(cam, "Binning", 2)  # DCam also announces this one from its callback thread
    k.set_property(cam, "Gain", 2)
    assert done.wait(10)
    assert seen == [("Binning", 2)]


def test_every_call_on_a_core_comes_from_one_thread(k: Kernel, mm: str) -> None:
    if mm != "standin":
        pytest.skip("the stand-in records the calling threads")
    from mmkernel_adapter_micromanager import core_groups

    for label, name in (("Cam", "DCam"), ("Z", "DStage"), ("W", "DWheel")):
        _load(k, label, name)
    k.set_position("Z", 3)
    k.snap("Cam")
    core = core_groups().group("main", [], k).core
    assert len(core.calls_by_thread) == 1


def test_two_cameras_in_separate_cores_stream_at_once_at_their_own_sizes(k: Kernel) -> None:
    from mmkernel_adapter_micromanager import core_groups

    k.load_device("A", "mm:DemoCamera", "DCam")
    k.load_device("B", "mm:DemoCamera", "DCam")
    k.set_property("B", "MMCore", "second")  # the opt-out: its own core, so its own circular buffer
    k.initialize("A")
    k.initialize("B")
    assert {"main", "second"} <= set(core_groups().names(k))
    k.set_property("B", "Binning", 2)
    for camera in ("A", "B"):
        k.set_property(camera, "Exposure", 0)
        k.start_sequence(camera, 20, overflow="block")  # frames are released as they are read
    shapes = {"A": set(), "B": set()}
    for _ in range(20):
        for camera in ("A", "B"):
            frame = k.pop_next(camera)
            shapes[camera].add(frame.array.shape)
            frame.release()
    assert shapes == {"A": {(512, 512)}, "B": {(256, 256)}}


def test_a_utilities_device_initialized_later_sees_the_devices_loaded_since(real: str) -> None:
    """Devices join their core before another of the core initializes (Utilities list the labels
    in their core then): also those loaded after the first ones were initialized, and those of
    a system put back after a failed load."""
    with Kernel(timeout=10) as k:
        for label in ("W1", "W2"):
            k.load_device(label, "mm:DemoCamera", "DWheel")
        k.initialize_all()
        k.load_device("W3", "mm:DemoCamera", "DWheel")  # loaded, not initialized
        k.load_device("S", "mm:Utilities", "State Device Shutter")
        k.initialize("S")
        allowed = k.property_info("S", "State Device").allowed or ()
        assert {"W1", "W2", "W3"} <= set(allowed)
        k.set_property("S", "State Device", "W3")
        k.initialize("W3")
        assert k.get_property("S", "State Device") == "W3"
