"""Plugin discovery: entry points + pluggy hooks, isolation of broken plugins and malformed specs,
conflicts, plugins given directly, and discovery that holds no lock a runner needs."""

from __future__ import annotations

import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

from mmkernel_core import Kernel, PluginError
from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl
from mmkernel_sdk.testing import Gate, SimShutter, SimStage
from tests.support.plugin_factory import write_plugin


def test_installed_plugin_is_discovered_and_its_devices_load(site: Path) -> None:
    write_plugin(site, "alpha")
    with Kernel() as kernel:
        names = [a.name for a in kernel.adapters.adapters()]
        assert "Adapter_alpha" in names
        info = next(a for a in kernel.adapters.adapters() if a.name == "Adapter_alpha")
        assert info.source == "alpha" and info.description == "Adapter from plugin alpha"
        kernel.load_device("S", "Adapter_alpha", "Shutter")
        kernel.initialize("S")
        kernel.set_shutter_open("S", True)
        assert kernel.get_shutter_open("S") is True
        assert kernel.get_property("S", "Description") == "A shutter from plugin alpha."


def test_a_plugin_installed_while_the_process_runs_is_found_by_the_next_kernel(site: Path) -> None:
    with Kernel() as kernel:  # discovery is remembered between kernels...
        assert "Adapter_late" not in [a.name for a in kernel.adapters.adapters()]
    write_plugin(site, "late")  # ...until a directory on sys.path changes (what pip install does)
    with Kernel() as kernel:
        assert "Adapter_late" in [a.name for a in kernel.adapters.adapters()]


def test_listing_adapters_does_not_import_device_modules(site: Path) -> None:
    write_plugin(site, "lazy")
    with Kernel() as kernel:
        kernel.adapters.adapters()
        assert "mmk_test_lazy.plugin" in sys.modules
        assert "mmk_test_lazy.devices" not in sys.modules
        kernel.load_device("S", "Adapter_lazy", "Shutter")
        assert "mmk_test_lazy.devices" in sys.modules


def test_plugin_that_fails_to_import_is_isolated(site: Path) -> None:
    write_plugin(site, "broken", plugin_extra="raise ImportError('vendor SDK libfoo.so not found')")
    write_plugin(site, "healthy")
    with Kernel() as kernel:
        names = [a.name for a in kernel.adapters.adapters()]
        assert "Adapter_healthy" in names and "Adapter_broken" not in names
        (failure,) = [f for f in kernel.plugin_errors() if f.plugin == "broken"]
        assert failure.distribution == "mmk-test-broken"
        assert "vendor SDK libfoo.so not found" in str(failure)


def test_plugin_whose_hook_raises_is_isolated(site: Path) -> None:
    write_plugin(site, "raiser", hook_body="raise RuntimeError('cannot enumerate')")
    write_plugin(site, "fine")
    with Kernel() as kernel:
        assert "Adapter_fine" in [a.name for a in kernel.adapters.adapters()]
        messages = [str(f) for f in kernel.plugin_errors()]
        assert any("plugin 'raiser'" in m and "cannot enumerate" in m for m in messages)


def test_two_plugins_claiming_one_adapter_name_conflict(site: Path) -> None:
    write_plugin(site, "first", adapter="Shared")
    write_plugin(site, "second", adapter="Shared")
    with Kernel() as kernel:
        assert "Shared" not in [a.name for a in kernel.adapters.adapters()]
        assert any("offered by several plugins (first, second)" in str(f) for f in kernel.plugin_errors())
        with pytest.raises(PluginError, match="'Shared' is offered by several plugins"):
            kernel.load_device("S", "Shared", "Shutter")


def test_device_module_that_fails_to_import_names_the_plugin(site: Path) -> None:
    write_plugin(site, "nolib", marker_module="mmk_no_such_vendor_sdk")
    with Kernel() as kernel:
        with pytest.raises(PluginError, match=r"plugin 'nolib'.*cannot import 'mmk_test_nolib.devices"):
            kernel.load_device("S", "Adapter_nolib", "Shutter")
        assert kernel.devices() == ["Core"]


def test_plugins_given_directly_without_entry_points() -> None:
    plugin = types.ModuleType("inline_plugin")

    @hookimpl
    def mmkernel_adapters() -> list[AdapterSpec]:
        devices = [DeviceSpec("Z", "Stage", "z", SimStage)]
        return [AdapterSpec("Inline", "given to Kernel(plugins=...)", devices)]

    plugin.mmkernel_adapters = mmkernel_adapters  # type: ignore[attr-defined]
    with Kernel(plugins=[plugin], discover=False) as kernel:
        assert [a.name for a in kernel.adapters.adapters()] == ["Inline", "SerialManager"]  # + the built-in
        kernel.load_device("Z", "Inline", "Z")
        assert kernel.device_type("Z") == "Stage"


