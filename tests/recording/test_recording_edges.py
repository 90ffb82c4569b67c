"""Recordings at their edges: several cameras with one failing, empty and in-memory recordings,
TIFF paths, wide pixel sums, slow time lapses, step outputs a writer cannot store, and the
threads a recording runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from mmkernel_core import Kernel, PropertyError, RecordingError
from mmkernel_core.recording import open_recording
from mmkernel_sdk.recording import Step
from tests.support.recording import (
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


class FailsAt(PatternCamera):
    """Unplugged after `at` frames."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def read_frame(self, out: np.ndarray) -> dict[str, Any]:
        if self.made >= self.at:
            raise RuntimeError("USB unplugged")
        return super().read_frame(out)


class FailingStep(Step):
    name = "explode"

    def process(self, frame: np.ndarray, info: Any) -> np.ndarray | None:
        raise ValueError("no such filter")


def test_a_camera_failing_stops_the_other_cameras_and_its_error_is_kept(tmp_path: Path) -> None:
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("A", FailsAt(10))
        k.load_device("B", PatternCamera())
        k.initialize_all()
        recording = k.record(["A", "B"], tmp_path / "two.ome.zarr")  # open-ended: only the failure ends it
        with pytest.raises(RecordingError, match="USB unplugged") as caught:
            recording.wait(30)
        assert caught.value.camera == "A"
        assert not k.is_sequence_running("B")
        data = open_recording(tmp_path / "two.ome.zarr")
        assert data.images["A"].shape[0] == 10 and data.images["B"].shape[0] == recording.result.frames_written["B"]


