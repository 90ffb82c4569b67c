"""A recording killed at the worst moments reads back: between two columns of a table growing,
as the store is made, just after an image's stored shape grew, in the middle of replacing a
metadata file, and colour, sharded and cut-short files.

Each case is a real recording in a child process that kills itself (SIGKILL) at the chosen
moment, found by wrapping the zarr call (or the stream's checkpoint) that marks it, so the
moment is exact and needs no timing; the children run at once, each test reads its dataset.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

from mmkernel_core.recording import open_recording
from tests.support.paths import ROOT
from tests.support.recording import checksum, pattern

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")

CHILD = """
import asyncio, json, os, signal, sys, time
from pathlib import Path
path, fmt, moment, options = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
kind, _, where = moment.partition(":")
calls = [0]

def kill():
    os.kill(os.getpid(), signal.SIGKILL)

def due():
    calls[0] += 1
    return calls[0] == options.get("at", 1)

if kind == "resize":  # after an array's stored shape grew (its path holds `where`; "image": the frames)
    from zarr.core.array import AsyncArray
    resize = AsyncArray.resize
    async def killing_resize(self, shape, *args, **kwargs):
        await resize(self, shape, *args, **kwargs)
        image = self.path.rsplit("/", 1)[-1] == "0" and "mmkernel" not in self.path and shape[0] > 0
        if (image if where == "image" else where in self.path) and due():
            kill()
    AsyncArray.resize = killing_resize
elif kind == "open":  # just after the store's root group was made
    import zarr.api.asynchronous as za
    open_group = za.open_group
    async def killing_open(*args, **kwargs):
        group = await open_group(*args, **kwargs)
        kill()
    za.open_group = killing_open
elif kind == "replace":  # while the root's metadata is being replaced (the new version not in place yet)
    replace, root = os.replace, str(Path(path) / "zarr.json")
    def killing_replace(source, target, *args, **kwargs):
        if os.fspath(target) == root and due():
            kill()
        return replace(source, target, *args, **kwargs)
    os.replace = killing_replace
elif kind == "checkpoint":  # after a stream's checkpoint
    from mmkernel_core.recording import tiff_writer, _zarr_stream
    cls = tiff_writer.TiffStream if fmt == "ome-tiff" else _zarr_stream.ZarrStream
    checkpoint = cls.checkpoint
    def killing_checkpoint(self):
        result = checkpoint(self)
        if due():
            kill()
        return result
    cls.checkpoint = killing_checkpoint

from mmkernel_core import Kernel
from mmkernel_sdk.testing import SimStage
from tests.support.recording import PatternCamera

k = Kernel(timeout=10, buffer_mb=16)
k.load_device("Cam", PatternCamera(components=options.get("components", 0)))
k.load_device("Z", SimStage())
k.initialize_all()
recording = k.record("Cam", path, count=100_000, format=fmt, datastreams=[("Z", "Position")], interval_ms=2,
                     writer_options=options.get("writer_options"))
step = 0
while True:  # the stage moves while the camera records: datastream rows between frames
    k.set_position("Z", float(step % 50))
    step += 1
    time.sleep(0.005)  # a user's pace, not synchronisation
"""
FRAME = (48, 64)


# case -> (moment, format, options): every child starts at once (they take about two seconds,
# mostly waiting for their checkpoints), each test reads its own dataset
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "datastream-columns": ("resize:mmkernel/datastreams/", "ome-zarr", {"at": 4}),  # 2nd block, 1st column
    "per-frame-columns": ("resize:mmkernel/frames/", "ome-zarr", {"at": 6}),
    "store-made": ("open", "ome-zarr", {}),
    "image-shown": ("resize:image", "ome-zarr", {}),
    "metadata-replaced": ("replace:", "ome-zarr", {"at": 3}),  # the root's second progress update
    "colour-tiff": ("checkpoint:", "ome-tiff", {"at": 2, "components": 4}),
    "sharded": ("checkpoint:", "ome-zarr", {"at": 2, "writer_options": {"shard_frames": 4096, "frames_per_chunk": 64}}),
    "tiff": ("checkpoint:", "ome-tiff", {"at": 1}),
}


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int, str]]:
    """Per case: the dataset of a recording that killed itself at its moment, the child's
    return code and its stderr."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = {}
    for case, (moment, fmt, options) in CASES.items():
        path = tmp_path_factory.mktemp(case) / ("run.ome.zarr" if fmt == "ome-zarr" else "run.ome.tif")
        command = [sys.executable, "-c", CHILD, str(path), fmt, moment, json.dumps(options)]
        children[case] = (path, subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True))
    done = {}
    for case, (path, child) in children.items():
        _, stderr = child.communicate(timeout=90)
        done[case] = (path, child.returncode, stderr)
    return done


def dataset(killed: dict[str, tuple[Path, int, str]], case: str) -> Path:
    path, returncode, stderr = killed[case]
    assert returncode == -signal.SIGKILL, stderr[-3000:]  # it reached its moment
    return path


