"""The serial layer against bare pyserial, and four filter wheels moving at once.

1. One query/reply exchange to a protocol simulator, measured three ways in the same run on the
   same URL: bare pyserial (`write` + `read_until`, what an author would write by hand), the
   SDK's `SerialPort.query` called directly, and a command property read through the kernel
   (`get_property`: validation, runner hop, cache), in alternating blocks of 100 so a machine
   that slows down for a while slows all three alike. Both a `sim://` port (in-process simulator)
   and a `socket://` port (the same simulator behind a local TCP server: real OS I/O).
   Target: SerialPort.query <= 1.2x bare pyserial.
2. Four FW102C wheels on four ports, each moving three positions: one move alone, the four one
   after another, and the four at once through the kernel (each wheel on its own runner).
   Target: all four at once within 1.2x of one move.

    python benchmarks/bench_serial.py [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serial
from _util import Figure, options, percentiles_us, report, time_interleaved

from mmkernel_core import Kernel
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.resources import SerialPort
from mmkernel_sdk.testing import DirectHarness
from mmkernel_sdk.testing.sim import LineSimulator, command, publish, register_simulator, serve_tcp

EXCHANGES = 3000
QUICK_EXCHANGES = 300
TIME_SCALE = 0.1  # the FW102C simulator's moves, 10x faster than the real wheel (~0.29 s for 3 steps)


class EchoSim(LineSimulator):
    read_terminator = write_terminator = "\r"

    @command(r"V\?")
    def value(self) -> str:
        return "12.345"


class Box(Generic):
    port = SerialPort(baudrate=115200, terminator="\r", answer_timeout_ms=1000)
    Value = prop(float, query="V?")


def exchange_figures(url: str, exchanges: int) -> dict[str, tuple[float, float]]:
    """The three ways, on one URL, measured in alternating blocks (see time_interleaved)."""
    bare = serial.serial_for_url(url, timeout=1.0)

    def bare_query() -> bytes:
        bare.write(b"V?\r")
        return bare.read_until(b"\r")

    harness = DirectHarness(Box())
    harness.set("Port", url)
    harness.initialize()
    port = harness.device.port  # type: ignore[attr-defined]
    with Kernel(timeout=10) as kernel:
        kernel.load_device("Box", Box())
        kernel.set_property("Box", "Port", url)
        kernel.initialize("Box")
        ways = {
            "bare pyserial (write + read_until)": bare_query,
            "SerialPort.query": lambda: port.query("V?"),
            "kernel get_property (command property)": lambda: kernel.get_property("Box", "Value"),
        }
        samples = time_interleaved(ways, exchanges)  # the harness and the kernel device share one open line
    harness.shutdown()
    bare.close()
    return {name: percentiles_us(taken) for name, taken in samples.items()}


def wheel_figures(rounds: int) -> tuple[float, float, float]:
    from mmkernel_adapter_thorlabs_fw.simulator import FW102CSimulator

    with Kernel(timeout=30) as kernel:
        labels = [f"W{n}" for n in range(4)]
        for label in labels:
            kernel.load_device(label, "ThorlabsFilterWheel", "Thorlabs Filter Wheel")
            kernel.set_property(label, "Port", publish(FW102CSimulator(time_scale=TIME_SCALE)))  # four wires
        kernel.initialize_all()

        def move(targets: list[str], position: int) -> float:
            started = time.perf_counter()
            for label in targets:
                kernel.set_state(label, position)
            for label in targets:
                kernel.wait_for(label)
            return time.perf_counter() - started

        one = min(move(labels[:1], p) for p in (3, 0) * rounds)

        def sequential(position: int) -> float:
            started = time.perf_counter()
            for label in labels:
                kernel.set_state(label, position)
                kernel.wait_for(label)
            return time.perf_counter() - started

        after_another = min(sequential(p) for p in (3, 0)[: max(1, rounds)])
        move(labels, 0)
        at_once = min(move(labels, p) for p in (3, 0) * rounds)
    return one, after_another, at_once


def main() -> None:
    opts = options()
    exchanges = QUICK_EXCHANGES if opts.quick else EXCHANGES
    results = []
    register_simulator("bench-echo", EchoSim)
    for title, over_tcp in (("sim:// (in-process simulator)", False), ("socket:// (simulator on local TCP)", True)):
        if not over_tcp:
            figures = exchange_figures("sim://bench-echo", exchanges)
        else:
            with serve_tcp(EchoSim) as server:
                figures = exchange_figures(server.url, exchanges)
        base = figures["bare pyserial (write + read_until)"][0]
        print(f"one query/reply exchange over {title}, {exchanges} each")
        print(f"  {'':42s} {'p50 us':>8s} {'p99 us':>8s} {'p50 / bare':>11s}")
        for name, (p50, p99) in figures.items():
            print(f"  {name:42s} {p50:8.1f} {p99:8.1f} {p50 / base:11.2f}")
        scheme = "socket://" if over_tcp else "sim://"
        query = figures["SerialPort.query"][0]
        results.append(Figure(f"SerialPort.query over {scheme}, p50", query, base, "us", "<= 1.2", "bare pyserial"))
    one, after_another, at_once = wheel_figures(1 if opts.quick else 2)
    print(f"four FW102C wheels, 3 positions each (simulator timing x{TIME_SCALE}):")
    print(f"  one wheel alone          {one * 1000:7.1f} ms")
    print(f"  four, one after another  {after_another * 1000:7.1f} ms   ({after_another / one:.2f}x one move)")
    print(f"  four at once             {at_once * 1000:7.1f} ms   ({at_once / one:.2f}x one move; target <= 1.2)")
    results.append(Figure("four wheels moving at once", at_once * 1e3, one * 1e3, "ms", "<= 1.2", "one wheel alone"))
    report(results, opts)


if __name__ == "__main__":
    main()
