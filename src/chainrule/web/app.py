"""The playground's Starlette application: JSON endpoints and the static page.

==========================  ======  ==================================================
path                        method  does
==========================  ======  ==================================================
``/``                       GET     the page (``static/index.html``)
``/api/options``            GET     the choices and limits of every setting
``/api/datasets``           GET     the datasets: the seed's table, the toy sets, the upload
``/api/state``              GET     network, weights, history, data view, next rows
``/api/reset``              POST    a new model from JSON settings (missing: the dataset's)
``/api/step``               POST    one step (a row, or a batch), its four stages + state
``/api/epoch``              POST    the rest of the current epoch (``{"epochs": n}``: n − 1
                                    more) + state
``/api/param``              POST    type a weight or bias: ``{"param", "value"}``; the
                                    next step's forward, loss, backward again + state
``/api/explain?param=…``    GET     the explain JSON of one weight or bias, current step
``/api/upload?name=…``      POST    a CSV as the request body (≤ 1 MB); learn it (``target``:
                                    a column; ``features``: a JSON list of columns)
==========================  ======  ==================================================

The page plays by calling ``/api/epoch`` in a loop, so a plain request–response API is
all it needs.  A request the session cannot honour gets a 4xx answer
``{"error": message}`` and leaves the session as it was: 400 for a bad setting or
table, 409 when a step diverges, 413 for an upload over the limit, 415 for one that is
not a CSV text file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import ChainruleError, DivergenceError
from .session import MAX_UPLOAD, Session, RequestError
from .settings import limits

STATIC = Path(__file__).parent / "static"
Handler = Callable[[Request], Awaitable[Any]]


def error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def api(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Turn a handler's result into JSON and a chainrule error into a 4xx with its message."""

    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await fn(request))
        except RequestError as exc:
            return error(str(exc), exc.status)
        except DivergenceError as exc:
            return error(str(exc), 409)
        except ChainruleError as exc:
            return error(str(exc))

    return endpoint


async def read_json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RequestError("the request body is not valid JSON; send settings as a JSON object",
                          400) from None


async def read_upload(request: Request) -> bytes:
    """The request body, refusing more than ``MAX_UPLOAD`` bytes without reading them all."""
    too_big = RequestError(f"the file is larger than {MAX_UPLOAD // 1_000_000} MB; upload a "
                          "smaller table", 413)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD:
            raise too_big
    return bytes(body)


def create_app(session: Session | None = None, allowed_hosts: list[str] | None = None) -> Starlette:
    """The application around ``session`` (a new one by default).

    ``allowed_hosts`` limits the ``Host`` header the server answers (the server passes
    the loopback names, so a web page elsewhere cannot reach it by DNS rebinding).
    """
    session = session or Session()

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    @api
    async def options(request: Request) -> Any:
        return limits()

    @api
    async def datasets(request: Request) -> Any:
        return session.datasets()

    @api
    async def state(request: Request) -> Any:
        return await run_in_threadpool(session.state)

    @api
    async def reset(request: Request) -> Any:
        return await run_in_threadpool(session.reset, await read_json(request))

    @api
    async def step(request: Request) -> Any:
        return await run_in_threadpool(session.step)

    @api
    async def epoch(request: Request) -> Any:
        return await run_in_threadpool(session.epoch, await read_json(request))

    @api
    async def param(request: Request) -> Any:
        return await run_in_threadpool(session.set_param, await read_json(request))

    @api
    async def explain(request: Request) -> Any:
        param = request.query_params.get("param", "")
        return await run_in_threadpool(session.explain, param)

    @api
    async def upload(request: Request) -> Any:
        content = await read_upload(request)
        name = request.query_params.get("name", "upload.csv")
        target = request.query_params.get("target") or None
        features = request.query_params.get("features")
        try:
            chosen = None if features is None else json.loads(features)
        except ValueError:
            chosen = "not JSON"
        if chosen is not None and not (isinstance(chosen, list)
                                       and all(isinstance(c, str) for c in chosen)):
            raise RequestError('features must be a JSON list of column names, e.g. ["a", "b"]', 400)
        return await run_in_threadpool(session.upload, name, content, target, chosen)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        return error(getattr(exc, "detail", "") or "not found", status)

    routes = [
        Route("/", index),
        Route("/api/options", options),
        Route("/api/datasets", datasets),
        Route("/api/state", state),
        Route("/api/reset", reset, methods=["POST"]),
        Route("/api/step", step, methods=["POST"]),
        Route("/api/epoch", epoch, methods=["POST"]),
        Route("/api/param", param, methods=["POST"]),
        Route("/api/explain", explain),
        Route("/api/upload", upload, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = ([Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)]
                  if allowed_hosts else [])
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={HTTPException: http_error})
