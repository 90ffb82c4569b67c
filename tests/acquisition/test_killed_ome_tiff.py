"""An OME-TIFF acquisition killed at any moment is still a valid OME-TIFF: its OME-XML maps only
pages that are complete, each plane at the (t, c, z) of its event, and tifffile reads it."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

useq = pytest.importorskip("useq")
tifffile = pytest.importorskip("tifffile")

from mmkernel_core.acquisition import open_acquisition  # noqa: E402
from mmkernel_core.acquisition._tiff import TiffDatasetWriter, _annotation, table_path  # noqa: E402

ROOT = Path(__file__).parents[2]
CFG = ROOT / "plugins/mmkernel-adapter-demo/mmkernel_adapter_demo/MMConfig_demo.cfg"
FRAMES = 48  # 2 positions x 4 t x 3 z x 2 channels, channels innermost (not the t, c, z order)

# Each frame's index and pixel checksum to stdout once it is in the file; the last frame waits so
# the run cannot end before the parent's signal lands.
RUN = textwrap.dedent(
    """
    import sys, time, zlib, useq
    from mmkernel_core import Kernel
    k = Kernel(timeout=10)
    k.load_config(sys.argv[1])
    def seen(acq, event, image, row):
        i = event.index
        print("frame", i.get("p", 0), i.get("t", 0), i.get("c", 0), i.get("z", 0),
              zlib.crc32(image.tobytes()), flush=True)
        if row["event"] == int(sys.argv[3]) - 1:
            time.sleep(120)
    k.events.acquisition_frame_ready.connect(seen)
    seq = useq.MDASequence(stage_positions=[(0, 0, 0), (10, 10, 0)], channels=["DAPI", "FITC"],
                           z_plan={"range": 2, "step": 1}, time_plan={"interval": 0, "loops": 4},
                           axis_order="tpzc")
    k.acquire(seq, sys.argv[2], format="ome-tiff").wait(600)
    """
)


def _run_and_kill(out: Path, sig: signal.Signals, after: int) -> dict[tuple[int, ...], int]:
    """The child's frames' checksums by (p, t, c, z), killed by `sig` once `after` frames were announced."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", RUN, str(CFG), str(out), str(FRAMES)], stdout=subprocess.PIPE,
                             text=True, env=env)  # fmt: skip
    assert child.stdout is not None
    lines = [child.stdout.readline() for _ in range(after)]  # these frames are in the file
    child.send_signal(sig)
    child.wait(30)
    assert child.returncode == -sig
    lines += child.stdout.read().splitlines()  # those it announced before the signal landed
    sums = {}
    for line in lines:
        word, *numbers = line.split()
        assert word == "frame", lines
        sums[tuple(int(n) for n in numbers[:4])] = int(numbers[4])
    assert len(sums) >= after
    return sums


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
@pytest.mark.parametrize("after", [1, FRAMES // 2, FRAMES - 1], ids=["first", "midway", "near-end"])
def test_a_killed_ome_tiff_run_is_ome_with_each_written_plane_where_its_event_put_it(
    tmp_path: Path, sig: signal.Signals, after: int
) -> None:
    out = tmp_path / "killed.ome.tiff"
    sums = _run_and_kill(out, sig, after)
    rows = [json.loads(line) for line in table_path(out).read_text().splitlines()]
    with tifffile.TiffFile(out) as tif:
        assert tif.is_ome
        note = _annotation(tif.ome_metadata)
        mapped = note["pages"]
        assert note["finished"] is None and after <= mapped <= len(rows) <= len(tif.pages)
        series = {s.name: s for s in tif.series}
        assert set(series) == {row_name(r) for r in rows[:mapped]}
        for s in series.values():  # the planned t, c, z whatever was written
            assert s.axes == "TCZYX" and s.shape == (4, 2, 3, 512, 512)
        planes = {name: s.asarray() for name, s in series.items()}
    written = set()
    for row in rows[:mapped]:
        at = (row["t"], row["c"], row["z"])
        written.add((row_name(row), *at))
        key = (row["p"], *at)
        if key in sums:  # announced by the child: its pixels are these
            assert zlib.crc32(planes[row_name(row)][at].tobytes()) == sums[key], row
    for name, image in planes.items():  # what the XML does not map reads as blank
        for at in np.ndindex(image.shape[:3]):
            if (name, *at) not in written:
                assert not image[at].any(), (name, at)
    data = open_acquisition(out)
    assert data.finished is None and data.frames == rows[:mapped] and data.names == ["p0", "p1"]
    assert useq.MDASequence.model_validate(data.sequence).sizes["t"] == 4
    assert np.array_equal(data.image("p0"), planes["p0"])
    assert tifffile.imread(out).shape == (4, 2, 3, 512, 512)


def row_name(row: dict[str, int]) -> str:
    return f"p{row['p']}"


def _snapshots(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[bytes]:
    """The file's bytes before, halfway through and after every write the writer makes: a kill
    can land at each, and cut a write in two (the kernel copies a write page by page, so one of
    up to 16 bytes inside one page, the writer's links and its description switch, is whole)."""
    taken: list[bytes] = []
    real = os.pwrite

    def pwrite(fd: int, data: memoryview, offset: int) -> int:
        now = bytearray(path.read_bytes())
        if len(data) > 16:
            half = bytes(data[: len(data) // 2])
            now[len(now) : offset] = bytes(max(0, offset - len(now)))
            now[offset : offset + len(half)] = half
        else:
            assert offset // 4096 == (offset + len(data) - 1) // 4096
        taken.append(bytes(now))
        done = real(fd, data, offset)
        taken.append(path.read_bytes())
        return done

    monkeypatch.setattr(os, "pwrite", pwrite)
    return taken


def test_an_adaptive_ome_tiff_cut_at_any_write_maps_only_complete_pages_even_past_its_reserved_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "cut.ome.tiff"
    monkeypatch.setattr("mmkernel_core.acquisition._tiff.REWRITE_RATIO", 0, raising=False)  # at every frame
    taken = _snapshots(monkeypatch, out)
    writer = TiffDatasetWriter(out, axes=["t", "c", "z"], sizes={}, shape=(3, 4), dtype="uint16", channels=[],
                               scale={}, sequence_json=None)  # fmt: skip
    events = [(p, t, c) for t in range(40) for p in range(2) for c in (1, 0)]  # grows past its first room
    for number, (p, t, c) in enumerate(events):
        row = {"event": number, "p": p, "t": t, "c": c}
        writer.write(writer.place(f"p{p}"), {"t": t, "c": c}, np.full((3, 4), number + 1, np.uint16), row, "A")
    writer.finalize("completed")
    linked = [i for i, state in enumerate(taken) if len(state) >= 16 and int.from_bytes(state[8:16], "little")]
    assert linked, "no state of the file on its way links a first page"
    first = linked[0]  # from the first page linked on, every state is read
    mapped_seen, slots = set(), set()
    for state in taken[first:]:
        with tifffile.TiffFile(io.BytesIO(state)) as tif:
            assert tif.is_ome
            slots.add(tif.pages.first.tags[270].valueoffset)
            note = _annotation(tif.ome_metadata)
            mapped = note["pages"] if note["finished"] is None else len(note["frames"])
            mapped_seen.add(mapped)
            series = {s.name: s.asarray().reshape((*s.get_shape(False)[:3], 3, 4)) for s in tif.series}
            for number, (p, t, c) in enumerate(events[:mapped]):
                assert np.all(series[f"p{p}"][t, c, 0] == number + 1), (mapped, number)
            assert sum(int(np.count_nonzero(image[..., 0, 0])) for image in series.values()) == mapped
    assert mapped_seen == set(range(1, len(events) + 1))  # every frame was mapped as soon as written
    assert len(slots) > 3  # the XML outgrew the room kept for it and moved on, whole at each step


def test_a_killed_ome_tiff_with_dropped_frames_reads_the_rows_of_the_pages_it_maps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dropped frame has a row and no page: the rows a killed file gives stop after the last
    page its OME-XML maps, dropped rows among them kept, not at as many rows as pages."""
    out = tmp_path / "dropped.ome.tiff"
    monkeypatch.setattr("mmkernel_core.acquisition._tiff.REWRITE_RATIO", 0, raising=False)  # at every frame
    writer = TiffDatasetWriter(out, axes=["t"], sizes={"t": 6, "c": 0, "z": 0}, shape=(3, 4), dtype="uint16",
                               channels=[], scale={}, sequence_json=None)  # fmt: skip
    place = writer.place("p0")
    for t in range(4):  # frames 1 and 2 dropped
        dropped = t in (1, 2)
        image = None if dropped else np.full((3, 4), t + 1, np.uint16)
        writer.write(place, {"t": t}, image, {"event": t, "t": t, "dropped": dropped})
    # killed here: no finalize
    data = open_acquisition(out)
    assert data.finished is None
    assert [(row["event"], row["dropped"]) for row in data.frames] == [(0, False), (1, True), (2, True), (3, False)]
    planes = data.image(0)[:, 0, 0]
    assert [int(plane[0, 0]) for plane in planes[:4]] == [1, 0, 0, 4]  # a dropped plane reads as zeros
