"""Build throwaway adapter plugins on disk, shaped exactly like installed distributions."""

from __future__ import annotations

import textwrap
from pathlib import Path

DEVICE_MODULE = '''
import {marker_module}
from mmkernel_sdk import Shutter

class {cls}(Shutter):
    """A shutter from plugin {name}."""

    def __init__(self):
        self._open = False

    def set_open(self, open):
        self._open = open

    def is_open(self):
        return self._open
'''

PLUGIN_MODULE = """
from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl
{extra}

@hookimpl
def mmkernel_adapters():
    {hook_body}
    return [AdapterSpec({adapter!r}, "Adapter from plugin {name}", [
        DeviceSpec("Shutter", "Shutter", "A test shutter", "{package}.devices:{cls}"),
    ])]
"""


def write_plugin(
    root: Path,
    name: str,
    adapter: str | None = None,
    *,
    plugin_extra: str = "",
    hook_body: str = "pass",
    marker_module: str = "json",
) -> str:
    """Write package `mmk_test_<name>` and its .dist-info under `root` (put `root` on sys.path).
    Returns the package name."""
    package = f"mmk_test_{name}"
    cls = f"{name.title().replace('_', '')}Shutter"
    pkg = root / package
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "devices.py").write_text(DEVICE_MODULE.format(marker_module=marker_module, cls=cls, name=name))
    (pkg / "plugin.py").write_text(
        PLUGIN_MODULE.format(
            extra=textwrap.dedent(plugin_extra),
            hook_body=hook_body,
            adapter=adapter or f"Adapter_{name}",
            name=name,
            package=package,
            cls=cls,
        )
    )
    info = root / f"mmk_test_{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mmk-test-{name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[mmkernel.adapters]\n{name} = {package}.plugin\n")
    return package