def expected(number: int, components: int = 0) -> np.ndarray:
    if not components:
        return pattern(number, FRAME)
    bgra = pattern(number, (*FRAME, components))
    return np.moveaxis(bgra[..., 2::-1], -1, 0)


def check_frames(path: Path, components: int = 0) -> int:
    """The frames shown are the camera's, each with its row; returns how many."""
    data = open_recording(path)
    assert not data.finished
    valid = data.frames_valid.get("Cam", 0)
    if not valid:
        return 0
    images = np.asarray(data.images["Cam"][:valid])
    table = data.frames("Cam")
    assert [int(n) for n in table["number"][:valid]] == list(range(valid))
    for index in range(valid):
        assert np.array_equal(images[index], expected(index, components)), f"frame {index}"
        assert table["changes"][index]["Checksum"] is not None
    if not components:
        assert table["changes"][valid - 1]["Checksum"] == checksum(images[valid - 1])
    return valid


def equal_columns(table: dict[str, Any]) -> int:
    lengths = {name: len(column) for name, column in table.items()}
    assert len(set(lengths.values())) == 1, lengths
    return next(iter(lengths.values()))


@pytest.mark.parametrize("table", ["datastream", "per-frame"])
def test_a_kill_between_two_columns_growing_reads_back_whole_rows(killed: Any, table: str) -> None:
    """The second block of rows: one column's stored length grew, the others' not yet."""
    path = dataset(killed, f"{table}-columns")
    valid = check_frames(path)
    data = open_recording(path)
    rows = equal_columns(data.datastreams["Z-Position"])
    assert rows > 0 and data.datastreams["Z-Position"]["value"].dtype == np.float64
    assert equal_columns(data.frames("Cam")) >= valid


def test_a_kill_as_the_store_is_made_reads_as_unfinished(killed: Any) -> None:
    path = dataset(killed, "store-made")
    data = open_recording(path)
    assert not data.finished and data.frames_valid == {"Cam": 0}
    assert data.metadata["parameters"]["cameras"] == ["Cam"]
    assert data.metadata["progress"]["state"] == "recording"


def test_frames_never_show_before_their_datastream_rows(killed: Any) -> None:
    """Killed just after the image's stored shape first grew: every frame shown has its row in
    the datastream (which gets a row at every frame)."""
    path = dataset(killed, "image-shown")
    valid = check_frames(path)
    assert valid > 0
    stream = open_recording(path).datastreams["Z-Position"]
    assert set(range(valid)) <= {int(frame) for frame in stream["frame"]}


def test_a_kill_while_metadata_is_replaced_leaves_nothing_zarr_warns_about(killed: Any) -> None:
    path = dataset(killed, "metadata-replaced")
    assert not [item.name for item in path.rglob("*") if item.name.endswith(".partial")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zarr warns of objects in a group that are no zarr node
        members = dict(zarr.open_group(path, mode="r").members(max_depth=None))
    assert "0" in members
    check_frames(path)


def test_a_killed_colour_tiff_reads_back_every_frame_as_tifffile_does(killed: Any) -> None:
    """One RGB page per frame: the reader and tifffile give the same frames."""
    path = dataset(killed, "colour-tiff")
    valid = check_frames(path, components=4)
    assert valid > 0
    assert np.array_equal(tifffile.imread(path)[:valid], np.asarray(open_recording(path).images["Cam"][:valid]))


def test_a_killed_sharded_recording_shows_the_shard_being_filled(killed: Any) -> None:
    """Shards of 4096 frames take about 8 s to fill: killed after two checkpoints, no shard is
    whole; the frames of the one being filled read back, and plain zarr shows whole shards."""
    path = dataset(killed, "sharded")
    valid = check_frames(path)
    assert 0 < valid < 4096
    assert zarr.open_array(path / "0", mode="r").shape[0] == 0


def test_every_cut_of_a_killed_tiff_reads_as_the_pages_before_it(killed: Any, tmp_path: Path) -> None:
    """A file cut anywhere in a page's index entry (or its pixels) reads as the whole pages
    before the cut, never as an error."""
    path = dataset(killed, "tiff")
    data = path.read_bytes()
    with tifffile.TiffFile(path) as tiff:
        entries = [page.offset for page in tiff.pages[:3]]  # where each page's index entry starts
        ends = [page.dataoffsets[-1] + page.databytecounts[-1] for page in tiff.pages]  # its pixels (written last)
    cut = tmp_path / "cut.ome.tif"
    for size in sorted({s for entry in entries for s in range(max(0, entry - 8), entry + 600, 5)}):
        cut.write_bytes(data[:size])
        found = open_recording(cut)
        assert not found.finished
        valid = found.frames_valid.get("Cam", 0)
        assert valid == sum(end <= size for end in ends), size
        if valid:
            assert np.array_equal(np.asarray(found.images["Cam"][valid - 1]), pattern(valid - 1, FRAME)), size
            assert len(found.frames("Cam")["number"]) == valid
