"""Built-in processing steps: binning, crop, background subtraction, running mean, projections.

Use them as objects (`steps=[Bin(2), MaxProjection()]`) or by name (`steps=["bin:2",
"max-projection"]`, also on the command line). Each step gets a frame as the camera made it,
(y, x) or (y, x, components), and the output of the step before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmkernel_sdk.recording import FrameInfo, Step


def _check_positive_int(step: str, name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"step {step!r}: {name} must be a whole number >= 1, not {value!r}")
    return int(value)


class Bin(Step):
    """Software binning: each `factor` x `factor` block becomes one pixel, the block's mean (same
    dtype, rounded) or its sum (`mode="sum"`: 32-bit integers for 8- and 16-bit frames, 64-bit
    for wider ones, signed for signed frames, so nothing overflows).
    Rows and columns that do not fill a block are left out."""

    name = "bin"

    def __init__(self, factor: int = 2, mode: str = "mean") -> None:
        self.factor = _check_positive_int(self.name, "factor", factor)
        self.pixel_scale = float(self.factor)
        if mode not in ("mean", "sum"):
            raise ValueError(f"step 'bin': mode must be 'mean' or 'sum', not {mode!r}")
        self.mode = mode

    def process(self, frame: np.ndarray, info: FrameInfo) -> np.ndarray:
        f = self.factor
        if f == 1:
            return frame
        height, width = (frame.shape[0] // f) * f, (frame.shape[1] // f) * f
        if height == 0 or width == 0:
            raise ValueError(f"step 'bin': a {frame.shape[:2]} frame is smaller than one {f}x{f} block")
        blocks = frame[:height, :width].reshape(height // f, f, width // f, f, *frame.shape[2:])
        integer = np.issubdtype(frame.dtype, np.integer)
        signed = np.issubdtype(frame.dtype, np.signedinteger)
        total = blocks.sum(axis=(1, 3), dtype=(np.int64 if signed else np.uint64) if integer else np.float64)
        if self.mode == "sum":
            return total.astype(_sum_dtype(frame.dtype, f * f) if integer else frame.dtype)
        if integer:
            return ((total + (f * f) // 2) // (f * f)).astype(frame.dtype)
        return (total / (f * f)).astype(frame.dtype)

    def describe(self) -> dict[str, Any]:
        return {"step": self.name, "factor": self.factor, "mode": self.mode}


class Crop(Step):
    """Keep the rectangle at (`x`, `y`) of `width` x `height` pixels (a view: no copy)."""

    name = "crop"

    def __init__(self, x: int, y: int, width: int, height: int) -> None:
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (x, y, width, height)):
            raise ValueError(f"step 'crop': x, y, width, height must be whole numbers, not {(x, y, width, height)}")
        if x < 0 or y < 0 or width < 1 or height < 1:
            raise ValueError(f"step 'crop': x, y >= 0 and width, height >= 1 are needed, not {(x, y, width, height)}")
        self.x, self.y, self.width, self.height = int(x), int(y), int(width), int(height)

    def process(self, frame: np.ndarray, info: FrameInfo) -> np.ndarray:
        if self.y + self.height > frame.shape[0] or self.x + self.width > frame.shape[1]:
            raise ValueError(
                f"step 'crop': the rectangle x={self.x}, y={self.y}, {self.width}x{self.height} does not fit "
                f"a frame of {frame.shape[1]}x{frame.shape[0]} (width x height)"
            )
        return frame[self.y : self.y + self.height, self.x : self.x + self.width]

    def describe(self) -> dict[str, Any]:
        return {"step": self.name, "x": self.x, "y": self.y, "width": self.width, "height": self.height}


class SubtractBackground(Step):
    """Frame minus a background (an image, a .npy or .tif file, or one number), clipped at 0 for
    unsigned frames; the dtype stays."""

    name = "background"

    def __init__(self, background: np.ndarray | float | str | Path) -> None:
        self.source = str(background) if isinstance(background, (str, Path)) else None
        if isinstance(background, (str, Path)):
            background = _load_image(Path(background))
        self.background = np.asarray(background)

    def process(self, frame: np.ndarray, info: FrameInfo) -> np.ndarray:
        background = self.background
        if background.ndim and background.shape != frame.shape:
            raise ValueError(f"step 'background': the background is {background.shape}, the frame {frame.shape}")
        if np.issubdtype(frame.dtype, np.unsignedinteger):
            return np.subtract(frame, np.minimum(frame, background).astype(frame.dtype), dtype=frame.dtype)
        return np.subtract(frame, background).astype(frame.dtype)

    def describe(self) -> dict[str, Any]:
        shown: Any = self.source if self.source is not None else (
            float(self.background) if self.background.ndim == 0 else f"image {self.background.shape}"
        )  # fmt: skip
        return {"step": self.name, "background": shown}


class RunningMean(Step):
    """Each output frame is the mean of the last `window` frames (float32): a moving average
    over time that cuts shot noise. The first frames average what there is so far."""

    name = "running-mean"

    def __init__(self, window: int = 4) -> None:
        self.window = _check_positive_int(self.name, "window", window)
        self._history: list[np.ndarray] = []
        self._sum: np.ndarray | None = None

    def process(self, frame: np.ndarray, info: FrameInfo) -> np.ndarray:
        current = frame.astype(np.float32)
        if self._sum is None or self._sum.shape != current.shape:
            self._sum, self._history = np.zeros_like(current), []
        self._sum += current
        self._history.append(current)
        if len(self._history) > self.window:
            self._sum -= self._history.pop(0)
        return self._sum / np.float32(len(self._history))

    def describe(self) -> dict[str, Any]:
        return {"step": self.name, "window": self.window}


class MaxProjection(Step):
    """Passes frames on unchanged and keeps their per-pixel maximum, stored at the end as an
    image of its own ("max")."""

    name = "max-projection"

    def __init__(self) -> None:
        self._max: np.ndarray | None = None

    def process(self, frame: np.ndarray, info: FrameInfo) -> np.ndarray:
        if self._max is None or self._max.shape != frame.shape:
            self._max = np.array(frame)
        else:
            np.maximum(self._max, frame, out=self._max)
        return frame

    def finish(self) -> dict[str, np.ndarray]:
        return {} if self._max is None else {"max": self._max}


class MeanProjection(Step):
    """Passes frames on unchanged and keeps their per-pixel mean (float32), stored at the end as
    an image of its own ("mean")."""

    name = "mean-projection"

    def __init__(self) -> None:
        self._sum: np.ndarray | None = None
        self._count = 0

    def process(self, frame: np.ndarray, info: FrameInfo) -> np.ndarray:
        if self._sum is None or self._sum.shape != frame.shape:
            self._sum, self._count = np.zeros(frame.shape, np.float64), 0
        self._sum += frame
        self._count += 1
        return frame

    def finish(self) -> dict[str, np.ndarray]:
        if self._sum is None:
            return {}
        return {"mean": (self._sum / self._count).astype(np.float32)}


def _load_image(path: Path) -> np.ndarray:
    if not path.is_file():
        raise ValueError(f"step 'background': no file {str(path)!r}")
    if path.suffix.lower() == ".npy":
        return np.load(path)
    import tifffile

    return tifffile.imread(path)


STEPS: dict[str, Any] = {
    step.name: step for step in (Bin, Crop, SubtractBackground, RunningMean, MaxProjection, MeanProjection)
}


def _sum_dtype(dtype: np.dtype, pixels: int) -> type:
    """The narrowest of 32 and 64 bits that a sum of `pixels` pixels of `dtype` cannot overflow."""
    signed = np.issubdtype(dtype, np.signedinteger)
    if pixels * 2 ** (8 * dtype.itemsize) <= 2**32:
        return np.int32 if signed else np.uint32
    return np.int64 if signed else np.uint64
