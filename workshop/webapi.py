"""What every HTTP API of the course shares, so that no input gets a 500 and no error amplifies it.

* :class:`BodyLimit` — a body larger than ``max_bytes`` gets **413** before it
  is read whole: at once when ``Content-Length`` says so, else as soon as the
  streamed (chunked) body passes the limit;
* :func:`read_json` — the body parsed exactly: numbers with a fraction become
  ``Decimal`` (not binary floats), ``NaN``/``Infinity`` and other non-JSON are
  **400**;
* :func:`validation_problems` — the **422** handler: every problem names its
  field, but quotes at most a short excerpt of the input (a 10 MB field is not
  echoed back), and only values JSON can carry (no NaN, no lone surrogate);
* :func:`inline_schema` — a model's JSON Schema without ``$ref``, for a
  request body the route reads itself (``openapi_extra``);
* :func:`problem` — an error answer for a route's ``responses=``, so the
  OpenAPI document lists every status the route can give;
* :func:`add_healthz` — ``GET /healthz``: **200** ``{"status": "ok"}`` when a
  probe of the backing service answers, else **503** naming what is down.

:func:`harden` installs the middleware and the handlers on a FastAPI app:
with ``backend="the database"``, PostgreSQL being away is a **503**, not a 500.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

MAX_BODY = 64 * 1024  # bytes; a full order of 100 items is about 10 kB
EXCERPT = 80  # characters of the input an error may quote


class Problem(BaseModel):
    """An error: ``{"detail": "what is wrong and what to do"}``."""

    detail: str


def problem(description: str) -> dict[str, Any]:
    """A documented error answer: ``responses={404: problem("no such order")}``."""
    return {"model": Problem, "description": description}


class Health(BaseModel):
    """``GET /healthz``'s answer: ``ok``, or ``unavailable`` with what is down."""

    status: Literal["ok", "unavailable"]
    detail: str | None = None


def add_healthz(app: FastAPI, probe: Callable[[], Awaitable[Any]], *, what: str) -> None:
    """``GET /healthz`` on ``app``: 200 when ``await probe()`` returns, 503 (naming ``what``) when it raises."""

    @app.get("/healthz", response_model=Health, responses={503: {"model": Health, "description": "not ready"}})
    async def healthz() -> Any:
        try:
            await probe()
        except Exception as exc:  # whatever the reason, the service cannot do its work
            return JSONResponse({"status": "unavailable", "detail": f"{what}: {type(exc).__name__}"}, 503)
        return Health(status="ok")

    healthz.__doc__ = f"200 when {what} answers, else 503."


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    input: Any = None  # an excerpt of the value at fault
    ctx: dict[str, Any] | None = None


class ValidationProblem(BaseModel):
    """A 422: one entry per field at fault."""

    detail: list[FieldProblem]


class BodyTooLarge(HTTPException):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than {max_bytes} bytes")


class BodyLimit:
    """ASGI middleware: at most ``max_bytes`` of request body, checked before the body is read."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            exc = BodyTooLarge(self.max_bytes)
            await JSONResponse({"detail": exc.detail}, exc.status_code)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # raised where the app reads the body: it answers 413
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


async def read_json(request: Request) -> Any:
    """The request's JSON body, numbers with a fraction as exact ``Decimal``; 415 or 400 when it is not JSON."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(415, f"send the body as application/json (got {_short(media_type or 'none', 40)!r})")
    body = await request.body()  # at most BodyLimit's max_bytes
    try:
        return json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, NaN, a 5000-digit integer, [[[[…]]]]
        raise HTTPException(400, f"the body is not valid JSON: {_short(str(exc), 120)}") from None


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def validate_body(model: type[BaseModel], data: Any) -> Any:
    """``model`` built from the parsed body; its problems become a 422, located under ``body``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


async def validation_problems(request: Request, exc: Exception) -> JSONResponse:
    """422 with the fields at fault, each quoting only a short, JSON-safe excerpt of its input."""
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        problem: dict[str, Any] = {
            "loc": [part if isinstance(part, int) else _short(str(part), 40) for part in error.get("loc", ())],
            "msg": _short(str(error.get("msg", "")), 200),
            "type": str(error.get("type", "")),
            "input": excerpt(error.get("input")),
        }
        ctx = {
            key: excerpt(value)
            for key, value in (error.get("ctx") or {}).items()
            if value is None or isinstance(value, (str, int, float, Decimal))
        }  # drops e.g. the ValueError
        if ctx:
            problem["ctx"] = ctx
        problems.append(problem)
    return JSONResponse({"detail": problems}, 422)


def excerpt(value: Any) -> Any:
    """``value`` if it is short and JSON can carry it, else a short text standing for it."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**15 else _short(str(value), 20)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # 'nan', 'inf': JSON has no such numbers
    if isinstance(value, Decimal):  # a number with a fraction, as read by read_json
        return float(value) if value.is_finite() and abs(value) < 10**15 else _short(str(value), 20)
    if isinstance(value, str):
        return _short(value, EXCERPT)
    return _short(_REPR.repr(value), EXCERPT)  # a dict or list: its start, nested two levels at most


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 2, 30, 30, 4, 4


def _short(text: str, limit: int) -> str:
    """At most ``limit`` characters; a lone surrogate (not encodable, so not JSON) becomes ``\\ud800``."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def inline_schema(model: type[BaseModel]) -> dict:
    """``model``'s JSON Schema with every ``$ref`` replaced by its definition."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return resolve(schema)


def harden(app: FastAPI, *, max_body: int = MAX_BODY, backend: str | None = None) -> FastAPI:
    """Install the body limit and the excerpting 422 handler on ``app``.

    With ``backend`` (e.g. ``"the database"``), a PostgreSQL connection that fails
    (``psycopg.OperationalError``, which includes the pool's timeouts) becomes
    **503** "<backend> cannot be reached", not a 500.
    """
    app.add_middleware(BodyLimit, max_bytes=max_body)
    app.add_exception_handler(RequestValidationError, validation_problems)
    if backend is not None:
        import psycopg

        async def unavailable(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": f"{backend} cannot be reached; try again shortly"}, 503)

        app.add_exception_handler(psycopg.OperationalError, unavailable)
    return app
