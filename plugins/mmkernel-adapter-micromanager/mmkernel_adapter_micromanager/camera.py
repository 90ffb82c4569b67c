"""MMCamera: a C++ camera whose snaps and sequences land in the camera's MMKernel buffer.

MMCore's image calls act on the core's *current* camera, so every call sets it first; that is
safe because a core is only called from its one runner. pymmcore hands over a fresh array per
image; it is copied once, into the kernel's slot. A core has one circular buffer, so only one
camera per core streams at a time: cameras that must stream together go in separate cores
(their MMCore pre-init property).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from mmkernel_sdk import Camera, prop
from mmkernel_sdk.errors import DeviceError

from .cores import ENV_BUFFER_FRAMES
from .device import MMDevice

_TAGS = ("ElapsedTime-ms", "ImageNumber", "Binning", "ROI-X-start", "ROI-Y-start")
_GREY = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}  # bytes per pixel -> dtype
_COLOUR = {4: np.uint8, 8: np.uint16}  # bytes per BGRA pixel -> dtype of one component


class MMCamera(MMDevice, Camera):
    """A C++ camera."""

    Binning = prop(int, default=1, doc="Pixel binning factor (MM's Binning).")

    @Binning.getter
    def Binning(self) -> int:  # noqa: N802 - Micro-Manager's property name
        return int(float(self.mm_get("Binning"))) if self.mm_in_core else 1

    @Binning.setter
    def Binning(self, value: int) -> None:  # noqa: N802
        self.mm_set("Binning", int(value))

    def initialize(self) -> None:
        super().initialize()
        self._streaming = False
        self._buffer_mb = 0

    # -- exposure -----------------------------------------------------------------------------
    def set_exposure(self, ms: float) -> None:
        self.mm("setExposure", self.core.setExposure, self.label, float(ms))
        self.mm_refresh_own_sequence()

    def get_exposure(self) -> float:
        if not self.mm_in_core:
            return 0.0
        return float(self.mm("getExposure", self.core.getExposure, self.label))

    # -- hardware sequences of Exposure ------------------------------------------------------
    mm_own_sequence = "Exposure"

    def mm_refresh_own_sequence(self) -> None:
        self.mm_set_own_sequence_max(self.mm_sequence_length("Exposure"))

    def load_exposure_sequence(self, exposures_ms: list[float]) -> None:
        ms = [float(e) for e in exposures_ms]
        self.mm("loadExposureSequence", self.core.loadExposureSequence, self.label, ms)

    def start_exposure_sequence(self) -> None:
        self.mm("startExposureSequence", self.core.startExposureSequence, self.label)

    def stop_exposure_sequence(self) -> None:
        self.mm("stopExposureSequence", self.core.stopExposureSequence, self.label)

    # -- format -------------------------------------------------------------------------------
    def _current(self) -> Any:
        core = self.core
        self.mm("setCameraDevice", core.setCameraDevice, self.label)
        return core

    def _format(self) -> tuple[tuple[int, ...], np.dtype]:
        """Grey as (h, w) of 1, 2, 4 or 8 bytes; MM's packed colour (32bitRGB, 64bitRGB) as
        (h, w, 4) components B, G, R, A of 8 or 16 bits. Anything else is refused before a
        snap or a sequence starts."""
        core = self._current()
        h, w = int(core.getImageHeight()), int(core.getImageWidth())
        bpp, ncomp = int(core.getBytesPerPixel()), int(core.getNumberOfComponents())
        if ncomp == 4 and bpp in _COLOUR:
            return (h, w, 4), np.dtype(_COLOUR[bpp])
        if ncomp == 1 and bpp in _GREY:
            return (h, w), np.dtype(_GREY[bpp])
        try:
            pixel_type = repr(self.mm_get("PixelType"))
        except DeviceError:
            pixel_type = "(no PixelType property)"
        raise DeviceError(
            self.label,
            "frame format",
            f"camera {self.label!r}: PixelType {pixel_type} gives {ncomp} component(s) of {bpp} byte(s) per "
            "pixel, which MMKernel's frames cannot carry; allowed: grey (1 component of 1, 2, 4 or 8 bytes) "
            "or packed BGRA (4 components in 4 or 8 bytes: 32bitRGB, 64bitRGB)",
        )

    def frame_shape(self) -> tuple[int, ...]:
        return self._format()[0]

    def frame_dtype(self) -> np.dtype:
        return self._format()[1]

    @staticmethod
    def _put(out: np.ndarray, image: np.ndarray) -> None:
        """The one copy: pymmcore's array into the kernel's slot (RGB as packed bytes)."""
        if out.ndim == 3 and image.ndim == 2:
            image = image.view(out.dtype).reshape(out.shape)
        np.copyto(out, image, casting="unsafe")

    # -- snap ---------------------------------------------------------------------------------
    def snap(self, out: np.ndarray) -> dict[str, Any] | None:
        core = self._current()
        self.mm("snapImage", core.snapImage)
        self._put(out, self.mm("getImage", core.getImage))
        return None

    # -- sequences ----------------------------------------------------------------------------
    def start_sequence(self, count: int | None, interval_ms: float) -> None:
        core = self._current()
        frame_bytes = int(core.getImageWidth()) * int(core.getImageHeight()) * int(core.getBytesPerPixel())
        mb = circular_buffer_mb(frame_bytes, os.environ.get(ENV_BUFFER_FRAMES), self.label)
        if mb != self._buffer_mb:
            self.mm("setCircularBufferMemoryFootprint", core.setCircularBufferMemoryFootprint, mb)
            self._buffer_mb = mb
        if count is None:
            self.mm("startContinuousSequenceAcquisition", core.startContinuousSequenceAcquisition, float(interval_ms))
        else:
            self.mm("startSequenceAcquisition", core.startSequenceAcquisition, self.label, int(count),
                    float(interval_ms), False)  # fmt: skip
        self._streaming = True
        self._metadata = _metadata_class(core)

    def stop_sequence(self) -> None:
        if self._streaming:
            self._streaming = False
            self.mm("stopSequenceAcquisition", self.core.stopSequenceAcquisition, self.label)

    def read_frame(self, out: np.ndarray) -> dict[str, Any] | None:
        core = self.core
        if not self._streaming:
            return self.snap(out)
        spins = 0
        while not core.getRemainingImageCount():
            if not core.isSequenceRunning(self.label) and not core.getRemainingImageCount():
                overflow = (
                    " (MMCore's circular buffer overflowed)"
                    if core.isBufferOverflowed()
                    else (
                        "; frames MMCore's circular buffer overwrote before they were read are lost "
                        f"(more room: {ENV_BUFFER_FRAMES})"
                    )
                )
                raise DeviceError(self.label, "read_frame", f"device {self.label!r}: the sequence ended{overflow}")
            spins += 1  # yield at once, then back off towards the frame period (never a fixed sleep)
            time.sleep(0 if spins < 200 else min(0.0005, 0.000002 * spins))
        md = self._metadata()
        image = self.mm("popNextImageMD", core.popNextImageMD, md)
        self._put(out, image)
        tags: dict[str, Any] = {}
        for key in _TAGS:
            try:
                tags[key] = md.GetSingleTag(key).GetValue()
            except Exception:  # noqa: BLE001 - an adapter may leave a tag out
                continue
        return tags


DEFAULT_BUFFER_FRAMES = 256
DEFAULT_BUFFER_CAP_MB = 512  # MMCore allocates it all at the start: 250 MB took up to 1.2 s


def circular_buffer_mb(frame_bytes: int, asked: str | None, label: str) -> int:
    """MMCore's circular buffer for a stream (MB, at least 16): the frames `MMKERNEL_MM_BUFFER_FRAMES`
    asks for, as asked; by default 256 frames, at most 512 MB (64 frames at 2048x2048 16-bit)."""
    if asked is None or not asked.strip():
        frames, cap = DEFAULT_BUFFER_FRAMES, DEFAULT_BUFFER_CAP_MB
    else:
        try:
            frames, cap = int(asked), None
        except ValueError:
            frames = 0
        if frames < 1:
            raise DeviceError(label, "start_sequence", f"device {label!r}: {ENV_BUFFER_FRAMES}={asked!r} is not "
                              "allowed; allowed: a whole number of frames >= 1")  # fmt: skip
    mb = max(16, -(-frames * frame_bytes // 2**20))
    return mb if cap is None else min(mb, cap)


def _metadata_class(core: Any) -> Any:
    """pymmcore.Metadata, or the stand-in core's own."""
    own = getattr(core, "Metadata", None)
    if own is not None:
        return own
    import pymmcore

    return pymmcore.Metadata


MULTI_CAMERA_NOTE = (
    "Utilities' Multi Camera is not bridged: in one MMCore it gives a snap only its first physical camera's "
    "image and interleaves all its cameras' frames in one sequence. Load the physical cameras themselves, "
    "each in its own core (their MMCore property, e.g. Property,Cam2,MMCore,second): MMKernel streams "
    "several cameras at once (start_sequence on each, or record(['Cam1', 'Cam2'], ...))"
)


class MMMultiCamera(MMCamera):
    """Utilities' Multi Camera: refused at initialize (MULTI_CAMERA_NOTE says what to use)."""

    def initialize(self) -> None:
        raise DeviceError(self.label, "initialize", f"device {self.label!r}: {MULTI_CAMERA_NOTE}")
