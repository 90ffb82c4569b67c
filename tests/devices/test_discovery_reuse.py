"""Discovery done once per scan of the installed plugins is still discovery each time: every
Kernel asks the plugins' hooks again (their answers may depend on the environment), a plugin
that failed to import is tried again, and plugins given directly get a manager of their own."""

from __future__ import annotations

import sys
import types
from pathlib import Path

from mmkernel_core import Kernel
from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl
from mmkernel_sdk.testing import SimStage
from tests.support.plugin_factory import write_plugin


def test_every_kernel_asks_the_installed_plugins_hooks_again(site: Path) -> None:
    write_plugin(site, "counted", plugin_extra="CALLS = []", hook_body="CALLS.append(1)")
    for expected in (1, 2, 3):
        with Kernel() as kernel:
            assert "Adapter_counted" in [a.name for a in kernel.adapters.adapters()]
        assert len(sys.modules["mmk_test_counted.plugin"].CALLS) == expected  # type: ignore[attr-defined]
    with Kernel() as kernel:
        info = next(a for a in kernel.adapters.adapters() if a.name == "Adapter_counted")
        assert info.source == "counted"  # the distribution and plugin names are kept with the scan


def test_a_plugin_that_failed_to_import_is_tried_again(site: Path) -> None:
    marker = site / "vendor-sdk-installed"
    extra = f"import os\nif not os.path.exists({str(marker)!r}):\n    raise ImportError('vendor SDK not found')"
    write_plugin(site, "flaky", plugin_extra=extra)
    with Kernel() as kernel:
        assert "Adapter_flaky" not in [a.name for a in kernel.adapters.adapters()]
        (failure,) = [f for f in kernel.plugin_errors() if f.plugin == "flaky"]
        assert failure.distribution == "mmk-test-flaky" and "vendor SDK not found" in str(failure)
    marker.write_text("")  # the vendor SDK arrives; nothing on sys.path itself changed
    with Kernel() as kernel:
        assert "Adapter_flaky" in [a.name for a in kernel.adapters.adapters()]
        assert not [f for f in kernel.plugin_errors() if f.plugin == "flaky"]


def test_plugins_given_directly_do_not_join_the_installed_plugins_manager(site: Path) -> None:
    write_plugin(site, "installed")
    plugin = types.ModuleType("direct_only")
    plugin.mmkernel_adapters = hookimpl(  # type: ignore[attr-defined]
        lambda: [AdapterSpec("Direct", "", [DeviceSpec("Z", "Stage", "", SimStage)])]
    )
    with Kernel(plugins=[plugin]) as kernel:
        names = [a.name for a in kernel.adapters.adapters()]
        assert "Direct" in names and "Adapter_installed" in names
    with Kernel() as kernel:  # the next kernel without it does not see it
        names = [a.name for a in kernel.adapters.adapters()]
        assert "Direct" not in names and "Adapter_installed" in names
