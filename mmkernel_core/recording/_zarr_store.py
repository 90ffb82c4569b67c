"""The local zarr store a recording writes to a directory it made.

zarr's LocalStore replaces every key atomically through a temporary `<key>.<uuid>.partial`
beside it. For a metadata document (`zarr.json`) that is a group's own directory, so a process
killed in the middle of one (the root's progress is rewritten every second) leaves a stray
file that zarr warns about whenever it lists the group. Here those temporaries are made beside
the store instead (`.<store name>.<uuid>.partial` in its parent directory, the same file
system), where no zarr reader looks; chunks are written as zarr writes them (an array's
directory is never listed as members).
"""

from __future__ import annotations

import asyncio
import errno
import os
import uuid
from pathlib import Path

from zarr.core.buffer import Buffer
from zarr.storage import LocalStore


class RecordingStore(LocalStore):
    async def set(self, key: str, value: Buffer) -> None:
        await self._put_metadata(key, value, exclusive=False) or await super().set(key, value)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        await self._put_metadata(key, value, exclusive=True) or await super().set_if_not_exists(key, value)

    async def _put_metadata(self, key: str, value: Buffer, exclusive: bool) -> bool:
        """Write a metadata document through a temporary file beside the store; False for any
        other key (or where that cannot work: then zarr's own way is used)."""
        if key.rsplit("/", 1)[-1] != "zarr.json" or self.read_only:
            return False
        if not self._is_open:
            await self._open()
        return await asyncio.to_thread(_replace, self.root / key, self.root, value, exclusive)


def _replace(path: Path, root: Path, value: Buffer, exclusive: bool) -> bool:
    temporary = root.parent / f".{root.name}.{uuid.uuid4().hex}.partial"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(temporary, "xb") as file:
            file.write(value.as_buffer_like())
        if exclusive:
            os.link(temporary, path)  # FileExistsError if it is there: then it stays as it is
            os.unlink(temporary)
        else:
            os.replace(temporary, path)
    except FileExistsError:
        temporary.unlink(missing_ok=True)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.errno in (errno.EXDEV, errno.EACCES, errno.EPERM, errno.EROFS):  # the parent is elsewhere
            return False
        raise
    return True
