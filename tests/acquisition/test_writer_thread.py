"""An acquisition writes on its own writer thread across a bounded hand-off: "block" waits for a
slow writer and loses nothing, "drop" drops and counts what does not fit (each dropped frame's
row says so), a failing writer fails the run without hanging it and leaves a readable dataset,
and bad arguments are refused, naming what is allowed, before anything starts."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

useq = pytest.importorskip("useq")
pytest.importorskip("tifffile")

from mmkernel_core import Kernel  # noqa: E402
from mmkernel_core.acquisition import open_acquisition  # noqa: E402
from mmkernel_core.acquisition._dataset import DatasetWriter  # noqa: E402
from mmkernel_core.acquisition._tiff import TiffDatasetWriter  # noqa: E402
from mmkernel_sdk import Camera  # noqa: E402
from tests.support.acquisition import piezo_rig  # noqa: E402
from tests.support.frame_buffers import wait_until  # noqa: E402

FRAME = 4 * 4 * 2  # bytes of one (4, 4) uint16 frame: handoff_bytes=FRAME holds one frame
WRITER_THREAD = "mmkernel-acquire-writer"
FORMATS = [("ome-zarr", "run.ome.zarr", DatasetWriter), ("ome-tiff", "run.ome.tiff", TiffDatasetWriter)]


class Numbered(Camera):
    """Each frame's pixels are its number + 1: a plane that is 0 was never written."""

    def __init__(self) -> None:
        self.count = 0

    def frame_shape(self) -> tuple[int, int]:
        return (4, 4)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    def read_frame(self, out: np.ndarray) -> None:
        self.count += 1
        out[...] = self.count


class Gate:
    """Makes the dataset writer as slow as the test says: the write numbered `at` (0 first)
    waits for `release`, then raises `fail` if given."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, kind: type, at: int = 0, fail: BaseException | None = None):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        original: Callable[..., None] = kind.write

        def write(writer: Any, *args: Any, **kwargs: Any) -> None:
            number, self.calls = self.calls, self.calls + 1
            if number == at:
                self.entered.set()
                assert self.release.wait(30), "the test never released the writer"
                if fail is not None:
                    raise fail
            original(writer, *args, **kwargs)

        monkeypatch.setattr(kind, "write", write)


@pytest.fixture
def k() -> Iterator[Kernel]:
    with Kernel(timeout=10) as kernel:
        kernel.load_device("Camera", Numbered())
        kernel.initialize_all()
        kernel.set_role("Camera", "Camera")
        yield kernel


def _frames(n: int) -> Any:
    return useq.MDASequence(time_plan={"interval": 0, "loops": n})


def _no_acquisition_threads() -> None:
    """The writer thread ended before wait() returned; the engine's thread ends right after."""
    assert not [t for t in threading.enumerate() if t.name == WRITER_THREAD]
    for thread in [t for t in threading.enumerate() if t.name == "mmkernel-acquire"]:
        thread.join(10)
        assert not thread.is_alive()


@pytest.mark.parametrize(("fmt", "name", "kind"), FORMATS)
def test_drop_mode_drops_and_counts_what_a_slow_writer_has_no_room_for_and_the_rows_say_so(
    k: Kernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, name: str, kind: type
) -> None:
    gate = Gate(monkeypatch, kind)
    announced: queue.Queue[tuple[int, Any, dict[str, Any]]] = queue.Queue()
    k.events.acquisition_frame_ready.connect(lambda acq, event, image, row: announced.put((row["t"], image, row)))
    out = tmp_path / name
    acq = k.acquire(_frames(6), out, format=fmt, overflow="drop", writer_options={"handoff_bytes": FRAME})
    wait_until(lambda: acq.progress.events_done == 6, 30)  # every frame taken while the writer holds the first
    assert acq.progress.dropped == 5 and acq.progress.written == 0
    gate.release.set()
    result = acq.wait(60)
    assert (result.reason, result.frames, result.dropped) == ("completed", 1, 5)
    data = open_acquisition(out)
    assert [row["dropped"] for row in data.frames] == [False] + [True] * 5  # no silent loss: every row is there
    planes = np.asarray(data.image(0))[:, 0, 0]
    assert planes[0].min() == 1 and not planes[1:].any()  # the dropped planes are empty
    got = [announced.get(timeout=30) for _ in range(6)]  # each frame announced once, in order
    assert [t for t, _, _ in got] == list(range(6)) and got[0][1] is not None
    assert all(image is None and row["dropped"] for _, image, row in got[1:])
    _no_acquisition_threads()


