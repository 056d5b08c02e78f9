"""``chainrule serve``: the web playground on this computer (Starlette + uvicorn, imported
only here, from the ``chainrule[web]`` extra)."""

from __future__ import annotations

import click

from .app import cli
from .extras import require


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but a loopback address (127.0.0.1, ::1, "
              "localhost) also needs --allow-remote.")
@click.option("--port", type=click.IntRange(0, 65535), default=0,
              help="Port to listen on. [default: a free port]")
@click.option("--allow-remote", is_flag=True,
              help="Allow a --host other computers can reach; the playground has no login.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the web browser.")
def serve(host: str, port: int, allow_remote: bool, open_browser: bool) -> None:
    """Start the web playground: the seed's network learning its table, one stage at a time.

    Press "one row" to watch the forward pass, the loss, the backward pass and the
    update; click any weight or bias for its chain-rule derivation with the numbers.
    """
    require("web", "the playground (chainrule serve)")
    from ..web.server import check_host, serve as run

    check_host(host, allow_remote)
    run(host, port, allow_remote, open_browser, echo=click.echo)
