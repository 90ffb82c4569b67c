"""Where Micro-Manager's device-adapter libraries are, and what devices they offer.

Folders come from MMKERNEL_MM_ADAPTER_PATH (os.pathsep separated), then from a Micro-Manager
installation found the way pymmcore-plus finds one. Listing a module dlopens its library in a
private probe core, so the result is cached for the process.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("mmkernel.micromanager")

ENV_PATH = "MMKERNEL_MM_ADAPTER_PATH"
PREFIX = "mm:"
MM_TYPES = {
    2: "Camera", 3: "Shutter", 4: "State", 5: "Stage", 6: "XYStage", 7: "Serial", 8: "Generic",
    9: "AutoFocus", 10: "Core", 11: "ImageProcessor", 12: "SignalIO", 13: "Magnifier", 14: "SLM",
    15: "Hub", 16: "Galvo", 17: "PressurePump", 18: "VolumetricPump",
}  # fmt: skip
"""pymmcore's device type numbers (pymmcore.CameraDevice == 2, ...)."""


@dataclass(frozen=True)
class MMDeviceOffer:
    """One device a C++ module offers: its name, description and Micro-Manager type name."""

    module: str
    name: str
    description: str
    mm_type: str


def _lib_module(file_name: str) -> str | None:
    """The module name of a device-adapter library file, or None if it is not one."""
    for prefix in ("libmmgr_dal_", "mmgr_dal_"):
        if file_name.startswith(prefix):
            rest = file_name[len(prefix) :]
            for suffix in (".so.0", ".so", ".dll", ".dylib"):
                if rest.endswith(suffix):
                    return rest[: -len(suffix)] or None
            return rest if "." not in rest else None
    return None


def library_files(folder: Path) -> dict[str, Path]:
    """{module: library path} in one folder."""
    found: dict[str, Path] = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return found
    for entry in entries:
        module = _lib_module(entry.name)
        if module is not None and entry.is_file():
            found.setdefault(module, entry)
    return found


def _interface_version() -> int | None:
    try:
        import pymmcore
    except ImportError:
        return None
    return int(str(pymmcore.__version__).split(".")[3])  # X.Y.Z.<device interface>.N


def library_problem(path: Path) -> str:
    """Why a library cannot be used ('' if it looks usable): the dlerror MMCore drops, or an
    interface version that does not match pymmcore's."""
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as error:
        return f"cannot be loaded: {error}"
    wanted = _interface_version()
    try:
        version = int(lib.GetDeviceInterfaceVersion())
    except AttributeError:
        return "is not a Micro-Manager device adapter (no GetDeviceInterfaceVersion)"
    if wanted is not None and version != wanted:
        return f"has device interface version {version}; this pymmcore needs {wanted}"
    return ""


def find_micromanager() -> Path | None:
    """A Micro-Manager installation, as pymmcore-plus finds one: MICROMANAGER_PATH, the folder
    pymmcore-plus was told to use, its installs (newest first), then the application folders.
    Only folders holding an adapter library of pymmcore's interface version count."""
    env = os.environ.get("MICROMANAGER_PATH")
    if env and Path(env).is_dir():
        return Path(env)
    candidates: list[Path] = []
    data = _user_data_dir()
    current = data / "mm" / ".current_mm"
    if current.is_file():
        candidates.append(Path(current.read_text().strip()))
    candidates += sorted((data / "mm").glob("Micro-Manager*"), reverse=True)
    if sys.platform.startswith("linux"):
        candidates += sorted(Path("/usr/local/lib").glob("[mM]icro-[mM]anager*"), reverse=True)
    elif sys.platform == "darwin":
        candidates += sorted(Path("/Applications").glob("[mM]icro-[mM]anager*"), reverse=True)
    elif sys.platform == "win32":
        candidates += sorted(Path("C:/Program Files").glob("[mM]icro-[mM]anager*"), reverse=True)
    for folder in candidates:
        libs = library_files(folder)
        if any(not library_problem(p) for p in list(libs.values())[:3]):
            return folder
    return None


def _user_data_dir() -> Path:
    try:
        from platformdirs import user_data_dir

        return Path(user_data_dir("pymmcore-plus"))
    except ImportError:  # pragma: no cover - platformdirs comes with the SDK
        return Path.home() / ".local" / "share" / "pymmcore-plus"


def adapter_folders() -> list[Path]:
    """The folders searched, in order: MMKERNEL_MM_ADAPTER_PATH's, then the installation's."""
    folders = [Path(p) for p in os.environ.get(ENV_PATH, "").split(os.pathsep) if p.strip()]
    installed = find_micromanager()
    if installed is not None and installed not in folders:
        folders.append(installed)
    return folders


def modules(folders: list[Path] | None = None) -> dict[str, list[MMDeviceOffer]]:
    """{module: its devices} for every usable library in `folders` (default: adapter_folders()).
    A library that cannot be used is logged once with the reason and left out."""
    from .cores import core_groups

    global _discovered
    if folders is None:
        folders = _discovered = adapter_folders()
    key = tuple(str(f) for f in folders)
    cached = _listed.get(key)
    if cached is not None:
        return cached
    libraries: dict[str, Path] = {}
    for folder in folders:
        for module, path in library_files(folder).items():
            libraries.setdefault(module, path)  # MMCore also takes the first folder's
    result: dict[str, list[MMDeviceOffer]] = {}
    for module in core_groups().probe_modules([str(f) for f in folders]):
        path = libraries.get(module)
        problem = library_problem(path) if path is not None else ""
        if problem:
            log.warning("Micro-Manager library %s %s; its devices are not offered", path, problem)
            continue
        try:
            result[module] = core_groups().probe_devices(module, [str(f) for f in folders])
        except Exception as error:  # noqa: BLE001 - one broken library must not hide the others
            log.warning("Micro-Manager module %r (%s): %s", module, path, error)
    _listed[key] = result
    return result


_listed: dict[tuple[str, ...], dict[str, list[MMDeviceOffer]]] = {}


def forget_listings() -> None:
    """List the libraries' devices again at the next discovery (a new core factory answers anew)."""
    _listed.clear()


_discovered: list[Path] | None = None


def device_folders() -> list[Path]:
    """The folders of the last plugin discovery (a kernel offers a device class only after
    one): a device's core searches where its library was found, and each device load no
    longer looks for an installation again (100 us of file system look-ups each)."""
    return list(_discovered) if _discovered is not None else adapter_folders()
