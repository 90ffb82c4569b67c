"""Snaps with auto-shutter from several cameras at once: a snap that arrives while another
snap's open is still on its way is exposed only once the shutter is open (never a dark frame),
it fails with that open if it fails, and no hold is left behind."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from mmkernel_core import DeviceError, Kernel
from mmkernel_sdk import Camera, Shutter
from mmkernel_sdk.testing import Gate


class GatedShutter(Shutter):
    """Opens slowly when the test gates it (an open that takes a while), or fails to open."""

    def __init__(self) -> None:
        self.open = False
        self.gate: Gate | None = None
        self.fail = False
        self.travel_s = 0.0

    def set_open(self, open: bool) -> None:  # noqa: A002
        if open and self.gate is not None:
            self.gate.hold()
        if open and self.fail:
            raise RuntimeError("the shutter is jammed")
        time.sleep(self.travel_s)  # the blade travelling (hardware time, not a synchronisation)
        self.open = bool(open)

    def is_open(self) -> bool:
        return self.open


class Lit(Camera):
    """Records, at every exposure, whether the shutter was open: a closed one is a dark frame."""

    def __init__(self, shutter: GatedShutter) -> None:
        self.shutter = shutter
        self.lit: list[bool] = []

    def frame_shape(self) -> tuple[int, int]:
        return (2, 2)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def snap(self, out: np.ndarray) -> None:
        self.lit.append(self.shutter.open)
        out[...] = 1

    def read_frame(self, out: np.ndarray) -> None:
        self.snap(out)


@pytest.fixture
def rig() -> Iterator[tuple[Kernel, GatedShutter, list[Lit]]]:
    shutter = GatedShutter()
    cameras = [Lit(shutter) for _ in range(3)]
    with Kernel(timeout=10) as kernel:
        kernel.load_device("Shutter", shutter)
        for i, camera in enumerate(cameras):
            kernel.load_device(f"C{i}", camera)
        kernel.initialize_all()
        kernel.set_role("Shutter", "Shutter")
        kernel.set_role("Camera", "C0")
        yield kernel, shutter, cameras


def test_a_snap_arriving_while_another_snaps_open_is_on_its_way_is_exposed_once_the_shutter_is_open(
    rig: tuple[Kernel, GatedShutter, list[Lit]],
) -> None:
    k, shutter, (first, second, _) = rig
    shutter.gate = gate = Gate()
    opening = k.submit.snap("C0")
    gate.wait_entered()
    snapping = k.submit.snap("C1")
    try:
        with pytest.raises(TimeoutError):
            snapping.result(0.2)  # an observation window: it is not exposed in the dark meanwhile
        assert second.lit == []
    finally:
        gate.release.set()
    opening.result(10)
    snapping.result(10)
    assert first.lit == [True] and second.lit == [True]
    assert not k.get_shutter_open("Shutter")


def test_a_snap_chained_on_another_snaps_failing_open_fails_with_it_and_leaves_no_hold(
    rig: tuple[Kernel, GatedShutter, list[Lit]],
) -> None:
    k, shutter, (first, second, _) = rig
    shutter.gate, shutter.fail = Gate(), True
    opening = k.submit.snap("C0")
    shutter.gate.wait_entered()
    snapping = k.submit.snap("C1")
    shutter.gate.release.set()
    for request in (opening, snapping):
        with pytest.raises(DeviceError, match="jammed"):
            request.result(10)
    assert first.lit == [] and second.lit == []  # nothing exposed in the dark
    shutter.gate, shutter.fail = None, False
    k.snap("C1")  # no hold was left: this snap opens the shutter itself, and closes it
    assert second.lit == [True] and not k.get_shutter_open("Shutter")


def test_snaps_from_several_threads_are_all_exposed_with_the_shutter_open(
    rig: tuple[Kernel, GatedShutter, list[Lit]],
) -> None:
    k, shutter, cameras = rig
    shutter.travel_s = 0.001
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    errors: list[BaseException] = []
    start = threading.Barrier(len(cameras))

    def snaps(label: str) -> None:
        start.wait()
        try:
            for _ in range(30):
                k.snap(label)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    try:
        threads = [threading.Thread(target=snaps, args=(f"C{i}",)) for i in range(len(cameras))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(before)
    assert not errors, errors
    assert [camera.lit for camera in cameras] == [[True] * 30] * len(cameras)
    k.wait_for_system()
    assert not k.get_shutter_open("Shutter")
