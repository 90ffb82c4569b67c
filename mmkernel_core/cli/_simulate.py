"""`mmkernel simulate NAME`: a protocol simulator on a local TCP port, for trying an adapter by
hand (set its Port to the socket:// URL printed) without hardware."""

from __future__ import annotations

from typing import Annotated

import typer

from mmkernel_sdk.testing.sim import known_simulators, open_simulator, serve_tcp

from ._session import fail, out


def simulate(
    name: Annotated[str, typer.Argument(help="Simulator name (with options: 'fw102c?time_scale=0.1').")],
    port: Annotated[int, typer.Option(help="TCP port (0: any free one).")] = 0,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve a simulated instrument on a TCP port until interrupted."""
    try:
        open_simulator(name)  # fail now, with the list of simulators, rather than at the first client
    except LookupError:
        raise fail(f"no simulator named {name!r}; installed: {', '.join(known_simulators()) or '(none)'}") from None
    server = serve_tcp(lambda: open_simulator(name), host, port)
    out.print(f"serving simulator {name!r} on {server.url} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
