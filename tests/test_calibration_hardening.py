"""Calibration storage under the ways it goes wrong for real users: test harnesses that must not
touch the user's store, values changed in place, a store opened before the serial number is
known, damaged files (the store's, the site layer's), file permissions, large histories,
values set before initialize, long and case-different labels, killed writers, revert's edges."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mmkernel_core import Kernel
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.calibration import Calibration, CalibrationFile, CalibrationWarning, store_path
from mmkernel_sdk.resources import SerialPort
from mmkernel_sdk.testing import DirectHarness, expected_protocol
from mmkernel_sdk.testing import conformance as kit


class Laser(Generic):
    """A laser that comes back at the power it was left at"""

    Power = prop(float, default=1.0, limits=(0.0, 100.0), units="mW", memorized=True)


def test_the_conformance_kit_does_not_write_into_the_users_real_calibration_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An adapter author adds `memorized=True` (as docs/sdk.md suggests) and runs the template's
    tests. `ConformanceTests.harness()` and `expected_protocol` build `DirectHarness(device)`,
    whose data_dir defaults to the user's real data directory (the generated projects have no
    conftest setting MMKERNEL_DATA_DIR). The kit's round trips set Power to 0, 50 and 100 mW and
    every set is memorized there; the next initialize of the *real* laser restores the kit's
    value. It also makes tests depend on each other and on the machine (a wire test gets an
    unexpected restore command). The testing harnesses should default to a throwaway store."""
    monkeypatch.delenv("MMKERNEL_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home-data"))  # where platformdirs puts the user's store
    kit.check_round_trips(lambda: DirectHarness(Laser()))
    written = sorted(p.relative_to(tmp_path) for p in (tmp_path / "home-data").rglob("*.json"))
    assert written == [], f"the conformance kit wrote into the user's calibration store: {written}"


class Scope(Generic):
    """Its serial number is read from the hardware, so only after initialize()"""

    serial_number_property = "SerialNumber"
    Offset = prop(float, default=0.0, limits=(-100.0, 100.0), units="um", memorized=True)

    def __init__(self) -> None:
        self.opened = False

    def initialize(self) -> None:
        self.opened = True

    @prop(str, read_only=True)
    def SerialNumber(self) -> str:
        if not self.opened:
            raise RuntimeError("the hardware is not open yet")
        return "SN-7"


def test_looking_at_the_store_before_initialize_does_not_move_it(tmp_path: Path) -> None:
    """`kernel.calibration("Scope")` before `initialize` (the serial number cannot be read yet)
    opens the label's store, and `Device.calibration` caches it for the device's lifetime: the
    memorized Offset set after initialize goes to 'label Scope.json'. The next session (store
    first opened after initialize) uses 'serial SN-7.json' and Offset comes back 0.0. The store
    should be re-resolved once the serial number is known (or not cached before initialize)."""
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Scope", Scope())
        kernel.calibration("Scope")  # e.g. a script printing what is stored
        kernel.initialize("Scope")
        kernel.set_property("Scope", "Offset", 2.5)
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Scope", Scope())
        kernel.initialize("Scope")
        assert kernel.get_property("Scope", "Offset") == 2.5


def test_changing_a_nested_value_in_place_is_saved_or_refused(tmp_path: Path) -> None:
    """`store["focus_offset_um"]["FITC"] = 0.5` changes the store's cached document in place:
    every later read in this process says 0.5, nothing is written, and the change vanishes at
    the next write of any key (the cache is re-read) or in the next session. Reads should hand
    out copies (or read-only views), so what the process sees is what is stored."""
    path = tmp_path / "store.json"
    store = Calibration(CalibrationFile(path, {}))
    store["focus_offset_um"] = {"DAPI": 0.0, "FITC": 0.4}
    store["focus_offset_um"]["FITC"] = 0.5  # looks like it worked ...
    seen_here = store["focus_offset_um"]["FITC"]
    on_disk = Calibration(CalibrationFile(path, {}))["focus_offset_um"]["FITC"]
    assert seen_here == on_disk, f"this process sees {seen_here}, the store holds {on_disk}"


