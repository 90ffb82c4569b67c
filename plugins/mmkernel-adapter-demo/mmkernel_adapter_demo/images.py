"""Micro-Manager's DemoCamera pixels (DemoImageGeneration.cpp), vectorised with numpy.

Nothing is precomputed at construction: each frame is computed when asked for (a few ms at
512x512), so loading and initializing a camera costs nothing. The formulas are Micro-Manager's:
"Artificial Waves" (pedestal and amplitude from exposure, binning and bit depth, a phase that
drifts by pi*StripeWidth/4 per frame), "Noise" (offset, read noise, photon shot noise),
"Color Test Pattern" (ramps, colour bands); "Fluorescent Beads" lives in beads.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# pixel type -> (numpy dtype, components, bit depth set by choosing it)
PIXEL_TYPES: dict[str, tuple[type, int, int]] = {
    "8bit": (np.uint8, 1, 8),
    "16bit": (np.uint16, 1, 16),
    "32bit": (np.float32, 1, 32),
    "32bitRGB": (np.uint8, 4, 8),
    "64bitRGB": (np.uint16, 4, 16),
}
# segments a..g (bit 0..6) lit per digit, as in DemoCamera.h
SEVEN_SEGMENT_RULES = (1 + 2 + 4 + 16 + 32 + 64, 4 + 32, 1 + 4 + 8 + 16 + 64, 1 + 4 + 8 + 32 + 64, 2 + 4 + 8 + 32,
                       1 + 2 + 8 + 32 + 64, 2 + 8 + 16 + 32 + 64, 1 + 4 + 32, 127, 1 + 2 + 4 + 8 + 32 + 64)  # fmt: skip
SEVEN_SEGMENT_HORIZONTAL = (1, 0, 0, 1, 0, 0, 1)
SEVEN_SEGMENT_X = (0, 0, 1, 0, 0, 1, 0)
SEVEN_SEGMENT_Y = (0, 0, 0, 1, 1, 1, 2)


@dataclass(frozen=True)
class Look:
    """The camera settings one frame depends on."""

    pixel_type: str
    bit_depth: int
    exposure_ms: float
    binning: int
    intensity: float  # Micro-Manager's global intensity factor (focus position)
    light: float = 1.0  # 0 while the Shutter role is closed (an MMKernel addition)
    stripe_width: float = 1.0
    rotate: bool = False
    saturate: bool = False
    drop: bool = False
    fraction: float = 0.002
    image_number: int = 0  # drawn when > 0 (DisplayImageNumber)
    photon_flux: float = 50.0
    read_noise: float = 2.5
    conversion: float = 1.0  # Photon Conversion Factor


class WaveState:
    """The frame phase (psi) that makes the stripes move, and the generator's random numbers."""

    def __init__(self, seed: int = 0) -> None:
        self.phase = 0.0
        self.rng = np.random.default_rng(seed)


