"""Micro-Manager C++ adapters through the bridge vs bare pymmcore, in the same process.

Streams of the real DemoCamera (FastImage, Exposure 0, 16 bit) at 512x512 and 2048x2048 into
the camera's MMKernel buffer vs a bare `startSequenceAcquisition` + `popNextImage` loop; the
upstream demo configuration through the bridge vs `loadSystemConfiguration` (and, for the
kernel's own floor, the same file on MMKernel's Python demo devices); a property get
round trip vs a direct `getProperty`. Needs pymmcore and the adapters' folder in
MMKERNEL_TEST_MM_ADAPTERS (or MMKERNEL_MM_ADAPTER_PATH); without them it says why and exits 0.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import Figure, median, options, report

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "plugins" / "mmkernel-adapter-micromanager" / "tests" / "data" / "MMConfig_demo.cfg"


def _folder() -> str | None:
    for name in ("MMKERNEL_TEST_MM_ADAPTERS", "MMKERNEL_MM_ADAPTER_PATH"):
        value = os.environ.get(name, "").split(os.pathsep)[0]
        if value and Path(value).is_dir():
            return value
    return None


def _bare_stream(folder: str, size: int, frames: int) -> float:
    import pymmcore

    core = pymmcore.CMMCore()
    core.setDeviceAdapterSearchPaths([folder])
    core.loadDevice("C", "DemoCamera", "DCam")
    core.initializeDevice("C")
    _camera_settings(lambda n, v: core.setProperty("C", n, v), size)
    core.setCameraDevice("C")
    core.setCircularBufferMemoryFootprint(max(4, 16 * size * size * 2 // 2**20))
    start = time.perf_counter()
    core.startSequenceAcquisition("C", frames, 0, False)
    got = 0
    while got < frames:
        if core.getRemainingImageCount():
            core.popNextImage()
            got += 1
        elif not core.isSequenceRunning("C"):
            break
    elapsed = time.perf_counter() - start
    core.unloadAllDevices()
    if got < frames:
        print(f"{size}x{size}: bare pymmcore lost {frames - got} frames MMCore overwrote")
    return got / elapsed


def _camera_settings(set_property: object, size: int) -> None:
    for name, value in (("FastImage", "1"), ("PixelType", "16bit"), ("OnCameraCCDXSize", str(size)),
                        ("OnCameraCCDYSize", str(size)), ("Exposure", "0")):  # fmt: skip
        set_property(name, value)  # type: ignore[operator]


def _bridge_stream(kernel: object, size: int, frames: int) -> tuple[float, int]:
    k = kernel
    _camera_settings(lambda n, v: k.set_property("C", n, v), size)  # type: ignore[attr-defined]
    from mmkernel_sdk.errors import DeviceError

    start = time.perf_counter()
    k.start_sequence("C", frames, overflow="block")  # type: ignore[attr-defined]
    got = 0
    try:
        for _ in range(frames):
            k.pop_next("C").release()  # type: ignore[attr-defined]
            got += 1
    except DeviceError as error:  # MMCore overwrote frames the pop loop had not read: counted, reported
        print(f"{size}x{size}: {error}")
    elapsed = time.perf_counter() - start
    dropped = frames - got
    return got / elapsed, dropped


def main() -> None:
    opts = options()
    folder = _folder()
    try:
        import pymmcore
    except ImportError:
        pymmcore = None
    if folder is None or pymmcore is None:
        why = "pymmcore is not installed" if pymmcore is None else "MMKERNEL_TEST_MM_ADAPTERS names no adapters folder"
        print(f"skipped: {why}; the bridge benchmark needs the real DemoCamera adapter")
        return
    os.environ["MMKERNEL_MM_ADAPTER_PATH"] = folder
    from mmkernel_core import Kernel

    frames = 300 if opts.quick else 2000
    figures = []
    with Kernel(timeout=60) as k:
        k.load_device("C", "mm:DemoCamera", "DCam")
        k.initialize("C")
        k.set_buffer_size("C", 256)
        for size in (512, 2048):
            _bridge_stream(k, size, 30)  # warm: the first start allocates both buffers
            bridge, dropped = _bridge_stream(k, size, frames)
            bare = _bare_stream(folder, size, frames)
            print(f"{size}x{size}: bridge {bridge:.0f} fps ({dropped} dropped), bare pymmcore {bare:.0f} fps")
            figures.append(Figure(f"stream {size}x{size} 16-bit", bridge, bare, "fps", ">= 0.9", "bare pymmcore"))
        rounds = 200 if opts.quick else 2000
        t = time.perf_counter()
        for _ in range(rounds):
            k.get_property("C", "Gain")
        via = (time.perf_counter() - t) / rounds
    core = pymmcore.CMMCore()
    core.setDeviceAdapterSearchPaths([folder])
    core.loadDevice("C", "DemoCamera", "DCam")
    core.initializeDevice("C")
    t = time.perf_counter()
    for _ in range(rounds):
        core.getProperty("C", "Gain")
    direct = (time.perf_counter() - t) / rounds
    core.unloadAllDevices()
    figures.append(Figure("property get round trip", via * 1e6, direct * 1e6, "us", "", "direct pymmcore"))

    text = re.sub(r"^Device,([^,]+),(DemoCamera|Utilities),", r"Device,\1,mm:\2,", DEMO.read_text(), flags=re.M)
    cfg = Path(tempfile.mkdtemp()) / "demo_mm.cfg"
    cfg.write_text(text)
    refreshes, bare_refreshes = [], []
    with Kernel(timeout=60) as k:
        k.load_config(cfg)
        core = pymmcore.CMMCore()
        core.setDeviceAdapterSearchPaths([folder])
        core.loadSystemConfiguration(str(DEMO))
        for _ in range(5 if opts.quick else 20):
            t = time.perf_counter()
            k.update_cache()
            refreshes.append(time.perf_counter() - t)
            t = time.perf_counter()
            core.updateSystemStateCache()
            bare_refreshes.append(time.perf_counter() - t)
        core.unloadAllDevices()
    figures.append(Figure("full property refresh, demo cfg", median(refreshes) * 1e3, median(bare_refreshes) * 1e3,
                          "ms", "", "updateSystemStateCache"))  # fmt: skip

    loads, natives, bares = [], [], []
    for _ in range(3 if opts.quick else 10):
        for path, times in ((cfg, loads), (DEMO, natives)):  # the kernel's own floor: the Python demo devices
            with Kernel(timeout=60) as k:
                t = time.perf_counter()
                k.load_config(path)
                times.append(time.perf_counter() - t)
        core = pymmcore.CMMCore()
        core.setDeviceAdapterSearchPaths([folder])
        t = time.perf_counter()
        core.loadSystemConfiguration(str(DEMO))
        bares.append(time.perf_counter() - t)
        core.unloadAllDevices()
    figures.append(Figure("demo cfg load", median(loads) * 1e3, median(bares) * 1e3, "ms", "<= 1.5",
                          "loadSystemConfiguration"))  # fmt: skip
    figures.append(Figure("demo cfg load, Python demo devices", median(natives) * 1e3, median(bares) * 1e3, "ms",
                          "", "loadSystemConfiguration"))  # fmt: skip
    report(figures, opts)


if __name__ == "__main__":
    main()
