"""Synthetic images for the demo camera, cheap enough to stream thousands of small frames a second.

Per configuration (shape, pixel type, mode) the expensive part is computed once: a bank of
normalised wave frames at successive phases (the pattern drifts like Micro-Manager's), or of
Gaussian noise. Each frame is then a scale, an offset and a clip into the caller's buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BANK_BYTES = 32 * 1024 * 1024  # memory allowed for one precomputed bank
MAX_PHASES = 16


@dataclass(frozen=True)
class Look:
    """What one frame should look like; `light` is 0 (dark) .. 1 (full illumination)."""

    exposure_ms: float
    binning: int
    bit_depth: int
    gain: int
    offset: int
    light: float
    photon_flux: float
    read_noise: float


class ImageSource:
    """Fills frames for one (shape, pixel type, mode) configuration."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, mode: str, seed: int = 0) -> None:
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.mode = mode
        self.rgb = len(shape) == 3
        plane = shape[:2]
        self._rng = np.random.default_rng(seed)
        count = max(1, min(MAX_PHASES, BANK_BYTES // max(1, 4 * int(np.prod(shape)))))
        if mode == "Noise":
            self._bank = self._rng.standard_normal((count, *plane), dtype=np.float32)
        elif mode == "Color Test Pattern":
            self._bank = _test_pattern(shape)[None]
        else:
            self._bank = np.stack([_waves(plane, phase) for phase in _phases(count)])
        self._scratch = np.empty(plane, dtype=np.float32)
        self._index = 0

    def fill(self, out: np.ndarray, look: Look) -> None:
        """Write the next frame into `out` (shape and dtype of this source)."""
        self._index += 1
        self.refill(out, look)

    def refill(self, out: np.ndarray, look: Look) -> None:
        """Write the most recent frame again (frames are a function of index and look)."""
        index = (self._index - 1) % len(self._bank)
        top = 255.0 if self.dtype == np.uint8 else float(2**look.bit_depth - 1)
        if self.mode == "Color Test Pattern":
            np.copyto(out, self._bank[0] * top, casting="unsafe")
            return
        plane = self._plane(index, look, top)
        if self.rgb:
            for channel, shift in enumerate((1, 2, 4)):  # B, G, R drift at different speeds
                np.copyto(out[..., channel], np.roll(plane, shift * index, axis=0), casting="unsafe")
            out[..., 3] = 0
        else:
            np.copyto(out, plane, casting="unsafe")

    def _plane(self, index: int, look: Look, top: float) -> np.ndarray:
        scratch = self._scratch
        gain = 2.0 ** (look.gain / 4.0)
        if self.mode == "Noise":
            background = 10.0 if top <= 255 else 100.0
            photons = look.photon_flux * look.exposure_ms * look.light * gain
            sigma = np.sqrt(look.read_noise**2 + photons)
            np.multiply(self._bank[index], sigma, out=scratch)
            scratch += background + photons + look.offset
        else:
            # Micro-Manager's "Artificial Waves": pedestal and amplitude grow with exposure and bin^2
            scale = top / 255.0
            pedestal = 127.0 * look.exposure_ms / 100.0 * look.binning**2 * scale
            amplitude = look.exposure_ms * scale
            np.multiply(self._bank[index], amplitude * look.light * gain, out=scratch)
            scratch += pedestal * look.light * gain + look.offset
        np.clip(scratch, 0.0, top, out=scratch)
        return scratch


def _phases(count: int) -> list[float]:
    return [index * np.pi / 4.0 for index in range(count)]


def _waves(plane: tuple[int, ...], phase: float) -> np.ndarray:
    """sin(phase + row term + column term) as an outer sum: two multiplies per pixel, no sin."""
    height, width = plane
    rows = phase + np.arange(height, dtype=np.float64) * (np.pi / (2 * height))
    cols = np.arange(width, dtype=np.float64) * (4 * np.pi / width)
    sin_r, cos_r = np.sin(rows)[:, None], np.cos(rows)[:, None]
    sin_c, cos_c = np.sin(cols)[None, :], np.cos(cols)[None, :]
    return (sin_r * cos_c + cos_r * sin_c).astype(np.float32)


def _test_pattern(shape: tuple[int, ...]) -> np.ndarray:
    """Horizontal ramps, normalised to 0..1 (colour bands for RGB)."""
    height, width = shape[:2]
    ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)
    if len(shape) == 3:
        bands = np.zeros(shape, dtype=np.float32)
        for band in range(8):
            rows = slice(band * height // 8, (band + 1) * height // 8)
            for channel in range(3):
                if band & (1 << channel):
                    bands[rows, :, channel] = ramp
        return bands
    return np.broadcast_to(ramp, (height, width)).copy()
