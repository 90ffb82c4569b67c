"""Recording when things go wrong: the disk fills, the writer falls behind (block and drop),
steps and writer plugins raise every kind of exception, the camera fails, frames change size,
and every bad argument. Nothing is lost silently, what was written stays readable with its
metadata, the error names the camera and the frame, and no kernel thread dies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaozarrs
import zarr

from mmkernel_core import Kernel, PropertyError, RecordingError
from mmkernel_core.recording import open_recording
from mmkernel_sdk.errors import DeviceStateError, UnknownDeviceError
from mmkernel_sdk.recording import Step, StreamSpec, StreamWriter, Table, Writer
from tests.support.recording import (
    FailingStore,
    PatternCamera,
    StallingStore,
    camera_and_stage,
    pattern,
    still_works,
)


@pytest.fixture
def k() -> Iterator[Kernel]:
    with camera_and_stage() as kernel:
        yield kernel


def test_a_full_disk_stops_the_recording_and_leaves_what_was_written_readable(k: Kernel, tmp_path: Path) -> None:
    store = FailingStore(tmp_path / "full.ome.zarr", allow=7)
    recording = k.record("Cam", store, count=200, writer_options={"frames_per_chunk": 1})
    with pytest.raises(RecordingError) as caught:
        recording.wait(30)
    error = caught.value
    assert error.camera == "Cam" and error.frame == 7
    assert "No space left on device" in str(error) and "7 frames were written" in str(error)
    assert not k.is_sequence_running("Cam")  # acquisition stopped cleanly
    assert recording.result is not None and recording.result.frames_written == {"Cam": 7}
    data = open_recording(tmp_path / "full.ome.zarr")
    images = np.asarray(data.images["Cam"][...])
    assert images.shape == (7, 48, 64)
    assert all(np.array_equal(images[n], pattern(n, (48, 64))) for n in range(7))
    assert data.frames("Cam")["number"].tolist() == list(range(7))
    assert data.metadata["result"]["errors"] and data.metadata["result"]["frames_written"] == {"Cam": 7}
    yaozarrs.validate_zarr_store(str(tmp_path / "full.ome.zarr"))
    still_works(k, tmp_path)


def test_drop_never_makes_the_camera_wait_and_counts_every_lost_frame(tmp_path: Path) -> None:
    camera = PatternCamera(signal_at=900)  # 6 KB frames: 1 MB holds ~170; the disk is stalled throughout
    with Kernel(timeout=10, buffer_mb=1) as k:
        k.load_device("Cam", camera)
        k.initialize("Cam")
        store = StallingStore(tmp_path / "drop.ome.zarr")
        store.go.clear()
        recording = k.record("Cam", store, overflow="drop", writer_options={"frames_per_chunk": 1})
        assert camera.reached.wait(20)  # the camera went on far past what the buffer holds
        assert recording.progress.written == 0
        store.go.set()
        recording.stop()
        result = recording.wait(30)
        stats = k.buffer_stats("Cam")
    assert result.dropped > 0 and result.dropped == stats.dropped
    assert result.frames_written["Cam"] + result.dropped == camera.made  # nothing lost silently
    numbers = open_recording(tmp_path / "drop.ome.zarr").frames("Cam")["number"]
    assert len(numbers) == result.frames_written["Cam"] and np.all(np.diff(numbers) > 0)


def test_block_makes_the_camera_wait_and_loses_nothing(tmp_path: Path) -> None:
    camera = PatternCamera(signal_at=150)
    with Kernel(timeout=10, buffer_mb=1) as k:
        k.load_device("Cam", camera)
        k.initialize("Cam")
        store = StallingStore(tmp_path / "block.ome.zarr")
        store.go.clear()
        recording = k.record("Cam", store, count=600, overflow="block", writer_options={"frames_per_chunk": 1})
        assert camera.reached.wait(20)  # the buffer is about full: the camera waits from here on
        assert camera.made < 600
        store.go.set()
        result = recording.wait(60)
    assert result.frames_written == {"Cam": 600} and result.dropped == 0
    numbers = open_recording(tmp_path / "block.ome.zarr").frames("Cam")["number"]
    assert numbers.tolist() == list(range(600))


class Kaboom(BaseException):
    """Not an Exception: adapter and plugin code may raise anything."""


RAISES = [ValueError("bad pixel"), MemoryError("out of memory"), KeyboardInterrupt(), SystemExit(3),
          GeneratorExit(), Kaboom("boom")]  # fmt: skip


class RaisingStep(Step):
    name = "raising"

    def __init__(self, error: BaseException, at: int) -> None:
        self.error, self.at = error, at

    def process(self, frame: np.ndarray, info: Any) -> np.ndarray:
        if info.number == self.at:
            raise self.error
        return frame


@pytest.mark.parametrize("error", RAISES, ids=lambda e: type(e).__name__)
def test_a_step_raising_anything_ends_the_recording_with_what_came_before(
    k: Kernel, tmp_path: Path, error: BaseException
) -> None:
    recording = k.record("Cam", tmp_path / "s.ome.zarr", count=50, steps=[RaisingStep(error, at=12)])
    with pytest.raises(RecordingError) as caught:
        recording.wait(30)
    assert caught.value.camera == "Cam" and caught.value.frame == 12
    assert "step 'raising' failed at frame 12" in str(caught.value) and type(error).__name__ in str(caught.value)
    assert isinstance(caught.value.__cause__, type(error))
    written = recording.result.frames_written["Cam"]  # type: ignore[union-attr]
    assert written == 12
    images = np.asarray(open_recording(tmp_path / "s.ome.zarr").images["Cam"][...])
    assert images.shape[0] == 12 and np.array_equal(images[11], pattern(11, (48, 64)))
    still_works(k, tmp_path)


class PluginWriter(Writer):
    """A third party's format, raising `error` from `where`."""

    def __init__(self, error: BaseException, where: str) -> None:
        self.error, self.where = error, where
        self.frames: list[np.ndarray] = []
        self.closed = False

    def _maybe(self, place: str) -> None:
        if place == self.where:
            raise self.error

    def open(self, destination: Any, metadata: dict[str, Any], streams: Any) -> None:
        self._maybe("open")

    def add_stream(self, spec: StreamSpec) -> StreamWriter:
        self._maybe("add_stream")
        return PluginStream(self)

    def add_image(self, stream: str, name: str, image: np.ndarray, spec: StreamSpec) -> None:
        pass

    def add_table(self, name: str, table: Table) -> None:
        pass

    def close(self, metadata: dict[str, Any]) -> str:
        self.closed = True
        self._maybe("close")
        return "plugin"


