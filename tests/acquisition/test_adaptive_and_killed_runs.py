"""Adaptive runs (events fed while the run goes), the caller's metadata, and runs killed midway:
the dataset still says which frames exist."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

useq = pytest.importorskip("useq")
zarr = pytest.importorskip("zarr")

from mmkernel_core import Kernel  # noqa: E402
from mmkernel_core.acquisition import open_acquisition  # noqa: E402

CFG = Path(__file__).parents[2] / "plugins/mmkernel-adapter-demo/mmkernel_adapter_demo/MMConfig_demo.cfg"
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def kernel():
    with Kernel(timeout=10) as k:
        k.load_config(CFG)
        yield k


def test_events_fed_while_the_run_goes_are_acquired_and_the_dataset_grows(kernel: Kernel, tmp_path: Path) -> None:
    feed: queue.Queue[object] = queue.Queue()
    seen = queue.Queue()
    kernel.events.acquisition_frame_ready.connect(lambda acq, event, image, row: seen.put(dict(event.index)))
    out = tmp_path / "adaptive.ome.zarr"
    acq = kernel.acquire(iter(feed.get, None), out)
    feed.put(useq.MDAEvent(index={"t": 0, "c": 0}, channel={"config": "DAPI"}))
    assert seen.get(timeout=30) == {"t": 0, "c": 0}  # the first frame came before the next event was known
    feed.put({"index": {"t": 1, "c": 1}, "channel": {"config": "FITC"}, "z_pos": 2.0})  # its dict works too
    feed.put(useq.MDAEvent(index={"t": 2, "c": 0}, channel={"config": "DAPI"}))
    feed.put(None)
    result = acq.wait(60)
    assert result.frames == 3 and acq.progress.events_total is None
    data = open_acquisition(out)
    assert data.image(0).shape[:3] == (3, 2, 1)  # t and c grew as the events reached them
    labels = [c["label"] for c in zarr.open_group(str(out), mode="r")["0"].attrs["ome"]["omero"]["channels"]]
    assert labels == ["DAPI", "FITC"]
    assert data.sequence is None and [row["t"] for row in data.frames] == [0, 1, 2]
    assert np.any(data.image(0)[2, 0, 0])


def test_the_callers_metadata_is_stored_and_what_json_cannot_hold_is_refused(kernel: Kernel, tmp_path: Path) -> None:
    out = tmp_path / "meta.ome.zarr"
    kernel.acquire(useq.MDASequence(), out, metadata={"sample": "HeLa", "dish": 3}).wait(60)
    assert open_acquisition(out).metadata == {"sample": "HeLa", "dish": 3}
    with pytest.raises(ValueError, match="metadata must be plain JSON"):
        kernel.acquire(useq.MDASequence(), tmp_path / "bad.ome.zarr", metadata={"gain": float("nan")})
    with pytest.raises(ValueError, match="format 'tiff' is not supported; allowed: 'ome-zarr'"):
        kernel.acquire(useq.MDASequence(), tmp_path / "bad2.ome.zarr", format="tiff")
    assert not (tmp_path / "bad.ome.zarr").exists() and not (tmp_path / "bad2.ome.zarr").exists()


RUN = textwrap.dedent(
    """
    import sys, useq
    from mmkernel_core import Kernel
    k = Kernel(timeout=10)
    k.load_config(sys.argv[1])
    k.events.acquisition_frame_ready.connect(lambda acq, event, image, row: print("frame", flush=True))
    seq = useq.MDASequence(time_plan={"interval": 0.02, "loops": 500}, channels=["DAPI"])
    k.acquire(seq, sys.argv[2]).wait(600)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
@pytest.mark.parametrize("after", [1, 7])
def test_a_run_killed_midway_leaves_a_dataset_whose_table_names_the_frames_written(
    tmp_path: Path, sig: signal.Signals, after: int
) -> None:
    out = tmp_path / "killed.ome.zarr"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", RUN, str(CFG), str(out)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    for _ in range(after):  # the frames the run has announced: they are in the store
        assert child.stdout.readline() == "frame\n"
    child.send_signal(sig)
    child.wait(30)
    data = open_acquisition(out)
    assert data.finished is None  # it never ended
    assert len(data.frames) >= after and [row["t"] for row in data.frames] == list(range(len(data.frames)))
    image = data.image(0)
    for row in data.frames:
        assert np.any(image[row["t"], 0]), row  # each frame the table names holds its pixels
    json.dumps(data.frames, allow_nan=False)  # strict JSON
