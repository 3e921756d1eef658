"""Request bodies, read with a limit: a hostile client cannot make the server hold a large one.

The enquiry POSTs (the hot path, which skips the middleware stack) call ``read_limited``
themselves; every other request passes ``BodyLimitMiddleware``. Both refuse at once a
``Content-Length`` over the limit, before reading anything, and stop reading a body sent
without one (chunked) as soon as it passes the limit.

A JSON body is read as JSON whatever its ``Content-Type`` says (``JsonBodyRoute``), on every
route that takes one, as the enquiry POSTs always have.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import params
from fastapi.routing import APIRoute
from pydantic import BeforeValidator, Strict
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import ErrorBody, Invalid, TallyError

# An enquiry is a channel, a segment, up to 20 keys and a 500-character note: a few hundred bytes.
MAX_ENQUIRY_BODY = 16 * 1024
# Forms, with room to spare. The hypothesis-file import has a limit of its own (routes.launches.MAX_IMPORT_BODY):
# the largest file the app exports is over 2 MB.
MAX_BODY = 1024 * 1024
# The OpenAPI document's 413 for every call that takes a body but the enquiry POSTs (16 KB, their own):
# answered by BodyLimitMiddleware, declared by each route (a generated client knows only what is).
BODY_TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {
        "model": ErrorBody,
        "description": f"A body over {MAX_BODY // (1024 * 1024)} MB (`body_too_large`): nothing was read",
    }
}


Number = TypeVar("Number")


def _whole(value: object) -> object:
    # 5.0 is an integer to JSON Schema (and some JSON writers send it): taken as 5, where Strict
    # alone refused it; 5.5 stays a float, which Strict refuses.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer of a JSON body as the OpenAPI document's "integer" says it: 5 or 5.0, never true, "5" or
# 5.5. Pydantic's lax int took true as 1 ({"version": true} changed a hypothesis at version 1) and
# "5" as 5. Wraps the type with its constraints, so the document keeps them as minimum/maximum:
# ``JsonInt[Annotated[int, Field(ge=0)]]``.
JsonInt = Annotated[Number, Strict(), BeforeValidator(_whole)]


class TooLarge(TallyError):
    status_code = 413
    default_code = "body_too_large"


def size(limit: int) -> str:
    """A limit as the docs and the OpenAPI document give it: 16 KB, 1 MB (not "1024 KB")."""
    return f"{limit // (1024 * 1024)} MB" if limit % (1024 * 1024) == 0 else f"{limit // 1024} KB"


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"The request body is over {size(limit)}, more than this address ever needs: nothing was read.")


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def check_declared(request: Request, limit: int) -> None:
    """Refuse a body whose declared length is over the limit, before reading it."""
    length = declared_length(request.scope["headers"])
    if length is not None and length > limit:
        raise too_large(limit)


async def read_limited(request: Request, limit: int = MAX_ENQUIRY_BODY) -> bytes:
    """The whole body, or ``TooLarge`` as soon as it passes ``limit`` (declared or not)."""
    check_declared(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


# The answer to a page's form refused for its size: the app's own error page (``page``), not the API's JSON.
PageAnswer = Callable[[Scope, TooLarge], Awaitable[Response]]


def _for_a_page(scope: Scope) -> bool:
    """A browser's form (or htmx's), not an API client's call: the API's JSON went to the screen, in English."""
    if str(scope.get("path", "")).startswith("/api/"):
        return False
    accept = next((value for name, value in scope["headers"] if name == b"accept"), b"")
    return b"application/json" not in accept


class BodyLimitMiddleware:
    """413 for any request body over ``limit`` (or the limit ``limits`` gives its method and path): at once
    when declared, else when it gets there. ``page``, if given, answers a page's form (a lead's import of a
    file too large) as the app answers its other errors: a page in the reader's language."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int = MAX_BODY,
        limits: Mapping[tuple[str, str], int] | None = None,
        page: PageAnswer | None = None,
    ) -> None:
        self.app = app
        self.default = limit
        self.limits = dict(limits or {})
        self.page = page

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        if self.page is not None and _for_a_page(scope):
            response = await self.page(scope, too_large(limit))
            await response(scope, receive, send)
            return
        await _refuse(scope, send, limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get((scope["method"], scope["path"]), self.default)
        length = declared_length(scope["headers"])
        if length is not None and length > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = refused = False

        async def counting_receive() -> Message:
            # Past the limit the request is answered here, and the app is told the client left:
            # body parsers catch exceptions raised from receive (a form would become a 400).
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started:
                        await self._refuse(scope, receive, send, limit)
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # answered already
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except Exception:
            if not refused:
                raise


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    body = (
        b'{"error": {"code": "body_too_large", "message": "The request body is over '
        + size(limit).encode()
        + b': nothing was read."}}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- JSON bodies, whatever they are labelled ---------------------------------------------------


def not_utf8(raw: bytes) -> Invalid | None:
    """The 422 for a body that is not UTF-8, naming the first byte that is not; None if it is UTF-8.

    Windows PowerShell's ``Invoke-RestMethod`` sends a string body as ISO-8859-1 unless told the
    charset: the enquiry POST answered "invalid unicode code point at line 1 column 31", the other
    calls "could not be read as JSON", and neither said that the encoding was at fault. Asked only
    once a body was refused: nothing is added to a body that parses."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return Invalid(
            f"The body is not UTF-8 (byte 0x{raw[error.start]:02X} at offset {error.start}): send it as UTF-8; "
            "in PowerShell add -ContentType 'application/json; charset=utf-8'. Nothing was saved."
        )
    return None


EMPTY_BODY = "the body is empty: send a JSON object ({…})"  # a call that takes one, sent none
JSON_TYPE = (b"content-type", b"application/json")


def _labelled_json(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))
    return False


class JsonBodyRoute(APIRoute):
    """A route whose body is a JSON object reads it as JSON, whatever ``Content-Type`` says.

    The framework reads a body as JSON only when it is labelled so, and answered anything else with
    422 "Input should be a valid dictionary": curl's ``-d`` and PowerShell's ``Invoke-RestMethod``
    label theirs as a form unless told otherwise, a browser's ``fetch`` of a string as text/plain.
    The enquiry POSTs (the hot path) always read the body as JSON, and integrations rely on it;
    refusing there would lose enquiries that are logged today. So every JSON route takes it: these
    routes take nothing else, and a body that is not JSON is told so. The checklist labels its own."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None or isinstance(self.body_field.field_info, params.Form):
            return handler

        async def read_as_json(request: Request) -> Response:
            headers = request.scope["headers"]
            if not _labelled_json(headers):
                relabelled = [header for header in headers if header[0] != b"content-type"] + [JSON_TYPE]
                request = Request({**request.scope, "headers": relabelled}, request.receive)
            try:
                return await handler(request)
            except HTTPException as error:
                # The framework's 400 for a body it could not decode says no more than that: its cause
                # becomes the 422 that names the byte, which the app's handler answers once the token
                # was checked (app.main: a stranger hears that first). The body was read already.
                if error.status_code == 400 and isinstance(error.__cause__, UnicodeDecodeError):
                    refused = not_utf8(await request.body())
                    if refused is not None:
                        raise HTTPException(error.status_code, detail=error.detail) from refused
                raise

        return read_as_json