class PluginStream(StreamWriter):
    def __init__(self, writer: PluginWriter) -> None:
        self.writer = writer

    def write(self, runs: Any, rows: Table) -> int:
        frames = [np.array(frame) for run in runs for frame in run]
        if len(self.writer.frames) + len(frames) > 5:
            self.writer._maybe("write")
        self.writer.frames.extend(frames)
        return len(self.writer.frames)

    @property
    def written(self) -> int:
        return len(self.writer.frames)

    @property
    def bytes_written(self) -> int:
        return sum(f.nbytes for f in self.writer.frames)

    def close(self) -> int:
        self.writer._maybe("stream close")
        return len(self.writer.frames)


@pytest.mark.parametrize("where", ["open", "add_stream", "write", "stream close", "close"])
@pytest.mark.parametrize("error", [PermissionError("permission denied"), Kaboom("boom")], ids=["OSError", "Base"])
def test_a_writer_plugin_raising_anywhere_is_a_clear_error(
    k: Kernel, tmp_path: Path, where: str, error: BaseException
) -> None:
    writer = PluginWriter(error, where)
    if where == "open":
        with pytest.raises(type(error)):
            k.record("Cam", tmp_path / "never", count=20, format=writer)
        assert not k.is_sequence_running("Cam")
    else:
        recording = k.record("Cam", tmp_path / "p", count=20, format=writer)
        with pytest.raises(RecordingError) as caught:
            recording.wait(30)
        assert type(error).__name__ in str(caught.value)
        assert writer.closed  # the writer is always closed, whatever failed
        assert not k.is_sequence_running("Cam")
    still_works(k, tmp_path)


def test_a_camera_failing_mid_recording(tmp_path: Path) -> None:
    class Failing(PatternCamera):
        def read_frame(self, out: np.ndarray) -> dict[str, Any]:
            if self.made == 9:
                raise OSError("USB transfer failed")
            return super().read_frame(out)

    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("Cam", Failing())
        k.initialize("Cam")
        recording = k.record("Cam", tmp_path / "f.ome.zarr", count=50)
        with pytest.raises(RecordingError, match=r"camera 'Cam' failed during the recording after 9 frames.*USB"):
            recording.wait(30)
    images = np.asarray(open_recording(tmp_path / "f.ome.zarr").images["Cam"][...])
    assert images.shape == (9, 48, 64) and np.array_equal(images[8], pattern(8, (48, 64)))


