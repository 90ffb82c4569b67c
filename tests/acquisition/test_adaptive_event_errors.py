"""An adaptive run's own events (the caller's iterable) raising any kind of exception, SystemExit
and KeyboardInterrupt too: the run fails with an error saying after which event (the raised one
as its cause, never re-raised bare from `wait()`), no acquisition thread is left, and the
dataset keeps the frames before it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

useq = pytest.importorskip("useq")

from mmkernel_core.acquisition import open_acquisition  # noqa: E402
from tests.support.acquisition import instant_rig  # noqa: E402

ERRORS: dict[str, Callable[[], BaseException]] = {
    "Exception": lambda: RuntimeError("injected"),
    "KeyboardInterrupt": KeyboardInterrupt,
    "SystemExit": lambda: SystemExit(3),
    "GeneratorExit": GeneratorExit,
}


def _raising_after_one(error: BaseException) -> Iterator[Any]:
    yield useq.MDAEvent(index={"t": 0})
    raise error


@pytest.mark.parametrize("kind", list(ERRORS))
def test_an_adaptive_runs_events_raising_any_kind_fail_the_run_saying_after_which_event(
    tmp_path: Path, kind: str
) -> None:
    error = ERRORS[kind]()
    with instant_rig() as (k, _):
        acq = k.acquire(_raising_after_one(error), tmp_path / "run.ome.zarr")
        with pytest.raises(RuntimeError, match=r"adaptive run's events raised after event 0 \{'t': 0\}") as raised:
            acq.wait(30)
        assert raised.value.__cause__ is error
        assert acq.ended(0)
        for thread in [t for t in threading.enumerate() if t.name.startswith("mmkernel-acquire")]:
            thread.join(10)
            assert not thread.is_alive()
        assert [row["t"] for row in open_acquisition(tmp_path / "run.ome.zarr").frames] == [0]
        assert k.snap() is not None  # the kernel still serves calls
