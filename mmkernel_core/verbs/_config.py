"""Configuration verbs: roles, config groups, pixel sizes, parents, and loading `.cfg` files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmkernel_sdk.errors import ConfigError, DeviceStateError, MMKernelError, PropertyError

from ..config import NAME_RULE, Loader, LoadReport, PixelSizeConfig, Setting, SystemConfiguration, save, uncarried
from ..devices import CORE_ROLES, Roles
from ..runtime import Request, gather, new_thread
from ._base import KernelBase
from ._core_device import CORE, CoreDevice
from ._faces import closed_error, verb


class ConfigVerbs(KernelBase):
    _core: CoreDevice
    roles: Roles
    _configuration: SystemConfiguration

    # -- roles ------------------------------------------------------------------------------
    @verb
    def set_role(self, role: str, label: str) -> Request:
        """Make `label` the system's Camera, Shutter, Focus, XYStage, AutoFocus, SLM or Galvo
        (MM's `Property,Core,<role>,<label>`); an empty label clears the role."""
        if role not in CORE_ROLES:
            raise PropertyError(
                f"device 'Core': no role {role!r}; roles: {', '.join(CORE_ROLES)}",
                device="Core",
                property=role,
                value=label,
                allowed=", ".join(CORE_ROLES),
            )
        attribute, kind = CORE_ROLES[role]
        if label:
            loaded = self._loaded(label)
            if kind is not None:
                loaded.require_type(kind, f"set_role({role!r})")
        setattr(self.roles, attribute, label)
        self._cache.store_core(role, label)
        return Request.completed("Core", "set_role", None)

    # -- parents and focus direction --------------------------------------------------------
    @verb
    def set_parent(self, label: str, hub: str) -> Request:
        """Put an uninitialized device under a hub: it moves to the hub's runner."""
        loaded = self._loaded(label)
        hub_device = self._hub(hub)  # type: ignore[attr-defined]
        self._refuse_cycle(label, hub)
        if loaded.initialized:
            raise DeviceStateError(f"device {label!r} is initialized; set its parent hub before initialize()")
        if loaded.runner is not hub_device.runner:
            old = loaded.runner
            hub_device.runner.retain()
            loaded.runner = hub_device.runner
            old.release(f"device {label!r} moved to the runner of its hub {hub!r}")
        loaded.parent = hub
        loaded.device.hub = hub_device.device
        return Request.completed(label, "set_parent", None)

    def _refuse_cycle(self, label: str, hub: str) -> None:
        """A device cannot be its own hub, nor the hub of a hub above it: a cycle has no device
        to load first, so a failed load could never put it back."""
        chain = [label, hub]
        while chain[-1] != label:
            above = self._devices.get(chain[-1])
            if above is None or above.parent is None or above.parent in chain[1:]:
                return
            chain.append(above.parent)
        raise DeviceStateError(
            f"set_parent({label!r}, {hub!r}): the hubs would go round in a circle ({' -> '.join(chain)}); "
            f"allowed: a hub that is not {label!r} and not under it"
        )

    @verb
    def set_focus_direction(self, label: str, sign: int) -> Request:
        """+1 if positive moves go towards the sample, -1 if away, 0 unknown (MM FocusDirection)."""
        self._loaded(label).require_type("Stage", "set_focus_direction")
        if sign not in (-1, 0, 1):
            raise PropertyError(
                f"device {label!r}, focus direction: value {sign!r} is not allowed; allowed: -1, 0, 1",
                device=label,
                property="FocusDirection",
                value=sign,
                allowed="-1, 0, 1",
            )
        self._configuration.focus_directions[label] = int(sign)
        return Request.completed(label, "set_focus_direction", None)

    @verb
    def focus_direction(self, label: str) -> Request:
        return Request.completed(label, "focus_direction", self._configuration.focus_directions.get(label, 0))

    # -- config groups ----------------------------------------------------------------------
    @verb
    def define_config(
        self,
        group: str,
        preset: str | None = None,
        device: str | None = None,
        prop: str | None = None,
        value: Any = None,
    ) -> Request:
        """Create a group, a preset, or add `device.prop = value` to a preset. A group or preset
        name a configuration file cannot carry (empty, a comma, a line break) is refused here,
        not when the system is saved."""
        _check_name("group", group, f"define_config({group!r})")
        if preset is not None:
            _check_name("preset", preset, f"define_config({group!r}, {preset!r})")
        if preset is None:
            self._configuration.groups.define_group(group)
        elif device is None or prop is None:
            self._configuration.groups.define(group, preset)
        else:
            if device == CORE:
                self._core.spec(prop)  # names Core's properties if it has no such one
            else:
                self._loaded(device).props.spec(prop, value)
            self._configuration.groups.define(group, preset, Setting(device, prop, "" if value is None else str(value)))
        self.events.config_group_changed.emit(group)
        return Request.completed(group, "define_config", None)

    @verb
    def set_config(self, group: str, preset: str, *, timeout: float | None = None) -> Request:
        """Apply a preset. Every value is validated first, so a bad preset changes nothing;
        devices are then set in parallel, each in the preset's order."""
        settings = self._configuration.groups.settings(group, preset)
        checked = []
        core = []
        for setting in settings:
            if setting.device == CORE:  # roles and settings: applied at once, after checking everything
                core.append((setting.property, self._core.check(setting.property, setting.value)))
                continue
            loaded = self._loaded(setting.device)
            value = self._checked_value(loaded, setting.property, setting.value)
            checked.append((loaded, setting.property, value))
        for name, value in core:
            self._core.set(name, value)
        parts = [
            self._call(loaded, f"set {name}", self._apply_value, loaded, name, value, timeout=timeout)
            for loaded, name, value in checked
        ]

        def done(requests: list[Request]) -> None:
            for request in requests:
                request.result()
            self.events.config_set.emit(group, preset)

        return gather(group, "set_config", parts, done)

    @verb
    def config_groups(self) -> Request:
        return Request.completed("Core", "config_groups", self._configuration.groups.groups())

    @verb
    def config_presets(self, group: str) -> Request:
        return Request.completed(group, "config_presets", self._configuration.groups.presets(group))

    @verb
    def config_settings(self, group: str, preset: str) -> Request:
        """[(device, property, value)] of a preset, in definition order."""
        settings = [(s.device, s.property, s.value) for s in self._configuration.groups.settings(group, preset)]
        return Request.completed(group, "config_settings", settings)

    @verb
    def current_config(self, group: str) -> Request:
        """The preset whose every setting matches the cache, or "" (no device is asked)."""
        for preset in self._configuration.groups.presets(group):
            if self._matches(self._configuration.groups.settings(group, preset)):
                return Request.completed(group, "current_config", preset)
        return Request.completed(group, "current_config", "")

    # -- pixel size -------------------------------------------------------------------------
    @verb
    def pixel_size_configs(self) -> Request:
        return Request.completed("Core", "pixel_size_configs", sorted(self._configuration.pixel_sizes))

    @verb
    def pixel_size_config(self, name: str) -> Request:
        return Request.completed("Core", "pixel_size_config", self._pixel_size(name))

    @verb
    def pixel_size_um(self) -> Request:
        """Pixel size of the resolution whose settings match the cache (0.0 if none does)."""
        config = self._current_pixel_size()
        return Request.completed("Core", "pixel_size_um", config.pixel_size_um if config is not None else 0.0)

    @verb
    def pixel_size_affine(self) -> Request:
        """The camera-to-stage affine of the resolution whose settings match the cache, as
        MMCore's getPixelSizeAffine: (a, b, c, d, e, f), stage x = a*x + b*y + c and stage y =
        d*x + e*y + f in um for pixel (x, y); the identity if none matches or none is set."""
        config = self._current_pixel_size()
        affine = config.affine if config is not None else (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
        return Request.completed("Core", "pixel_size_affine", tuple(affine))

    def _current_pixel_size(self) -> PixelSizeConfig | None:
        for name in sorted(self._configuration.pixel_sizes):
            config = self._configuration.pixel_sizes[name]
            if self._matches(config.settings):
                return config
        return None

    def _pixel_size(self, name: str) -> PixelSizeConfig:
        try:
            return self._configuration.pixel_sizes[name]
        except KeyError:
            known = ", ".join(sorted(self._configuration.pixel_sizes)) or "(none)"
            raise ConfigError(f"no pixel size configuration {name!r}; defined: {known}") from None

    def _matches(self, settings: list[Setting]) -> bool:
        for setting in settings:
            if setting.device == CORE:
                try:
                    if self._core.get(setting.property) != self._core.check(setting.property, setting.value):
                        return False
                except MMKernelError:
                    return False
                continue
            loaded = self._devices.get(setting.device)
            if loaded is None:
                return False
            try:
                wanted = loaded.props.spec(setting.property).coerce(setting.value, setting.device)
                if self._cache.get(setting.device, setting.property) != wanted:
                    return False
            except MMKernelError:
                return False
        return True

    # -- loading a .cfg file ----------------------------------------------------------------
    @verb
    def load_config(self, path: str | Path, *, partial: bool = False) -> Request:
        """Load a Micro-Manager `.cfg` (a path, or an example's name such as "demo") in place of
        the current system. Either all of it loads, or the previous system is back exactly as it
        was (devices, labels, presets, roles, property values) and one ConfigError lists every
        problem with its line. `partial=True` keeps whatever loads and returns a LoadReport of
        what failed and what was skipped because it depended on it. The futures and asyncio
        faces run the load on a thread of its own."""
        request = Request("Core", "load_config")
        request.cancellable = False  # it starts at once, on its own thread
        arguments = (request, self._load_config, Path(path), partial)
        new_thread(_settle_with_call, "mmkernel-load-config", args=arguments, daemon=False).start()
        return request

    @load_config.blocking
    def load_config(self, path: str | Path, *, partial: bool = False) -> LoadReport:
        if self._closed:
            raise closed_error("load_config")
        return self._load_config(Path(path), partial)

    def _load_config(self, path: Path, partial: bool = False) -> LoadReport:
        path = self._config_path(path)
        if not path.is_file():
            known = ", ".join(sorted(self.adapters.examples)) or "(none installed)"
            raise ConfigError(
                f"configuration {str(path)!r} is neither a file nor the name of an example configuration; "
                f"examples: {known}"
            )
        return Loader(self, path, partial).load()

    @verb
    def save_config(self, path: str | Path) -> Request:
        """Write the system as a `.cfg` Micro-Manager reads (MMCore's saveSystemConfiguration
        layout; roles, AutoShutter and ChannelGroup included); loading it gives the same system."""
        save(self, Path(path))
        return Request.completed("Core", "save_config", None)

    def _config_path(self, path: Path) -> Path:
        """A file, or the name of an example configuration a plugin ships ("demo")."""
        if not path.exists():
            example = self.adapters.examples.get(str(path))
            if example is not None:
                return Path(example)
        return path

    def _reset_configuration(self) -> None:
        self._configuration.reset()
        self.roles.__init__()  # type: ignore[misc]


def _check_name(kind: str, name: str, where: str) -> None:
    why = uncarried(name) if isinstance(name, str) else "is not a string"
    if why:
        raise ConfigError(
            f"{where}: the {kind} name {name!r} {why}, which a configuration file cannot carry; allowed: {NAME_RULE}"
        )


def _settle_with_call(request: Request, fn: Any, *args: Any) -> None:
    try:
        request.finish(fn(*args))
    except BaseException as error:  # noqa: BLE001 - delivered to whoever waits on the request
        request.finish(exception=error)
