"""DCam's properties that only hold a value (or echo one), as in Micro-Manager's DemoCamera:
the test properties, the asynchronous leader/follower pair, the transpose flags, the multi-ROI
switch, the crash simulator, the bead parameters."""

from __future__ import annotations

import threading

from mmkernel_sdk import prop
from mmkernel_sdk.errors import DeviceError


def _test_limits(i: int) -> tuple[float, float] | None:
    """Micro-Manager's TestProperty<i> limits: +-i*10^(+-i) (0 below when i % 3 == 0); none for 5."""
    if i == 5:
        return None
    upper = i * 10.0 ** (-i if i % 2 else i)
    return (0.0 if i % 3 == 0 else -upper, upper)


CRASHES = ("", "Dereference Null Pointer", "Divide by Zero")


class CameraExtras:
    """Mixin for DemoCamera: declared values, plus the two with behaviour of their own."""

    AllowMultiROI = prop(int, default=0, allowed=(0, 1), doc="Stored only: the kernel has no multi-ROI API.")
    MultiROIFillValue = prop(int, default=0, limits=(0, 65536))
    TriggerDevice = prop(str, default="", doc="Label of a device whose Trigger is set to '+' before each frame.")
    AsyncPropertyDelayMS = prop(int, default=2000, doc="Delay before AsyncPropertyFollower follows the leader.")
    CCDTemperature = prop(float, default=0.0, limits=(-100.0, 10.0), units="degC")
    TransposeXY = prop(int, default=0, allowed=(0, 1), before_init=True, doc="Metadata only, as in MM.")
    TransposeMirrorX = prop(int, default=0, allowed=(0, 1), before_init=True, doc="Metadata only, as in MM.")
    TransposeMirrorY = prop(int, default=0, allowed=(0, 1), before_init=True, doc="Metadata only, as in MM.")
    TransposeCorrection = prop(int, default=0, allowed=(0, 1), before_init=True, doc="Metadata only, as in MM.")
    BeadSize = prop(float, default=2.0, limits=(1.0, 10.0), doc="Base Gaussian sigma of a bead, in pixels.")
    BeadDensity = prop(int, default=100, limits=(10, 500), doc="Beads per 512x512 um tile.")
    BeadBrightness = prop(float, default=1.0, limits=(0.125, 8.0))
    BeadBlurRate = prop(float, default=0.5, limits=(0.1, 1.0), doc="Blur radius per um of |z|.")
    TestProperty1 = prop(float, default=0.0, limits=_test_limits(1))
    TestProperty2 = prop(float, default=0.0, limits=_test_limits(2))
    TestProperty3 = prop(float, default=0.0, limits=_test_limits(3))
    TestProperty4 = prop(float, default=0.0, limits=_test_limits(4))
    TestProperty5 = prop(float, default=0.0, limits=_test_limits(5))
    TestProperty6 = prop(float, default=0.0, limits=_test_limits(6))
    AsyncPropertyLeader = prop(str, default="", doc="Set it: AsyncPropertyFollower follows after the delay.")

    _follower = ""
    _timers: list[threading.Timer]

    @prop(str, name="AsyncPropertyFollower")
    def async_follower(self) -> str:
        """Takes AsyncPropertyLeader's value AsyncPropertyDelayMS after it is set (announced)."""
        return self._follower

    @prop(float, units="degC", name="CCDTemperature RO")
    def ccd_temperature_ro(self) -> float:
        """CCDTemperature, read-only (no cooling is simulated)."""
        return self.CCDTemperature  # type: ignore[no-any-return]

    @AsyncPropertyLeader.setter
    def AsyncPropertyLeader(self, value: str) -> None:  # noqa: N802 - Micro-Manager's property name
        timer = threading.Timer(max(0, self.AsyncPropertyDelayMS) / 1000.0, self._follow, (value,))
        timer.daemon = True
        self.__dict__.setdefault("_timers", []).append(timer)
        timer.start()

    def _follow(self, value: str) -> None:
        self._follower = value
        self.notify("AsyncPropertyFollower", value)  # type: ignore[attr-defined]

    def cancel_timers(self) -> None:
        for timer in self.__dict__.pop("_timers", []):
            timer.cancel()

    @prop(str, default="", allowed=CRASHES, name="SimulateCrash")
    def simulate_crash(self) -> str:
        """Always reads "" (Micro-Manager's too)."""
        return ""

    @simulate_crash.setter
    def simulate_crash(self, value: str) -> None:
        """Micro-Manager crashes its process here on purpose; MMKernel raises instead."""
        if value:
            label = self.label  # type: ignore[attr-defined]
            raise DeviceError(
                label,
                "set SimulateCrash",
                f"device {label!r}, property 'SimulateCrash': value {value!r} would crash Micro-Manager's "
                "process on purpose; MMKernel refuses it and keeps running (allowed, with no effect: '')",
            )