def test_plugins_passed_directly_are_checked_like_installed_ones() -> None:
    plugin = types.ModuleType("direct_plugin")

    @hookimpl
    def mmkernel_adapters() -> list[AdapterSpec]:
        return [AdapterSpec("Direct", "x", (DeviceSpec("S", "Shutter", "shutter", SimShutter),))]

    plugin.mmkernel_adapters = mmkernel_adapters  # type: ignore[attr-defined]
    with Kernel(plugins=[plugin], discover=False) as kernel:
        kernel.load_device("S", "Direct", "S")
        assert kernel.plugin_errors() == []


def test_hook_returning_the_wrong_shape_is_reported() -> None:
    plugin = types.ModuleType("wrong_shape")
    plugin.mmkernel_adapters = hookimpl(lambda: {"not": "a list"})  # type: ignore[attr-defined]
    with Kernel(plugins=[plugin], discover=False) as kernel:
        assert [a.name for a in kernel.adapters.adapters()] == ["SerialManager"]  # only the built-in
        assert "must return a list of AdapterSpec" in str(kernel.plugin_errors()[0])


def test_malformed_plugin_specs_are_recorded_and_others_still_load(site: Path) -> None:
    bodies = {
        "nodevices": "return [AdapterSpec('X1', 'x', None)]",
        "notspecs": "return [AdapterSpec('X2', 'x', ['DCam'])]",
        "noname": "return [AdapterSpec(None, 'x', [])]",
        "notalist": "return 'DemoCamera'",
    }
    for name, body in bodies.items():
        write_plugin(site, name, hook_body=body)
    write_plugin(site, "fine")
    with Kernel() as kernel:
        failed = {f.plugin: str(f) for f in kernel.plugin_errors()}
        assert set(bodies) <= set(failed), failed
        assert "must be a list of DeviceSpec" in failed["nodevices"]
        assert "is not a DeviceSpec" in failed["notspecs"]
        assert "adapter name None" in failed["noname"]
        kernel.load_device("S", "Adapter_fine", "Shutter")


def test_declared_type_must_match_the_class(site: Path) -> None:
    plugin = types.ModuleType("liar")
    plugin.mmkernel_adapters = hookimpl(  # type: ignore[attr-defined]
        lambda: [AdapterSpec("Liar", "", [DeviceSpec("Z", "Camera", "", SimStage)])]
    )
    with Kernel(plugins=[plugin], discover=False) as kernel:
        with pytest.raises(PluginError, match="declared as Camera but SimStage is a Stage"):
            kernel.load_device("Z", "Liar", "Z")


def test_device_spec_rejects_unknown_types_and_bad_paths() -> None:
    with pytest.raises(ValueError, match="device_type 'Laser' is not one of"):
        DeviceSpec("L", "Laser", "", "a.b:C")
    with pytest.raises(ValueError, match=r"must look like 'package\.module:Class'"):
        DeviceSpec("L", "Shutter", "", "a.b.C")


def test_a_device_spec_with_a_bad_name_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="device name None"):
        DeviceSpec(None, "Shutter", "x", "a.b:C")  # type: ignore[arg-type]


def test_a_real_distribution_built_with_pip_is_discovered(tmp_path: Path) -> None:
    """Build and install a throwaway distribution with pip (offline, into a target directory),
    then ask a fresh interpreter to list adapters."""
    project = tmp_path / "project"
    write_plugin(project / "src", "built")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "mmk-test-built"\nversion = "1.0"\n'
        '[project.entry-points."mmkernel.adapters"]\nbuilt = "mmk_test_built.plugin"\n'
        "[tool.setuptools.packages.find]\nwhere = ['src']\n"
    )
    for stale in (project / "src").glob("*.dist-info"):
        for child in stale.iterdir():
            child.unlink()
        stale.rmdir()
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(target),
            str(project),
        ],
        check=True,
        capture_output=True,
    )
    listing = subprocess.run(
        [
            sys.executable,
            "-c",
            "from mmkernel_core import Kernel; print([a.name for a in Kernel().adapters.adapters()])",
        ],
        env={"PYTHONPATH": str(target), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Adapter_built" in listing.stdout


def test_plugin_discovery_holds_no_lock_a_runner_needs(site: Path) -> None:
    gate = Gate()
    import builtins

    builtins.__dict__["_mmk_discovery_gate"] = gate
    write_plugin(site, "slowimport", plugin_extra="import builtins\nbuiltins._mmk_discovery_gate.hold()")
    try:
        with Kernel(timeout=5) as kernel:
            kernel.load_device("Z", SimStage())
            kernel.initialize("Z")
            discovery = threading.Thread(target=lambda: kernel.adapters, daemon=True)
            discovery.start()
            gate.wait_entered()  # discovery is inside the slow plugin import
            kernel.unload("Z", timeout=1.0)  # needs the device table, not the discovery lock
            assert kernel.devices() == ["Core"]
            gate.release.set()
            discovery.join(5)
    finally:
        gate.release.set()
        del builtins.__dict__["_mmk_discovery_gate"]
