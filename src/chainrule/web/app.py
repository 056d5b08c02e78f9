"""The playground's Starlette application: JSON endpoints and the static page.

==========================  ======  ==================================================
path                        method  does
==========================  ======  ==================================================
``/``                       GET     the page (``static/index.html``)
``/api/options``            GET     the choices and limits of every setting
``/api/datasets``           GET     the datasets: the seed's table, the toy sets, the upload
``/api/state``              GET     network, weights, history, data view, next rows
``/api/progress``           GET     how far the epoch in progress is (row, rows)
``/api/reset``              POST    a new model from JSON settings (missing: the dataset's)
``/api/step``               POST    one step (a row, or a batch), its four stages + state
``/api/epoch``              POST    the rest of the current epoch (``{"epochs": n}``: n − 1
                                    more) + state
``/api/param``              POST    type a weight or bias: ``{"param", "value"}``; the
                                    next step's forward, loss, backward again + state
``/api/explain?param=…``    GET     the explain JSON of one weight or bias, current step
``/api/upload?name=…``      POST    a CSV (``text/csv`` body, or a form's file); learn it
                                    (``target``: a column; ``features``: a JSON list of them)
==========================  ======  ==================================================

The page plays by calling ``/api/epoch`` in a loop, so a plain request–response API is
all it needs.  POSTs take JSON (``Content-Type: application/json``), and nothing from
another site gets in (``guard``).  An epoch runs in slices of ``session.EPOCH_SLICE``
seconds, so ``/api/state`` and ``/api/progress`` answer while a long one runs, and it
stops when its request is gone.  A request the session cannot honour gets a 4xx answer
``{"error": message}`` and leaves the session as it was: 400 for a bad setting, body or
table, 403 from another site, 409 when a step diverges, 413 for a body over the limit,
415 for one that is not JSON or not a CSV text file.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any, Awaitable, Callable

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import ChainruleError, DivergenceError
from .guard import Guard, content_type, size_text
from .session import MAX_UPLOAD, Session, RequestError
from .settings import limits, parse_epochs

STATIC = Path(__file__).parent / "static"
MAX_DIGITS = 30  # of a whole number in a JSON body (Python refuses more than 4,300 with a crash)
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


async def off(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on a worker thread, so the server keeps answering meanwhile; a request
    cancelled (its server stopping) does not wait for it."""
    return await anyio.to_thread.run_sync(partial(fn, *args), abandon_on_cancel=True)


