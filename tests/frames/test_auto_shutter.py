"""The auto-shutter around sequences: open while any camera streams, closed before shutdown when the
kernel closes mid-sequence, left alone when the user opened it, and a demo sequence is lit with
it (dark without it)."""

from __future__ import annotations

from typing import Any

from mmkernel_core import Kernel
from mmkernel_sdk.testing import SimShutter
from tests.support.devices import Live


class RecordingShutter(SimShutter):
    def __init__(self) -> None:
        super().__init__()
        self.open_at_shutdown: bool | None = None

    def shutdown(self) -> None:
        self.open_at_shutdown = self._open


def test_closing_while_streaming_closes_the_shutter_first() -> None:
    for _ in range(10):
        shutter = RecordingShutter()
        kernel = Kernel(timeout=5, buffer_mb=1)
        kernel.load_device("Cam", Live())
        kernel.load_device("Shutter", shutter)
        kernel.initialize_all()
        kernel.set_role("Camera", "Cam")
        kernel.set_role("Shutter", "Shutter")
        kernel.start_sequence("Cam", overflow="overwrite")
        assert kernel.get_shutter_open("Shutter")
        kernel.close()
        assert shutter.open_at_shutdown is False


def test_two_cameras_share_the_auto_shutter() -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        for label in ("Cam1", "Cam2"):
            kernel.load_device(label, Live())
        kernel.load_device("Shutter", SimShutter())
        kernel.initialize_all()
        kernel.set_role("Shutter", "Shutter")
        kernel.start_sequence("Cam1", overflow="overwrite")
        kernel.start_sequence("Cam2", overflow="overwrite")
        kernel.stop_sequence("Cam1")
        assert kernel.get_shutter_open("Shutter")  # Cam2 still holds it
        kernel.stop_sequence("Cam2")
        assert not kernel.get_shutter_open("Shutter")
        kernel.set_shutter_open("Shutter", True)  # opened by the user: left open
        kernel.snap("Cam1")
        assert kernel.get_shutter_open("Shutter")


def demo_kernel() -> Kernel:
    kernel = Kernel(timeout=5)
    kernel.load_config(kernel.adapters.examples["demo"])
    return kernel


def test_a_demo_sequence_with_auto_shutter_is_not_dark() -> None:
    with demo_kernel() as kernel:
        camera, shutter = kernel.roles.camera, kernel.roles.shutter
        kernel.set_property(camera, "Exposure", 1.0)
        assert kernel.get_shutter_open(shutter) is False
        with kernel.stream(camera, count=5) as stream:
            lit = [frame.array.mean() for frame in stream]
        assert kernel.get_shutter_open(shutter) is False  # closed again after the sequence
        kernel.set_property("Core", "AutoShutter", 0) if "Core" in kernel.devices() else None
        kernel.roles.auto_shutter = False
        with kernel.stream(camera, count=5) as stream:
            dark = [frame.array.mean() for frame in stream]
        assert min(lit) > 2 * max(dark) + 1, (lit, dark)


def shutters_kernel() -> Kernel:
    kernel = Kernel(timeout=5, buffer_mb=1)
    kernel.load_device("Cam", Live())
    kernel.load_device("Lamp", SimShutter())
    kernel.load_device("Laser", SimShutter())
    kernel.initialize_all()
    kernel.set_role("Camera", "Cam")
    kernel.set_role("Shutter", "Lamp")
    return kernel


def test_a_shutter_role_changed_during_a_sequence_closes_the_new_shutter_at_its_end() -> None:
    """As MMCore: the open state moves to the new shutter; at the end what is open is closed,
    whatever the role became (no light, no laser left on the sample)."""
    with shutters_kernel() as kernel:
        kernel.start_sequence("Cam", overflow="overwrite")
        assert kernel.get_shutter_open("Lamp")
        kernel.set_property("Core", "Shutter", "Laser")
        assert not kernel.get_shutter_open("Lamp") and kernel.get_shutter_open("Laser")
        kernel.stop_sequence("Cam")
        assert not kernel.get_shutter_open("Laser") and not kernel.get_shutter_open("Lamp")


class SnapsOnGate(Live):
    """A snap that exposes until the test opens the gate."""

    def snap(self, out: Any) -> None:
        self.gate.hold()
        out[...] = 1


def test_a_shutter_role_changed_during_a_snap_closes_the_new_shutter_after_it() -> None:
    with shutters_kernel() as kernel:
        camera = SnapsOnGate()
        kernel.load_device("Slow", camera)
        kernel.initialize("Slow")
        snapping = kernel.submit.snap("Slow")
        camera.gate.wait_entered()  # exposing: the lamp was opened before
        assert kernel.get_shutter_open("Lamp")
        kernel.set_property("Core", "Shutter", "Laser")
        camera.gate.release.set()
        snapping.result(5)
        kernel.wait_for_system()
        assert not kernel.get_shutter_open("Laser") and not kernel.get_shutter_open("Lamp")


def test_two_cameras_holding_the_shutter_close_the_new_one_when_the_last_lets_go() -> None:
    with shutters_kernel() as kernel:
        kernel.load_device("Cam2", Live())
        kernel.initialize("Cam2")
        kernel.start_sequence("Cam", overflow="overwrite")
        kernel.start_sequence("Cam2", overflow="overwrite")
        kernel.set_property("Core", "Shutter", "Laser")
        kernel.stop_sequence("Cam")
        assert kernel.get_shutter_open("Laser")  # Cam2 still holds it
        kernel.stop_sequence("Cam2")
        assert not kernel.get_shutter_open("Laser")
