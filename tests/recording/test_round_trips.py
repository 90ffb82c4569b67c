"""Recording inside the kernel: what is written is what the camera made (pixels by checksum,
frame numbers, metadata), open-ended and stopped early, every built-in step, several cameras,
datastreams, OME-Zarr (NGFF 0.5, validated) and OME-TIFF, read back with and without MMKernel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import yaozarrs
import zarr

from mmkernel_core import Kernel
from mmkernel_core.config import PixelSizeConfig
from mmkernel_core.recording import RecordingResult, open_recording
from mmkernel_core.recording.steps import Bin, Crop, MaxProjection, MeanProjection, RunningMean, SubtractBackground
from mmkernel_sdk.testing import SimStage
from tests.support.recording import PatternCamera, StallingStore, checksum, pattern


@pytest.fixture
def scope() -> Iterator[Kernel]:
    """A pattern camera (48 x 64 uint16) and a Z stage; pixel size 0.5 um."""
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("Cam", PatternCamera())
        k.load_device("Z", SimStage())
        k.initialize_all()
        k.set_role("Camera", "Cam")
        # as a .cfg's PixelSize_um line
        k.internals.configuration.pixel_sizes["Res"] = PixelSizeConfig("Res", pixel_size_um=0.5)
        yield k


def frames_of(camera: str, data: object) -> np.ndarray:
    return np.asarray(data.images[camera][...])  # type: ignore[attr-defined]


def check_round_trip(data: object, camera: str, count: int, shape: tuple[int, ...]) -> None:
    """Every frame is pattern(n) for its number n, numbers are 0..count-1, and each frame's
    stored checksum (the camera's tag) matches its pixels."""
    images = frames_of(camera, data)
    table = data.frames(camera)  # type: ignore[attr-defined]
    assert images.shape == (count, *shape)
    assert table["number"].tolist() == list(range(count))
    for index, number in enumerate(table["number"]):
        assert np.array_equal(images[index], pattern(int(number), shape)), f"frame {index}"
        assert table["changes"][index]["Checksum"] == checksum(images[index])
    assert np.all(np.diff(table["received"]) >= 0)


@pytest.mark.parametrize("fmt", ["ome-zarr", "ome-tiff"])
def test_what_is_written_is_what_the_camera_made(scope: Kernel, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / ("run.ome.zarr" if fmt == "ome-zarr" else "run.ome.tif")
    recording = scope.record("Cam", path, count=40, format=fmt, metadata={"sample": "HeLa", "well": 3})
    result = recording.wait(30)
    assert isinstance(result, RecordingResult)
    assert result.frames_written == {"Cam": 40} and result.dropped == 0 and result.errors == []
    assert result.shapes == {"Cam": (40, 48, 64)}
    data = open_recording(path)
    check_round_trip(data, "Cam", 40, (48, 64))
    meta = data.metadata
    assert meta["user"] == {"sample": "HeLa", "well": 3}
    assert meta["parameters"]["count"] == 40 and meta["parameters"]["format"] == fmt
    assert meta["system_state"]["Z"]["Position"] == 0.0  # the full state at the start
    assert meta["configuration"]["roles"]["camera"] == "Cam"
    assert meta["kernel_version"] and meta["result"]["frames_written"] == {"Cam": 40}
    assert meta["cameras"]["Cam"]["shape"] == [48, 64]


def test_an_open_ended_recording_stopped_early_is_complete_and_readable(tmp_path: Path) -> None:
    camera = PatternCamera(signal_at=25)
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("Cam", camera)
        k.initialize("Cam")
        recording = k.record("Cam", tmp_path / "open.ome.zarr")  # count=None: until stopped
        assert camera.reached.wait(10)
        recording.stop()
        result = recording.wait(30)
    written = result.frames_written["Cam"]
    assert written >= 25 and written == camera.made  # everything acquired was written
    data = open_recording(tmp_path / "open.ome.zarr")
    check_round_trip(data, "Cam", written, (48, 64))
    plain = zarr.open_array(tmp_path / "open.ome.zarr" / "0", mode="r")
    assert plain.shape == (written, 48, 64)  # the time axis is exactly the frames written


def test_ome_zarr_is_valid_ngff_05_and_plain_zarr_reads_it(scope: Kernel, tmp_path: Path) -> None:
    path = tmp_path / "v.ome.zarr"
    scope.record("Cam", path, count=8, steps=["max-projection"]).wait(30)
    yaozarrs.validate_zarr_store(str(path))
    root_json = json.loads((path / "zarr.json").read_text())
    yaozarrs.validate_ome_json(json.dumps(root_json))
    ome = root_json["attributes"]["ome"]
    assert ome["version"] == "0.5"
    multiscale = ome["multiscales"][0]
    assert [a["name"] for a in multiscale["axes"]] == ["t", "y", "x"]
    assert [a.get("unit") for a in multiscale["axes"]] == ["second", "micrometer", "micrometer"]
    scale = multiscale["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale[1:] == [0.5, 0.5] and scale[0] > 0  # the kernel's pixel size; measured frame interval
    array_json = json.loads((path / "0" / "zarr.json").read_text())
    assert array_json["dimension_names"] == ["t", "y", "x"]  # MUST match the axes (yaozarrs only warns)
    assert array_json["chunk_grid"]["configuration"]["chunk_shape"][0] >= 1
    plain = zarr.open_group(path, mode="r")
    assert np.array_equal(plain["0"][3], pattern(3, (48, 64)))
    projection = plain["projections/max/0"][...]
    assert np.array_equal(projection, np.max([pattern(n, (48, 64)) for n in range(8)], axis=0))
    yaozarrs.validate_zarr_store(str(path / "projections" / "max"))


def test_ome_tiff_carries_pixel_size_channel_and_reads_with_tifffile(scope: Kernel, tmp_path: Path) -> None:
    path = tmp_path / "t.ome.tif"
    scope.record("Cam", path, count=6, format="ome-tiff", steps=[MeanProjection()]).wait(30)
    with tifffile.TiffFile(path) as tiff:
        assert tiff.is_ome and tiff.is_bigtiff
        series = tiff.series[0]
        assert series.shape == (6, 48, 64) and series.axes == "TYX"
        assert np.array_equal(series.asarray()[5], pattern(5, (48, 64)))
        xml = tiff.ome_metadata
    assert 'PhysicalSizeX="0.5"' in xml and 'Name="Cam"' in xml
    mean = open_recording(path).projections("Cam")["mean"]
    assert np.allclose(mean, np.mean([pattern(n, (48, 64)) for n in range(6)], axis=0), atol=1e-3)
    assert np.array_equal(tifffile.memmap(path, page=2), pattern(2, (48, 64)))  # each page maps as it lies


@pytest.mark.parametrize(
    ("options", "expect_ratio"),
    [
        ({"compression": "blosc-lz4"}, True),
        ({"compression": "blosc-zstd", "frames_per_chunk": 4}, True),
        ({"frames_per_chunk": 1}, False),
        ({"frames_per_chunk": 1, "shard_frames": 8}, False),
        ({"frames_per_chunk": 2, "shard_frames": 8, "compression": "blosc-lz4"}, True),
    ],
    ids=["lz4", "zstd-4-per-chunk", "one-per-chunk", "sharded", "sharded-lz4"],
)
def test_chunking_compression_and_shards_round_trip(
    scope: Kernel, tmp_path: Path, options: dict, expect_ratio: bool
) -> None:
    path = tmp_path / "c.ome.zarr"
    result = scope.record("Cam", path, count=21, writer_options=options).wait(30)
    check_round_trip(open_recording(path), "Cam", 21, (48, 64))
    assert (result.compression_ratio is not None) == expect_ratio
    if expect_ratio:
        assert result.compression_ratio > 1.0  # 12-bit data in 16-bit words: bitshuffle wins that back
    array = json.loads((path / "0" / "zarr.json").read_text())
    codecs = [c["name"] for c in array["codecs"]]
    assert ("sharding_indexed" in codecs) == ("shard_frames" in options)


def test_a_sharded_array_is_written_a_whole_shard_at_a_time(scope: Kernel, tmp_path: Path) -> None:
    store = StallingStore(tmp_path / "s.ome.zarr")
    scope.record("Cam", store, count=24, writer_options={"frames_per_chunk": 1, "shard_frames": 8}).wait(30)
    assert store.reads == 0  # never read-modify-write
    shards = sorted(p.name for p in (tmp_path / "s.ome.zarr" / "0").iterdir() if p.name.startswith("c"))
    assert shards == ["c.0.0.0", "c.1.0.0", "c.2.0.0"]


class CountingStore(StallingStore):
    """Counts the bytes written to the image's chunks and pending region, by kind of key."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.bytes: dict[str, int] = {"image": 0, "pending": 0}

    async def set(self, key: str, value: Any) -> None:
        if not key.endswith("zarr.json"):
            kind = "image" if key.startswith("0/c") else "pending" if key.startswith("mmkernel/pending/c") else None
            if kind is not None:
                self.bytes[kind] += len(value)
        await super().set(key, value)


def test_a_shard_filling_over_many_checkpoints_is_written_at_most_twice_and_shown_at_each(tmp_path: Path) -> None:
    """A checkpoint after every frame, shards of 16: each checkpoint shows every frame so far
    (the shard being filled from its pending region), and yet no byte is read back and each
    frame's bytes reach the store at most twice (once pending, once in its shard)."""
    from mmkernel_core.frames import FrameHeader
    from mmkernel_core.recording._tables import rows_of
    from mmkernel_core.recording.zarr_writer import OmeZarrWriter
    from mmkernel_sdk.recording import StreamSpec

    path = tmp_path / "slow.ome.zarr"
    store = CountingStore(path)
    writer = OmeZarrWriter(frames_per_chunk=1, shard_frames=16)
    writer.open(store, {"parameters": {"cameras": ["Cam"]}}, ["Cam"])
    stream = writer.add_stream(StreamSpec("Cam", (48, 64), np.dtype(np.uint16), None))
    frames = 40  # two whole shards and half of one
    for n in range(frames):
        frame = pattern(n, (48, 64))
        header = FrameHeader(n, "Cam", (48, 64), frame.dtype, 0, 1.0 + n, None, {"Checksum": checksum(frame)})
        stream.write([frame[None]], rows_of([header]))
        assert stream.checkpoint() == n + 1
        data = open_recording(path)
        assert data.frames_valid == {"Cam": n + 1}, n
        assert np.array_equal(np.asarray(data.images["Cam"][n]), pattern(n, (48, 64))), n
    stream.close()
    writer.close({"parameters": {"cameras": ["Cam"]}})
    image_bytes = frames * 48 * 64 * 2
    assert store.reads == 0
    assert store.bytes["image"] + store.bytes["pending"] <= 2 * image_bytes + 3 * (16 * 16 + 4)  # + shard indexes
    check_round_trip(open_recording(path), "Cam", frames, (48, 64))
    assert not (path / "mmkernel" / "pending").exists()  # closed: every frame is in its shard


def test_small_frames_share_chunks_by_default(tmp_path: Path) -> None:
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("Cam", PatternCamera(height=16))
        k.initialize("Cam")
        k.set_property("Cam", "Width", 16)
        k.record("Cam", tmp_path / "small.ome.zarr", count=300).wait(30)
    array = zarr.open_array(tmp_path / "small.ome.zarr" / "0", mode="r")
    assert array.chunks[0] > 1 and array.shape == (300, 16, 16)  # 512-byte frames: many per chunk
    assert np.array_equal(array[299], pattern(299, (16, 16)))


def test_every_built_in_step(scope: Kernel, tmp_path: Path) -> None:
    shape = (48, 64)
    made = [pattern(n, shape) for n in range(10)]
    background = np.full(shape, 1000, np.uint16)
    cases = {
        "bin-mean": ([Bin(2)], lambda f: ((f.reshape(24, 2, 32, 2).astype(np.uint64).sum(axis=(1, 3)) + 2) // 4)),
        "bin-sum": (["bin:4,sum"], lambda f: f.reshape(12, 4, 16, 4).astype(np.uint32).sum(axis=(1, 3))),
        "crop": ([Crop(8, 4, 32, 16)], lambda f: f[4:20, 8:40]),
        "background": ([SubtractBackground(background)], lambda f: np.where(f > 1000, f - 1000, 0)),
        "crop-then-bin": (["crop:0,0,32,32", "bin:2"], lambda f: ((f[:32, :32].reshape(16, 2, 16, 2)
                                                                  .astype(np.uint64).sum(axis=(1, 3)) + 2) // 4)),
    }  # fmt: skip
    for name, (steps, expected) in cases.items():
        path = tmp_path / f"{name}.ome.zarr"
        scope.record("Cam", path, count=10, steps=steps).wait(30)
        stored = frames_of("Cam", open_recording(path))
        for n in range(10):
            want = expected(made[n])
            assert stored[n].shape == want.shape and np.array_equal(stored[n], want.astype(stored.dtype)), name
    path = tmp_path / "mean.ome.zarr"
    scope.record("Cam", path, count=10, steps=[RunningMean(3), MaxProjection()]).wait(30)
    data = open_recording(path)
    stored = frames_of("Cam", data)
    assert stored.dtype == np.float32
    for n in range(10):
        window = np.array(made[max(0, n - 2) : n + 1], np.float64)
        assert np.allclose(stored[n], window.mean(axis=0), atol=1e-3)
    assert np.allclose(data.projections("Cam")["max"], stored.max(axis=0))  # the max of what reached it
    meta = data.metadata["parameters"]["steps"]
    assert meta == [{"step": "running-mean", "window": 3}, {"step": "max-projection"}]


def test_binning_scales_the_pixel_size_in_the_metadata(scope: Kernel, tmp_path: Path) -> None:
    path = tmp_path / "b.ome.zarr"
    scope.record("Cam", path, count=2, steps=["bin:2"]).wait(30)
    ome = zarr.open_group(path, mode="r").attrs["ome"]
    assert ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"][1:] == [1.0, 1.0]


def test_a_step_that_drops_frames_is_counted(scope: Kernel, tmp_path: Path) -> None:
    from mmkernel_sdk.recording import Step

    class EveryOther(Step):
        name = "every-other"

        def process(self, frame: np.ndarray, info: object) -> np.ndarray | None:
            return frame if info.number % 2 == 0 else None  # type: ignore[attr-defined]

    result = scope.record("Cam", tmp_path / "e.ome.zarr", count=10, steps=[EveryOther()]).wait(30)
    assert result.frames_written == {"Cam": 5} and result.filtered == 5 and result.dropped == 0
    assert open_recording(tmp_path / "e.ome.zarr").frames("Cam")["number"].tolist() == [0, 2, 4, 6, 8]


@pytest.mark.parametrize("fmt", ["ome-zarr", "ome-tiff"])
def test_two_cameras_record_at_once(tmp_path: Path, fmt: str) -> None:
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("A", PatternCamera(height=48))
        k.load_device("B", PatternCamera(height=32))
        k.initialize_all()
        k.set_property("B", "Width", 40)
        path = tmp_path / ("two.ome.zarr" if fmt == "ome-zarr" else "two.ome.tif")
        result = k.record(["A", "B"], path, count=30, format=fmt).wait(30)
        assert result.frames_written == {"A": 30, "B": 30}
        data = open_recording(path)
        check_round_trip(data, "A", 30, (48, 64))
        table_b = data.frames("B")
        assert frames_of("B", data).shape == (30, 32, 40) and table_b["number"].tolist() == list(range(30))
        assert table_b["changes"][7]["Checksum"] == checksum(frames_of("B", data)[7])
        if fmt == "ome-zarr":
            yaozarrs.validate_zarr_store(str(path / "A"))
            yaozarrs.validate_zarr_store(str(path / "B"))
        separate = [k.record(c, tmp_path / f"{c}.ome.zarr", count=10) for c in ("A", "B")]  # separate stores
        assert [r.wait(30).frames_written for r in separate] == [{"A": 10}, {"B": 10}]


def test_datastreams_record_each_frame_and_every_change_between(scope: Kernel, tmp_path: Path) -> None:
    camera = scope._loaded("Cam").device
    path = tmp_path / "d.ome.zarr"
    recording = scope.record("Cam", path, datastreams=[("Z", "Position"), ("Cam", "Width")])
    for position in (1.5, 2.5, 3.5):
        scope.set_position("Z", position)
    made_before_stop = camera.made
    recording.stop()
    recording.wait(30)
    data = open_recording(path)
    z = data.datastreams["Z-Position"]
    changes = z["value"][z["frame"] == -1].tolist()
    assert changes[0] == 0.0 and changes[1:] == [1.5, 2.5, 3.5]  # the start value, then every change
    at_frames = z["frame"][z["frame"] >= 0]
    assert at_frames.tolist() == data.frames("Cam")["number"].tolist()  # one row per frame
    assert len(at_frames) >= made_before_stop
    assert np.all(np.diff(z["time"]) >= 0)  # in time order
    state = 0.0  # at each frame: the value the frame's own metadata says was in force
    for number, value in zip(at_frames, z["value"][z["frame"] >= 0], strict=True):
        state = data.frames("Cam")["changes"][number].get("Z-Position", state)
        assert value == state
    assert set(data.datastreams) == {"Z-Position", "Cam-Width"}


def test_an_in_memory_store_and_a_store_url(scope: Kernel) -> None:
    store = zarr.storage.MemoryStore()
    scope.record("Cam", store, count=5).wait(30)
    check_round_trip(open_recording(store), "Cam", 5, (48, 64))
    url = "memory://mmkernel-test/run.ome.zarr"
    scope.record("Cam", url, count=5).wait(30)
    check_round_trip(open_recording(url), "Cam", 5, (48, 64))
    assert zarr.open_array(url + "/0", mode="r").shape == (5, 48, 64)  # plain zarr, from the URL


def test_colour_frames_are_stored_as_channels(tmp_path: Path) -> None:
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("Cam", PatternCamera(dtype=np.uint8, components=4))
        k.initialize("Cam")
        k.record("Cam", tmp_path / "rgb.ome.zarr", count=3).wait(30)
    data = open_recording(tmp_path / "rgb.ome.zarr")
    stored = frames_of("Cam", data)
    made = pattern(1, (48, 64, 4), np.uint8)
    assert stored.shape == (3, 3, 48, 64)  # t, c, y, x: BGRA becomes RGB planes
    assert np.array_equal(stored[1], np.moveaxis(made[..., 2::-1], -1, 0))
    yaozarrs.validate_zarr_store(str(tmp_path / "rgb.ome.zarr"))


def colour_step(frame: np.ndarray, info: object) -> np.ndarray:
    """(y, x) -> (y, x, 3): a step's colour output (channels of a frame's own, not BGRA)."""
    return np.stack([frame, frame // 2, frame // 3], axis=-1)


class ToColour(MaxProjection):
    """Makes (y, x, 3) frames, and keeps their maximum (a colour projection)."""

    name = "to-colour"

    def process(self, frame: np.ndarray, info: object) -> np.ndarray:
        return super().process(colour_step(frame, info), info)  # type: ignore[arg-type]


@pytest.mark.parametrize("source", ["camera-bgra", "step-yx3"])
def test_colour_frames_read_back_the_same_in_both_formats_and_with_tifffile(tmp_path: Path, source: str) -> None:
    """One RGB page per frame in OME-TIFF (OME: SamplesPerPixel 3), a c axis in OME-Zarr: the
    reader, tifffile and zarr all give (t, 3, y, x), the same frames."""
    if source == "camera-bgra":
        camera, steps = PatternCamera(dtype=np.uint8, components=4), [MaxProjection()]
        made = [np.moveaxis(pattern(n, (48, 64, 4), np.uint8)[..., 2::-1], -1, 0) for n in range(5)]
    else:
        camera, steps = PatternCamera(), [ToColour()]
        made = [np.moveaxis(colour_step(pattern(n, (48, 64)), None), -1, 0) for n in range(5)]
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("Cam", camera)
        k.initialize("Cam")
        k.record("Cam", tmp_path / "c.ome.zarr", count=5, steps=steps).wait(30)
        k.record("Cam", tmp_path / "c.ome.tif", count=5, format="ome-tiff", steps=[type(steps[0])()]).wait(30)
    expected = np.stack(made)
    for name in ("c.ome.zarr", "c.ome.tif"):
        data = open_recording(tmp_path / name)
        assert data.frames_valid == {"Cam": 5} and len(data.frames("Cam")["number"]) == 5
        assert np.array_equal(frames_of("Cam", data), expected), name
        assert np.array_equal(data.projections("Cam")["max"], expected.max(axis=0)), name
    assert np.array_equal(zarr.open_array(tmp_path / "c.ome.zarr" / "0", mode="r")[...], expected)
    assert np.array_equal(tifffile.imread(tmp_path / "c.ome.tif"), expected)
    with tifffile.TiffFile(tmp_path / "c.ome.tif") as tiff:
        assert len(tiff.series[0].pages) == 5 and 'SamplesPerPixel="3"' in tiff.ome_metadata


def test_the_futures_and_asyncio_faces(scope: Kernel, tmp_path: Path) -> None:
    recording = scope.submit.record("Cam", tmp_path / "f.ome.zarr", count=5).result(10)
    assert recording.wait(30).frames_written == {"Cam": 5}

    async def main() -> RecordingResult:
        started = await scope.aio.record("Cam", tmp_path / "a.ome.zarr", count=5)
        return await asyncio.wrap_future(started.finished)

    assert asyncio.run(main()).frames_written == {"Cam": 5}


def test_closing_the_kernel_finishes_a_running_recording(tmp_path: Path) -> None:
    camera = PatternCamera(signal_at=10)
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("Cam", camera)
        k.initialize("Cam")
        recording = k.record("Cam", tmp_path / "c.ome.zarr")
        assert camera.reached.wait(10)
    assert recording.done()
    result = recording.wait(0)
    assert result.frames_written["Cam"] == camera.made
    check_round_trip(open_recording(tmp_path / "c.ome.zarr"), "Cam", camera.made, (48, 64))


def test_the_progress_of_a_running_recording(scope: Kernel, tmp_path: Path) -> None:
    store = StallingStore(tmp_path / "p.ome.zarr")
    store.go.clear()  # the disk stalls: frames queue up
    recording = scope.record("Cam", store, count=50, writer_options={"frames_per_chunk": 1})
    camera = scope._loaded("Cam").device
    try:
        progress = recording.progress
        assert progress.written == 0 and progress.received <= camera.made
        assert not recording.done()
    finally:
        store.go.set()
    result = recording.wait(30)
    final = recording.progress
    assert final.written == 50 == final.received and final.queued == 0 and final.dropped == 0
    assert final.bytes_written == result.bytes_written == 50 * 48 * 64 * 2
    assert final.mb_per_s > 0 and final.cameras["Cam"].written == 50
