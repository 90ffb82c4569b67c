"""`mmkernel acquire` runs a sequence file to a valid dataset, and --dry-run lists the events."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

useq = pytest.importorskip("useq")
yaozarrs = pytest.importorskip("yaozarrs")

from typer.testing import CliRunner  # noqa: E402

from mmkernel_core.acquisition import open_acquisition  # noqa: E402
from mmkernel_core.cli import app  # noqa: E402
from tests.support.paths import ROOT  # noqa: E402

CFG = Path(__file__).parents[2] / "plugins/mmkernel-adapter-demo/mmkernel_adapter_demo/MMConfig_demo.cfg"
SEQ = "channels: [DAPI, FITC]\nz_plan: {range: 2, step: 1}\nstage_positions: [{x: 0, y: 0, z: 0, name: A}]\n"


def acquire(tmp_path: Path, *options: str) -> str:
    """`mmkernel acquire -c <demo> seq.yaml OPTIONS`: what it printed (it must succeed)."""
    seq = tmp_path / "seq.yaml"
    seq.write_text(SEQ)
    result = CliRunner().invoke(app, ["acquire", "-c", str(CFG), str(seq), *options])
    assert result.exit_code == 0, result.output
    return result.output


def test_acquire_writes_the_dataset_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "out.ome.zarr"
    output = acquire(tmp_path, "-o", str(out))
    assert "completed: 6 frames" in output
    yaozarrs.validate_zarr_store(str(out))
    assert open_acquisition(out).image(p="A").shape[:2] == (2, 3)


def test_dry_run_lists_events_and_runs_nothing(tmp_path: Path) -> None:
    output = acquire(tmp_path, "--dry-run")
    assert "6 events in 6 runs (0 events hardware-sequenced)" in output
    assert "0: {'p': 0, 'c': 0, 'z': 0} channel=DAPI" in output  # plain axis names
    assert "software (" in output  # each run says how it is timed, and why
    assert list(tmp_path.iterdir()) == [tmp_path / "seq.yaml"]  # nothing was written


def test_an_ome_tiff_output_name_writes_an_ome_tiff(tmp_path: Path) -> None:
    out = tmp_path / "out.ome.tiff"
    acquire(tmp_path, "-o", str(out))
    assert open_acquisition(out).image(p="A").shape == (1, 2, 3, 512, 512)


def test_overflow_and_datastreams_options_reach_the_run(tmp_path: Path) -> None:
    out = tmp_path / "streams.ome.zarr"
    output = acquire(tmp_path, "-o", str(out), "--overflow", "drop", "--datastream", "Z-Position",
                     "--datastream", "LED Shutter-State")  # fmt: skip
    assert "completed: " in output
    streams = open_acquisition(out).datastreams
    assert set(streams) == {"Z-Position", "LED Shutter-State"}
    assert [event for event in streams["Z-Position"]["event"] if event >= 0] == list(range(6))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--overflow", "fast"], "overflow 'fast' is not allowed; allowed: 'block'"),
        (["--datastream", "Nope-Position"], "--datastream 'Nope-Position' names no device's property"),
    ],
)
def test_a_bad_overflow_or_datastream_is_one_clear_error(tmp_path: Path, options: list[str], message: str) -> None:
    seq = tmp_path / "seq.yaml"
    seq.write_text(SEQ)
    out = tmp_path / "bad.ome.zarr"
    result = CliRunner().invoke(app, ["acquire", "-c", str(CFG), str(seq), "-o", str(out), *options])
    assert result.exit_code == 1 and message in " ".join(result.output.split()), result.output
    assert not out.exists()


CHILD = """
import sys
from mmkernel_core import Kernel
from mmkernel_core.cli import app

made = Kernel.__init__

def init(self, *args, **kwargs):  # say when the first frame is in the dataset
    made(self, *args, **kwargs)
    self.events.acquisition_frame_ready.connect(
        lambda acquisition, event, image, row: row["event"] == 0 and print("frame", flush=True))

Kernel.__init__ = init
app(["acquire", "-c", sys.argv[1], sys.argv[2], "-o", sys.argv[3]])
"""


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_cancels_the_run_and_leaves_a_finished_dataset(tmp_path: Path, sig: signal.Signals) -> None:
    seq = tmp_path / "long.yaml"
    seq.write_text("time_plan: {interval: 0.05, loops: 400}\nchannels: [DAPI]\n")
    out = tmp_path / "stopped.ome.zarr"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(CFG), str(seq), str(out)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert child.stdout is not None
    assert child.stdout.readline() == "frame\n"
    child.send_signal(sig)
    printed, errors = child.communicate(timeout=60)
    assert child.returncode == 0, errors
    assert "cancelled: " in printed
    data = open_acquisition(out)
    assert data.finished == "cancelled" and 1 <= len(data.frames) < 400
    yaozarrs.validate_zarr_store(str(out))
