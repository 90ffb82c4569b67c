"""The auto-shutter around sequences: open while any camera streams, closed before shutdown when the
kernel closes mid-sequence, left alone when the user opened it, and a demo sequence is lit with
it (dark without it)."""

from __future__ import annotations

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
