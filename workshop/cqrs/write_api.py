"""The write API (FastAPI, port 8000): commands in, ``{version, position}`` out. It answers no queries.

``POST /commands`` takes one command, its ``type`` saying which::

    {"type": "CreateUser", "user_id": "u1", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org"}
    {"type": "ChangeEmail", "user_id": "u1", "email": "ada@new.example"}
    {"type": "ActivateUser", "user_id": "u1"}
    {"type": "DeleteUser", "user_id": "u1", "reason": "asked to"}

* **201** with the stream's new ``version`` and the feed ``position`` of the
  command's last event — give that position to the read API (``?after=``) to
  read your own write;
* **200** with the first answer when the same command arrives again with the
  same ``Idempotency-Key`` header (its ``command_id``): nothing new happens;
  another command for the same user under a used key is **409** (a key is
  remembered in its user's stream);
* **422** for an invalid command (the fields at fault), **404** for an unknown
  user, **409** when the user's state does not allow it or the email is taken —
  and in each case nothing is stored. Bodies over 64 kB get **413**, non-JSON
  **400**/**415** (:mod:`workshop.webapi`).

    python -m workshop.run.cqrs write-api --port 8000     # compose: cqrs-write-api
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, RootModel

from workshop.cqrs.commands import AnyCommand
from workshop.cqrs.handler import CommandHandler, CommandRejected
from workshop.webapi import ValidationProblem, add_healthz, harden, inline_schema, problem, read_json, validate_body


class CommandBody(RootModel[AnyCommand]):
    """One command; ``type`` says which."""


class AcceptedView(BaseModel):
    user_id: str
    command_id: str
    version: int
    position: int
    events: int
    duplicate: bool


def command_schema() -> dict:
    """The body's JSON Schema: one of the commands, each with its ``type`` required."""
    schema = inline_schema(CommandBody)
    schema.pop("discriminator", None)  # its mapping points at definitions that were inlined
    for option in schema["oneOf"]:
        option["required"] = ["type", *option.get("required", [])]
        del option["properties"]["command_id"]  # over HTTP: the Idempotency-Key header
    return schema


def create_app(handler: CommandHandler | Any) -> FastAPI:
    """The write API over a :class:`~workshop.cqrs.handler.CommandHandler`."""
    import psycopg
    import psycopg_pool

    app = harden(FastAPI(title="Users — write side", version="1.0"))

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg_pool.PoolTimeout)
    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "the event store cannot be reached; try again shortly"}, 503)

    @app.exception_handler(CommandRejected)
    async def rejected(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CommandRejected)
        return JSONResponse({"detail": exc.reason}, exc.status)

    @app.post(
        "/commands",
        status_code=201,
        response_model=AcceptedView,
        responses={
            201: {"description": "accepted: the events are stored at `position` in the feed"},
            200: {
                "model": AcceptedView,
                "description": "this command was handled before: the first answer, nothing new",
            },
            400: problem("the body is not JSON"),
            404: problem("no such user"),
            409: problem(
                "the user's state does not allow this command, the email is taken, "
                "or this Idempotency-Key was used for another command"
            ),
            413: problem("the body is larger than 64 kB"),
            415: problem("the body is not sent as application/json"),
            422: {"model": ValidationProblem, "description": "the command is invalid: each problem names its field"},
            503: problem("the event store cannot be reached; try again shortly"),
        },
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": command_schema()}}}
        },
    )
    async def send_command(
        request: Request,
        response: Response,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=100,
                pattern=r"^[!-~]+$",
                description="any unique text; a retry sends the same key (= the command_id)",
            ),
        ] = None,
    ) -> Any:
        raw = await read_json(request)
        if isinstance(raw, dict):  # over HTTP the command's id is the Idempotency-Key header, never a field
            if "command_id" in raw:
                raise RequestValidationError(
                    [
                        {
                            "type": "extra_forbidden",
                            "loc": ("body", "command_id"),
                            "msg": "send the command's id as the Idempotency-Key header",
                            "input": raw["command_id"],
                        }
                    ]
                )
            if idempotency_key is not None:
                raw["command_id"] = idempotency_key
        command = validate_body(CommandBody, raw).root
        accepted = await handler.handle(command)
        if accepted.duplicate:
            response.status_code = 200
        return AcceptedView(**vars(accepted))

    add_healthz(
        app, lambda: handler.store.head(), what="the event store"
    )  # looked up per call: a handler may start later
    return app


async def open_handler(s: Any = None) -> tuple[CommandHandler, Any]:
    """A handler on ``s``' event store, with email reservations; and a coroutine function that closes it."""
    from workshop.config import settings
    from workshop.cqrs.system import open_store
    from workshop.cqrs.uniqueness import EmailReservations

    store = await open_store(s or settings())
    return CommandHandler(store, emails=EmailReservations(store.pool, store.schema)), store.close
