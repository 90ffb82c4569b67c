"""The auto-shutter around sequences: open while any camera streams, closed before shutdown when the
kernel closes mid-sequence, left alone when the user opened it, and a demo sequence is lit with
it (dark without it)."""

from __future__ import annotations

import sys
import threading
from typing import Any

from mmkernel_core import Kernel
from mmkernel_sdk.testing import Gate, SimShutter
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


class OpensOnGate(SimShutter):
    """A shutter whose opening waits for the test's gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = Gate()

    def set_open(self, open: bool) -> None:  # noqa: A002
        if open:
            self.gate.hold()
        super().set_open(open)


def test_a_snap_ending_while_the_role_change_opens_the_new_shutter_leaves_no_light_on() -> None:
    """The holder lets go after the role change decided to carry the light over but before it
    moved the holds: the new shutter it opened is still closed at the end."""
    with shutters_kernel() as kernel:
        laser = OpensOnGate()
        kernel.load_device("Laser2", laser)
        kernel.initialize("Laser2")
        camera = SnapsOnGate()
        kernel.load_device("Slow", camera)
        kernel.initialize("Slow")
        snapping = kernel.submit.snap("Slow")
        camera.gate.wait_entered()  # exposing with the lamp open
        changing = threading.Thread(target=kernel.set_property, args=("Core", "Shutter", "Laser2"))
        changing.start()  # (Core properties apply on the caller's thread)
        laser.gate.wait_entered()  # the role change is opening the new shutter
        camera.gate.release.set()
        snapping.result(5)  # the snap let go of the shutter meanwhile
        laser.gate.release.set()
        changing.join(5)
        assert kernel.get_property("Core", "Shutter") == "Laser2"
        kernel.wait_for_system()
        assert not kernel.get_shutter_open("Laser2") and not kernel.get_shutter_open("Lamp")


def test_a_shutter_the_user_opened_stays_open_through_a_role_change_during_a_sequence() -> None:
    """As MMCore, the user's open state moves to the new shutter; the sequence ending leaves it
    as the user left it (open), as it would have without the role change."""
    with shutters_kernel() as kernel:
        kernel.set_shutter_open("Lamp", True)  # the user turns the light on
        kernel.start_sequence("Cam", overflow="overwrite")
        kernel.set_property("Core", "Shutter", "Laser")
        assert not kernel.get_shutter_open("Lamp") and kernel.get_shutter_open("Laser")
        kernel.stop_sequence("Cam")
        kernel.wait_for_system()
        assert kernel.get_shutter_open("Laser") and not kernel.get_shutter_open("Lamp")
        kernel.snap()  # and the auto-shutter goes on leaving the user's shutter open
        assert kernel.get_shutter_open("Laser")


def test_role_changes_racing_snaps_and_sequences_leave_every_shutter_closed() -> None:
    """Stress: in each round two cameras snap twice, a third streams, and the Shutter role moves
    to the next of three shutters, all at once; when the round is over no shutter is open."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with Kernel(timeout=10, buffer_mb=1) as kernel:
            for camera in ("C1", "C2", "C3"):
                kernel.load_device(camera, Live())
            for label in SHUTTERS:
                kernel.load_device(label, SimShutter())
            kernel.initialize_all()
            kernel.set_property("Core", "Shutter", "S1")
            for round_ in range(400):
                _race_one_round(kernel, SHUTTERS[(round_ + 1) % 3])
                kernel.wait_for_system()
                opened = [label for label in SHUTTERS if kernel.get_shutter_open(label)]
                assert not opened, f"round {round_}: {opened} left open"
    finally:
        sys.setswitchinterval(previous)


SHUTTERS = ("S1", "S2", "S3")


def _race_one_round(kernel: Kernel, shutter: str) -> None:
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def run(job: Any, *args: Any) -> None:
        start.wait()
        try:
            job(*args)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    def snaps(camera: str) -> None:
        kernel.snap(camera)
        kernel.snap(camera)

    def sequence() -> None:
        kernel.start_sequence("C3", overflow="overwrite")
        kernel.stop_sequence("C3")  # done once the auto-shutter closed what it opened

    jobs = [(snaps, "C1"), (snaps, "C2"), (sequence,), (kernel.set_property, "Core", "Shutter", shutter)]
    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


class SlowToStop(Live):
    """A camera whose stop_sequence takes as long as the test says (a camera disarming)."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping = threading.Event()
        self.go_on = threading.Event()

    def stop_sequence(self) -> None:
        self.stopping.set()
        self.go_on.wait(10)
        super().stop_sequence()


def test_a_sequence_ending_by_itself_runs_until_its_auto_shutter_close_is_queued() -> None:
    """A script polls is_sequence_running() and then calls wait_for_system() expecting the
    light off: the sequence must not read as ended while the camera still disarms and the
    auto-shutter's close is not yet queued."""
    camera = SlowToStop()
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        kernel.load_device("Cam", camera)
        kernel.load_device("Shutter", SimShutter())
        kernel.initialize_all()
        kernel.set_role("Shutter", "Shutter")
        kernel.start_sequence("Cam", count=3)
        assert camera.stopping.wait(5), "the count sequence ends by itself"
        running_while_disarming = kernel.is_sequence_running("Cam")
        camera.go_on.set()
        assert running_while_disarming, "the sequence read as ended before its shutter close was queued"
        while kernel.is_sequence_running("Cam"):
            kernel.wait_for("Cam")  # the camera's runner finishes ending the sequence
        kernel.wait_for_system()
        assert not kernel.get_shutter_open("Shutter")