def _whole_number(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise RequestError(f"a number in the request has {len(text.lstrip('-'))} digits; the "
                           f"settings take at most {MAX_DIGITS}", 400)
    return int(text)


async def read_json(request: Request) -> Any:
    """The JSON body (``{}`` when empty), at most ``guard.JSON_LIMIT`` bytes (the guard stops
    a longer one); numbers of more than ``MAX_DIGITS`` digits and nesting deeper than Python's
    recursion limit are a 400."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
    if not body.strip():
        return {}
    try:
        return json.loads(bytes(body), parse_int=_whole_number)
    except RequestError:
        raise
    except RecursionError:
        raise RequestError("the request body is nested too deeply; send the settings as one "
                           "flat JSON object", 400) from None
    except (ValueError, UnicodeDecodeError):
        raise RequestError("the request body is not valid JSON; send settings as a JSON object",
                           400) from None


async def read_upload(request: Request, max_upload: int) -> tuple[str, bytes]:
    """(file name, bytes) of an upload: the body itself, or a form's one file.  More than
    ``max_upload`` bytes is a 413 (the guard stops the body soon after that)."""
    name = request.query_params.get("name", "upload.csv")
    if content_type(request.headers) == "multipart/form-data":
        from starlette import formparsers

        if formparsers.multipart is None:
            raise RequestError("this server can't read form uploads (python-multipart is not "
                               "installed); send the CSV as the body with Content-Type: "
                               "text/csv", 415)
        async with request.form(max_files=1, max_fields=10, max_part_size=64 * 1024) as form:
            files = [v for v in form.values() if not isinstance(v, str)]
            if not files:
                raise RequestError("the form has no file; upload a CSV table", 400)
            content = await files[0].read(max_upload + 1)
            name = files[0].filename or name
    else:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_upload:
                break
        content = bytes(body)
    if len(content) > max_upload:
        raise RequestError(f"the file is larger than {size_text(max_upload)}, the upload limit; "
                           "upload a smaller table or restart chainrule serve with a larger "
                           "--max-upload", 413)
    return name, content


def create_app(session: Session | None = None, allowed_hosts: list[str] | None = None,
               max_upload: int = MAX_UPLOAD, engine: str = "auto",
               compile: bool = False, example: str | None = None) -> Starlette:
    """The application around ``session`` (a new one by default).

    ``allowed_hosts`` limits the ``Host`` header the server answers (the server passes
    the loopback names, so a web page elsewhere cannot reach it by DNS rebinding);
    ``max_upload``: the largest CSV in bytes; ``engine`` and ``compile``: how epochs run,
    ``example``: a worked example's TOML file to open on (``Session``).
    """
    session = session or Session(max_upload, engine, compile, example)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    @api
    async def options(request: Request) -> Any:
        return {**limits(), "max_upload": session.max_upload}

    @api
    async def datasets(request: Request) -> Any:
        return session.datasets()

    @api
    async def state(request: Request) -> Any:
        return await off(session.state)

    @api
    async def progress(request: Request) -> Any:
        return session.progress()

    @api
    async def reset(request: Request) -> Any:
        return await off(session.reset, await read_json(request))

    @api
    async def step(request: Request) -> Any:
        await read_json(request)  # none is needed, but a body must be JSON and small
        return await off(session.step)

    @api
    async def epoch(request: Request) -> Any:
        for _ in range(parse_epochs(await read_json(request))):
            with session.working() as (run, start):
                while not await off(session.epoch_part, run, start):
                    if await request.is_disconnected():  # nobody waits for it: stop here
                        return {}
            if session.run is not run:  # a reset or upload came meanwhile
                break
        return await off(session.state)

    @api
    async def param(request: Request) -> Any:
        return await off(session.set_param, await read_json(request))

    @api
    async def explain(request: Request) -> Any:
        param = request.query_params.get("param", "")
        return await off(session.explain, param)

    @api
    async def upload(request: Request) -> Any:
        name, content = await read_upload(request, session.max_upload)
        target = request.query_params.get("target") or None
        features = request.query_params.get("features")
        try:
            chosen = None if features is None else json.loads(features)
        except ValueError:
            chosen = "not JSON"
        if chosen is not None and not (isinstance(chosen, list)
                                       and all(isinstance(c, str) for c in chosen)):
            raise RequestError('features must be a JSON list of column names, e.g. ["a", "b"]', 400)
        return await off(session.upload, name, content, target, chosen)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        return error(getattr(exc, "detail", "") or "not found", status)

    async def unexpected(request: Request, exc: Exception) -> Response:
        return error(f"the playground hit an unexpected error ({type(exc).__name__}); this is "
                     "a bug in chainrule, please report it", 500)

    routes = [
        Route("/", index),
        Route("/api/options", options),
        Route("/api/datasets", datasets),
        Route("/api/state", state),
        Route("/api/progress", progress),
        Route("/api/reset", reset, methods=["POST"]),
        Route("/api/step", step, methods=["POST"]),
        Route("/api/epoch", epoch, methods=["POST"]),
        Route("/api/param", param, methods=["POST"]),
        Route("/api/explain", explain),
        Route("/api/upload", upload, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    hosts = frozenset(h.strip("[]").lower() for h in allowed_hosts) if allowed_hosts else None
    middleware = [Middleware(Guard, max_upload=session.max_upload, hosts=hosts)]
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={HTTPException: http_error, Exception: unexpected})
