"""What every DemoCamera peripheral shares: Micro-Manager's read-only `HubID`.

Micro-Manager creates HubID in each peripheral's constructor, while the parent is still unknown,
and read-only, so later attempts to fill it in are refused: in MMCore it reads "" on every demo
peripheral, whatever the Parent line says. It is readable before initialize (made in the
constructor) but not a pre-init property. The kernel's own `parent_label()` says who the hub is.
"""

from __future__ import annotations

from mmkernel_sdk import prop


class HubPeripheral:
    """Mixin for the DemoCamera devices a DHub can be the parent of."""

    HubID = prop(
        str,
        default="",
        read_only=True,
        before_init=True,
        doc="Micro-Manager's hub reference; empty as in MMCore (see parent_label() for the hub).",
    )
