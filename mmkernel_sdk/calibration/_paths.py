"""Where a device's calibration file lives, and why no label or key can escape the store.

Every path component is escaped, not checked: letters, digits, `.`, `_`, `-` and space stay, and
everything else (separators, `..`, NUL, `:`) becomes `%XX`. Names Windows reserves (CON, NUL,
COM1...) and names made only of dots get a leading `%`. The result is then checked to lie inside
the store, whatever happened.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_KEEP = re.compile(r"[A-Za-z0-9._ -]")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def safe_component(text: str) -> str:
    """One path component standing for `text`, reversible and harmless on every platform."""
    if not isinstance(text, str):
        raise TypeError(f"a calibration key component must be text, not {text!r}")
    escaped = "".join(c if _KEEP.fullmatch(c) else "".join(f"%{b:02X}" for b in c.encode()) for c in text)
    stem = escaped.split(".")[0].strip().lower()
    if not escaped or set(escaped) <= {"."} or stem in _RESERVED or escaped != escaped.strip() or escaped.endswith("."):
        escaped = "%" + escaped  # "", ".", "..", "CON", "nul.txt", " x", "x." cannot be names as they are
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
