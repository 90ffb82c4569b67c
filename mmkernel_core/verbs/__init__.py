"""The Kernel's methods, one mixin per group of verbs, and the three faces they get.

- `_faces`: `@verb` (a method returning a Request becomes a blocking call, `kernel.submit.*`
  and `kernel.aio.*`); `_base`: KernelBase, the state every mixin shares, and the runner-side
  property steps (validate again, apply, read back, cache, memorize).
- `_devices` (load, initialize, unload, what is loaded) over `_lifecycle` (the runner side of
  a device's life), `_wires` (one wire, one runner) and `_host` (what a device may ask of the
  kernel: ports, calibration, notify).
- `_properties`, `_motion` (stages, XY, shutters, state devices), `_focus` (autofocus),
  `_wait` (busy, wait_for, delays), `_camera` (snap, ROI, buffers, auto-shutter),
  `_sequence` (streaming), `_sequencing` (hardware sequences: load, start, stop a device's
  triggered list of values), `_record` (recordings), `_config` (roles, presets, pixel sizes,
  `.cfg` files); `_core_device` (the `Core` pseudo-device), `_auto_shutter` (shared holds).
- `_internals`: KernelInternals, the one documented interface config/, recording/, the CLI
  and testing hooks use instead of the kernel's underscore attributes.

May import: `runtime`, `devices`, `frames`, `config`, `recording`, `mmkernel_sdk`.
"""
