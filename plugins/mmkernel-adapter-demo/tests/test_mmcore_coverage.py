"""Every demo device shows MMCore's properties: names (coverage >= 95 % per device, printed),
and for every name present the same type, default, read-only and pre-init flags, allowed values
and limits (tables in mmcore_table.py)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from mmcore_table import ANY, TABLE, UTILITIES, Row

from mmkernel_core import Kernel


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    with Kernel(timeout=10) as k:
        k.load_device("Wheel", "DemoCamera", "DWheel")  # for the Utilities' allowed lists
        k.initialize("Wheel")
        yield k


def loaded(k: Kernel, name: str) -> str:
    label = f"dut {name}"
    if label not in k.devices():
        k.load_device(label, "Utilities" if name in UTILITIES else "DemoCamera", name)
        k.initialize(label)
    return label


def coverage(k: Kernel, name: str) -> tuple[int, int]:
    present = set(k.property_names(loaded(k, name)))
    expected = TABLE[name]
    return len(present & set(expected)), len(expected)


@pytest.mark.parametrize("name", list(TABLE))
def test_property_coverage_is_at_least_95_percent(kernel: Kernel, name: str) -> None:
    found, total = coverage(kernel, name)
    missing = sorted(set(TABLE[name]) - set(kernel.property_names(loaded(kernel, name))))
    print(f"{name}: {found}/{total} MMCore properties" + (f", missing {missing}" if missing else ""))
    assert total == 0 or found / total >= 0.95, missing


def attributes(k: Kernel, label: str, prop: str) -> Row:
    spec = k.property_info(label, prop)
    allowed = None if spec.allowed is None else tuple(spec.allowed)
    return (spec.kind, k.get_property(label, prop), spec.read_only, spec.pre_init, allowed, spec.limits)


def _as_set(values: Any) -> Any:
    return values if values is None or values is ANY else set(values)


def same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12)
    return bool(expected == actual)


@pytest.mark.parametrize("name", list(TABLE))
def test_every_present_property_matches_mmcore(kernel: Kernel, name: str) -> None:
    label = loaded(kernel, name)
    present = set(kernel.property_names(label))
    problems = []
    for prop, row in TABLE[name].items():
        if prop not in present:
            continue
        kind, default, read_only, pre_init, allowed, limits = attributes(kernel, label, prop)
        want_kind, want_default, want_ro, want_pre, want_allowed, want_limits = row
        checks = {
            "type": (want_kind, kind),
            "default": (want_default, default),
            "read-only": (want_ro, read_only),
            "pre-init": (want_pre, pre_init),
            "allowed": (_as_set(want_allowed), _as_set(allowed)),
            "limits": (want_limits, limits),
        }
        for what, (want, got) in checks.items():
            if (what == "default" and want_default is ANY) or (what == "allowed" and want_allowed is ANY):
                continue
            if what == "limits" and want is not None and got is not None:
                if not all(same(float(w), float(g)) for w, g in zip(want, got, strict=True)):
                    problems.append(f"{prop} {what}: MMCore {want!r}, here {got!r}")
            elif not same(want, got):
                problems.append(f"{prop} {what}: MMCore {want!r}, here {got!r}")
    assert not problems, "\n".join(problems)


def test_hub_id_is_read_only_empty_and_not_pre_init_on_every_peripheral(kernel: Kernel) -> None:
    for name, rows in TABLE.items():
        if "HubID" not in rows:
            continue
        kernel.load_device(f"fresh {name}", "DemoCamera", name)  # before initialize too
        spec = kernel.property_info(f"fresh {name}", "HubID")
        assert spec.read_only and not spec.pre_init, name
        assert kernel.get_property(f"fresh {name}", "HubID") == "", name
        kernel.unload(f"fresh {name}")
