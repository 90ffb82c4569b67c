#!/usr/bin/env python3
"""Bootstrap and run: `python3 dev.py demo` or `python3 dev.py test` on a fresh machine.

Creates `.venv` beside this file, installs the project (and the first-party plugins) into it when
their pyproject files changed, then runs the demo or the test suite. Needs only Python >= 3.11.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def plugin_dirs() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))


def install_targets(extras: str) -> list[str]:
    return [f"{ROOT}[{extras}]", *(str(p) for p in plugin_dirs())]


def ensure_environment(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - the point is a clear message on old Pythons
        sys.exit(f"MMKernel needs Python >= 3.11; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    sources = [ROOT / "pyproject.toml", *(p / "pyproject.toml" for p in plugin_dirs())]
    digest = hashlib.sha256(extras.encode() + b"".join(s.read_bytes() for s in sources)).hexdigest()
    stamp = VENV / f".installed-{extras}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print("installing MMKernel and its plugins (editable)...", flush=True)
    editable = [arg for target in install_targets(extras) for arg in ("-e", target)]
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *editable],
        check=True,
    )
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "demo":
        ensure_environment("test")
        return subprocess.call([str(BIN / "mmkernel"), "demo", *rest])
    if command == "test":
        ensure_environment("test")
        return subprocess.call([str(PYTHON), "-m", "pytest", *rest], cwd=ROOT)
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
