"""Where a device's calibration file lives, and why no label or key can escape the store.

Every path component is escaped, not checked: letters, digits, `.`, `_`, `-` and space stay, and
everything else (separators, `..`, NUL, `:`) becomes `%XX`, as do a trailing dot or space. Names
Windows reserves (CON, NUL, COM1...) and names made only of dots get a leading `%`. Text with
capitals, or too long for a file name, gets a hash of its exact self appended (`~<16 hex>`), so
two devices never share a file on a case-insensitive file system. The result is then checked to
lie inside the store, whatever happened.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

_KEEP = re.compile(r"[A-Za-z0-9._ -]")
_LONGEST = 120  # bytes: room for ".json.bak", ".json.lock", ".corrupt-<time>" within 255
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def safe_component(text: str) -> str:
    """One path component standing for `text`, unique and harmless on every platform: escaped
    (see above); a trailing dot or space escaped too (Windows drops them); a short hash of the
    exact text added when it has capitals (case-insensitive file systems would merge `Cam` and
    `cam`) or when the escaped form is long (a file name has at most 255 bytes)."""
    if not isinstance(text, str):
        raise TypeError(f"a calibration key component must be text, not {text!r}")
    escaped = "".join(c if _KEEP.fullmatch(c) else "".join(f"%{b:02X}" for b in c.encode()) for c in text)
    tail = len(escaped) - len(escaped.rstrip(". "))
    if tail:
        escaped = escaped[: len(escaped) - tail] + "".join(f"%{ord(c):02X}" for c in escaped[len(escaped) - tail :])
    stem = escaped.split(".")[0].strip().lower()
    if not escaped or set(escaped) <= {"."} or stem in _RESERVED or escaped != escaped.strip():
        escaped = "%" + escaped  # "", ".", "..", "CON", "nul.txt", " x" cannot be names as they are
    long = len(escaped) > _LONGEST
    if long:
        escaped = escaped[: _LONGEST - 18]
    if long or any(c.isupper() for c in text):  # "~" is always escaped in text: the suffix is unambiguous
        escaped = f"{escaped}~{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    return escaped


def store_path(root: Path, *components: str) -> Path:
    """`root/<escaped>/.../<escaped>.json`, guaranteed inside `root`."""
    parts = [safe_component(c) for c in components]
    path = root.joinpath(*parts[:-1], parts[-1] + ".json")
    resolved_root = Path(os.path.realpath(root))
    resolved = Path(os.path.realpath(path))
    if os.path.commonpath([resolved_root, resolved]) != str(resolved_root):
        raise ValueError(f"calibration path {path} would lie outside the store {root}")
    return path
