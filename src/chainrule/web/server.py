"""Serving the playground with uvicorn — on this computer only, unless asked otherwise.

The playground has no login: anyone who can reach its address can drive it.  So it
listens on 127.0.0.1 by default, and ``check_host`` refuses any address that is not a
loopback one unless ``allow_remote`` is given.  On every loopback address (127.0.0.x,
localhost, ::1) it answers only requests whose ``Host`` is a name of this computer, so
a web page elsewhere can't reach it by DNS rebinding (``guard``).  Port 0 (the default)
takes a free port; the socket is bound here, before uvicorn starts, so the address
printed is the one served.  SIGTERM or Ctrl-C stop it within about a second: requests
still running then are cancelled (``GRACE``).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import webbrowser
from typing import Callable

from ..errors import ConfigError
from .session import MAX_UPLOAD

GRACE = 0.5  # seconds the requests in progress get to finish when the server is stopped


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and the loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool = False) -> None:
    """Refuse a non-loopback ``host`` unless ``allow_remote``, saying why and what to do."""
    if not is_loopback(host) and not allow_remote:
        raise ConfigError(
            f"refusing to listen on {host}: the playground has no login, so anyone who can reach "
            f"that address could use it. Leave --host out to serve on 127.0.0.1 (this computer "
            f"only), or add --allow-remote to listen on {host} anyway.")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (port 0: a free one)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port,
                                                             type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise ConfigError(f"can't listen on {host}:{port} ({exc.strerror or exc}); choose another "
                          "--port, or leave it out to take a free one") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def address(sock: socket.socket) -> str:
    """The page's URL for a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class Playground:
    """A playground server on a bound socket: ``run()`` in the foreground, or ``start()`` in a
    thread and ``stop()`` (the tests do this)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False,
                 max_upload: int = MAX_UPLOAD, engine: str = "auto",
                 compile: bool = False, example: str | None = None) -> None:
        import uvicorn

        from .app import create_app
        from .guard import loopback_names

        check_host(host, allow_remote)
        self.socket = bind(host, port)
        self.url = address(self.socket)
        allowed = sorted(loopback_names(host)) if is_loopback(host) else None
        self.app = create_app(allowed_hosts=allowed, max_upload=max_upload, engine=engine,
                              compile=compile, example=example)
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=GRACE)
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        self.server.run(sockets=[self.socket])

    def start(self, timeout: float = 10.0) -> "Playground":
        self.thread = threading.Thread(target=self.run, name="chainrule-playground", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the playground server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.socket.close()


def serve(host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False,
          open_browser: bool = False, echo: Callable[[str], None] = print,
          max_upload: int = MAX_UPLOAD, engine: str = "auto",
          example: str | None = None) -> None:
    """Serve the playground until Ctrl-C, printing its address (and opening it, if asked).
    ``engine="auto"`` plays epochs on the fused loop, compiling it for each new network in
    the background; ``"graph"`` keeps them on the autograd engine.  ``example``: a worked
    example's TOML file, the page's first dataset and preset."""
    playground = Playground(host, port, allow_remote, max_upload, engine,
                            compile=engine == "auto", example=example)
    echo(f"chainrule playground: {playground.url}  (Ctrl-C to stop)")
    if not is_loopback(host):
        echo(f"warning: listening on {host}; anyone who can reach it can use the playground")
    if open_browser:
        threading.Timer(0.5, open_page, args=(playground.url, echo)).start()
    playground.run()


def open_page(url: str, echo: Callable[[str], None]) -> bool:
    """Open ``url`` in a web browser; where none can be opened (a server without a desktop),
    say where to point one instead."""
    try:
        opened = webbrowser.open(url)
    except Exception:  # a broken browser setting is no reason to stop serving
        opened = False
    if not opened:
        echo(f"could not open a web browser here; open {url} in a browser on this computer "
             "(or through an SSH tunnel to it)")
    return opened
