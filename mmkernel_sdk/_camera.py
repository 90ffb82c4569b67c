"""Camera: the properties every camera shares; frame acquisition methods to override."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._abstract import must_override
from ._device import Device
from ._prop import prop


class Camera(Device):
    """Implement `frame_shape()`, `frame_dtype()` and `read_frame(out)`.

    Exposure and Binning are stored by default; give them setters (or override
    `set_exposure`) when the hardware must be told.
    """

    device_type = "Camera"

    Exposure = prop(float, limits=(0.0, 3_600_000.0), units="ms", doc="Exposure time.")
    Binning = prop(int, default=1, allowed=(1,), doc="Pixel binning factor.")

    def __new__(cls, *args: Any, **kwargs: Any) -> Camera:
        self = super().__new__(cls, *args, **kwargs)
        self._exposure_ms = 10.0
        return self  # type: ignore[return-value]

    @Exposure.getter
    def Exposure(self) -> float:  # noqa: N802 - Micro-Manager's property name
        return self.get_exposure()

    @Exposure.setter
    def Exposure(self, value: float) -> None:  # noqa: N802
        self.set_exposure(value)

    def set_exposure(self, ms: float) -> None:
        self._exposure_ms = ms

    def get_exposure(self) -> float:
        return self._exposure_ms

    def frame_shape(self) -> tuple[int, ...]:
        must_override(self, "frame_shape")

    def frame_dtype(self) -> np.dtype:
        must_override(self, "frame_dtype")

    def snap(self, out: np.ndarray) -> dict[str, Any] | None:
        """Expose one frame now and fill `out`; the default reads the next frame."""
        return self.read_frame(out)

    def read_frame(self, out: np.ndarray) -> dict[str, Any] | None:
        """Block until the next frame is ready and write it into `out`, a view into the kernel's
        buffer of shape `frame_shape()` and dtype `frame_dtype()` (zero-copy). Return tags for
        the frame's metadata (e.g. {"ElapsedTime-ms": 12.5}) or None."""
        must_override(self, "read_frame")

    def set_roi(self, x: int, y: int, width: int, height: int) -> None:
        """Optional: read out only this region (in binned pixels); frame_shape() must follow."""
        must_override(self, "set_roi")

    def get_roi(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) being read out; the default is the whole frame."""
        shape = self.frame_shape()
        return (0, 0, shape[1], shape[0])

    def clear_roi(self) -> None:
        """Optional: read out the whole sensor again."""
        must_override(self, "clear_roi")

    def start_sequence(self, count: int | None, interval_ms: float) -> None:
        """Optional: arm hardware-timed streaming before the first read_frame."""

    def stop_sequence(self) -> None:
        """Optional: disarm hardware-timed streaming (also called after errors)."""
