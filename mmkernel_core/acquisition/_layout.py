"""What an acquisition's dataset is made of, from its sequence before it runs: how many t, c
and z planes, the well plate it covers, the caller's metadata checked as strict JSON, whether
a frame fits it (the camera's format may change mid-run), and the colour each channel is shown
in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ._steps import is_image


def check_fits(image: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Refuse a frame the dataset cannot hold as taken: another shape (an ROI or binning
    changed), or pixels its type would wrap or round (the camera's bit depth went up)."""
    if image.shape != shape:
        raise ValueError(f"acquire: a frame of shape {image.shape} does not fit the dataset's {shape}")
    if not np.can_cast(image.dtype, dtype, "safe"):
        raise ValueError(
            f"acquire: a frame of {image.dtype} pixels does not fit the dataset's {dtype} (the camera's pixel "
            "type changed during the run; its values would be cut)"
        )


def plate_of(sequence: Any) -> dict[str, Any] | None:
    """A well plate plan's plate (its name, row letters, column numbers), else None."""
    plan = getattr(sequence, "stage_positions", None) if sequence is not None else None
    plate = getattr(plan, "plate", None)
    if plate is None or not hasattr(plate, "rows"):
        return None
    rows = [row_name(i) for i in range(int(plate.rows))]
    return {"name": str(getattr(plate, "name", "") or "plate"), "rows": rows,
            "columns": [str(c + 1) for c in range(int(plate.columns))]}  # fmt: skip


def row_name(index: int) -> str:
    """A, B, ... Z, AA, AB, ... (plates of 1536 wells have 32 rows)."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def json_object(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """The caller's metadata, checked now: it must be a JSON object strict readers take."""
    import json

    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise TypeError(f"acquire: metadata must be a dict (a JSON object), not {type(metadata).__name__}")
    try:
        return dict(json.loads(json.dumps(metadata, allow_nan=False)))
    except (TypeError, ValueError) as error:
        raise ValueError(f"acquire: metadata must be plain JSON (strings, numbers, lists, dicts): {error}") from None


def sizes_of(events: Iterable[Any]) -> dict[str, int]:
    """How many t, c and z planes the dataset needs: the largest index any image event uses
    (a position's own sub-sequence may have more planes than the main sequence)."""
    sizes = dict.fromkeys("tcz", 0)
    for event in events:
        if is_image(event):
            for axis in "tcz":
                if axis in event.index:
                    sizes[axis] = max(sizes[axis], int(event.index[axis]) + 1)
    return sizes


# What a channel is usually shown as, by the words its name holds (fluorophores, filter colours,
# wavelengths), tried in order; a channel named otherwise gets the next of PALETTE by its index.
_COLOURS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("dapi", "hoechst", "bfp", "blue", "405", "uv"), "0000FF"),
    (("cy5", "far", "647", "640", "680", "magenta"), "FF00FF"),
    (("fitc", "gfp", "alexa488", "488", "green", "yfp", "514"), "00FF00"),
    (("cy3", "tritc", "rhod", "mcherry", "rfp", "texas", "561", "568", "594", "red"), "FF0000"),
    (("cfp", "cyan", "445", "458"), "00FFFF"),
    (("bright", "dic", "phase", "bf", "trans"), "FFFFFF"),
)
PALETTE = ("00FF00", "FF00FF", "00FFFF", "FF0000", "0000FF", "FFFF00", "FFFFFF")


def channel_colour(name: str, index: int) -> str:
    """The RRGGBB colour a channel is shown in: by its name ("DAPI" blue, "FITC" green, "Cy5"
    magenta, "Rhodamine" red, "Brightfield" white), else by its place in the palette."""
    words = name.lower().replace(" ", "").replace("-", "").replace("_", "")
    for keys, colour in _COLOURS:
        if any(key in words for key in keys):
            return colour
    return PALETTE[index % len(PALETTE)]
