"""The FW102C adapter passes the SDK's conformance kit, on its simulator, directly and in a kernel."""

from __future__ import annotations

from mmkernel_adapter_thorlabs_fw.wheel import ThorlabsFilterWheel

from mmkernel_core.testing import KernelHarness
from mmkernel_sdk.testing.conformance import ConformanceTests, check_all

FAST = "?time_scale=0.01"  # moves 100 times faster than the real wheel


class TestFW102CConformance(ConformanceTests):
    device_class = ThorlabsFilterWheel
    pre_init = {"Port": f"sim://fw102c{FAST}"}


class TestFW212CConformance(ConformanceTests):
    device_class = ThorlabsFilterWheel
    pre_init = {"Port": f"sim://fw212c{FAST}"}


def test_conformance_through_the_kernel() -> None:
    check_all(lambda: KernelHarness(ThorlabsFilterWheel(), {"Port": f"sim://fw102c{FAST}"}))
