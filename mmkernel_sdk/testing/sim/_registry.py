"""Which simulator a `sim://NAME` URL reaches.

Names come from three places: `register_simulator(name, factory)`, `publish(instance)` (one
particular instance, for a test that wants to look inside it), and the entry point group
`mmkernel.simulators` of installed adapter distributions (`fw102c = "pkg.sim:FW102CSimulator"`),
so a fresh process (the command line) can open a plugin's simulator by name.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import parse_qsl

from ._simulator import LineSimulator

ENTRY_POINT_GROUP = "mmkernel.simulators"
_lock = threading.Lock()
_factories: dict[str, Callable[..., LineSimulator]] = {}
_instances: dict[str, LineSimulator] = {}
_numbers = itertools.count(1)


def register_simulator(name: str, factory: Callable[..., LineSimulator]) -> str:
    """Each opening of `sim://name` gets a new instance from `factory`; returns the URL."""
    with _lock:
        _factories[name.lower()] = factory
    return f"sim://{name}"


def publish(simulator: LineSimulator, name: str | None = None) -> str:
    """Make this very instance reachable; returns its URL (`sim://<Class>-<n>` by default)."""
    name = name or f"{type(simulator).__name__}-{next(_numbers)}"
    with _lock:
        _instances[name.lower()] = simulator
    return f"sim://{name}"


def unpublish(url_or_name: str) -> None:
    with _lock:
        _instances.pop(_name_of(url_or_name), None)


def open_simulator(url_or_name: str) -> LineSimulator:
    """The simulator a URL names. Options after `?` go to a registered factory as keyword
    arguments (`sim://fw102c?time_scale=0.01`): numbers as numbers, the rest as text."""
    name = _name_of(url_or_name)
    with _lock:
        instance = _instances.get(name)
        factory = _factories.get(name)
    if instance is not None:
        return instance
    if factory is None:
        factory = _from_entry_points(name)
    if factory is None:
        raise LookupError(f"no simulator named {name!r}; known: {', '.join(known_simulators()) or '(none)'}")
    options = _options_of(url_or_name)
    try:
        return factory(**options)
    except TypeError as error:
        raise ValueError(f"simulator {name!r} does not take the options {options}: {error}") from None


def known_simulators() -> list[str]:
    with _lock:
        names = set(_factories) | set(_instances)
    names |= {point.name.lower() for point in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names)


def _from_entry_points(name: str) -> Callable[..., LineSimulator] | None:
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name.lower() == name:
            factory: Any = point.load()
            return factory  # type: ignore[no-any-return]
    return None


def _options_of(url: str) -> dict[str, Any]:
    query = url.split("?", 1)[1] if "?" in url else ""
    options: dict[str, Any] = {}
    for name, value in parse_qsl(query):
        options[name] = _option_value(value)
    return options


def _option_value(text: str) -> Any:
    """`?noisy=false&time_scale=0.01&model=fw212c`: booleans, numbers, or the text itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    try:
        return int(text) if text.strip().lstrip("-").isdigit() else float(text)
    except ValueError:
        return text


def _name_of(url_or_name: str) -> str:
    text = url_or_name.split("://", 1)[1] if "://" in url_or_name else url_or_name
    return text.split("?", 1)[0].strip("/").lower()
