"""The bridge's behavioural tests run against the stand-in core everywhere, and against the real
DemoCamera/Utilities adapters when MMKERNEL_TEST_MM_ADAPTERS names a folder holding them."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mmkernel_adapter_micromanager", reason="the Micro-Manager bridge plugin is not installed")

from mmkernel_adapter_micromanager import set_core_factory

from mmkernel_core import Kernel

from .standin import StandInCore

REAL_ENV = "MMKERNEL_TEST_MM_ADAPTERS"
DATA = Path(__file__).resolve().parents[2] / "plugins" / "mmkernel-adapter-micromanager" / "tests" / "data"
DEMO = DATA / "MMConfig_demo.cfg"  # Micro-Manager's own demo configuration, unchanged
LABELS = ["Autofocus", "Camera", "DHub", "Dichroic", "Emission", "Excitation", "LED", "LED Shutter", "Objective",
          "Path", "White Light Shutter", "XY", "Z"]  # fmt: skip


def real_folder() -> str | None:
    """The real adapters' folder, or None (with pytest.skip's reason from `skip_reason`)."""
    folder = os.environ.get(REAL_ENV, "")
    return folder if folder and Path(folder).is_dir() else None


def skip_reason() -> str:
    try:
        import pymmcore  # noqa: F401
    except ImportError:
        return "pymmcore is not installed"
    return f"{REAL_ENV} does not name a folder of Micro-Manager DemoCamera/Utilities adapters"


@pytest.fixture(params=["standin", "real"])
def mm(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """'standin' or 'real': which core the bridge uses for this test."""
    monkeypatch.delenv("MMKERNEL_MM_PREFER", raising=False)
    monkeypatch.delenv("MMKERNEL_MM_GROUPING", raising=False)
    if request.param == "real":
        folder = real_folder()
        if folder is None or skip_reason().startswith("pymmcore"):
            pytest.skip(skip_reason())
        monkeypatch.setenv("MMKERNEL_MM_ADAPTER_PATH", folder)
        set_core_factory(None)
    else:
        monkeypatch.setenv("MMKERNEL_MM_ADAPTER_PATH", "")
        monkeypatch.setenv("MICROMANAGER_PATH", "/nonexistent-mm-path")
        set_core_factory(StandInCore)
    yield request.param
    set_core_factory(None)


@pytest.fixture
def real(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real adapters' folder (tests that need Utilities or the whole demo configuration)."""
    folder = real_folder()
    if folder is None or skip_reason().startswith("pymmcore"):
        pytest.skip(skip_reason())
    monkeypatch.setenv("MMKERNEL_MM_ADAPTER_PATH", folder)
    monkeypatch.delenv("MMKERNEL_MM_PREFER", raising=False)
    set_core_factory(None)
    yield folder
    set_core_factory(None)


@pytest.fixture
def mm_named(real: str, tmp_path: Path) -> Path:
    """The demo file with every module written as mm:<Module> (real adapters)."""
    text = re.sub(r"^Device,([^,]+),(DemoCamera|Utilities),", r"Device,\1,mm:\2,", DEMO.read_text(), flags=re.M)
    path = tmp_path / "MMConfig_demo_mm.cfg"
    path.write_text(text)
    return path


@pytest.fixture
def k(mm: str) -> Iterator[Kernel]:
    """A kernel whose C++ devices go into the core `mm` chose (the stand-in's or pymmcore's)."""
    with Kernel(timeout=10) as kernel:
        yield kernel


def load_demo(k: Kernel, label: str, name: str) -> str:
    """Load and initialize DemoCamera's `name` as `label` through the bridge."""
    k.load_device(label, "mm:DemoCamera", name)
    k.initialize(label)
    return label
