"""DCam: Micro-Manager's demo camera (DemoCamera.cpp), property for property.

Timing as in Micro-Manager: a snap takes at least Exposure (+ ReadoutTime), also with FastImage,
which only skips computing a new image; a sequence frame takes at least max(Exposure,
ReadoutTime), and the kernel adds the sequence's interval. Exposure 0 runs as fast as possible.
Images are computed on demand (nothing at construction or initialize).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from mmkernel_sdk import Camera, prop
from mmkernel_sdk.errors import MMKernelError

from . import beads, images
from ._peripheral import HubPeripheral
from ._specs import refuse
from ._trigger import line_of
from .camera_extras import CameraExtras
from .camera_sequences import ExposureSequences
from .images import PIXEL_TYPES, Look, WaveState

BINNING_BY_SCAN_MODE = {1: (1, 2, 4, 8), 2: (1, 2, 4), 3: (1, 2)}
CCD_RANGE = (16, 33_000)
MODES = ("Artificial Waves", "Color Test Pattern", "Fluorescent Beads", "Noise")
log = logging.getLogger("mmkernel.demo")


class DemoCamera(ExposureSequences, CameraExtras, HubPeripheral, Camera):
    """Demo Camera Device Adapter"""

    MaximumExposureMs = prop(float, default=10000.0, units="ms", pre_init=True)
    CameraName = prop(str, default="DemoCamera-MultiMode", read_only=True)
    CameraID = prop(str, default="V1.0", read_only=True)
    Binning = prop(int, default=1, allowed=(1, 2, 4, 8))
    PixelType = prop(str, default="8bit", allowed=tuple(PIXEL_TYPES), affects=("BitDepth",))
    BitDepth = prop(int, default=8, allowed=(8, 10, 11, 12, 14, 16, 32), affects=("PixelType",))
    ScanMode = prop(int, default=1, allowed=(1, 2, 3), affects=("Binning",))
    Gain = prop(int, default=0, limits=(-5, 8), doc="No effect on images, as in MM.")
    Offset = prop(int, default=0, doc="No effect on images, as in MM.")
    ReadoutTime = prop(float, default=0.0, units="ms", doc="Added to a snap's duration.")
    OnCameraCCDXSize = prop(int, default=512, doc="Sensor width, 16..33000 px.")
    OnCameraCCDYSize = prop(int, default=512, doc="Sensor height, 16..33000 px.")
    FastImage = prop(int, default=0, allowed=(0, 1), doc="1: repeat the last image (still waits the exposure).")
    Mode = prop(str, default="Artificial Waves", allowed=MODES)
    DisplayImageNumber = prop(int, default=0, allowed=(0, 1), doc="Draw the sequence frame number.")
    StripeWidth = prop(float, default=1.0, limits=(0.0, 10.0), doc="Scales the wave period.")
    RotateImages = prop(int, default=0, allowed=(0, 1), doc="Step the stripe angle as frames go by.")
    SaturatePixels = prop(int, default=0, allowed=(0, 1))
    DropPixels = prop(int, default=0, allowed=(0, 1))
    FractionOfPixelsToDropOrSaturate = prop(float, default=0.002, limits=(0.0, 0.1))
    photon_flux = prop(float, default=50.0, limits=(2.0, 5000.0), name="Photon Flux")
    read_noise = prop(float, default=2.5, limits=(0.25, 50.0), name="ReadNoise (electrons)")
    conversion = prop(float, default=1.0, limits=(0.01, 10.0), name="Photon Conversion Factor")

    def __init__(self) -> None:
        self._bit_depth = 8
        self._img: np.ndarray | None = None  # Micro-Manager's image buffer: made at the first snap
        self._waves = WaveState()
        self._roi: tuple[int, int, int, int] | None = None
        self._capturing = False
        self._counter = 0  # DisplayImageNumber's counter: sequence frames since the start
        self._t0 = 0.0
        self._frame_exposure: float | None = None  # this frame's, from an exposure sequence

    def initialize(self) -> None:
        maximum = self.MaximumExposureMs
        if maximum <= 0:
            raise refuse(self, "MaximumExposureMs", maximum, "a number of ms > 0")
        self.set_limits("Exposure", 0.0, maximum)

    def shutdown(self) -> None:
        self.cancel_timers()
        self.stop_exposure_sequence()

    # -- Micro-Manager's consistency rules ------------------------------------------------------
    @BitDepth.getter
    def BitDepth(self) -> int:  # noqa: N802 - Micro-Manager's property name
        return self._bit_depth

    @BitDepth.setter
    def BitDepth(self, value: int) -> None:  # noqa: N802
        """An 8bit camera asked for more bits becomes 16bit (depth 16) or 32bit, as in MM."""
        self._not_capturing("BitDepth", value)
        self._bit_depth = value
        if self.PixelType == "8bit" and value > 8:
            self._choose_pixel_type("16bit" if value <= 16 else "32bit")

    @PixelType.setter
    def PixelType(self, value: str) -> None:  # noqa: N802
        self._not_capturing("PixelType", value)
        self._bit_depth = PIXEL_TYPES[value][2]

    def _choose_pixel_type(self, value: str) -> None:
        self._bit_depth = PIXEL_TYPES[value][2]
        self.notify("PixelType", value)

    @ScanMode.setter
    def ScanMode(self, value: int) -> None:  # noqa: N802
        allowed = BINNING_BY_SCAN_MODE[value]
        self.set_allowed("Binning", allowed)
        if self.Binning not in allowed:
            self._rebin(self.Binning, allowed[-1])
            self.notify("Binning", allowed[-1])

    @Binning.setter
    def Binning(self, value: int) -> None:  # noqa: N802
        self._not_capturing("Binning", value)
        self._rebin(self.Binning, value)

    def _rebin(self, old: int, new: int) -> None:
        """Keep the physical ROI: its origin and size are divided by new/old, as in MM."""
        if self._roi is not None and old != new:
            self._roi = tuple(max(1, v * old // new) if i >= 2 else v * old // new  # type: ignore[assignment]
                              for i, v in enumerate(self._roi))  # fmt: skip

    @OnCameraCCDXSize.setter
    def OnCameraCCDXSize(self, value: int) -> None:  # noqa: N802
        self._check_ccd("OnCameraCCDXSize", value)

    @OnCameraCCDYSize.setter
    def OnCameraCCDYSize(self, value: int) -> None:  # noqa: N802
        self._check_ccd("OnCameraCCDYSize", value)

    def _check_ccd(self, name: str, value: int) -> None:
        """No declared limits (as in MM), but the setter refuses what MM's refuses."""
        lo, hi = CCD_RANGE
        if not lo <= value <= hi:
            raise refuse(self, name, value, f"an integer within [{lo}, {hi}] px")
        self._roi = None

    def _not_capturing(self, name: str, value: Any) -> None:
        if self._capturing:
            raise refuse(self, name, value, "no change while a sequence runs", "cannot be set while acquiring")

    # -- ROI --------------------------------------------------------------------------------
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
        return (max(1, self.OnCameraCCDYSize // self.Binning), max(1, self.OnCameraCCDXSize // self.Binning))

    # -- frames -----------------------------------------------------------------------------
    def frame_shape(self) -> tuple[int, ...]:
        height, width = self._sensor() if self._roi is None else (self._roi[3], self._roi[2])
        return (height, width, 4) if PIXEL_TYPES[self.PixelType][1] == 4 else (height, width)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(PIXEL_TYPES[self.PixelType][0])

    def snap(self, out: np.ndarray) -> dict[str, Any]:
        """Expose (at least Exposure, FastImage too), then read out (ReadoutTime)."""
        start = time.monotonic()
        exposure_s = max(0.0, self.Exposure) / 1000.0
        self._expose(out)
        _sleep_until(start + exposure_s)
        _sleep_until(start + exposure_s + max(0.0, self.ReadoutTime) / 1000.0)
        return {"Binning": self.Binning}

    def start_sequence(self, count: int | None, interval_ms: float) -> None:
        self._capturing = True
        self._counter = 0
        self._t0 = time.monotonic()

    def stop_sequence(self) -> None:
        self._capturing = False

    def read_frame(self, out: np.ndarray) -> dict[str, Any]:
        """One sequence frame: at least max(Exposure, ReadoutTime) from the call. First the
        trigger: TriggerDevice's '+', and a pulse of the trigger line (started sequences step)."""
        start = time.monotonic()
        self._trigger()
        line_of(self).pulse(skip=self.TriggerDevice)
        self._frame_exposure = exposure = self.next_exposure()
        try:
            self._counter += 1
            self._expose(out)
        finally:
            self._frame_exposure = None
        _sleep_until(start + max(0.0, self.Exposure if exposure is None else exposure, self.ReadoutTime) / 1000.0)
        elapsed_ms = (time.monotonic() - self._t0) * 1000.0
        return {"ElapsedTime-ms": elapsed_ms, "Binning": self.Binning, **self.exposure_tags(exposure)}

    def _expose(self, out: np.ndarray) -> None:
        """Fill `out` with a new image, or (FastImage) with the last one, as MM's buffer does."""
        img = self._img
        fresh = img is None or img.shape != out.shape or img.dtype != out.dtype
        if fresh:
            img = self._img = np.zeros(out.shape, out.dtype)
        if fresh or self.FastImage == 0:
            self._generate(img)  # type: ignore[arg-type]
        np.copyto(out, img)  # type: ignore[arg-type]

    def _generate(self, img: np.ndarray) -> None:
        mode = self.Mode
        look = self._look()
        if mode == "Fluorescent Beads":
            beads.render(img, self._bead_look(look.intensity * look.light))
        elif mode == "Noise":
            images.noise(img, look, self._waves.rng)
        elif mode != "Color Test Pattern" or not images.color_test(img, look):
            images.waves(img, look, self._waves)

    def _look(self) -> Look:
        return Look(
            pixel_type=self.PixelType,
            bit_depth=self._bit_depth,
            exposure_ms=max(0.0, self.Exposure if self._frame_exposure is None else self._frame_exposure),
            binning=self.Binning,
            intensity=_intensity(self._stage("Z", "DStage", "focus")),
            light=self._light(),
            stripe_width=self.StripeWidth,
            rotate=self.RotateImages == 1,
            saturate=self.SaturatePixels == 1,
            drop=self.DropPixels == 1,
            fraction=self.FractionOfPixelsToDropOrSaturate,
            image_number=self._counter if self.DisplayImageNumber == 1 else 0,
            photon_flux=self.photon_flux,
            read_noise=self.read_noise,
            conversion=self.conversion,
        )

    def _bead_look(self, intensity: float) -> beads.BeadLook:
        x, y = self._stage("XY", "DXYStage", "xy_stage") or (0.0, 0.0)
        return beads.BeadLook(
            pixel_type=self.PixelType,
            size=self.BeadSize,
            density=self.BeadDensity,
            brightness=self.BeadBrightness,
            blur_rate=self.BeadBlurRate,
            intensity=intensity,
            x_um=x,
            y_um=y,
            z_um=self._stage("Z", "DStage", "focus") or 0.0,
        )

    def _stage(self, label: str, fallback: str, role: str) -> Any:
        """A stage's position (Z from the cache, XY asked live): the device labelled `label`
        (else `fallback`, as in MM; else the kernel's role); None when there is none."""
        kernel = self.kernel
        if kernel is None:
            return None
        try:
            loaded = kernel.devices()
            for name in (label, fallback, getattr(kernel.roles, role, "")):
                if name and name in loaded:
                    if role == "focus":
                        return float(kernel.get_position(name, from_cache=True))
                    return tuple(kernel.get_xy_position(name))  # live: the cache lags a moving stage
        except (MMKernelError, TypeError, ValueError):  # not cached yet: no information
            return None
        return None

    def _light(self) -> float:
        """0 while the Shutter role is closed, else 1: an MMKernel addition (MM's demo camera
        ignores shutters), so auto-shutter and shutter mistakes show in the images."""
        kernel = self.kernel
        try:
            shutter = kernel.roles.shutter if kernel is not None else ""
            if shutter and not kernel.get_shutter_open(shutter, from_cache=True):
                return 0.0
        except (MMKernelError, TypeError, ValueError):  # not cached yet: no information
            return 1.0
        return 1.0

    def _trigger(self) -> None:
        """TriggerDevice: set its Trigger to '+' before each frame (failures ignored, as in MM)."""
        target = self.TriggerDevice
        kernel = self.kernel
        if not target or kernel is None or target not in kernel.devices():
            return
        try:
            kernel.set_property(target, "Trigger", "+")
        except MMKernelError as error:
            log.debug("camera %r: trigger of %r failed: %s", self.label, target, error)


def _intensity(z_um: float | None) -> float:
    """Micro-Manager's global intensity factor: clamp(1 - 0.2 ln|z|, 0.1, 1)."""
    z = abs(z_um or 0.0)
    return 1.0 if z <= 1.0 else max(0.1, min(1.0, 1.0 - 0.2 * math.log(z)))


def _sleep_until(deadline: float) -> None:
    """Sleep until `deadline` (monotonic): the sensor's exposure and readout."""
    while (remaining := deadline - time.monotonic()) > 0:
        time.sleep(remaining)