@pytest.mark.parametrize("name", ["first.ome.zarr", "first.ome.tif"])
def test_a_step_failing_on_the_first_frame_leaves_an_empty_readable_dataset(
    k: Kernel, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    kind = "ome-tiff" if name.endswith("tif") else "ome-zarr"
    with pytest.raises(RecordingError, match="no such filter"):
        k.record("Cam", path, count=5, steps=[FailingStep()], format=kind).wait(30)
    data = open_recording(path)
    assert data.images["Cam"].shape == (0, 48, 64)


def test_an_empty_recording_has_the_format_its_steps_would_have_made(tmp_path: Path) -> None:
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("Cam", FailsAt(0))
        k.initialize_all()
        with pytest.raises(RecordingError, match="USB unplugged"):
            k.record("Cam", tmp_path / "binned.ome.zarr", count=5, steps=["bin:2", "running-mean:2"]).wait(30)
        image = open_recording(tmp_path / "binned.ome.zarr").images["Cam"]
        assert image.shape == (0, 24, 32) and image.dtype == np.float32


def test_an_in_memory_zarr_store_gets_every_frame_intact(k: Kernel) -> None:
    store = zarr.storage.MemoryStore()
    k.record("Cam", store, count=600, writer_options={"frames_per_chunk": 4}).wait(60)
    image = zarr.open_group(store, mode="r")["0"]
    assert image.shape[0] == 600
    bad = [n for n in range(600) if not np.array_equal(image[n], pattern(n, (48, 64)))]
    assert bad == []  # the camera's 16 MB buffer was reused ~30 times under the store


def test_two_tiff_recordings_to_one_path_cannot_both_happen(tmp_path: Path) -> None:
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("A", PatternCamera())
        k.load_device("B", PatternCamera())
        k.initialize_all()
        path = tmp_path / "run.ome.tif"
        first = k.record("A", path, count=3, format="ome-tiff")
        with pytest.raises((PropertyError, RecordingError, FileExistsError), match="never overwrites"):
            k.record("B", path, count=3, format="ome-tiff").wait(30)
        first.wait(30)
        assert open_recording(path).images["A"].shape[0] == 3


@pytest.mark.parametrize("name", ["run.ome.tiff", "run.tif"])
def test_per_camera_tiff_files_read_back_under_their_camera_names(tmp_path: Path, name: str) -> None:
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("Left", PatternCamera())
        k.load_device("Right", PatternCamera())
        k.initialize_all()
        k.record(["Left", "Right"], tmp_path / name, count=2, format="ome-tiff").wait(30)
        assert set(open_recording(tmp_path / name).images) == {"Left", "Right"}
        with pytest.raises(PropertyError, match="never overwrites"):  # one camera's file exists: refused up front
            k.record(["Left", "Right"], tmp_path / name, count=2, format="ome-tiff")


def test_a_path_with_another_formats_suffix_is_refused(k: Kernel, tmp_path: Path) -> None:
    with pytest.raises(PropertyError, match=r"'\.tif' is the 'ome-tiff' format's: pass format='ome-tiff'"):
        k.record("Cam", tmp_path / "run.ome.tif", count=2)
    assert not (tmp_path / "run.ome.tif").exists()


def test_binned_sums_of_wide_pixels_do_not_wrap() -> None:
    from mmkernel_core.recording.steps import Bin

    frame = np.full((4, 4), 2**32 - 2, np.uint32)
    out = Bin(2, mode="sum").process(frame, None)
    assert out.dtype == np.uint64 and int(out[0, 0]) == 4 * (2**32 - 2)
    signed = Bin(2, mode="sum").process(np.full((2, 2), -3, np.int16), None)
    assert signed.dtype == np.int32 and int(signed[0, 0]) == -12


def test_a_slow_time_lapse_writes_each_frame_without_waiting_for_a_chunk_to_fill(k: Kernel, tmp_path: Path) -> None:
    from mmkernel_core.recording._zarr_stream import _default_frames_per_chunk

    assert _default_frames_per_chunk(6144, 0.0) == 683  # fast small frames share ~4 MiB chunks
    assert _default_frames_per_chunk(6144, 0.5) == 2  # 2 frames/s: a second of frames per chunk
    assert _default_frames_per_chunk(6144, 60.0) == 1
    k.record("Cam", tmp_path / "lapse.ome.zarr", count=2, interval_ms=200).wait(30)
    assert zarr.open_group(tmp_path / "lapse.ome.zarr", mode="r")["0"].chunks[0] == 5


def test_a_count_recording_that_drops_frames_succeeds_and_counts_them(tmp_path: Path) -> None:
    """With "drop", a frame dropped is a frame the camera made: a count recording whose writer
    fell behind ends complete, the drops counted and visible as gaps in the frame numbers."""
    camera = PatternCamera(height=256, signal_at=1000)  # 128 KB frames: 1 MB holds 8
    with Kernel(timeout=10, buffer_mb=1) as k:
        k.load_device("Cam", camera)
        k.initialize("Cam")
        k.set_property("Cam", "Width", 256)
        store = StallingStore(tmp_path / "drop.ome.zarr")
        store.go.clear()  # the disk stalls while the camera goes on
        recording = k.record("Cam", store, count=2000, overflow="drop")
        assert camera.reached.wait(20)
        store.go.set()
        result = recording.wait(60)
    assert result.dropped > 0 and result.errors == []
    assert result.frames_written["Cam"] + result.dropped == 2000 == camera.made
    data = open_recording(tmp_path / "drop.ome.zarr")
    numbers = data.frames("Cam")["number"]
    assert data.finished and len(numbers) == result.frames_written["Cam"] and np.all(np.diff(numbers) > 0)


class Returns(Step):
    """A step returning what `make` makes of each frame."""

    def __init__(self, name: str, make: Any) -> None:
        self.name, self.make = name, make

    def process(self, frame: np.ndarray, info: Any) -> Any:
        return self.make(frame)


UNRECORDABLE = {  # a step's output -> what the error says of it
    "0-d": (lambda f: np.float64(f.sum()), r"they are 0-d, \(\) float64"),
    "text": (lambda f: "not an array", r"they are a str \('not an array'\), not arrays"),
    "1-d": (lambda f: f.ravel(), r"they are 1-d, \(3072,\) uint16"),
    "4-d": (lambda f: f[None, None], r"they are 4-d, \(1, 1, 48, 64\) uint16"),
    "empty": (lambda f: f[:0], r"they are empty, \(0, 64\) uint16"),
    "object": (lambda f: f.astype(object), r"their dtype is object, not a number"),
    "datetime": (lambda f: f.astype("M8[s]"), r"their dtype is datetime64\[s\], not a number"),
}
TIFF_ONLY = {  # what OME-Zarr stores and OME-TIFF cannot
    "float16": (
        lambda f: f.astype(np.float16),
        r"they are \(48, 64\) float16; ome-tiff stores frames of uint8.*not float16",
    ),
    "bool": (lambda f: f > 2000, r"they are \(48, 64\) bool; ome-tiff stores frames of .*not bool"),
    "5 channels": (
        lambda f: np.stack([f] * 5, axis=-1),
        r"they are \(48, 64, 5\) uint16; ome-tiff stores grey \(y, x\) or RGB",
    ),
}


@pytest.mark.parametrize(
    ("fmt", "case"),
    [(fmt, case) for fmt in ("ome-zarr", "ome-tiff") for case in UNRECORDABLE] + [("ome-tiff", c) for c in TIFF_ONLY],
)
def test_a_step_output_the_writer_cannot_store_is_refused_before_anything_starts(
    k: Kernel, tmp_path: Path, fmt: str, case: str
) -> None:
    make, said = {**UNRECORDABLE, **TIFF_ONLY}[case]
    path = tmp_path / ("out.ome.zarr" if fmt == "ome-zarr" else "out.ome.tif")
    with pytest.raises(RecordingError, match=rf"camera 'Cam', step '{case}': the frames it returns cannot be recorded: "
                       + said) as caught:  # fmt: skip
        k.record("Cam", path, count=1000, format=fmt, steps=[Returns(case, make)])
    assert caught.value.camera == "Cam"
    assert not path.exists() and not k.is_sequence_running("Cam")  # nothing made, nothing started
    if fmt == "ome-zarr" and case in ("0-d", "1-d"):
        assert "a frame is a numpy array of numbers, (y, x) or colour (y, x, components)" in str(caught.value)
    still_works(k, tmp_path)


def test_a_step_output_only_real_frames_make_unstorable_stops_at_the_first_frame(k: Kernel, tmp_path: Path) -> None:
    """A blank frame passes (the check before the start), the first real one does not: the
    recording stops there, saying so, with an empty readable dataset."""
    step = Returns("flatten-bright", lambda f: f.ravel() if f.any() else f)
    for fmt, name in (("ome-zarr", "late.ome.zarr"), ("ome-tiff", "late.ome.tif")):
        recording = k.record("Cam", tmp_path / name, count=1000, format=fmt, steps=[step])
        with pytest.raises(RecordingError, match=r"step 'flatten-bright': the frames it returns cannot be recorded "
                           r"\(frame 0\): they are 1-d, \(3072,\) uint16") as caught:  # fmt: skip
            recording.wait(30)
        assert caught.value.frame == 0
        assert open_recording(tmp_path / name).images["Cam"].shape == (0, 48, 64)
    still_works(k, tmp_path)


def test_every_thread_a_recording_runs_is_known_as_the_kernels(k: Kernel, tmp_path: Path) -> None:
    """A leak check (the conformance kit's) takes any thread the kernel does not know for the
    device's: a recording's reader, writer and I/O loop must be the kernel's own."""
    store = StallingStore(tmp_path / "held.ome.zarr")
    store.go.clear()  # the recording stays running, its threads alive, until we let it go
    before = set(threading.enumerate())
    recording = k.record("Cam", store, count=20, writer_options={"frames_per_chunk": 1})
    try:
        new = {t for t in threading.enumerate() if t not in before and t.name.startswith("mmkernel-record")}
        assert new, "the recording runs threads of its own"
        assert new <= k.internals.threads(), sorted(t.name for t in new - k.internals.threads())
    finally:
        store.go.set()
        recording.wait(30)
