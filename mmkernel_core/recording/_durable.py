"""Making a finished recording durable: when `record()` says done, the data is on the disk."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path


def sync_tree(path: Path) -> None:
    """Flush every file under `path` (and the directories) to stable storage: one syncfs() of
    its file system on Linux, else an fsync per file."""
    if not path.exists():
        return
    libc_name = ctypes.util.find_library("c")
    syncfs = getattr(ctypes.CDLL(libc_name, use_errno=True), "syncfs", None) if libc_name else None
    if syncfs is not None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        fd = os.open(item, os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError:  # some file systems cannot fsync a directory; the files are what matters
            pass
        finally:
            os.close(fd)
