"""Run every benchmark at full length and print one table of their figures.

    python benchmarks/run_all.py [--quick] [bench_buffer bench_record ...]

Each `bench_*.py` runs in its own process (as a user would run it), writes its figures as JSON,
and this prints them together: figure, value, baseline (measured in the same run), ratio,
target, and whether the target is met. The exit status is 1 if a benchmark failed to run; a
target not met is reported, not an error (this machine's timing swings from minute to minute).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import Figure, table

HERE = Path(__file__).resolve().parent


def benchmarks(names: list[str]) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if names:
        found = [path for path in found if path.stem in names or path.name in names]
    return found


def run(path: Path, quick: bool) -> tuple[list[Figure], str]:
    """(its figures, "" or why it failed)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "figures.json"
        command = [sys.executable, str(path), "--figures", str(out), *(["--quick"] if quick else [])]
        done = subprocess.run(command, capture_output=True, text=True)
        sys.stdout.write(done.stdout)
        if done.returncode != 0:
            return [], f"{path.name} exited with {done.returncode}:\n{done.stderr[-2000:]}"
        if not out.exists():
            return [], f"{path.name} wrote no figures"
        rows = json.loads(out.read_text())
    fields = Figure.__dataclass_fields__
    return [Figure(**{k: v for k, v in row.items() if k in fields}) for row in rows], ""


def main() -> int:
    args = sys.argv[1:]
    quick = "--quick" in args
    names = [a for a in args if a != "--quick"]
    collected: list[tuple[str, Figure]] = []
    failures = []
    for path in benchmarks(names):
        print(f"\n=== {path.name}{' --quick' if quick else ''}", flush=True)
        started = time.perf_counter()
        figures, failure = run(path, quick)
        print(f"({time.perf_counter() - started:.1f} s)")
        if failure:
            failures.append(failure)
        collected += [(path.stem.removeprefix("bench_"), figure) for figure in figures]
    print("\n=== all figures (ratios against a baseline measured in the same run)")
    named = [Figure(f"{bench}: {f.name}", f.value, f.baseline, f.unit, f.target, f.baseline_name)
             for bench, f in collected]  # fmt: skip
    print(table(named))
    met = [f.met for _, f in collected if f.met is not None]
    print(f"\ntargets met: {sum(met)} of {len(met)}")
    for failure in failures:
        print(f"\nFAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
