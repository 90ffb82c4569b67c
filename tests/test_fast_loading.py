"""What makes loading fast keeps every guarantee: parked threads serve runners, a reload reuses
the cameras' memory only when no reader can still see it, population waits for the load, and
queued Device/Label lines still report their own line when they fail."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mmkernel_core import ConfigError, Kernel
from mmkernel_core._threads import IDLE_NAME, ThreadPool

UPSTREAM = Path(__file__).parent / "data" / "MMConfig_demo_upstream.cfg"


@pytest.fixture
def k() -> Iterator[Kernel]:
    with Kernel(timeout=10, buffer_mb=16) as kernel:
        yield kernel


def test_a_pool_thread_runs_a_target_then_parks_for_the_next() -> None:
    pool = ThreadPool(spare=1, keep=1)
    done = [threading.Event(), threading.Event()]
    seen: list[str] = []

    def job(index: int) -> None:
        seen.append(threading.current_thread().name)
        done[index].set()

    first = pool.run(lambda: job(0), "mmkernel-runner-A")
    assert done[0].wait(5)
    second = pool.run(lambda: job(1), "mmkernel-runner-B")
    assert done[1].wait(5)
    assert first is second  # the same thread, parked in between
    assert seen == ["mmkernel-runner-A", "mmkernel-runner-B"]
    pool.close()
    second.join(5)
    assert not second.is_alive()


@pytest.mark.parametrize("kind", [RuntimeError, KeyboardInterrupt, SystemExit])
def test_a_pool_thread_survives_a_target_raising_anything(kind: type[BaseException]) -> None:
    pool = ThreadPool(spare=1, keep=1)
    threads = set()
    for _ in range(20):
        ran = threading.Event()

        def explode(ran: threading.Event = ran) -> None:
            ran.set()
            raise kind("from a runner's loop")

        threads.add(pool.run(explode, "mmkernel-runner-X"))
        assert ran.wait(5)
    # a worker that died with its target would make every run start a new thread
    assert len(threads) < 20
    pool.close()


def test_reloads_start_no_threads(k: Kernel) -> None:
    k.load_config(UPSTREAM)
    k.load_config(UPSTREAM)
    before = {t.ident for t in threading.enumerate()}
    for _ in range(5):
        k.load_config(UPSTREAM)
    started = [t.name for t in threading.enumerate() if t.ident not in before]
    assert started == []
    names = {loaded.runner.thread.name for loaded in k._devices.values()}
    assert names == {"mmkernel-runner-DHub", "mmkernel-runner-LED Shutter"}  # peripherals on their hub's
    runners = {t.name for t in threading.enumerate() if t.name.startswith("mmkernel-runner-")}
    assert runners == names  # the other threads are parked as IDLE_NAME, not left running
    assert any(t.name == IDLE_NAME for t in threading.enumerate())


def test_a_reload_reuses_the_cameras_memory(k: Kernel) -> None:
    k.load_config(UPSTREAM)
    k.snap()  # the buffer exists
    memory = k._devices["Camera"].camera.buffer.memory
    k.load_config(UPSTREAM)
    assert k._devices["Camera"].camera.buffer.memory is memory
    assert memory.populated.wait(10)  # populated once, in the background, never again


def test_a_frame_held_across_a_reload_keeps_its_pixels(k: Kernel) -> None:
    k.load_config(UPSTREAM)
    k.set_property("Camera", "Exposure", 0.0)
    k.start_sequence("Camera", count=3)
    held = k.pop_next("Camera", timeout=5)
    pixels = held.array.copy()
    old_memory = k._devices["Camera"].camera.buffer.memory
    k.load_config(UPSTREAM)
    new_memory = k._devices["Camera"].camera.buffer.memory
    assert new_memory is not old_memory  # a reader still held a frame: not reused
    k.set_property("Camera", "Mode", "Noise")  # different pixels: reused memory would show
    k.start_sequence("Camera", count=50)
    for _ in range(50):  # 0.5 MB frames through a 16 MB buffer: every byte written over
        k.pop_next("Camera", timeout=5).release()
    assert np.array_equal(held.array, pixels)
    held.release()


def test_population_waits_for_the_end_of_a_load(k: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    started_during_load: list[bool] = []
    real = k._threads.run

    def watching(target, name):  # type: ignore[no-untyped-def]
        if name.startswith("mmkernel-populate"):
            started_during_load.append(k._deferred_population is not None)
        return real(target, name)

    monkeypatch.setattr(k._threads, "run", watching)
    k.load_config(UPSTREAM)
    assert started_during_load == [False]
    assert k._devices["Camera"].camera.buffer.memory.populated.wait(10)


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
