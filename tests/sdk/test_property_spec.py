"""PropertySpec on its own: what each kind accepts and refuses (and the error it gives), declaration
errors, and ints given as text keeping their exact value."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmkernel_core import PropertyError
from mmkernel_sdk import PropertySpec, prop
from tests.support.properties import MAX_EXACT_INT, Mode, same


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


# -- coercion ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "given_value", "expected"),
    [
        (int, "2", 2),
        (int, "2.0", 2),
        (int, " 7 ", 7),
        (int, "-4", -4),
        (int, "1e3", 1000),
        (int, 3.0, 3),
        (int, 5, 5),
        (float, "2.5", 2.5),
        (float, "1e-3", 0.001),
        (float, " 4 ", 4.0),
        (float, 3, 3.0),
        (float, "-0.25", -0.25),
        (bool, "yes", True),
        (bool, "YES", True),
        (bool, "true", True),
        (bool, "on", True),
        (bool, "1", True),
        (bool, "0", False),
        (bool, "no", False),
        (bool, "False", False),
        (bool, "off", False),
        (bool, 1, True),
        (bool, 0, False),
        (bool, True, True),
        (str, "abc", "abc"),
        (str, 5, "5"),
        (str, 2.5, "2.5"),
        (Mode, "FAST", Mode.FAST),
        (Mode, "SLOW", Mode.SLOW),
        (Mode, 2, Mode.SLOW),
        (Mode, Mode.SLOW, Mode.SLOW),
        (Color, "red", Color.RED),
        (Color, "GREEN", Color.GREEN),
    ],
)
def test_coercion_accepts(kind: type, given_value: Any, expected: Any) -> None:
    result = PropertySpec(name="P", kind=kind).coerce(given_value, "D")
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("kind", "bad"),
    [
        (int, "abc"),
        (int, 2.5),
        (int, "2.5"),
        (int, True),
        (int, False),
        (int, None),
        (int, float("nan")),
        (int, "inf"),
        (int, ""),
        (float, "abc"),
        (float, float("nan")),
        (float, "nan"),
        (float, True),
        (float, None),
        (float, ""),
        (bool, "maybe"),
        (bool, 2),
        (bool, "2"),
        (bool, None),
        (bool, ""),
        (str, None),
        (str, [1, 2]),
        (Mode, "MEDIUM"),
        (Mode, "fast"),
        (Mode, 3),
        (Mode, None),
        (Color, "blue"),
    ],
)
def test_coercion_rejects(kind: type, bad: Any) -> None:
    spec = PropertySpec(name="P", kind=kind)
    with pytest.raises(PropertyError) as info:
        spec.coerce(bad, "D")
    err = info.value
    assert err.device == "D"
    assert err.property == "P"
    assert same(err.value, bad)
    assert "is not a valid" in str(err)


def test_declaration_errors_are_reported() -> None:
    with pytest.raises(TypeError, match="not supported"):
        prop(list).spec()
    with pytest.raises(ValueError, match="reversed"):
        PropertySpec(name="P", kind=float, limits=(10, 0))
    with pytest.raises(TypeError, match="limits need an int or float"):
        PropertySpec(name="P", kind=str, limits=(0, 1))
    with pytest.raises(PropertyError):
        PropertySpec(name="P", kind=int, allowed=("one", "two"))
    with pytest.raises(ValueError, match="property 'P': kernel_setting=True needs pre_init=True"):
        PropertySpec(name="P", kind=str, kernel_setting=True)


@settings(max_examples=500)
@given(st.integers(min_value=-MAX_EXACT_INT, max_value=MAX_EXACT_INT))
def test_int_rendered_as_text_coerces_back_to_the_same_int(n: int) -> None:
    spec = PropertySpec(name="Count", kind=int)
    for text in (str(n), f" {n} ", f"{n}.0"):
        result = spec.coerce(text, "D")
        assert result == n
        assert type(result) is int


@pytest.mark.parametrize("n", [2**53 + 1, 10**20 + 1, -(2**63) + 1])
def test_large_int_text_keeps_its_exact_value(n: int) -> None:
    assert PropertySpec(name="Count", kind=int).coerce(str(n), "D") == n


class Speed(enum.Enum):
    SLOW = "slow"
    FAST = "fast"


def test_narrowed_specs_are_checked_as_a_new_declaration_would_be() -> None:
    """with_allowed / with_limits copy the checked spec instead of checking every field again:
    what they are given is still converted and refused as PropertySpec(...) would."""
    spec = PropertySpec(name="Gain", kind=int, default=1, units="dB", doc="gain")
    narrowed = spec.with_allowed(["1", 2, 3.0])
    assert narrowed.allowed == (1, 2, 3) and all(type(v) is int for v in narrowed.allowed)
    assert narrowed == PropertySpec(name="Gain", kind=int, default=1, units="dB", doc="gain", allowed=(1, 2, 3))
    assert spec.allowed is None  # the original is untouched
    with pytest.raises(PropertyError, match="'x' is not a valid integer"):
        spec.with_allowed([1, "x"])
    with pytest.raises(ValueError, match=r"limits \(5, 1\) are reversed"):
        spec.with_limits(5, 1)
    with pytest.raises(TypeError, match="limits need an int or float type"):
        PropertySpec(name="Mode", kind=str).with_limits(0, 1)
    assert spec.with_limits(0, 10).limits == (0, 10) and spec.with_limits(0, 10).coerce("7") == 7
    labels = PropertySpec(name="Label", kind=str).with_allowed(["A", "B"])
    assert labels.allowed == ("A", "B") and labels.coerce("B") == "B"
    with pytest.raises(PropertyError, match="not one of the allowed values"):
        labels.coerce("C")
    speed = PropertySpec(name="Speed", kind=Speed).with_allowed([Speed.FAST])
    assert speed.allowed == (Speed.FAST,)
    assert speed.with_allowed(None).allowed == (Speed.SLOW, Speed.FAST)  # an Enum's members come back
    assert hash(narrowed) == hash(spec.with_allowed((1, 2, 3)))
