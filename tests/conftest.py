"""Shared fixtures: a kernel that is always closed, and a gate for controlling adapter timing."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mmkernel_core import Kernel
from mmkernel_sdk.testing import Gate

# Every camera initialized in the tests gets a small buffer (the default is 1024 MB).
os.environ.setdefault("MMKERNEL_BUFFER_MB", "32")


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    with Kernel(timeout=5.0) as k:
        yield k


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.release.set()
