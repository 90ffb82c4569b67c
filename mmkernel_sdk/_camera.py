"""Camera: the properties every camera shares; frame acquisition methods to override."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ._abstract import check_sequence_max, must_override
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

    exposure_sequence_max: ClassVar[int] = 0
    """A camera that can take a list of exposures, one per triggered frame: its longest list
    (Exposure then reports this sequence_max); implement load/start/stop_exposure_sequence."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_sequence_max(cls, "exposure_sequence_max")

    def __new__(cls, *args: Any, **kwargs: Any) -> Camera:
        self = super().__new__(cls, *args, **kwargs)
        self._exposure_ms = 10.0
        if cls.exposure_sequence_max:
            self.set_sequence_max("Exposure", cls.exposure_sequence_max)
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

    # -- hardware sequences of Exposure ----------------------------------------------------
    def load_exposure_sequence(self, exposures_ms: list[float]) -> None:
        """Send the hardware the exposures (ms) of the next frames of a sequence, once started."""
        must_override(self, "load_exposure_sequence", "exposure_sequence_max > 0 says Exposure is sequenceable")

    def start_exposure_sequence(self) -> None:
        must_override(self, "start_exposure_sequence", "exposure_sequence_max > 0 says Exposure is sequenceable")

    def stop_exposure_sequence(self) -> None:
        must_override(self, "stop_exposure_sequence", "exposure_sequence_max > 0 says Exposure is sequenceable")

    def load_property_sequence(self, name: str, values: list[Any]) -> None:
        if name == "Exposure":
            return self.load_exposure_sequence(values)
        return super().load_property_sequence(name, values)

    def start_property_sequence(self, name: str) -> None:
        if name == "Exposure":
            return self.start_exposure_sequence()
        return super().start_property_sequence(name)

    def stop_property_sequence(self, name: str) -> None:
        if name == "Exposure":
            return self.stop_exposure_sequence()
        return super().stop_property_sequence(name)
