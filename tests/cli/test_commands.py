"""The command line, through typer's runner and as a real subprocess."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from mmkernel_core.cli import app
from tests.support.plugin_factory import write_plugin

runner = CliRunner()


def console_script() -> str:
    beside = Path(sys.executable).with_name("mmkernel")
    found = str(beside) if beside.exists() else shutil.which("mmkernel")
    assert found, "the `mmkernel` console script is not installed (run `python3 dev.py test`)"
    return found


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_demo_tours_the_demo_microscope() -> None:
    code, output = run("demo", "--frames", "20")
    assert code == 0, output
    for expected in ("loaded 13 devices", "XY arrived at (1000.0, 500.0)", "channel FITC", "streamed 20 frames",
                     "x 5 z planes, 10 frames in memory (2 hardware-sequenced runs), completed"):  # fmt: skip
        assert expected in output
    assert "Traceback" not in output


def test_console_script_runs_the_demo() -> None:
    done = subprocess.run([console_script(), "demo", "--frames", "10"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "frames/s" in done.stdout


def test_adapters_lists_the_demo_module() -> None:
    code, output = run("adapters")
    assert code == 0, output
    for expected in ("DemoCamera", "DCam", "DXYStage", "D-DA", "Utilities", "Multi Shutter"):
        assert expected in output


def test_adapters_reports_a_broken_plugin_and_strict_fails(tmp_path: Path) -> None:
    write_plugin(tmp_path, "clibroken", plugin_extra="raise ImportError('no vendor SDK')")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "", "COLUMNS": "200"}
    listing = subprocess.run([console_script(), "adapters"], capture_output=True, text=True, env=env, timeout=60)
    assert listing.returncode == 0
    assert "DemoCamera" in listing.stdout
    assert "plugin 'clibroken'" in listing.stderr and "no vendor SDK" in listing.stderr
    strict = subprocess.run(
        [console_script(), "adapters", "--strict"], capture_output=True, text=True, env=env, timeout=60
    )
    assert strict.returncode == 1


def test_devices_of_a_configuration() -> None:
    code, output = run("devices", "--config", "demo")
    assert code == 0, output
    for expected in ("Camera", "DCam", "Objective", "DObjective", "DHub"):
        assert expected in output


def test_props_shows_values_and_what_is_allowed() -> None:
    code, output = run("props", "Camera")
    assert code == 0, output
    assert "Exposure" in output and "MaximumExposureMs" in output and "pre-init" in output


def test_get_and_set() -> None:
    assert run("get", "Camera", "Exposure") == (0, "10.0\n")
    assert run("set", "Camera", "Binning", "2") == (0, "2\n")


def test_bad_value_is_a_clear_error_without_traceback() -> None:
    code, output = run("set", "Camera", "Binning", "3")
    assert code == 1
    assert "device 'Camera', property 'Binning': value '3' is not one of the allowed values" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("args", "shown"), [(("get", "Cam[/]", "Exposure"), "Cam[/]"), (("get", "Camera", "[bold]Expo"), "[bold]Expo")]
)
def test_cli_errors_show_what_the_user_typed(args: tuple[str, ...], shown: str) -> None:
    code = "import sys; from mmkernel_core.cli import main; sys.argv = ['mmkernel', *sys.argv[1:]]; main()"
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert shown in result.stderr


def test_unknown_label_and_unknown_config() -> None:
    code, output = run("get", "Camra", "Exposure")
    assert code == 1 and "did you mean 'Camera'" in output
    code, output = run("devices", "--config", "nope.cfg")
    assert code == 1 and "neither a file nor an example name" in output


def test_broken_configuration_names_the_line(tmp_path: Path) -> None:
    config = tmp_path / "broken.cfg"
    config.write_text("Device,Cam,DemoCamera,DCam\nProperty,Core,Initialize,1\nProperty,Cam,Binning,3\n")
    code, output = run("devices", "--config", str(config))
    assert code == 1
    assert "line 3" in output and "Binning" in output


@pytest.mark.parametrize(
    ("line", "what"),
    [("ConfigGroup,,Preset,Z,Position,1", "group name (field 2)"),
     ("ConfigGroup,Focus,,Z,Position,1", "preset name (field 3)"),
     ("ConfigGroup,Focus,Near,,Position,1", "device name (field 4)")],
)  # fmt: skip
def test_a_preset_line_with_an_empty_name_says_so(tmp_path: Path, line: str, what: str) -> None:
    """Empty fields collapse: the line would otherwise read as another group, preset and device
    ("no device loaded as 'Position'"); its problem is the empty name."""
    config = tmp_path / "gap.cfg"
    config.write_text(f"Device,Z,DemoCamera,DStage\nProperty,Core,Initialize,1\n{line}\n")
    code, output = run("devices", "--config", str(config))
    assert code == 1
    assert "line 3" in output and f"the {what} is empty" in output, output
    assert "no device loaded" not in output


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_snap_writes_an_image(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"image{suffix}"
    code, output = run("snap", "-o", str(target))
    assert code == 0, output
    image = np.load(target) if suffix == ".npy" else tifffile.imread(target)
    assert image.shape == (512, 512) and image.dtype == np.uint16  # the demo's Startup preset: BitDepth 16
    assert image.max() > 0


@pytest.mark.parametrize("name", ["run.ome.zarr", "run.ome.tif"])
def test_record_writes_the_demo_camera_and_says_what_it_wrote(tmp_path: Path, name: str) -> None:
    from mmkernel_core.recording import open_recording

    target = tmp_path / name
    code, output = run("record", "-n", "12", "-o", str(target), "--step", "bin:2")
    assert code == 0, output
    assert re.search(r"wrote 12 frames \(Camera 12x256x256\) to .*run\.ome\.(zarr|tif) in [0-9.]+ s: \d+ frames/s, "
                     r"\d+ MB/s, dropped 0", output), output  # fmt: skip
    data = open_recording(target)
    assert data.images["Camera"].shape == (12, 256, 256)
    assert data.metadata["configuration"]["file"].endswith("MMConfig_demo.cfg")
    code, output = run("record", "-n", "3", "-o", str(target))  # never over existing data
    assert code == 1 and "never overwrites data" in output and "Traceback" not in output


def test_record_refuses_a_bad_step_in_one_line(tmp_path: Path) -> None:
    code, output = run("record", "-n", "3", "-o", str(tmp_path / "r.ome.zarr"), "--step", "blur:3")
    assert code == 1 and "steps='blur:3' is not allowed" in output and "Traceback" not in output


def test_snap_refuses_unknown_formats(tmp_path: Path) -> None:
    code, output = run("snap", "-o", str(tmp_path / "image.png"))
    assert code == 1 and "use a .tif, .tiff or .npy" in output


def test_an_unwritable_output_is_one_line_and_exit_1(tmp_path: Path) -> None:
    code, output = run("snap", "-o", str(tmp_path / "missing_dir" / "x.tif"))
    assert code == 1
    assert "Traceback" not in output and output.strip().count("\n") == 0, output
    assert "error:" in output and "missing_dir" in output


def test_demo_with_a_configuration_lacking_a_role_names_it(tmp_path: Path) -> None:
    config = tmp_path / "camera_only.cfg"
    config.write_text(
        "Device,Cam,DemoCamera,DCam\nDevice,Z,DemoCamera,DStage\nProperty,Core,Initialize,1\n"
        "Property,Core,Camera,Cam\nProperty,Core,Focus,Z\n"
    )
    code, output = run("demo", "-c", str(config), "--frames", "5")
    assert code == 1, output
    assert "XYStage" in output and "Property,Core,XYStage,<label>" in output
    assert "Traceback" not in output


# -- user data printed verbatim, and limits for long runs ------------------------------------------
def test_paths_labels_and_errors_are_printed_verbatim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing the user gave is read as rich markup ("[run]") or an emoji code (":x:")."""
    monkeypatch.chdir(tmp_path)
    code, output = run("record", "-o", "[run].ome.zarr", "-n", "3")
    assert code == 0, output
    assert "to [run].ome.zarr in" in output and (tmp_path / "[run].ome.zarr").is_dir()
    code, output = run("snap", "-o", "a:x:b.npy")
    assert code == 0, output
    assert "wrote a:x:b.npy (" in output and "❌" not in output
    config = tmp_path / "odd.cfg"
    config.write_text("Device,Cam:x:[bold],DemoCamera,DCam\nProperty,Core,Initialize,1\n")
    code, output = run("devices", "-c", str(config))
    assert code == 0, output
    assert "Cam:x:[bold]" in output
    code, output = run("devices", "-c", "missing[red]:x:.cfg")
    assert code == 1 and "'missing[red]:x:.cfg'" in output and "❌" not in output


def test_record_stops_after_its_duration_or_size_limit(tmp_path: Path) -> None:
    code, output = run("record", "-o", str(tmp_path / "d.ome.zarr"), "--duration", "0.3")
    assert code == 0, output
    assert re.search(r"wrote \d+ frames", output)
    code, output = run("record", "-o", str(tmp_path / "s.ome.zarr"), "--max-gb", "0.002")
    assert code == 0, output
    written = int(re.search(r"wrote (\d+) frames", output)[1])  # type: ignore[index]
    assert 0 < written * 512 * 512 * 2 < 0.002e9 + 50 * 512 * 512 * 2  # stopped soon after 2 MB
    code, output = run("record", "-o", str(tmp_path / "x.ome.zarr"), "--duration", "-1")
    assert code == 1 and "--duration -1.0 is not allowed; allowed: a number > 0" in output


def test_record_warns_before_starting_when_the_disk_cannot_hold_the_plan(tmp_path: Path) -> None:
    code, output = run("record", "-o", str(tmp_path / "big.ome.zarr"), "-n", "1000000000000", "--duration", "0.2")
    assert code == 0, output
    assert re.search(r"warning: the recording plans [\d.]+ GB but .* has [\d.]+ GB free", output)