def test_a_corrupt_store_without_a_backup_does_not_stop_the_device(tmp_path: Path) -> None:
    """The first version of a store has no .bak. If it is damaged (a hand edit with a typo, a
    disk error), initialize fails ('initialize failed: CalibrationError: ... corrupt') for every
    device with a memorized property, and every later write raises too: the instrument cannot
    be used until someone finds and deletes the file. Initialize should warn (memorized values
    not restored) and carry on; a write should set the corrupt file aside (e.g. .corrupt)."""
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Laser", Laser())
        kernel.initialize("Laser")
        kernel.set_property("Laser", "Power", 5.0)  # the first version: no .bak yet
        path = kernel.calibration("Laser").path
    path.write_text('{"values": {"property Power": 5.0,}}')  # one stray comma
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Laser", Laser())
        kernel.initialize("Laser")  # the memorized value cannot be read: logged, not fatal
        with pytest.warns(CalibrationWarning, match="set aside and a new store is started"):
            kernel.set_property("Laser", "Power", 6.0)
        assert kernel.calibration("Laser")["property Power"] == 6.0
    assert [p.name for p in path.parent.glob("*.corrupt-*")]  # kept for a human to look at


def test_store_files_follow_the_umask_so_a_site_layer_can_be_shared(tmp_path: Path) -> None:
    """Every write goes through tempfile.mkstemp, which creates files 0600 whatever the umask:
    after one write the store (and its .bak) is readable by its owner only. Copy a user's
    stores to the lab-wide site layer, or share a data directory between the accounts of a
    microscope PC, and every other user gets 'calibration file ... is unreadable or corrupt:
    Permission denied' - at initialize, for devices with memorized properties. Files should
    get 0666 & ~umask (or the mode of the file they replace)."""
    umask = os.umask(0o022)
    os.umask(umask)
    path = store_path(tmp_path, "calibration", "Adapter", "Device", "label X")
    Calibration(CalibrationFile(path, {}))["pixel_size_um"] = 0.325
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o666 & ~umask, f"{path.name} is {oct(mode)}, the umask {oct(umask)} allows {oct(0o666 & ~umask)}"


class Dimmer(Generic):
    """A setting that may be given before initialize and is remembered"""

    Level = prop(float, default=1.0, limits=(0.0, 10.0), before_init=True, memorized=True)


def test_a_value_set_before_initialize_is_not_overwritten_by_the_memorized_one(tmp_path: Path) -> None:
    """`before_init=True, memorized=True`: a configuration (or a script) sets Level = 2 before
    initialize; at initialize `restore_memorized` writes last session's 5 over it, silently.
    What the user asked for in this session should win (and be memorized)."""
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Dimmer", Dimmer())
        kernel.initialize("Dimmer")
        kernel.set_property("Dimmer", "Level", 5.0)
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Dimmer", Dimmer())
        kernel.set_property("Dimmer", "Level", 2.0)  # before initialize: allowed for before_init
        kernel.initialize("Dimmer")
        assert kernel.get_property("Dimmer", "Level") == 2.0


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


class Meter(Generic):
    """Names its serial number, has no memorized property, never uses calibration"""

    port = SerialPort(terminator="\r")
    serial_number_property = "SerialNumber"
    SerialNumber = prop(str, query="SN?")


def test_initialize_does_not_ask_for_the_serial_number_when_nothing_is_memorized() -> None:
    """`restore_memorized` opens the calibration store at every initialize, even when the
    device has no memorized property; opening it reads `serial_number_property`, which for a
    command property is one more query on the wire. The wire test for initialize must list
    `SN?` twice ('the device sent b'SN?\\r' after the last expected exchange') and real
    hardware gets an extra round trip. Open the store only when something is memorized."""
    with expected_protocol(Meter, [("SN?\r", "123\r")]):  # the kernel's read of every property
        pass


def test_a_killed_writer_leaves_no_temporary_file_behind(tmp_path: Path) -> None:
    """A writer killed after writing its temporary file (before the renames) leaves
    '<store>.json.<random>.tmp' in the store's folder, and nothing ever removes it: with big
    values (the kill test writes 400,000-element lists) every crash leaves megabytes. The next
    writer, holding the lock, should remove stale temporary files of its store."""
    path = store_path(tmp_path, "calibration", "Adapter", "Device", "label X")
    program = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from mmkernel_sdk.calibration import Calibration, CalibrationFile
        store = Calibration(CalibrationFile(Path({str(path)!r}), {{}}))
        store["a"] = 1
        real_replace = os.replace
        def killed(*args):  # dies after the temporary file is complete, before the renames
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace = killed
        store["a"] = [2] * 100000
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    store = Calibration(CalibrationFile(path, {}))
    assert store["a"] == 1  # the previous version: that part holds
    store["b"] = 2  # the next write
    left = sorted(p.name for p in path.parent.iterdir() if p.name.endswith(".tmp"))
    assert left == [], f"temporary files left behind: {left}"


