"""What makes loading fast keeps every guarantee: parked threads serve runners, a reload reuses
the cameras' memory only when no reader can still see it, population waits for the load, and
queued Device/Label lines still report their own line when they fail."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mmkernel_core import ConfigError, Kernel
from mmkernel_core.runtime import IDLE_NAME, ThreadPool
from mmkernel_sdk.testing import SimStage
from tests.support.paths import DATA

UPSTREAM = DATA / "MMConfig_demo_upstream.cfg"


@pytest.fixture
def k() -> Iterator[Kernel]:
    with Kernel(timeout=10, buffer_mb=16) as kernel:
        yield kernel


def test_every_runner_gets_a_thread_that_never_ran_anything_before() -> None:
    pool = ThreadPool(spare=1)
    local = threading.local()
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("session", default="")
    seen: list[tuple[str, str, str]] = []
    done = [threading.Event() for _ in range(3)]

    def job(index: int) -> None:
        seen.append((threading.current_thread().name, getattr(local, "session", ""), variable.get()))
        local.session = f"device {index}"  # what a vendor SDK keeps per thread
        variable.set(f"device {index}")
        done[index].set()

    threads = []
    for index in range(3):
        threads.append(pool.run(lambda index=index: job(index), f"mmkernel-runner-{index}"))
        assert done[index].wait(5)
        threads[-1].join(5)  # the thread ends with its runner
        assert not threads[-1].is_alive()
    assert seen == [(f"mmkernel-runner-{i}", "", "") for i in range(3)]  # nothing leaked
    assert pool.started_for_callers == 0  # each run found a parked thread: the ending one left one
    pool.close()


@pytest.mark.parametrize("kind", [RuntimeError, KeyboardInterrupt, SystemExit])
def test_the_pool_keeps_serving_after_a_target_raises_anything(kind: type[BaseException]) -> None:
    pool = ThreadPool(spare=1)
    for _ in range(5):
        ran = threading.Event()

        def explode(ran: threading.Event = ran) -> None:
            ran.set()
            raise kind("from a runner's loop")

        pool.run(explode, "mmkernel-runner-X").join(5)
        assert ran.is_set()
    assert pool.started_for_callers == 0
    pool.close()


def test_reloads_make_no_caller_wait_for_a_thread_start(k: Kernel) -> None:
    k.load_config(UPSTREAM)
    before = k._threads.started_for_callers
    for _ in range(5):
        assert k._threads.wait_stocked(10)  # the ended runners' threads have started their replacements
        k.load_config(UPSTREAM)
    assert k._threads.started_for_callers == before
    names = {loaded.runner.thread.name for loaded in k.internals.devices()}
    assert names == {"mmkernel-runner-DHub", "mmkernel-runner-LED Shutter"}  # peripherals on their hub's
    runners = {t.name for t in threading.enumerate() if t.name.startswith("mmkernel-runner-")}
    assert runners == names  # the previous systems' threads have ended
    assert any(t.name == IDLE_NAME for t in threading.enumerate())


def test_adapter_thread_state_does_not_reach_the_next_device(k: Kernel) -> None:
    local = threading.local()
    seen: list[str] = []

    class Remembering(SimStage):
        def initialize(self) -> None:
            seen.append(getattr(local, "owner", ""))
            local.owner = self.label

    for index in range(4):
        k.load_device(f"D{index}", Remembering())
        k.initialize(f"D{index}")
        k.unload(f"D{index}")
    assert seen == ["", "", "", ""]


def test_a_reload_reuses_the_cameras_memory(k: Kernel) -> None:
    k.load_config(UPSTREAM)
    k.set_property("Camera", "Exposure", 0.0)
    k.start_sequence("Camera", count=2)  # the camera streamed: its memory is made resident
    for _ in range(2):
        k.pop_next("Camera", timeout=5).release()
    memory = k.internals.device("Camera").camera.buffer.memory
    assert memory.populated.wait(10)
    k.load_config(UPSTREAM)
    assert k.internals.device("Camera").camera.buffer.memory is memory  # resident already: not done again


def test_a_frame_held_across_a_reload_keeps_its_pixels(k: Kernel) -> None:
    k.load_config(UPSTREAM)
    k.set_property("Camera", "Exposure", 0.0)
    k.start_sequence("Camera", count=3)
    held = k.pop_next("Camera", timeout=5)
    pixels = held.array.copy()
    old_memory = k.internals.device("Camera").camera.buffer.memory
    k.load_config(UPSTREAM)
    new_memory = k.internals.device("Camera").camera.buffer.memory
    assert new_memory is not old_memory  # a reader still held a frame: not reused
    k.set_property("Camera", "Mode", "Noise")  # different pixels: reused memory would show
    k.start_sequence("Camera", count=50)
    for _ in range(50):  # 0.5 MB frames through a 16 MB buffer: every byte written over
        k.pop_next("Camera", timeout=5).release()
    assert np.array_equal(held.array, pixels)
    held.release()


def test_camera_memory_becomes_resident_only_when_the_camera_first_streams(
    k: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A configuration load makes no camera memory resident (a GUI beside it keeps its RAM);
    the first sequence does, in the background, once."""
    populations: list[str] = []
    real = k._threads.run

    def watching(target, name):  # type: ignore[no-untyped-def]
        if name.startswith("mmkernel-populate"):
            populations.append(name)
        return real(target, name)

    monkeypatch.setattr(k._threads, "run", watching)
    k.load_config(UPSTREAM)
    k.snap()
    assert populations == []
    memory = k.internals.device("Camera").camera.buffer.memory
    k.set_property("Camera", "Exposure", 0.0)
    for _ in range(2):
        k.start_sequence("Camera", count=1)
        k.pop_next("Camera", timeout=5).release()
    assert populations == ["mmkernel-populate-Camera"]
    assert memory.populated.wait(10)


def test_queued_lines_that_fail_report_their_own_line(k: Kernel, tmp_path: Path) -> None:
    lines = UPSTREAM.read_text(encoding="utf-8").splitlines()
    label = lines.index("Label,Path,1,State-1")
    device = lines.index("Device,Z,DemoCamera,DStage")
    lines[label] = "Label,Path,7,Seven"  # DLightPath has 3 positions
    lines[device] = "Device,Z,DemoCamera,DStag"
    bad = tmp_path / "bad.cfg"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        k.load_config(bad)
    message = str(caught.value)
    assert f"line {label + 1}" in message and "Label,Path,7,Seven" in message
    assert f"line {device + 1}" in message and "'DStage'" in message
    assert k.devices() == ["Core"]  # the previous (empty) system is back
