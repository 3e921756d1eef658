"""The one place every request passes through: it gets its request id and its time is measured.

``observe`` wraps the whole application, the hot path included (app/recording/hot_path.py calls
it first), so a tick is timed and identified exactly like a page:

* the request id is the caller's ``X-Request-ID`` when that is a short, safe token (a proxy's or
  a load balancer's, so lines can be followed across them), else a new random one; it is bound to
  the log context (every line logged while the request is handled carries it) and sent back in
  the answer's ``X-Request-ID`` header;
* the time, from arrival to the end of the answer, goes to ``tally_http_request_duration_seconds``
  under the route's *template* (``/launches/{slug}/checklist``, never the path itself, whose values
  have no bound), the method and the status class. Paths no route knows share one label.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import secrets
import time
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

from app.observability import metrics

log = logging.getLogger(__name__)

HEADER = b"x-request-id"
ROUTE_KEY = "tally.route"  # set by a handler that routes by itself (the hot path): its template
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
# Methods outside these share a label: a client may send any word as a method.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _Ids:
    """A random prefix per process, then a counter: unique across processes and replicas without
    asking the kernel for randomness on every request (that was a twentieth of a tick's time)."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self._prefix = secrets.token_hex(5)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}-{next(self._counter):x}"


_ids = _Ids()
# The request's id again, for code that keeps it past the request's own context (the enquiry writer names
# a failed batch's requests): one variable read, where structlog's copy of the whole context is not.
_current: ContextVar[str | None] = ContextVar("tally_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled, None outside one."""
    return _current.get()


def request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == HEADER:
            if _SAFE_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return _ids.next()


def route_template(scope: Scope, root_path: str = "") -> str:
    """The template of the route that answered; ``root_path`` as the request arrived."""
    template = scope.get(ROUTE_KEY)
    if template is not None:
        return str(template)
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    mounted = str(scope.get("root_path") or "")
    if mounted != root_path:  # a mount (static files) answered: its prefix, whatever it served below it
        return mounted.removeprefix(root_path) + "/{path}"
    return metrics.UNMATCHED


async def observe(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Call ``app`` for this request, identified and timed (lifespan and websocket scopes pass through)."""
    if scope["type"] != "http":
        await app(scope, receive, send)
        return
    started = time.perf_counter()
    root_path = scope.get("root_path", "")
    rid = request_id(scope)
    header = (HEADER, rid.encode("ascii"))
    tokens = bind_contextvars(request_id=rid)
    current = _current.set(rid)
    status = 500  # what the client gets when the app raises before answering

    async def send_with_id(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            message.setdefault("headers", []).append(header)
        await send(message)

    method = scope["method"] if scope["method"] in METHODS else "OTHER"
    try:
        await app(scope, receive, send_with_id)
    except Exception as exc:
        # Logged here, with the request's id: uvicorn's traceback comes after the id is unbound, so the
        # id a user quotes from the 500 led to no line at all. Raised on all the same (uvicorn answers
        # 500; tests see the error), and uvicorn's own line for it is dropped (logs.NotLoggedTwice).
        log.exception("unhandled error on %s %s", method, route_template(scope, root_path))
        with contextlib.suppress(AttributeError, TypeError):
            setattr(exc, LOGGED, True)
        raise
    finally:
        metrics.observe_request(route_template(scope, root_path), method, status, time.perf_counter() - started)
        _current.reset(current)
        reset_contextvars(**tokens)


LOGGED = "tally_logged"  # set on an exception observe() has logged with its request's id


class ObserveRequests:
    """``observe`` as middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await observe(self.app, scope, receive, send)
