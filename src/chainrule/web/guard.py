"""The playground's door: which requests reach its endpoints at all.

The playground has no login, and a browser sends a web page's "simple" requests (a form
post, ``text/plain``, ``multipart/form-data``, a ``POST`` with no body) to any address,
this computer's included, without asking it first.  So before an endpoint runs, ``Guard``
refuses, each with a JSON ``{"error": message}``:

========  ===========================================================================
status    refused
========  ===========================================================================
400       a ``Host`` that is not this computer's name, when the server listens on a
          loopback address (a page elsewhere reaching it by DNS rebinding)
403       ``/api/…`` requests whose ``Origin`` is another origin (or ``null``), or whose
          ``Sec-Fetch-Site`` says another site; a form upload (multipart) that does not
          show it comes from the playground's own page
415       a ``POST`` without its content type: ``application/json`` (uploads: the CSV as
          ``text/csv``, or ``multipart/form-data`` from the same origin) — a page
          elsewhere can send neither JSON nor ``text/csv`` without the browser asking
          the server first (CORS), which this server never allows
413       a body over the endpoint's limit (``JSON_LIMIT`` for settings, the upload limit
          for ``/api/upload``): a declared ``Content-Length`` at once, a streamed
          (chunked) body when it passes the limit, without reading the rest
========  ===========================================================================

GET requests change nothing, so they need no content type.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from .session import RequestError

JSON_LIMIT = 16_000  # bytes: settings are a few hundred
FORM_OVERHEAD = 64 * 1024  # bytes a multipart envelope may add around the file
UPLOAD = "/api/upload"
SAME_ORIGIN_SITES = ("same-origin", "none")  # ``none``: typed in, a bookmark

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def loopback_names(host: str) -> frozenset[str]:
    """The ``Host`` names a server on the loopback address ``host`` answers to."""
    return frozenset({"localhost", "127.0.0.1", "::1", host.strip().strip("[]").lower()})


def _split(netloc: str) -> tuple[str, int] | None:
    """(host, port) of ``host[:port]`` (IPv6 in brackets), or None if it is not one."""
    try:
        parts = urlsplit("//" + netloc)
        return (parts.hostname or "").lower(), parts.port or 80
    except ValueError:
        return None


def content_type(headers: dict[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def refusal(method: str, path: str, headers: dict[str, str],
            hosts: frozenset[str] | None) -> tuple[int, str] | None:
    """Why the request may not reach the playground (status, message), or None."""
    own = _split(headers.get("host", ""))
    if hosts is not None and (own is None or own[0] not in hosts):
        return 400, ("this playground answers only to its own address on this computer "
                     "(127.0.0.1, localhost or ::1), not to the host name "
                     f"{headers.get('host', '')!r}")
    if not path.startswith("/api/"):
        return None
    foreign = ("a page on another site can't use this playground; open it at its own address "
               "(the one chainrule serve printed)")
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() not in SAME_ORIGIN_SITES:
        return 403, foreign
    origin = headers.get("origin")
    same = False
    if origin is not None:
        parts = urlsplit(origin) if origin != "null" else None
        try:
            same = (parts is not None and parts.scheme == "http"
                    and ((parts.hostname or "").lower(), parts.port or 80) == own)
        except ValueError:  # a port that is not a number
            same = False
        if not same:
            return 403, foreign
    if method != "POST":
        return None
    kind = content_type(headers)
    if path == UPLOAD:
        if kind == "multipart/form-data" and not (same or site == "same-origin"):
            return 403, ("a form upload must come from the playground's own page; send the "
                         "CSV itself as the body with Content-Type: text/csv")
        if kind not in ("text/csv", "multipart/form-data"):
            return 415, ("send the CSV as the body with Content-Type: text/csv (or as a file "
                         f"of a form from the playground's page), not {kind or 'no type'}")
    elif kind != "application/json":
        return 415, f"send the settings as JSON (Content-Type: application/json), not {kind or 'no type'}"
    return None


def limit(path: str, max_upload: int) -> int:
    """The most bytes a request's body to ``path`` may have."""
    return max_upload + FORM_OVERHEAD if path == UPLOAD else JSON_LIMIT


def too_large(path: str, max_upload: int) -> RequestError:
    if path == UPLOAD:
        return RequestError(f"the file is larger than {size_text(max_upload)}, the upload "
                            "limit; upload a smaller table or restart chainrule serve with a "
                            "larger --max-upload", 413)
    return RequestError(f"the request body is larger than {size_text(JSON_LIMIT)}; the "
                        "settings are a small JSON object", 413)


def size_text(n: int) -> str:
    """``n`` bytes in the largest decimal unit that keeps it whole-ish: 20 MB, 16.4 kB."""
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


class Guard:
    """ASGI middleware: refuse what ``refusal`` names, and cap every body (``limit``)."""

    def __init__(self, app: Any, max_upload: int, hosts: frozenset[str] | None) -> None:
        self.app, self.max_upload, self.hosts = app, max_upload, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        refused = refusal(scope.get("method", "GET"), path, headers, self.hosts)
        cap = limit(path, self.max_upload)
        declared = headers.get("content-length", "")
        if refused is None and declared.isdigit() and int(declared) > cap:
            refused = 413, str(too_large(path, self.max_upload))
        if refused is not None:
            await _answer(send, *refused)
            return
        await self.app(scope, _capped(receive, cap, too_large(path, self.max_upload)), send)


def _capped(receive: Receive, cap: int, error: RequestError) -> Receive:
    """``receive`` that raises ``error`` (a 413) once the body passes ``cap`` bytes."""
    seen = 0

    async def capped() -> dict[str, Any]:
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                raise error
        return message

    return capped


async def _answer(send: Send, status: int, message: str) -> None:
    import json

    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
