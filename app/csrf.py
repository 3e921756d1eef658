"""Cross-site request forgery protection for every state-changing browser request.

Two checks, both needed to pass:

* Origin: a browser says where a request comes from (``Origin``, and
  ``Sec-Fetch-Site``); anything from another site is refused outright.
* Token: forms carry ``csrf_token`` and htmx/fetch requests the
  ``X-CSRF-Token`` header (set once on <body> with hx-headers). The token is an
  HMAC of a random per-browser cookie and the session cookie, so it needs no
  storage, changes at sign-in, and cannot be made by a site that cannot read
  our cookies.

The JSON API is not covered: it takes bearer tokens only, never cookies, so a
forged request has nothing to ride on.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.errors import Forbidden

COOKIE = "tally_csrf"
SESSION_COOKIE = "tally_session"
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _binding(request: Request) -> str:
    browser = request.cookies.get(COOKIE) or request.scope.get("state", {}).get("csrf_cookie", "")
    return f"{browser}|{request.cookies.get(SESSION_COOKIE, '')}"


def token(request: Request, settings: Settings) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, _binding(request).encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=64)
def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: Request, settings: Settings) -> None:
    origin = request.headers.get("origin")
    if origin is not None:
        given = origin.lower()
        # The configured origin first: building the request's own base URL costs more than the rest of a tick.
        if given != _origin_of(settings.base_url) and given != _origin_of(str(request.base_url)):
            raise Forbidden(f"Refused a request from {origin}: it did not come from this site.", code="bad_origin")
    elif request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise Forbidden("Refused a request that came from another site.", code="bad_origin")


def check_token(request: Request, settings: Settings, submitted: str | None) -> None:
    # isascii first: compare_digest raises TypeError for a str with any other character ("é" in the
    # field or header), which was a 500 for anyone, signed in or not.
    if not submitted or not submitted.isascii() or not hmac.compare_digest(submitted, token(request, settings)):
        raise Forbidden(
            "This page was out of date (or the request came from elsewhere): reload the page and try again.",
            code="csrf",
        )


async def protect(request: Request) -> None:
    """Router dependency: every unsafe method must pass both checks."""
    if request.method in SAFE_METHODS:
        return
    settings: Settings = request.app.state.settings
    check_origin(request, settings)
    submitted = request.headers.get(HEADER)
    if submitted is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # Starlette keeps it; the route reads the same parsed form
        value = form.get(FIELD)
        submitted = value if isinstance(value, str) else None
    check_token(request, settings, submitted)


def has_cookie(scope: Scope) -> bool:
    """Whether the browser already has its CSRF cookie (read from the raw ASGI headers)."""
    return COOKIE.encode() + b"=" in dict(scope["headers"]).get(b"cookie", b"")


class CookieMiddleware:
    """Gives every browser its random CSRF cookie on first contact."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"].startswith(("/api/", "/static/", "/healthz"))  # no forms there
            or has_cookie(scope)
        ):
            await self.app(scope, receive, send)
            return
        value = secrets.token_urlsafe(24)
        scope.setdefault("state", {})["csrf_cookie"] = value
        cookie = f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if self.secure else "")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"set-cookie", cookie.encode()))
            await send(message)

        await self.app(scope, receive, send_with_cookie)
