"""DCam: the demo camera. Real numpy images whose brightness follows exposure, binning, gain,
offset, the focus position and whether the system's shutter is open."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mmkernel_sdk import Camera, prop

from .images import ImageSource, Look

PIXEL_TYPES = {"8bit": (np.uint8, (8,)), "16bit": (np.uint16, (10, 12, 14, 16)), "32bitRGB": (np.uint8, (8,))}
BINNING_BY_SCAN_MODE = {1: (1, 2, 4, 8), 2: (1, 2, 4), 3: (1, 2)}


class DemoCamera(Camera):
    """Demo Camera Device Adapter"""

    MaximumExposureMs = prop(float, default=10000.0, limits=(0.0, 3_600_000.0), units="ms", pre_init=True)
    CameraName = prop(str, default="DemoCamera-MultiMode", read_only=True)
    CameraID = prop(str, default="V1.0", read_only=True)
    Binning = prop(int, default=1, allowed=(1, 2, 4, 8))
    PixelType = prop(str, default="8bit", allowed=tuple(PIXEL_TYPES), affects=("BitDepth",))
    BitDepth = prop(int, default=8, allowed=(8, 10, 12, 14, 16), affects=("PixelType",))
    ScanMode = prop(int, default=1, allowed=(1, 2, 3), affects=("Binning",))
    Gain = prop(int, default=0, limits=(-5, 8))
    Offset = prop(int, default=0, limits=(0, 10_000))
    CCDTemperature = prop(float, default=0.0, limits=(-100.0, 10.0), units="degC")
    ReadoutTime = prop(float, default=0.0, limits=(0.0, 10_000.0), units="ms")
    OnCameraCCDXSize = prop(int, default=512, limits=(16, 33_000))
    OnCameraCCDYSize = prop(int, default=512, limits=(16, 33_000))
    FastImage = prop(int, default=0, allowed=(0, 1), doc="1: repeat the last image, no exposure wait.")
    Mode = prop(str, default="Artificial Waves", allowed=("Artificial Waves", "Noise", "Color Test Pattern"))
    photon_flux = prop(float, default=50.0, limits=(2.0, 5000.0), name="Photon Flux")
    read_noise = prop(float, default=2.5, limits=(0.25, 50.0), name="ReadNoise (electrons)")

    def __init__(self) -> None:
        self._source: ImageSource | None = None
        self._last: np.ndarray | None = None
        self._last_look: Look | None = None
        self._next_due = 0.0
        self._frames = 0
        self._roi: tuple[int, int, int, int] | None = None

    def initialize(self) -> None:
        self.set_limits("Exposure", 0.0, self.MaximumExposureMs)

    # -- consistency rules (Micro-Manager's, minus its quirk of losing the requested depth) -----
    @PixelType.setter
    def PixelType(self, value: str) -> None:  # noqa: N802 - Micro-Manager's property name
        depths = PIXEL_TYPES[value][1]
        if self.BitDepth not in depths:
            self.notify("BitDepth", depths[-1])

    @BitDepth.setter
    def BitDepth(self, value: int) -> None:  # noqa: N802
        if value > 8 and self.PixelType != "16bit":
            self.notify("PixelType", "16bit")
        elif value == 8 and self.PixelType == "16bit":
            self.notify("PixelType", "8bit")

    @FastImage.setter
    def FastImage(self, value: int) -> None:  # noqa: N802
        """Turning it on freezes the latest frame (regenerated: frames depend on index and look)."""
        source, look = self._source, self._last_look
        if value == 1 and source is not None and look is not None:
            self._last = np.empty(source.shape, source.dtype)
            source.refill(self._last, look)
        elif value == 0:
            self._last = None

    @ScanMode.setter
    def ScanMode(self, value: int) -> None:  # noqa: N802
        allowed = BINNING_BY_SCAN_MODE[value]
        self.set_allowed("Binning", allowed)
        if self.Binning not in allowed:
            self.notify("Binning", allowed[-1])

    @Binning.setter
    def Binning(self, value: int) -> None:  # noqa: N802
        self._roi = None  # an ROI is in binned pixels: a new binning starts from the full frame

    # -- ROI ------------------------------------------------------------------------------------
    def set_roi(self, x: int, y: int, width: int, height: int) -> None:
        full_height, full_width = self._sensor()
        if x < 0 or y < 0 or width < 1 or height < 1 or x + width > full_width or y + height > full_height:
            raise ValueError(
                f"ROI x={x}, y={y}, width={width}, height={height} does not fit the "
                f"{full_width}x{full_height} (binned) sensor"
            )
        self._roi = (x, y, width, height)

    def get_roi(self) -> tuple[int, int, int, int]:
        if self._roi is not None:
            return self._roi
        height, width = self._sensor()
        return (0, 0, width, height)

    def clear_roi(self) -> None:
        self._roi = None

    def _sensor(self) -> tuple[int, int]:
        return (self.OnCameraCCDYSize // self.Binning, self.OnCameraCCDXSize // self.Binning)

    # -- frames -----------------------------------------------------------------------------
    def frame_shape(self) -> tuple[int, ...]:
        height, width = self._sensor() if self._roi is None else (self._roi[3], self._roi[2])
        return (height, width, 4) if self.PixelType == "32bitRGB" else (height, width)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(PIXEL_TYPES[self.PixelType][0])

    def snap(self, out: np.ndarray) -> dict[str, Any]:
        """Expose now, then read out: takes Exposure + ReadoutTime (unless FastImage)."""
        self._next_due = time.monotonic()
        return self.read_frame(out)

    def read_frame(self, out: np.ndarray) -> dict[str, Any]:
        """The next frame of a free-running sequence: one every Exposure + ReadoutTime."""
        fast = self.FastImage == 1 and self._last is not None and self._last.shape == out.shape
        if not fast:
            period = (self.Exposure + self.ReadoutTime) / 1000.0
            self._next_due = max(self._next_due, time.monotonic()) + period
            _sleep_until(self._next_due)  # models the sensor's exposure and readout time
            self._last_look = look = self._look()
            self._source_for(out).fill(out, look)
            if self.FastImage == 1:
                self._last = out.copy()
        else:
            np.copyto(out, self._last)
        self._frames += 1
        return {"ImageNumber": self._frames, "Binning": self.Binning, "Mode": self.Mode}

    def _source_for(self, out: np.ndarray) -> ImageSource:
        source = self._source
        if source is None or source.shape != out.shape or source.dtype != out.dtype or source.mode != self.Mode:
            source = self._source = ImageSource(out.shape, out.dtype, self.Mode)
        return source

    def _look(self) -> Look:
        return Look(
            exposure_ms=self.Exposure,
            binning=self.Binning,
            bit_depth=8 if self.PixelType != "16bit" else self.BitDepth,
            gain=self.Gain,
            offset=self.Offset,
            light=self._illumination(),
            photon_flux=self.photon_flux,
            read_noise=self.read_noise,
        )

    def _illumination(self) -> float:
        """0 with the system shutter closed; dimmer as the focus drive leaves z = 0 (like MM)."""
        kernel = self.kernel
        if kernel is None:
            return 1.0
        light = 1.0
        try:
            if kernel.roles.shutter and not kernel.get_shutter_open(kernel.roles.shutter, from_cache=True):
                light = 0.0
            if kernel.roles.focus:
                z = abs(kernel.get_position(kernel.roles.focus, from_cache=True))
                light *= max(0.1, min(1.0, 1.0 - 0.2 * np.log(z))) if z > 1.0 else 1.0
        except Exception:  # noqa: BLE001 - a missing cache entry only means "no information"
            return light
        return light


def _sleep_until(deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
