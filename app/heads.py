"""HEAD for every address that answers GET: the GET's status and headers, without the body (RFC 9110 §9.3.2).

FastAPI's routes take only the methods they name, so a HEAD of any page, of /healthz or of an API
call was a 405 (``Allow: GET``), and a monitor or link checker that asks with HEAD saw the address
as broken. ``HeadAsGet`` routes a HEAD as its GET, through the same dependencies (the same sign-in,
token and CSRF rules: HEAD is a safe method, as GET is), and drops the body on its way out. A route
whose body costs real work to make asks ``is_head`` and makes none: an export's headers come from
its checks, without writing the file.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEAD_KEY = "tally.head"  # in the scope of a HEAD request routed as its GET


def is_head(request: Request) -> bool:
    """Whether this GET is a HEAD: only its status and headers are sent."""
    return bool(request.scope.get(HEAD_KEY))


class HeadAsGet:
    """Middleware: a HEAD request answered as its GET, without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        # A copy: the server keeps reading the request's own scope, where the method stays HEAD, and
        # sends no body for it (uvicorn); the body is dropped here too, for any other server.
        as_get = {**scope, "method": "GET", HEAD_KEY: True}

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(as_get, receive, headers_only)
        finally:
            # What routing found (the route, a mount's path), for the request's metrics and log line.
            scope.update({key: value for key, value in as_get.items() if key not in ("method", HEAD_KEY)})
