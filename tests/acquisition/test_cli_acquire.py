"""`mmkernel acquire` runs a sequence file to a valid dataset, and --dry-run lists the events."""

from __future__ import annotations

from pathlib import Path

import pytest

useq = pytest.importorskip("useq")
yaozarrs = pytest.importorskip("yaozarrs")

from typer.testing import CliRunner  # noqa: E402

from mmkernel_core.acquisition import open_acquisition  # noqa: E402
from mmkernel_core.cli import app  # noqa: E402

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
