"""Stress: many client threads hammer many devices; adapter code is never entered twice at once."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter

from mmkernel_core import Kernel
from mmkernel_sdk.testing import ProbedDevice

SECONDS = float(os.environ.get("MMKERNEL_STRESS_SECONDS", "3"))
CLIENTS = 16
DEVICES = 10


def test_sixteen_clients_ten_devices_no_overlap_no_lost_updates() -> None:
    with Kernel(timeout=30) as kernel:
        devices = [ProbedDevice() for _ in range(DEVICES)]
        for index, device in enumerate(devices):
            kernel.load_device(f"D{index}", device)
        kernel.initialize_all()
        sent = [Counter() for _ in range(CLIENTS)]
        errors: list[BaseException] = []
        stop_at = time.monotonic() + SECONDS

        def client(index: int) -> None:
            rng = random.Random(index)
            try:
                while time.monotonic() < stop_at:
                    label = f"D{rng.randrange(DEVICES)}"
                    action = rng.randrange(6)
                    if action == 0:
                        kernel.set_property(label, "Increment", 1)
                        sent[index][label] += 1
                    elif action == 1:
                        future = kernel.submit.set_property(label, "Increment", 2)
                        future.result()
                        sent[index][label] += 2
                    elif action == 2:
                        kernel.set_property(label, "Value", rng.random())
                    elif action == 3:
                        kernel.busy(label)
                    elif action == 4:
                        kernel.get_property(label, "counter")
                    else:
                        kernel.get_property(label, "counter", from_cache=True)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 60)
        assert not any(t.is_alive() for t in threads), "deadlock: a client never finished"
        assert errors == []
        kernel.wait_for_system()
        total = sum(sent, Counter())
        for index, device in enumerate(devices):
            label = f"D{index}"
            assert device.probe.violations == 0, f"{label} was entered concurrently"
            assert len(device.probe.threads) == 1, f"{label} ran on several threads"
            assert kernel.get_property(label, "counter") == total[label], f"{label} lost updates"
        assert sum(d.probe.entries for d in devices) > 1000  # the test really exercised them


def test_the_probe_catches_unserialised_access() -> None:
    """Calling the adapter directly from many threads (no kernel) must be caught: shows the
    stress test above could fail."""
    device = ProbedDevice()
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()
        for _ in range(2000):
            device.Increment = 1  # straight into adapter code on this thread

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert device.probe.violations > 0
    assert device._props.get("counter") < 8 * 2000  # and updates were lost
