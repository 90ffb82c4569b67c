"""Every number a configuration holds is checked for what it is: a bad one (overflowing, nan,
inf, not whole, out of range) is a problem of its line, naming the file, the line, its text and
what is allowed, reported with the other problems; a failed load restores the previous system and
a partial load lists it in its report. Pixel sizes are never negative or non-finite (a NaN
would land in every recording's metadata), 0 still means "not calibrated"."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mmkernel_core import ConfigError, Kernel, PropertyError
from tests.support.paths import DATA

UPSTREAM = DATA / "MMConfig_demo_upstream.cfg"
UPSTREAM_LINES = UPSTREAM.read_text(encoding="utf-8").splitlines()
ADDED = len(UPSTREAM_LINES) + 1  # the line number of a line appended to the upstream file


def with_line(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "numbers.cfg"
    path.write_text("\n".join([*UPSTREAM_LINES, line]) + "\n", encoding="utf-8")
    return path


def assert_refused_with_its_line(k: Kernel, path: Path, line: str, allowed: str) -> None:
    """All or nothing: one ConfigError naming file, line, text and what is allowed, and the
    previous system back; partial: the problem in the report, everything else loaded."""
    k.load_config(UPSTREAM)
    k.set_property("Camera", "Exposure", 42.0)
    with pytest.raises(ConfigError) as caught:
        k.load_config(path)
    message = str(caught.value)
    assert f"numbers.cfg line {ADDED}: " in message and repr(line) in message and f"allowed: {allowed}" in message
    assert "the previous system was restored" in message and k.get_property("Camera", "Exposure") == 42.0
    report = k.load_config(path, partial=True)
    assert [(problem.line, problem.text) for problem in report.failed] == [(ADDED, line)]
    assert f"allowed: {allowed}" in report.failed[0].message and "LED Shutter" in report.loaded


NUMBERS = {
    "Label,Dichroic,1e400,Foo": "a whole number from 0",  # was a raw OverflowError, and no report
    "Label,Dichroic,-inf,Foo": "a whole number from 0",
    "Label,Dichroic,nan,Foo": "a whole number from 0",
    "Label,Dichroic,1.5,Foo": "a whole number from 0",  # was silently position 1
    "FocusDirection,Z,1e400": "-1, 0 or 1",
    "FocusDirection,Z,nan": "-1, 0 or 1",
    "FocusDirection,Z,0.5": "-1, 0 or 1",  # was silently 0
}


@pytest.mark.parametrize("line", NUMBERS)
def test_a_number_field_out_of_range_is_a_problem_of_its_line(k: Kernel, tmp_path: Path, line: str) -> None:
    assert_refused_with_its_line(k, with_line(tmp_path, line), line, NUMBERS[line])


CALIBRATIONS = {
    "PixelSize_um,Res10x,nan": "a finite number of um >= 0 (0: not calibrated)",
    "PixelSize_um,Res10x,inf": "a finite number of um >= 0 (0: not calibrated)",
    "PixelSize_um,Res10x,1e400": "a finite number of um >= 0 (0: not calibrated)",
    "PixelSize_um,Res10x,-0.5": "a finite number of um >= 0 (0: not calibrated)",
    "PixelSizeAffine,Res10x,1,0,nan,0,1,0": "six finite numbers",
    "PixelSizeAffine,Res10x,1,0,0,0,1e400,0": "six finite numbers",
    "PixelSizeAngle_dxdz,Res10x,inf": "a finite number",
    "PixelSizeAngle_dydz,Res10x,nan": "a finite number",
    "PixelSizeOptimalZ_Um,Res10x,1e400": "a finite number of um",
    "PixelSizeOptimalZ_Um,Res10x,-nan": "a finite number of um",
}


@pytest.mark.parametrize("line", CALIBRATIONS)
def test_a_pixel_size_calibration_that_is_not_finite_or_is_negative_is_a_problem_of_its_line(
    k: Kernel, tmp_path: Path, line: str
) -> None:
    assert_refused_with_its_line(k, with_line(tmp_path, line), line, CALIBRATIONS[line])
    config = k.pixel_size_config("Res10x")  # the resolution keeps its good lines
    assert config.pixel_size_um == 1.0 and all(math.isfinite(v) for v in config.affine)
    assert math.isfinite(config.angle_dxdz) and math.isfinite(config.angle_dydz) and math.isfinite(config.optimal_z_um)


def test_a_pixel_size_of_zero_still_means_not_calibrated(k: Kernel, tmp_path: Path) -> None:
    assert k.load_config(with_line(tmp_path, "PixelSize_um,Res10x,0")).ok
    assert k.pixel_size_um() == 0.0


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, "0.5", True])
def test_a_pixel_size_set_in_code_is_checked_too(k: Kernel, value: object) -> None:
    k.load_config(UPSTREAM)
    config = k.pixel_size_config("Res10x")
    refused = r"'Res10x': pixel size .* is not allowed; allowed: a finite number of um >= 0"
    with pytest.raises(ConfigError, match=refused):
        config.pixel_size_um = value  # type: ignore[assignment]
    with pytest.raises(ConfigError, match=r"'Res10x': affine transform .* allowed: six finite numbers"):
        config.affine = (1.0, 0.0, 0.0, 0.0, 1.0, math.nan)
    assert k.pixel_size_um() == 1.0 and config.affine == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@pytest.mark.parametrize("position", [1.5, 1.0, "1", True])
def test_a_state_position_given_in_code_must_be_a_whole_number(k: Kernel, position: object) -> None:
    k.load_config(UPSTREAM)
    labels = k.state_labels("Path")
    with pytest.raises(PropertyError, match=r"device 'Path': define_state_label position .* allowed: a whole number"):
        k.define_state_label("Path", position, "Side port")  # type: ignore[arg-type]
    assert k.state_labels("Path") == labels
