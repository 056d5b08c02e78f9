"""``chainrule serve``: the web playground on this computer (Starlette + uvicorn, imported
only here, from the ``chainrule[web]`` extra)."""

from __future__ import annotations

import re

import click

from ..errors import ConfigError
from .app import cli

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
def serve(host: str, port: int, allow_remote: bool, open_browser: bool, max_upload: int) -> None:
    """Start the web playground: the seed's network learning its table, one stage at a time.

    Press "one row" to watch the forward pass, the loss, the backward pass and the
    update; click any weight or bias for its chain-rule derivation with the numbers.
    """
    from ..web.server import check_host, serve as run

    check_host(host, allow_remote)
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError(f"the playground needs Starlette and uvicorn ({exc.name} is missing); "
                          "install them with: pip install 'chainrule[web]'") from None
    run(host, port, allow_remote, open_browser, echo=click.echo, max_upload=max_upload)