def test_revert_to_a_deleted_state_when_the_key_is_deleted_again() -> None:
    """History [set 1, delete, set 2, delete]: `revert(key, 2)` goes back to 'deleted' (the
    state after the first delete), which is where the key already is; `revert` calls
    `del self[key]` and raises KeyError('k') instead of recording the (no-op) revert."""
    store = Calibration(CalibrationFile(Path(os.environ["MMKERNEL_DATA_DIR"]) / "revert-deleted.json", {}))
    store["k"] = 1
    del store["k"]
    store["k"] = 2
    del store["k"]
    assert store.revert("k", 2) is None
    assert "k" not in store


def test_a_read_only_property_cannot_be_declared_memorized() -> None:
    """`prop(..., read_only=True, memorized=True)` is accepted, but a read-only property is never
    set, so nothing is ever memorized (and restoring one would write to a read-only property).
    `pre_init` + `memorized` is refused with a clear message at declaration; so should this."""
    with pytest.raises((ValueError, TypeError)):

        class Gauge(Generic):
            """d"""

            Reading = prop(float, default=1.0, read_only=True, memorized=True)


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


def test_a_broken_site_layer_does_not_break_the_users_own_store(tmp_path: Path) -> None:
    """The site layer is read-only and lab-wide (a share an administrator fills). If one of its
    files is damaged or unreadable (a truncated copy; or the 0600 files a user's store gets,
    copied there), `Calibration._values()` loads both layers for every read, so reading any
    key of the user's own store raises CalibrationError and every device with a memorized
    property fails to initialize, for every user of the lab. A bad site file should be a
    warning (site values unavailable), not an error for the user's layer."""
    site = tmp_path / "site"
    with Kernel(data_dir=tmp_path / "user", site_data_dir=site) as kernel:
        kernel.load_device("Laser", Laser())
        kernel.initialize("Laser")
        kernel.set_property("Laser", "Power", 5.0)
        relative = kernel.calibration("Laser").path.relative_to(tmp_path / "user")
    (site / relative).parent.mkdir(parents=True)
    (site / relative).write_text('{"values": {"pixel_size_um": 0.3')  # a copy cut short
    with Kernel(data_dir=tmp_path / "user", site_data_dir=site) as kernel:
        kernel.load_device("Laser", Laser())
        with pytest.warns(CalibrationWarning, match="site layer unavailable"):
            kernel.initialize("Laser")
        assert kernel.get_property("Laser", "Power") == 5.0


def test_the_history_of_a_large_value_does_not_make_every_write_slow(tmp_path: Path) -> None:
    """History is bounded by count (50 per key), not by size, and lives in the same JSON file
    that every write re-serialises and fsyncs. Store a 256x256 flat-field (3 MB as JSON) and
    update it 20 times: the file is ~36 MB (and so is the .bak), and *every* later write of
    any key - a memorized property set, on the device's own thread - takes seconds (measured:
    ~4.5 s after 30 updates; a new session's first read ~0.7 s). History should be bounded in
    bytes too (or kept out of the file that is rewritten on each change)."""
    import numpy as np

    path = tmp_path / "store.json"
    store = Calibration(CalibrationFile(path, {}))
    flat = np.random.default_rng(0).random((256, 256))
    store["flat_field"] = flat
    one_version = path.stat().st_size
    for _ in range(19):
        store["flat_field"] = flat
    assert path.stat().st_size < 3 * one_version, (
        f"one version is {one_version / 1e6:.1f} MB, the store after 20 updates {path.stat().st_size / 1e6:.1f} MB"
    )


def test_update_is_an_atomic_read_modify_write(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    first, second = Calibration(CalibrationFile(path, {})), Calibration(CalibrationFile(path, {}))
    first["focus"] = {"DAPI": 0.0}
    second.update("focus", lambda focus: {**focus, "FITC": 0.5})  # another writer, meanwhile
    assert first.update("focus", lambda focus: {**focus, "TRITC": 0.7}) == {"DAPI": 0.0, "FITC": 0.5, "TRITC": 0.7}
    assert first.update("counts", lambda n: n + 1, 0) == 1


def test_revert_past_the_first_change_means_the_key_did_not_exist(tmp_path: Path) -> None:
    store = Calibration(CalibrationFile(tmp_path / "store.json", {}))
    store["k"] = 1
    assert store.revert("k") is None and "k" not in store
    with pytest.raises(Exception, match="cannot go back 9"):
        store.revert("k", 9)
