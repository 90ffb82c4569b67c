"""Shared fixtures: a kernel that is always closed, and a gate for controlling adapter timing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The shared helpers assert like the tests do (with pytest's explanations); this must run before they are imported.
pytest.register_assert_rewrite("tests.support")

from mmkernel_core import Kernel  # noqa: E402
from mmkernel_sdk.testing import Gate  # noqa: E402


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    with Kernel(timeout=5.0) as k:
        yield k


@pytest.fixture
def k() -> Iterator[Kernel]:
    """A kernel with the installed plugins (the demo devices) and a 10 s default deadline."""
    with Kernel(timeout=10) as kernel:
        yield kernel


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.release.set()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path that looks like site-packages to importlib.metadata."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("mmk_test_")]:
        del sys.modules[name]
