"""Calibration storage: persistence, atomic and locked writes, history, corruption, path safety,
memorized properties."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from mmkernel_core import Kernel
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.calibration import CalibrationError, CalibrationWarning, safe_component, store_path

PROGRAM = """
import sys, time
from mmkernel_core import Kernel
from mmkernel_sdk import Generic, prop

class Scope(Generic):
    '''A device with a serial number'''
    serial_number_property = "SerialNumber"
    SerialNumber = prop(str, default="SN-42", read_only=True)

data_dir, label, action = sys.argv[1], sys.argv[2], sys.argv[3]
with Kernel(data_dir=data_dir) as k:
    k.load_device(label, Scope())
    k.initialize(label)
    cal = k.calibration(label)
    if action == "write":
        cal[sys.argv[4]] = float(sys.argv[5])
    elif action == "many":
        for n in range(int(sys.argv[5])):
            cal[f"{sys.argv[4]}{n}"] = n
    elif action == "churn":  # big values, one after another, until killed
        n = 1
        cal["big"] = {"version": n, "data": [n] * 400_000}
        print("ready", flush=True)  # one complete version exists; the kill lands anywhere after
        while True:
            n += 1
            cal["big"] = {"version": n, "data": [n] * 400_000}
"""


class Scope(Generic):
    """A device with a serial number"""

    serial_number_property = "SerialNumber"
    SerialNumber = prop(str, default="SN-42", read_only=True)
    Focus = prop(float, default=0.0, limits=(-100, 100), memorized=True, units="um")

    def __init__(self) -> None:
        self.focus_written: list[float] = []

    @Focus.setter
    def Focus(self, value: float) -> None:
        self.focus_written.append(value)


def scope(kernel: Kernel, label: str = "Scope", serial: str | None = None) -> Scope:
    device = Scope()
    if serial is not None:
        device._props.store("SerialNumber", serial)
    kernel.load_device(label, device)
    kernel.initialize(label)
    return device


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "calibrate.py"
    script.write_text(textwrap.dedent(PROGRAM))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)


def test_values_persist_across_kernels_and_numpy_is_stored_as_lists(tmp_path: Path) -> None:
    affine = np.array([[1.0, 0.01, 5.0], [-0.01, 1.0, 7.0]])
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel)
        calibration = kernel.calibration("Scope")
        calibration["pixel_size_um"] = np.float64(0.65)
        calibration["camera_to_stage"] = affine
        calibration["filter_offsets_um"] = {"DAPI": 0.0, "GFP": 0.4}
        path = calibration.path
    assert path.is_relative_to(tmp_path) and "SN-42" in str(path)
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel, label="AnotherLabel")  # same instrument (serial), other label: the same store
        calibration = kernel.calibration("AnotherLabel")
        assert calibration["pixel_size_um"] == 0.65
        np.testing.assert_array_equal(np.asarray(calibration["camera_to_stage"]), affine)
        assert dict(calibration)["filter_offsets_um"] == {"DAPI": 0.0, "GFP": 0.4}


def test_other_serial_numbers_have_other_stores(tmp_path: Path) -> None:
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel, "A", serial="SN-1")
        scope(kernel, "B", serial="SN-2")
        kernel.calibration("A")["x"] = 1
        assert "x" not in kernel.calibration("B")


def test_values_that_cannot_be_stored_are_refused(tmp_path: Path) -> None:
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel)
        calibration = kernel.calibration("Scope")
        with pytest.raises(ValueError, match=r"calibration 'bad': nan is not a finite number"):
            calibration["bad"] = float("nan")
        with pytest.raises(TypeError, match=r"object .* cannot be stored"):
            calibration["bad"] = object()
        with pytest.raises(KeyError, match="non-empty text"):
            calibration["with\x00nul"] = 1
        assert "bad" not in calibration


def test_values_persist_across_processes(tmp_path: Path) -> None:
    done = run(tmp_path, str(tmp_path / "data"), "Scope", "write", "pixel_size_um", "0.325")
    assert done.returncode == 0, done.stderr
    with Kernel(data_dir=tmp_path / "data") as kernel:
        scope(kernel)
        assert kernel.calibration("Scope")["pixel_size_um"] == 0.325


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    script = tmp_path / "calibrate.py"
    script.write_text(textwrap.dedent(PROGRAM))
    data = str(tmp_path / "data")
    writers = [
        subprocess.Popen([sys.executable, str(script), data, "Scope", "many", prefix, "60"], stderr=subprocess.PIPE)
        for prefix in ("a", "b")
    ]
    for writer in writers:
        assert writer.wait(120) == 0, writer.stderr.read() if writer.stderr else ""
    with Kernel(data_dir=data) as kernel:
        scope(kernel)
        keys = set(kernel.calibration("Scope"))
    assert keys == {f"{p}{n}" for p in "ab" for n in range(60)}


def test_a_writer_killed_mid_write_leaves_a_complete_version(tmp_path: Path) -> None:
    script = tmp_path / "calibrate.py"
    script.write_text(textwrap.dedent(PROGRAM))
    data = tmp_path / "data"
    versions = []
    for round_ in range(6):
        command = [sys.executable, str(script), str(data), "Scope", "churn"]
        writer = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.07 * round_)  # let it be somewhere in a write: a kill at an arbitrary point
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
        with Kernel(data_dir=data) as kernel:
            scope(kernel)
            big = kernel.calibration("Scope").get("big")
        assert big is not None, "a completed version was lost"
        assert big["data"] == [big["version"]] * 400_000  # complete, never half a write
        versions.append(big["version"])
    assert len(versions) == 6


def test_history_and_revert(tmp_path: Path) -> None:
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel)
        calibration = kernel.calibration("Scope")
        for value in (1.0, 2.0, 3.0):
            calibration["z_offset_um"] = value
        history = calibration.history("z_offset_um")
        assert [c.value for c in history] == [1.0, 2.0, 3.0] and history[0].time <= history[-1].time
        assert "pid" in history[-1].by
        assert calibration.revert("z_offset_um") == 2.0
        assert calibration["z_offset_um"] == 2.0
        assert calibration.revert("z_offset_um", steps=3) == 1.0  # 3.0 -> 2.0 -> back past both
        del calibration["z_offset_um"]
        assert "z_offset_um" not in calibration and calibration.history("z_offset_um")[-1].deleted
        with pytest.raises(CalibrationError, match="cannot go back 99 change"):
            calibration.revert("z_offset_um", steps=99)


def test_a_corrupt_file_is_named_and_the_last_good_version_is_used(tmp_path: Path) -> None:
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel)
        calibration = kernel.calibration("Scope")
        calibration["a"] = 1
        calibration["a"] = 2  # the previous version (a = 1) is the backup now
        path = calibration.path
    path.write_text("{ not json")
    with Kernel(data_dir=tmp_path) as kernel:
        with pytest.warns(CalibrationWarning, match=rf"{path.name} is unreadable or corrupt.*last good version"):
            scope(kernel)  # initialize reads the store (memorized properties)
        calibration = kernel.calibration("Scope")
        assert calibration["a"] == 1
        with pytest.warns(CalibrationWarning):
            calibration["b"] = 3  # writing repairs the file from the last good version
        assert json.loads(path.read_text())["values"] == {"a": 1, "b": 3}
        path.write_text("garbage")
        path.with_name(path.name + ".bak").write_text("garbage too")
        with pytest.raises(CalibrationError, match=r"unreadable or corrupt.*and its backup too"):
            calibration["a"]


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


def test_the_site_layer_lies_under_the_users_and_is_read_only(tmp_path: Path) -> None:
    with Kernel(data_dir=tmp_path / "site") as kernel:  # the lab writes its site values once
        scope(kernel)
        kernel.calibration("Scope")["pixel_size_um"] = 0.5
        kernel.calibration("Scope")["lamp_hours"] = 100
    with Kernel(data_dir=tmp_path / "user", site_data_dir=tmp_path / "site") as kernel:
        scope(kernel)
        calibration = kernel.calibration("Scope")
        assert calibration["pixel_size_um"] == 0.5  # from the site layer
        calibration["pixel_size_um"] = 0.45  # the user's own value wins
        assert calibration["pixel_size_um"] == 0.45 and calibration["lamp_hours"] == 100
        with pytest.raises(KeyError, match="read-only site layer"):
            del calibration["lamp_hours"]
    site_file = next((tmp_path / "site").rglob("*.json"))
    assert json.loads(site_file.read_text())["values"]["pixel_size_um"] == 0.5  # untouched


def test_memorized_properties_are_saved_and_written_back_at_initialize(tmp_path: Path) -> None:
    with Kernel(data_dir=tmp_path) as kernel:
        first = scope(kernel)
        kernel.set_property("Scope", "Focus", 12.5)
        assert first.focus_written == [12.5]
        assert kernel.calibration("Scope")["property Focus"] == 12.5
    with Kernel(data_dir=tmp_path) as kernel:
        second = scope(kernel)
        assert second.focus_written == [12.5]  # the hardware was told at initialize
        assert kernel.get_property("Scope", "Focus") == 12.5


def test_a_memorized_value_no_longer_allowed_is_skipped_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel)
        kernel.calibration("Scope")["property Focus"] = 500.0  # outside today's limits
        kernel.unload("Scope")
        device = scope(kernel)
        kernel.events.flush()
    assert device.focus_written == []
    assert "memorized 'Focus' = 500.0 not restored" in caplog.text


def test_pre_init_properties_cannot_be_memorized() -> None:
    with pytest.raises(ValueError, match="pre-init properties cannot be memorized"):

        class Bad(Generic):
            Port = prop(str, default="", pre_init=True, memorized=True)

        Bad()