def test_block_mode_waits_for_a_slow_writer_and_loses_nothing(
    k: Kernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(monkeypatch, DatasetWriter)
    out = tmp_path / "block.ome.zarr"
    acq = k.acquire(_frames(6), out, overflow="block", writer_options={"handoff_bytes": FRAME})
    wait_until(lambda: acq.progress.writer_behind, 30)  # the second frame waits for room
    assert acq.progress.events_done == 1 and acq.progress.written == 0 and not acq.ended()
    gate.release.set()
    result = acq.wait(60)
    assert (result.reason, result.frames, result.dropped) == ("completed", 6, 0)
    data = open_acquisition(out)
    assert not any(row["dropped"] for row in data.frames) and len(data.frames) == 6
    assert [int(plane.min()) for plane in np.asarray(data.image(0))[:, 0, 0]] == [1, 2, 3, 4, 5, 6]
    _no_acquisition_threads()


class Abort(BaseException):
    """Not an Exception: a writer may fail with anything."""


@pytest.mark.parametrize(("fmt", "name", "kind"), FORMATS)
@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), Abort("stop")], ids=["disk-full", "base"])
def test_a_failing_writer_fails_the_run_and_the_dataset_is_finalized_with_what_was_written(
    k: Kernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, name: str, kind: type, failure: BaseException
) -> None:
    gate = Gate(monkeypatch, kind, at=2, fail=failure)
    gate.release.set()
    results: queue.Queue[Any] = queue.Queue()
    k.events.acquisition_finished.connect(lambda acq, result: results.put(result))
    out = tmp_path / name
    acq = k.acquire(_frames(8), out, format=fmt, writer_options={"handoff_bytes": FRAME})
    with pytest.raises(RuntimeError, match="writing the dataset failed") as raised:
        acq.wait(60)
    assert raised.value.__cause__ is failure
    result = results.get(timeout=30)
    assert (result.reason, result.frames) == ("failed", 2)
    data = open_acquisition(out)
    assert data.finished == "failed" and [row["t"] for row in data.frames] == [0, 1]
    assert [int(plane.min()) for plane in np.asarray(data.image(0))[:2, 0, 0]] == [1, 2]
    _no_acquisition_threads()
    k.snap()  # the kernel is fine


