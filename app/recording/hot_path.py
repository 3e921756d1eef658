"""The two ways to log an enquiry, served ahead of the framework's layers.

Logging an enquiry is the hot path (docs/benchmarks.md). Going through the
application's full stack — error, body-limit and telemetry middleware, the
CSRF-cookie middleware, exception middleware, routing, FastAPI's request
handling — cost more per request than the route itself. So ``TallyApp``
answers these two requests directly, with the same route code:

* ``POST /api/v1/launches/{slug}/enquiries`` (the JSON API), and
* ``POST /launches/{slug}/enquiries`` (the checklist's tick, CSRF-checked).

What the skipped layers did for these requests is done here too: errors
through the application's own exception handlers (so they look exactly like
any other error), and a 500 for anything unexpected. The security headers are
added here for every answer, hot or not: outside the whole stack, so that what
its layers answer themselves (the body limit's 413, the framework's 500)
carries them too. A tick from a browser that has no CSRF cookie yet goes through the
whole stack, which gives it one. The framework's routes for both stay, for the
OpenAPI document and for that case.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette._exception_handler import _lookup_exception_handler
from starlette._utils import get_route_path
from starlette.types import Message, Receive, Scope, Send

from app import csrf
from app.observability.requests import ROUTE_KEY, observe

Handler = Callable[[Request, str], Awaitable[Response]]

API_PREFIX = "/api/v1/launches/"
TICK_PREFIX = "/launches/"
SUFFIX = "/enquiries"
TEMPLATES = {"api": API_PREFIX + "{slug}" + SUFFIX, "tick": TICK_PREFIX + "{slug}" + SUFFIX}  # as the routes name them


def match(scope: Scope) -> tuple[str, str] | None:
    """``("api" | "tick", slug)`` for the two hot requests, else None. Slugs are one path segment."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path = get_route_path(scope)
    if not path.endswith(SUFFIX):
        return None
    for kind, prefix in (("api", API_PREFIX), ("tick", TICK_PREFIX)):
        if path.startswith(prefix):
            slug = path[len(prefix) : -len(SUFFIX)]
            return (kind, slug) if slug and "/" not in slug else None
    return None


class TallyApp(FastAPI):
    """FastAPI, with the hot path answered before the middleware stack (see the module's docstring)."""

    def __init__(
        self,
        *,
        hot_handlers: dict[str, Handler],
        security_headers: list[tuple[bytes, bytes]],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hot_handlers = hot_handlers
        self.security_headers = security_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Every request, hot or not, is identified and timed in this one place.
        await observe(self._answer, scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = match(scope)
        if hot is None or (hot[0] == "tick" and not csrf.has_cookie(scope)):
            if scope["type"] != "http":
                await super().__call__(scope, receive, send)
                return
            headers = self.security_headers

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message.setdefault("headers", []).extend(headers)
                await send(message)

            await super().__call__(scope, receive, send_with_headers)
            return
        kind, slug = hot
        scope[ROUTE_KEY] = TEMPLATES[kind]
        scope["app"] = self
        scope.setdefault("path_params", {})["slug"] = slug
        request = Request(scope, receive)
        try:
            response = await self.hot_handlers[kind](request, slug)
        except Exception as exc:
            # The lookup the framework's exception middleware makes (the exception's classes in order).
            # Every handler this app registers, FastAPI's own included, is an async HTTP one.
            handler: Any = _lookup_exception_handler(cast(Any, self.exception_handlers), exc)
            if handler is None:
                # Answered as the framework's own layer answers it for the rest (uvicorn's 500 would
                # carry no security headers), then raised: observe() logs it with the request id.
                failed = PlainTextResponse("Internal Server Error", status_code=500)
                failed.raw_headers.extend(self.security_headers)
                await failed(scope, receive, send)
                raise
            response = await handler(request, exc)
        response.raw_headers.extend(self.security_headers)
        await response(scope, receive, send)
