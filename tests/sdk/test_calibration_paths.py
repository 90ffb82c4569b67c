"""Where calibration stores live: no label, key or serial number makes a path outside the store;
path components are escaped reversibly, stay distinct on case-insensitive file systems (and
under Windows' dropping of a trailing dot or space) and fit a file name, however long the label."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmkernel_core import Kernel
from mmkernel_sdk.calibration import safe_component, store_path
from tests.support.calibration import Laser, Scope


@pytest.mark.parametrize(
    "label",
    ["..", "../../escape", "/etc/passwd", "a/b", "C:\\Windows", "NUL", "con.txt", "lpt1", "x\x00y", "..\\..", ".", " "],
)
def test_no_label_or_key_can_make_a_path_outside_the_store(tmp_path: Path, label: str) -> None:
    root = tmp_path / "store"
    path = store_path(root, "calibration", label, label, label)
    assert Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))
    assert "\x00" not in str(path) and all(part not in ("..", ".") for part in path.relative_to(root).parts)
    if label.strip():  # kernel labels cannot be blank
        with Kernel(data_dir=root) as kernel:
            device = Scope()
            device._props.store("SerialNumber", label)  # a serial number is hardware output: anything
            kernel.load_device("L" + label.replace(",", ""), device)
            kernel.initialize("L" + label.replace(",", ""))
            kernel.calibration("L" + label.replace(",", ""))[label.replace("\x00", "") or "k"] = 1
        written = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert written and all(Path(os.path.realpath(p)).is_relative_to(os.path.realpath(root)) for p in written)


def test_path_components_are_escaped_reversibly() -> None:
    assert safe_component("sn-42") == "sn-42"
    assert safe_component("a/b") == "a%2Fb" and safe_component("..") == "%2E%2E" and safe_component("nul") == "%nul"
    assert safe_component("a/b") != safe_component("a%2Fb".replace("%", "%25"))
    assert safe_component("x.") == "x%2E" and safe_component("x ") == "x%20"  # Windows drops a trailing dot/space


def test_components_stay_distinct_on_case_insensitive_file_systems_and_fit_a_file_name() -> None:
    names = ["Cam", "cam", "CAM", "SN-42", "sn-42"]
    folded = {safe_component(name).casefold() for name in names}
    assert len(folded) == len(names)
    long = safe_component("显微镜相机" * 30)
    assert len(long.encode()) <= 130 and long != safe_component("显微镜相机" * 31)


def test_labels_that_differ_only_in_case_or_a_trailing_dot_get_different_files_everywhere(tmp_path: Path) -> None:
    """On Windows and on macOS's default file system names are case-insensitive, and Windows
    drops a trailing dot or space: 'Cam'/'cam', and a device name 'X.'/'X ' (escaped to '%X.'
    and '%X ') name the same file there, so two devices share one calibration store.
    `safe_component` should escape upper-case letters (or add a hash of the exact text) and
    escape a trailing dot/space rather than only prefix '%'."""

    def windows_name(path: Path) -> str:
        return "/".join(part.rstrip(" .").casefold() for part in path.relative_to(tmp_path).parts)

    pairs = [
        (("Adapter", "Device", "label Cam"), ("Adapter", "Device", "label cam")),
        (("Adapter", "X.", "label L"), ("Adapter", "X ", "label L")),
    ]
    for first, second in pairs:
        a, b = store_path(tmp_path, *first), store_path(tmp_path, *second)
        assert windows_name(a) != windows_name(b), f"{first} and {second} share {windows_name(a)} on Windows/macOS"


def test_a_long_label_still_has_a_usable_store(tmp_path: Path) -> None:
    """Every non-ASCII character is escaped to %XX per UTF-8 byte (9 characters for one CJK
    character), and nothing bounds the result: a 30-character Chinese label (or ~240 ASCII
    characters) gives a file name over 255 bytes. Memorized values are then never saved (a
    logged OSError 'File name too long') and `kernel.calibration(label)[key] = v` raises a bare
    OSError. Long components should be shortened (prefix + hash), keeping them unique."""
    label = "显微镜相机" * 6
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device(label, Laser())
        kernel.initialize(label)
        kernel.calibration(label)["pixel_size_um"] = 0.325
        assert kernel.calibration(label)["pixel_size_um"] == 0.325