def waves(img: np.ndarray, look: Look, state: WaveState) -> None:
    """Artificial Waves, then saturated/dropped pixels and the image number; advances the phase."""
    height, width = img.shape[:2]
    period = math.pi * look.stripe_width
    row_step = 2.0 * period / 4.0 / height
    if look.rotate:
        row_step *= ((int(state.phase) // 6) % 24) - 12
    rows = state.phase + np.arange(height) * row_step
    cols = (2.0 * period / max(1, width // 2)) * np.arange(width)
    sin_c, cos_c = np.sin(cols)[None, :], np.cos(cols)[None, :]

    def sine(n: int) -> np.ndarray:  # sin(psi + n*row term + column term), two multiplies a pixel
        arg = state.phase + n * (rows - state.phase)
        return np.sin(arg)[:, None] * cos_c + np.cos(arg)[:, None] * sin_c

    e, b2, light = look.exposure_ms, look.binning**2, look.light
    top = float(2**look.bit_depth - 1)
    kind = look.pixel_type
    if kind in ("8bit", "32bit"):
        value = light * look.intensity * np.minimum(255.0, 127.0 * e / 100.0 * b2 + e * sine(1))
        _store(img, value)
    elif kind == "16bit":
        value = light * look.intensity * np.minimum(top, (top // 2) * e / 100.0 * b2 + e * top / 255.0 * sine(1))
        _store(img, value)
    elif kind == "32bitRGB":  # no binning factor, no intensity factor, as in Micro-Manager
        for channel, n in enumerate((1, 2, 4)):
            _store(img[..., channel], light * np.minimum(255.0, 127.0 * e / 100.0 + e * sine(n)))
        img[..., 3] = 0
    else:  # 64bitRGB
        for channel, n in enumerate((1, 2, 4)):
            _store(img[..., channel], light * np.minimum(top, (top // 2) * e / 100.0 * b2 + e * top / 255.0 * sine(n)))
        img[..., 3] = 0
    if kind in ("8bit", "16bit", "32bit"):
        _saturate_and_drop(img, look, state.rng, 255.0 if kind == "32bit" else top)
    if look.image_number > 0 and kind != "64bitRGB":
        draw_number(img, look.image_number)
    state.phase += period / 4.0


def _store(out: np.ndarray, value: np.ndarray) -> None:
    """Truncate into the pixel type (as C's cast does), clipped to what it can hold."""
    if out.dtype.kind == "f":
        np.copyto(out, value, casting="unsafe")
        return
    info = np.iinfo(out.dtype)
    np.copyto(out, np.clip(value, 0, info.max), casting="unsafe")


def _saturate_and_drop(img: np.ndarray, look: Look, rng: np.random.Generator, top: float) -> None:
    """SaturatePixels / DropPixels: round(fraction x pixels) random pixels each, saturated first."""
    height, width = img.shape[:2]
    count = int(0.5 + look.fraction * height * width)
    flat = img.reshape(-1)
    top = min(top, float(np.iinfo(img.dtype).max)) if img.dtype.kind == "u" else top
    if look.saturate and count:
        flat[rng.integers(0, flat.size, count)] = top
    if look.drop and count:
        flat[rng.integers(0, flat.size, count)] = 0


def draw_number(img: np.ndarray, number: int) -> None:
    """The image number as seven-segment digits (20x20 px cells from (2, 2)), in the frame's
    brightest value on black."""
    plane = img.view(np.uint32).reshape(img.shape[:2]) if img.ndim == 3 else img
    bright = plane.max()
    digits = str(number)
    height, width = plane.shape
    for index, char in enumerate(digits):
        x0, y0 = index * 20 + 2, 2
        plane[y0 : min(height, y0 + 20), x0 : min(width, x0 + 20)] = 0
        for segment in range(7):
            if not SEVEN_SEGMENT_RULES[int(char)] & (1 << segment):
                continue
            horizontal = SEVEN_SEGMENT_HORIZONTAL[segment]
            x, y = x0 + SEVEN_SEGMENT_X[segment] * 16, y0 + SEVEN_SEGMENT_Y[segment] * 8 + 1
            if horizontal:
                plane[y : y + 1, x : min(width, x + 16)] = bright
            else:
                plane[y : min(height, y + 8), x : x + 1] = bright


def noise(img: np.ndarray, look: Look, rng: np.random.Generator) -> None:
    """Offset + read noise + Poisson-like signal (Gaussian approximation); 8bit and 16bit only,
    other pixel types keep their previous content, as in Micro-Manager."""
    if look.pixel_type not in ("8bit", "16bit"):
        return
    full = float(2**look.bit_depth)
    offset = 10.0 if full <= 256 else 100.0
    pcf = look.conversion
    shape = img.shape
    background = np.clip(offset + rng.standard_normal(shape, dtype=np.float32) * (look.read_noise / pcf), 0, full)
    photons = look.photon_flux * look.exposure_ms * look.light
    signal = photons / pcf + rng.standard_normal(shape, dtype=np.float32) * (math.sqrt(photons) / pcf)
    _store(img, np.clip(background + signal, 0, full - 1))


def color_test(img: np.ndarray, look: Look) -> bool:
    """Micro-Manager's colour test pattern; False for 64bitRGB (which falls back to waves)."""
    height, width = img.shape[:2]
    x = np.arange(width, dtype=np.int64) + 1
    ramp8 = (255 * x // max(1, width - 1)).astype(np.uint8)  # integer maths; wraps like C's cast
    kind = look.pixel_type
    if kind == "8bit":
        img[:] = ramp8[None, :]
    elif kind == "16bit":
        img[:] = (65535 * x // max(1, width - 1) & 0xFFFF).astype(np.uint16)[None, :]
    elif kind in ("32bitRGB", "32bit"):  # eight bands; for 32bit these are raw bit patterns
        raw = img.view(np.uint8).reshape(height, width, 4)
        raw[:] = 0
        band = max(1, height // 8)
        for s in range(8):
            rows = slice(s * band, height if s == 7 else (s + 1) * band)
            for byte in range(4):
                if (s < 4 and byte == s) or (s >= 4 and byte != s - 4):
                    raw[rows, :, byte] = ramp8[None, :]
    else:
        return False
    return True