def test_frames_that_change_size_mid_recording_are_refused_clearly(tmp_path: Path) -> None:
    camera = PatternCamera(signal_at=3)
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("Cam", camera)
        k.initialize("Cam")
        recording = k.record("Cam", tmp_path / "g.ome.zarr")
        assert camera.reached.wait(10)
        k.set_property("Cam", "Width", 40)  # the ROI changes while recording
        with pytest.raises(RecordingError) as caught:
            recording.wait(30)
    assert "cannot change size" in str(caught.value) and "(48, 40)" in str(caught.value)
    assert caught.value.camera == "Cam" and caught.value.frame is not None
    stored = zarr.open_array(tmp_path / "g.ome.zarr" / "0", mode="r")
    assert stored.shape[1:] == (48, 64) and stored.shape[0] == caught.value.frame


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"format": "avi"}, r"format='avi' is not allowed; allowed: 'ome-tiff', 'ome-zarr'"),
        ({"count": 0}, r"count=0 is not allowed; allowed: a whole number >= 1"),
        ({"count": 2.5}, r"count=2.5 is not allowed"),
        ({"overflow": "overwrite"}, r"overflow='overwrite' is not allowed; allowed: 'block'"),
        ({"steps": ["blur:3"]}, r"steps='blur:3' is not allowed; allowed: one of background, bin, crop"),
        ({"steps": ["bin:0"]}, r"steps='bin:0' is not allowed; allowed: bin with valid arguments \(step 'bin': factor"),
        ({"steps": [42]}, r"steps=42 is not allowed; allowed: Step objects"),
        ({"datastreams": [("Z", "Speed")]}, r"'Z'.*'Speed'"),
        ({"datastreams": ["Z-Position"]}, r"datastreams='Z-Position' is not allowed; allowed: \(device label"),
        ({"metadata": {"when": object()}}, r"metadata=.* is not allowed; allowed: a dict of strict JSON values"),
        ({"metadata": {"gain": float("nan")}}, r"metadata\['gain'\] is nan: JSON has no NaN or infinity"),
        ({"metadata": {"z": [0.0, float("-inf")]}}, r"metadata\['z'\]\[1\] is -inf"),
        ({"metadata": {3: "three"}}, r"the key 3: JSON keys are text"),
        ({"writer_options": {"compresion": "lz4"}}, r"writer_options=.* the options of format 'ome-zarr'"),
        ({"writer_options": {"compression": "gzip"}}, r"compression 'gzip' is not one of none, blosc-lz4"),
        ({"interval_ms": -1}, r"interval_ms=-1 is not allowed; allowed: a finite number >= 0"),
        ({"interval_ms": float("nan")}, r"interval_ms=nan is not allowed; allowed: a finite number >= 0"),
        ({"interval_ms": float("inf")}, r"interval_ms=inf is not allowed"),
        ({"count": True}, r"count=True is not allowed"),
        ({"format": "ome-zarr", "writer_options": {"clevel": True}}, r"clevel"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(
    k: Kernel, tmp_path: Path, arguments: dict, message: str
) -> None:
    path = tmp_path / "bad.ome.zarr"
    with pytest.raises(PropertyError, match=message):
        k.record("Cam", path, **arguments)
    assert not path.exists() and not k.is_sequence_running("Cam")


def test_where_a_recording_cannot_go(k: Kernel, tmp_path: Path) -> None:
    existing = tmp_path / "exists.ome.zarr"
    existing.mkdir()
    with pytest.raises(PropertyError, match="never overwrites data"):
        k.record("Cam", existing, count=2)
    with pytest.raises(PropertyError, match="in an existing directory"):
        k.record("Cam", tmp_path / "missing" / "run.ome.zarr", count=2)
    with pytest.raises(PropertyError, match="a path for format 'ome-tiff'"):
        k.record("Cam", zarr.storage.MemoryStore(), count=2, format="ome-tiff")
    with pytest.raises(UnknownDeviceError, match="Nope"):
        k.record("Nope", tmp_path / "x.ome.zarr")
    with pytest.raises(Exception, match=r"'Z'.*Camera"):
        k.record("Z", tmp_path / "x.ome.zarr")
    k.start_sequence("Cam", count=None, overflow="overwrite")
    try:
        with pytest.raises(DeviceStateError, match="already streaming"):
            k.record("Cam", tmp_path / "x.ome.zarr")
    finally:
        k.stop_sequence("Cam")
    assert not (tmp_path / "x.ome.zarr").exists()
