"""Plugin discovery: entry points in `mmkernel.adapters`, each a module of pluggy hooks.

We iterate the entry points ourselves instead of pluggy's `load_setuptools_entrypoints`, which
stops at the first plugin that fails: here a broken plugin is recorded with its name and error
and every other plugin still loads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from mmkernel_sdk.errors import PluginError
from mmkernel_sdk.plugin import ENTRY_POINT_GROUP, PROJECT, AdapterHooks, AdapterSpec

from ._adapters import AdapterRegistry


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be (fully) used: `plugin` and `distribution` say whose."""

    plugin: str
    distribution: str
    error: BaseException

    def __str__(self) -> str:
        where = f" ({self.distribution})" if self.distribution else ""
        return f"plugin {self.plugin!r}{where}: {type(self.error).__name__}: {self.error}"


_scanned: tuple[tuple[tuple[str, int], ...], list[EntryPoint]] | None = None
_distributions: dict[int, str] = {}  # id(entry point) -> its distribution's name, for the points scanned
_registered: tuple[list[EntryPoint], pluggy.PluginManager, dict[str, str]] | None = None


def installed_entry_points() -> list[EntryPoint]:
    """The `mmkernel.adapters` entry points, sorted by name. Scanning every installed
    distribution costs ~5-7 ms, so the result is kept until sys.path or one of its directories
    changes (a `pip install` adds a .dist-info directory, which changes its directory's mtime)."""
    global _scanned
    key = tuple((entry, _mtime(entry)) for entry in sys.path)
    if _scanned is None or _scanned[0] != key:
        points = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name)
        _distributions.clear()  # reading a name parses the distribution's METADATA: once per scan
        _distributions.update({id(p): p.dist.name if p.dist is not None else "" for p in points})
        _scanned = (key, points)
    return list(_scanned[1])


def _distribution(point: EntryPoint) -> str:
    known = _distributions.get(id(point))
    if known is None:
        return point.dist.name if point.dist is not None else ""
    return known


def _entry_point_manager(failures: list[PluginFailure]) -> tuple[pluggy.PluginManager, dict[str, str]]:
    """A plugin manager with every installed plugin registered, and their distributions. Kept
    while the scan is the same and every plugin loaded (each Kernel discovers, and registering
    parses every hook of every plugin: a millisecond of each load); a failing plugin is tried
    again at each discovery, as before."""
    global _registered
    points = installed_entry_points()
    if _registered is not None and _registered[0] == points:
        return _registered[1], dict(_registered[2])
    manager = _new_manager()
    count = len(failures)
    distributions = _register_points(manager, points, failures)
    if len(failures) == count:
        _registered = (points, manager, distributions)
    return manager, dict(distributions)


def _register_points(
    manager: pluggy.PluginManager, points: Iterable[Any], failures: list[PluginFailure]
) -> dict[str, str]:
    """Register each entry point's plugin; a broken one is a failure, not the end of discovery.
    Returns the distribution of each registered plugin."""
    distributions: dict[str, str] = {}
    for point in points:
        distribution = _distribution(point)
        try:
            manager.register(point.load(), name=point.name)
        except BaseException as error:  # noqa: BLE001 - isolate the broken plugin, even one calling sys.exit()
            failures.append(PluginFailure(point.name, distribution, error))
        else:
            distributions[point.name] = distribution
    return distributions


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(AdapterHooks)
    return manager


def _mtime(path: str) -> int:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return -1


def discover(
    plugins: Iterable[object] = (),
    use_entry_points: bool = True,
    writers: dict[str, Any] | None = None,
    steps: dict[str, Any] | None = None,
) -> tuple[AdapterRegistry, list[PluginFailure]]:
    """Build the adapter registry from installed plugins and plugin objects given directly.
    `writers` and `steps` are the kernel's own (a plugin offering one of their names is refused)."""
    failures: list[PluginFailure] = []
    plugins = list(plugins)
    distributions: dict[str, str] = {}
    if use_entry_points and not plugins:
        manager, distributions = _entry_point_manager(failures)
    else:  # plugins given directly join a manager of this discovery's own
        manager = _new_manager()
        distributions = _register_points(manager, installed_entry_points() if use_entry_points else (), failures)
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        try:
            manager.register(plugin, name=name)
        except BaseException as error:  # noqa: BLE001
            failures.append(PluginFailure(name, "", error))
    registry = AdapterRegistry()
    registry.writers.update(writers or {})
    registry.steps.update(steps or {})
    for impl in manager.hook.mmkernel_adapters.get_hookimpls():
        source = impl.plugin_name
        distribution = distributions.get(source, "")
        try:
            specs = _checked(impl.function(), source)
        except BaseException as error:  # noqa: BLE001 - a raising hook is isolated like an import
            failures.append(PluginFailure(source, distribution, error))
            continue
        for spec in specs:
            conflict = registry.add(spec, source)
            if conflict is not None:
                failures.append(PluginFailure(source, distribution, conflict))
    for hook, table, kind in (
        ("mmkernel_example_configs", registry.examples, "path"),
        ("mmkernel_writers", registry.writers, "factory"),
        ("mmkernel_steps", registry.steps, "factory"),
    ):
        for impl in getattr(manager.hook, hook).get_hookimpls():
            source = impl.plugin_name
            try:
                offered = _named(impl.function(), hook, source, kind)
            except BaseException as error:  # noqa: BLE001 - a raising hook is isolated like an import
                failures.append(PluginFailure(source, distributions.get(source, ""), error))
                continue
            for name, value in offered.items():
                if name in table and kind == "factory":
                    conflict = PluginError(f"{hook}() of plugin {source!r}: {name!r} is taken already; ignored")
                    failures.append(PluginFailure(source, distributions.get(source, ""), conflict))
                    continue
                table[name] = value
    return registry, failures


def _named(offered: object, hook: str, source: str, kind: str) -> dict[str, Any]:
    """A hook's {name: path} or {name: factory}, or a PluginError saying what is wrong with it."""
    good = isinstance(offered, dict) and all(isinstance(k, str) and k for k in offered)
    if good and kind == "path":
        good = all(isinstance(v, str) and v for v in offered.values())  # type: ignore[union-attr]
    elif good:
        good = all(callable(v) for v in offered.values())  # type: ignore[union-attr]
    if not good:
        what = "name -> path (non-empty strings)" if kind == "path" else "name -> factory (callables)"
        raise PluginError(f"{hook}() of plugin {source!r} must return a dict of {what}, not {offered!r}")
    return dict(offered)  # type: ignore[arg-type]


def _checked(specs: object, source: str) -> list[AdapterSpec]:
    """The hook's result, or a PluginError saying what is wrong with it (each entry is checked:
    a malformed spec must not reach the registry or the CLI)."""
    where = f"mmkernel_adapters() of plugin {source!r}"
    if not isinstance(specs, (list, tuple)):
        raise PluginError(f"{where} must return a list of AdapterSpec, not {specs!r}")
    for spec in specs:
        if not isinstance(spec, AdapterSpec):
            raise PluginError(f"{where}: {spec!r} is not an AdapterSpec")
        problem = spec.problem()
        if problem:
            raise PluginError(f"{where}: {problem}")
    return list(specs)
