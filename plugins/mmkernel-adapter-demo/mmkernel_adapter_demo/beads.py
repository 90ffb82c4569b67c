"""Micro-Manager's "Fluorescent Beads" mode: a procedural bead field seen through the stages.

The world is tiled in 512x512 um tiles (1 px = 1 um whatever the binning); each tile seeds its
own generator from its coordinates, so the field is the same every time a region is revisited.
A bead is a Gaussian of sigma = sqrt((BeadSize*s)^2 + (BeadBlurRate*|z|)^2): it blurs as the focus
leaves z = 0. Exposure does not change the image; the background is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TILE_UM = 512
MARGIN_UM = 100


@dataclass(frozen=True)
class BeadLook:
    pixel_type: str
    size: float  # BeadSize, base sigma in px
    density: int  # BeadDensity, beads per tile
    brightness: float  # BeadBrightness
    blur_rate: float  # BeadBlurRate
    intensity: float  # Micro-Manager's global intensity factor
    x_um: float = 0.0
    y_um: float = 0.0
    z_um: float = 0.0


def _tile(tx: int, ty: int, density: int) -> np.ndarray:
    """(x, y, intensity factor, size factor) of every bead in one tile, deterministic."""
    seed = ((tx * 73856093) ^ (ty * 19349663)) & 0xFFFFFFFF
    rng = np.random.default_rng(seed)
    beads = rng.random((density, 4))
    beads[:, 0] = tx * TILE_UM + beads[:, 0] * TILE_UM
    beads[:, 1] = ty * TILE_UM + beads[:, 1] * TILE_UM
    beads[:, 2:] = 0.8 + 0.4 * beads[:, 2:]
    return beads


def render(img: np.ndarray, look: BeadLook) -> None:
    """Clear `img` and draw the beads visible from the stage position into it."""
    img[...] = 0
    if look.pixel_type == "64bitRGB":
        return  # not rendered by Micro-Manager either
    height, width = img.shape[:2]
    plane = np.zeros((height, width), dtype=np.float64)
    reach = max(width, height) / 2 + MARGIN_UM
    tiles_x = range(math.floor((look.x_um - reach) / TILE_UM), math.floor((look.x_um + reach) / TILE_UM) + 1)
    tiles_y = range(math.floor((look.y_um - reach) / TILE_UM), math.floor((look.y_um + reach) / TILE_UM) + 1)
    blur = look.blur_rate * abs(look.z_um)
    for tx in tiles_x:
        for ty in tiles_y:
            for bx, by, bright, grow in _tile(tx, ty, look.density):
                sigma = max(0.5, math.hypot(look.size * grow, blur))
                amplitude = 255.0 * bright * look.brightness * look.intensity
                _splat(plane, bx - look.x_um + width / 2, by - look.y_um + height / 2, sigma, amplitude)
    if look.pixel_type == "32bitRGB":
        np.copyto(img[..., 1], np.minimum(plane, 255.0), casting="unsafe")  # green only
    elif look.pixel_type == "32bit":
        np.copyto(img, np.minimum(plane, 1.0), casting="unsafe")  # Micro-Manager saturates floats at 1.0
    else:
        top = float(np.iinfo(img.dtype).max)
        np.copyto(img, np.minimum(plane, top), casting="unsafe")


def _splat(plane: np.ndarray, cx: float, cy: float, sigma: float, amplitude: float) -> None:
    """Add one Gaussian, drawn within 4 sigma + 1 px of its centre."""
    height, width = plane.shape
    r = int(4 * sigma + 1)
    x0, x1 = max(0, int(cx) - r), min(width, int(cx) + r + 1)
    y0, y1 = max(0, int(cy) - r), min(height, int(cy) + r + 1)
    if x0 >= x1 or y0 >= y1:
        return
    dx = np.arange(x0, x1) - cx
    dy = np.arange(y0, y1) - cy
    gx = np.exp(-(dx * dx) / (2 * sigma * sigma))
    gy = np.exp(-(dy * dy) / (2 * sigma * sigma))
    plane[y0:y1, x0:x1] += amplitude * gy[:, None] * gx[None, :]
