"""A BigTIFF file of one-strip grey pages that is a valid TIFF at every moment it is written, so a
process killed at any point (SIGKILL, SIGTERM) leaves a file readers take.

A page's pixels and its index entry (IFD) are written before the link to it (the previous IFD's
next-offset, one aligned 8-byte write), so the chain only ever reaches complete pages; what a kill
cuts short lies past the chain's end. The first page's ImageDescription is never overwritten
while a reader may be looking at it: a new text goes into a spare slot (or one appended at the
end when it outgrows them), and then the tag's count and offset are switched to it with one
16-byte write inside the file's first 4 KiB. tifffile's own writer links a page before writing its
IFD and overwrites the description in place, which a kill can leave half-written.

BigTIFF (8-byte offsets) always: an acquisition's size is not known ahead (adaptive runs), and
every OME-TIFF reader takes it.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

_HEADER = struct.pack("<2sHHHQ", b"II", 43, 8, 0, 0)  # little-endian BigTIFF, no page yet
_SHORT, _ASCII, _LONG, _RATIONAL, _LONG8 = 3, 2, 4, 5, 16
_SAMPLE_FORMAT = {"u": 1, "i": 2, "f": 3}
_FIRST_PAGE_OF_DISK = 4096  # writes inside one page of the page cache are not split by a kill


class PageFile:
    """`append(image, description)` per frame, `describe(text)` to replace the first page's
    description, `close()`; `pages` counts the pages in the chain."""

    def __init__(self, path: Path, shape: tuple[int, int], dtype: np.dtype) -> None:
        self.path = path
        self.shape, self.dtype = shape, np.dtype(dtype).newbyteorder("<")
        self.pages = 0
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        self._write(_HEADER, 0)
        self._end = len(_HEADER)
        self._link = 8  # where the next page's IFD offset goes: the header's, then each IFD's last field
        self._entry = 0  # the first IFD's ImageDescription entry (its count and offset follow 4 bytes in)
        self._slots: list[tuple[int, int]] = []  # description slots (offset, capacity)
        self._active = 0  # the slot the tag points at

    def append(self, image: np.ndarray, description: bytes | None = None, reserve: int = 0) -> None:
        """One page; the first one's `description` goes into a slot of `reserve` bytes (at least its size)."""
        data = np.ascontiguousarray(image, self.dtype)
        first = self.pages == 0
        count = 14 if first else 13
        ifd = self._end + ((4 * count - self._end) % 8)  # its next-offset field falls on 8 bytes
        end = ifd + 16 + 20 * count
        slot = (end, max(reserve, len(description or b"") + 1)) if first else None
        if slot is not None:
            end = slot[0] + slot[1]
        offset = end + (-end) % 16
        height, width = self.shape
        tags = [(256, _LONG, 1, width), (257, _LONG, 1, height), (258, _SHORT, 1, 8 * self.dtype.itemsize),
                (259, _SHORT, 1, 1), (262, _SHORT, 1, 1), (273, _LONG8, 1, offset), (277, _SHORT, 1, 1),
                (278, _LONG, 1, height), (279, _LONG8, 1, data.nbytes), (282, _RATIONAL, 1, 1 | 1 << 32),
                (283, _RATIONAL, 1, 1 | 1 << 32), (296, _SHORT, 1, 1),
                (339, _SHORT, 1, _SAMPLE_FORMAT[self.dtype.kind])]  # fmt: skip
        if slot is not None:
            text = (description or b"") + b"\0"
            tags.insert(5, (270, _ASCII, len(text), slot[0]))
            self._entry = ifd + 8 + 20 * 5
            assert self._entry + 20 <= _FIRST_PAGE_OF_DISK
            self._slots = [slot]
            self._write(text, slot[0])
        entries = b"".join(struct.pack("<HHQQ", *tag) for tag in tags)
        self._write(memoryview(data).cast("B"), offset)
        self._write(struct.pack("<Q", count) + entries + struct.pack("<Q", 0), ifd)
        self._write(struct.pack("<Q", ifd), self._link)  # now the page is in the chain
        self._link = ifd + 8 + 20 * count
        self._end = offset + data.nbytes
        self.pages += 1

    def describe(self, text: bytes, spare: int = 0) -> None:
        """The first page's description becomes `text`; an appended slot keeps `spare` bytes more."""
        if self.pages == 0:
            raise RuntimeError("describe: the file has no page yet")
        value = text + b"\0"
        fits = [i for i, (_, room) in enumerate(self._slots) if i != self._active and room >= len(value)]
        if fits:
            index = fits[0]
        else:
            offset = self._end + (-self._end) % 8
            self._end = offset + len(value) + spare
            inactive = [i for i in range(len(self._slots)) if i != self._active]
            index = inactive[0] if inactive else len(self._slots)
            self._slots[index:index + 1] = [(offset, len(value) + spare)]  # fmt: skip
        self._write(value, self._slots[index][0])
        self._write(struct.pack("<QQ", len(value), self._slots[index][0]), self._entry + 4)  # the switch
        self._active = index

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)

    def _write(self, data: bytes | memoryview, offset: int) -> None:
        view = memoryview(data).cast("B")
        while view:
            if hasattr(os, "pwrite"):
                done = os.pwrite(self._fd, view, offset)
            else:  # Windows: one writer thread owns the descriptor, so a seek then a write is the same
                os.lseek(self._fd, offset, os.SEEK_SET)
                done = os.write(self._fd, view)
            view, offset = view[done:], offset + done
