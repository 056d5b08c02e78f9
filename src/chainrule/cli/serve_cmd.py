"""``chainrule serve``: the web playground on this computer (Starlette + uvicorn, imported
only here, from the ``chainrule[web]`` extra)."""

from __future__ import annotations

import re

import click

from .app import cli
from .extras import require

UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
         "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(ctx: click.Context | None, param: click.Parameter | None, text: str) -> int:
    """Bytes of a size like ``20MB``, ``512kB``, ``1.5GiB`` or ``1000000``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match and match.group(2).lower()
    if not match or unit not in UNITS or not 0 < float(match.group(1)) * UNITS[unit] < 2**63:
        raise click.BadParameter(f"{text!r} is not a size above zero; write it like 20MB, 500kB "
                                 "or 1GB")
    return int(float(match.group(1)) * UNITS[unit])


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but a loopback address (127.0.0.1, ::1, "
              "localhost) also needs --allow-remote.")
@click.option("--port", type=click.IntRange(0, 65535), default=0,
              help="Port to listen on. [default: a free port]")
@click.option("--allow-remote", is_flag=True,
              help="Allow a --host other computers can reach; the playground has no login.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the web browser.")
@click.option("--max-upload", "max_upload", default="20MB", show_default=True, metavar="SIZE",
              callback=parse_size,
              help="The largest CSV the page may upload (20MB, 500kB, 1GB, …).")
@click.option("--engine", type=click.Choice(["auto", "graph"]), default="auto", show_default=True,
              help="How played epochs run: 'auto' on the fused loop once it is compiled for the "
              "network (compiled in the background, seconds the first time on a machine), "
              "'graph' always on the autograd engine. A single step always shows the graph's "
              "numbers.")
@click.option("--example", metavar="FILE",
              help="A worked example's TOML file (as for 'chainrule explain --example', or a "
              "shipped one's name: seed, sigmoid-2-2-2): the page opens on it, from its "
              "weights, and offers its step as a preset.")
def serve(host: str, port: int, allow_remote: bool, open_browser: bool, max_upload: int,
          engine: str, example: str | None) -> None:
    """Start the web playground: the seed's network learning its table, one stage at a time.

    Press "one row" to watch the forward pass, the loss, the backward pass and the
    update; click any weight or bias for its chain-rule derivation with the numbers.
    """
    require("web", "the playground (chainrule serve)")
    from ..web.server import check_host, serve as run

    check_host(host, allow_remote)
    run(host, port, allow_remote, open_browser, echo=click.echo, max_upload=max_upload,
        engine=engine, example=example)
