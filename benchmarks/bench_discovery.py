"""Plugin discovery cost, and proof that it imports no device module.

20 throwaway plugin distributions are written to a temporary site directory; each one's device
module imports a "vendor SDK" that takes 50 ms to import. Measured in fresh interpreters:
- discovery: `Kernel()` until `kernel.adapters.adapters()` lists all 20 adapters;
- baseline: importing the 20 device modules (what listing would cost if it imported them).

    python benchmarks/bench_discovery.py [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests' plugin factory

from _util import Figure, options, report

from tests.support.plugin_factory import write_plugin

PLUGINS, SDK_IMPORT_S = 20, 0.05

DISCOVER = """
import sys, time
t0 = time.perf_counter()
from mmkernel_core import Kernel
imported = time.perf_counter() - t0
kernel = Kernel()
names = [a.name for a in kernel.adapters.adapters() if a.name.startswith("Adapter_bench")]
elapsed = time.perf_counter() - t0
assert len(names) == {count}, names
leaked = [m for m in sys.modules if m.startswith("mmk_test_bench") and m.endswith(".devices")]
print(elapsed, len(leaked), imported)
"""

IMPORT_ALL = """
import importlib, time
t0 = time.perf_counter()
for index in range({count}):
    importlib.import_module(f"mmk_test_bench{{index}}.devices")
print(time.perf_counter() - t0)
"""


def run(code: str, site: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def best(code: str, site: Path, repeats: int = 3) -> list[str]:
    runs = [run(code, site).split() for _ in range(repeats)]
    return min(runs, key=lambda fields: float(fields[0]))


def main() -> None:
    opts = options()
    repeats = 1 if opts.quick else 3
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder)
        for index in range(PLUGINS):
            sdk = f"slow_vendor_sdk_{index}"
            (site / f"{sdk}.py").write_text(f"import time\ntime.sleep({SDK_IMPORT_S})\n")
            write_plugin(site, f"bench{index}", marker_module=sdk)
        discovery_s, leaked, import_core_s = best(DISCOVER.format(count=PLUGINS), site, repeats)
        import_s = best(IMPORT_ALL.format(count=PLUGINS), site, repeats)[0]
    discovery, imports = float(discovery_s), float(import_s)
    print(f"plugins installed               : {PLUGINS} (device modules import a {SDK_IMPORT_S * 1000:.0f} ms SDK)")
    print(f"Kernel() -> adapters listed     : {discovery * 1000:8.1f} ms  (includes importing mmkernel_core)")
    print(f"  of which importing the kernel : {float(import_core_s) * 1000:8.1f} ms")
    print(f"importing all device modules    : {imports * 1000:8.1f} ms  (baseline)")
    print(f"device modules imported by list : {leaked}  (must be 0)")
    print(f"discovery / baseline            : {discovery / imports:8.3f}")
    name = f"Kernel() -> {PLUGINS} adapters listed, {leaked} device modules imported"
    report([Figure(name, discovery * 1e3, imports * 1e3, "ms", "<= 0.5", "importing the device modules")], opts)


if __name__ == "__main__":
    main()