def test_an_engine_waiting_for_room_is_not_left_hanging_when_the_writer_fails(
    k: Kernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(monkeypatch, DatasetWriter, at=0, fail=Abort("the writer died"))
    acq = k.acquire(_frames(6), tmp_path / "dead.ome.zarr", writer_options={"handoff_bytes": FRAME})
    wait_until(lambda: acq.progress.writer_behind, 30)
    gate.release.set()
    with pytest.raises(RuntimeError, match=r"writing the dataset failed .*Abort: the writer died"):
        acq.wait(60)
    assert open_acquisition(tmp_path / "dead.ome.zarr").finished == "failed"
    _no_acquisition_threads()


def test_a_dataset_that_cannot_be_finalized_fails_the_run_saying_so(
    k: Kernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def finalize(writer: Any, reason: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(DatasetWriter, "finalize", finalize)
    acq = k.acquire(_frames(2), tmp_path / "full.ome.zarr")
    with pytest.raises(RuntimeError, match=r"finalizing the dataset failed \(OSError: .*No space left"):
        acq.wait(60)
    assert acq.ended() and acq.progress.written == 2
    _no_acquisition_threads()


def test_cancel_writes_everything_handed_over_before_it_finalizes(
    k: Kernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(monkeypatch, DatasetWriter)
    out = tmp_path / "cancel.ome.zarr"
    acq = k.acquire(useq.MDASequence(time_plan={"interval": 0.05, "loops": 200}), out)  # 10 s of events
    wait_until(lambda: acq.progress.frames >= 3, 30)  # the engine runs ahead of the held writer
    acq.cancel()
    assert not acq.ended(0.0)  # wait() is only over once the frames handed over are written
    gate.release.set()
    result = acq.wait(60)
    assert result.reason == "cancelled" and result.frames == acq.progress.frames >= 3
    data = open_acquisition(out)
    assert data.finished == "cancelled" and len(data.frames) == result.frames
    assert all(np.asarray(data.image(0))[row["t"], 0, 0].min() > 0 for row in data.frames)
    _no_acquisition_threads()


def test_a_hardware_run_streams_ahead_of_a_slow_writer_and_every_plane_keeps_its_own_pixels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(monkeypatch, DatasetWriter)
    with piezo_rig() as (kernel, _, _, _):
        seq = useq.MDASequence(z_plan={"range": 4, "step": 1}, time_plan={"interval": 0, "loops": 2}, axis_order="tz")
        acq = kernel.acquire(seq, tmp_path / "hw.ome.zarr")
        assert [run.hardware for run in acq.plan] == [True]
        wait_until(lambda: acq.progress.events_done == 10, 30)  # streamed while the writer held the first frame
        gate.release.set()
        assert acq.wait(60).frames == 10
    planes = np.asarray(open_acquisition(tmp_path / "hw.ome.zarr").image(0))[:, :, 0, 0]
    assert planes.tolist() == [[1000 + 10 * z for z in (-2, -1, 0, 1, 2)]] * 2  # copied out of the ring


def test_bad_overflow_and_writer_options_are_refused_naming_what_is_allowed(k: Kernel, tmp_path: Path) -> None:
    out = tmp_path / "bad.ome.zarr"
    with pytest.raises(ValueError, match=r"overflow 'fast' is not allowed; allowed: 'block' .* or 'drop'"):
        k.acquire(_frames(2), out, overflow="fast")
    with pytest.raises(ValueError, match=r"writer_options key 'chunks' is not known; allowed: 'handoff_bytes'"):
        k.acquire(_frames(2), out, writer_options={"chunks": [1, 4, 4]})
    with pytest.raises(ValueError, match=r"handoff_bytes=-1 is not allowed; allowed: 'handoff_bytes': a whole"):
        k.acquire(_frames(2), out, writer_options={"handoff_bytes": -1})
    with pytest.raises(TypeError, match="writer_options must be a dict"):
        k.acquire(_frames(2), out, writer_options=[("handoff_bytes", 1)])
    assert not out.exists()
    assert not [t for t in threading.enumerate() if t.name in (WRITER_THREAD, "mmkernel-acquire")]


def test_overflow_and_writer_options_reach_the_submit_and_aio_faces(k: Kernel, tmp_path: Path) -> None:
    import asyncio

    acq = k.submit.acquire(_frames(2), tmp_path / "a.ome.zarr", overflow="drop",
                           writer_options={"handoff_bytes": 0}).result(30)  # fmt: skip
    assert acq.wait(60).frames + acq.progress.dropped == 2 and acq.overflow == "drop"
    with pytest.raises(ValueError, match="overflow 'never'"):
        k.submit.acquire(_frames(2), tmp_path / "b.ome.zarr", overflow="never").result(30)

    async def main() -> Any:
        started = await k.aio.acquire(_frames(2), tmp_path / "c.ome.zarr", writer_options={"handoff_bytes": FRAME})
        return started.wait(60)

    assert asyncio.run(main()).frames == 2
