"""Camera verbs: snapping an image (with the default shutter opened around the exposure)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmkernel_sdk.errors import DeviceStateError

from ._base import KernelBase
from ._faces import verb
from ._loaded import LoadedDevice
from ._request import Request


class CameraVerbs(KernelBase):
    roles: Any

    @verb
    def snap(self, camera: str | None = None, *, timeout: float | None = None) -> Request:
        """Expose one image on `camera` (default: the Camera role) and return it as a numpy
        array. With auto-shutter on, the Shutter role is opened for the exposure and closed
        after it."""
        loaded = self._camera(camera, "snap")
        shutter = self.roles.shutter if self.roles.auto_shutter else ""
        return self._call(loaded, "snap", self._snap, loaded, shutter, timeout=timeout)

    def _camera(self, camera: str | None, verb_name: str) -> LoadedDevice:
        label = camera or self.roles.camera
        if not label:
            raise DeviceStateError(f"{verb_name}(): no camera given and no Camera role is set")
        loaded = self._loaded(label)
        loaded.require_type("Camera", verb_name)
        if not loaded.initialized:
            raise DeviceStateError(f"device {label!r} is not initialized; {verb_name}() needs initialize() first")
        return loaded

    def _snap(self, loaded: LoadedDevice, shutter: str) -> np.ndarray:
        device: Any = loaded.device
        image = np.empty(device.frame_shape(), dtype=device.frame_dtype())
        if not shutter:
            device.snap(image)
            return image
        kernel: Any = self
        opened_here = not kernel.get_shutter_open(shutter)
        if opened_here:
            kernel.set_shutter_open(shutter, True)
            kernel.wait_for(shutter)
        try:
            device.snap(image)
        finally:
            if opened_here:
                kernel.set_shutter_open(shutter, False)
        return image
