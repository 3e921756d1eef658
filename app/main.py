"""The web application: ``create_app()`` wires settings, database, routes and error handling."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import Scope

from app import csrf, i18n
from app.bodies import EMPTY_BODY, BodyLimitMiddleware
from app.config import Settings, load_settings
from app.db import Database
from app.deps import Viewer, browser_language, find_viewer, is_htmx, needs_lead_token, role_refusal
from app.errors import (
    Invalid,
    MethodNotAllowed,
    NotFound,
    StaleOrder,
    TallyError,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)
from app.heads import HeadAsGet
from app.observability import metrics
from app.readiness import Readiness
from app.recording.credentials import TokenCheck, bearer_from
from app.recording.handlers import batch_recorder, count_committed, hot_handlers
from app.recording.handlers import router as recording_router
from app.recording.hot_path import TallyApp
from app.recording.record import Logged
from app.recording.requests import EnquiryRequest
from app.recording.writer import PAST_STATEMENT_TIMEOUT, GroupCommitWriter
from app.routes import admin, alerts, api, auth, checklist, digests, exports, health, insight, launches
from app.web import StaticAssets, build_environment, page_address, render, split_url

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"

NOT_COMPRESSED = ("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _wants_json(request: Request) -> bool:
    return _is_api(request) or ("application/json" in request.headers.get("accept", "") and not is_htmx(request))


def _problem(error: Any) -> str:
    """What is wrong with one field of a request, as the API tells it."""
    if error["type"] == "extra_forbidden":
        return "unknown field (misspelt?): the fields are in the API reference, /api/openapi.json"
    if error["type"] == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        if len(error["loc"]) > 1:  # the framework's parser gives where; pydantic's (the enquiry POSTs) says it
            return f"the body is not valid JSON (at character {error['loc'][1]}: {reason}): send a JSON object"
        return f"the body is not valid JSON ({reason}): send a JSON object"
    if error["type"] in ("model_type", "model_attributes_type", "dict_type") and tuple(error["loc"]) == ("body",):
        return "the body must be a JSON object ({…}), not an array, a string or a number"
    if error["type"] == "missing" and tuple(error["loc"]) == ("body",):
        # Said "Field required" with the field "": nothing told the client that the body itself was missing.
        return EMPTY_BODY
    # A time's own message names it, and an unencoded + in a query (app/instants.py).
    return str(error["msg"]).removeprefix("Value error, ")


def error_body(error: TallyError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field:
        body["field"] = error.field
    if isinstance(error, Invalid) and error.code == Invalid.default_code:
        # As the framework's own 422s answer (validation_error): a client reads error["problems"] for every
        # 422 `invalid`, raised by the app's checks too, with "" for the field of a fault of the whole request.
        body["field"] = error.field or ""
        problems = error.details or [(error.field or "", error.message)]
        body["problems"] = [{"field": name, "message": str(message)} for name, message in problems]
    if isinstance(error, StaleOrder):
        return {"error": body, "order": error.order, "shortcuts": error.shortcuts}
    return {"error": body}


UNAVAILABLE_RETRY_AFTER = 5  # seconds


async def error_response(request: Request, error: TallyError) -> Response:
    headers: dict[str, str] = {}
    if isinstance(error, TooManyRequests):
        headers["Retry-After"] = str(error.retry_after)
    elif isinstance(error, Unavailable):
        # Nothing was saved: a client that honours it (most HTTP libraries' retry helpers do) waits a
        # moment before sending the same request, with the same idempotency key, again.
        headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
    if _wants_json(request):
        if isinstance(error, Unauthenticated) and _is_api(request):
            headers["WWW-Authenticate"] = "Bearer"
        body = error_body(error)
        if not _is_api(request) and error.code in i18n.ERROR_TEXTS:
            # A page's own script (the editor's reorder) shows it to a person: in their language too,
            # from the language cookie /me/language sets (no database read: ticks answer here too).
            settings: Settings = request.app.state.settings
            with i18n.use_language(browser_language(request, settings)):
                body["error"]["text"] = i18n.error_text(error.code, error.message)
        return JSONResponse(body, status_code=error.status_code, headers=headers)
    if isinstance(error, Unauthenticated):
        # After a form's POST, the page the form was on: the POST's own address answers a GET with 405.
        back = page_address(request)
        if is_htmx(request):
            # A fragment (the checklist's counts, polled) is no page to come back to after signing in:
            # the page that asked for it is (htmx says which; only its path and query are used).
            page = split_url(request.headers.get("hx-current-url", ""))
            if page.path.startswith("/"):
                back = page.path + (f"?{page.query}" if page.query else "")
            return Response(status_code=401, headers={"HX-Redirect": "/login?next=" + quote(back)})
        return RedirectResponse("/login?next=" + quote(back), status_code=303)
    # The signed-in person's header and language, as on any other page (looked up off the event loop).
    viewer = await run_in_threadpool(_viewer_of, request)
    if is_htmx(request):
        headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        return render(
            request, "_error.html", viewer=viewer, error=error, status_code=error.status_code, headers=headers
        )
    return render(request, "error.html", viewer=viewer, error=error, status_code=error.status_code, headers=headers)


async def _too_large_page(scope: Scope, error: TallyError) -> Response:
    """A page's form refused for its size (a file too large for the import): the error page, as for any other."""
    return await error_response(Request(scope), error)


def _viewer_of(request: Request) -> Viewer | None:
    """Who is looking at an error page, if anyone can be found (a failing database finds no one)."""
    try:
        with request.app.state.db.session() as session:
            return find_viewer(request, session, request.app.state.settings, dt.datetime.now(dt.UTC))
    except (TallyError, sa.exc.SQLAlchemyError):
        return None


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    name = ""
    for part in parts:
        name += f"[{part}]" if part.isdigit() else (f".{part}" if name else part)
    return name


def served_app() -> FastAPI:
    """The app as `tally serve` runs it (``cli.SERVED_APP``), once in each worker process."""
    return create_app(freeze_heap=True)


YOUNG_COLLECTION_EVERY = 10_000  # new objects, for a serving process (the interpreter's default: 700)


def create_app(settings: Settings | None = None, *, db: Database | None = None, freeze_heap: bool = False) -> FastAPI:
    """``freeze_heap``: once started, leave what exists then out of the garbage collector's full
    passes. Only for a process that serves one app for its whole life (``served_app``): a test
    process that builds hundreds would keep every frozen cycle for good."""
    settings = settings or load_settings()
    database = db or Database(
        settings.database_url,
        connect_timeout=settings.database_connect_timeout,
        statement_timeout=settings.database_statement_timeout,
        lock_timeout=settings.database_statement_timeout,
    )
    token_check = TokenCheck(database)
    writer: GroupCommitWriter[EnquiryRequest, Logged] = GroupCommitWriter(
        database,
        batch_recorder(),
        name="enquiry-writer",
        on_committed=count_committed,
        # A little past the server's own statement timeout, which answers first when the server can.
        timeout=database.statement_timeout + PAST_STATEMENT_TIMEOUT,
        on_failure=lambda exc: Unavailable(
            "The enquiry could not be saved just now (the server logged why). Nothing was recorded: send it again "
            "with the same idempotency key."
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database.start_checkpointer()
        if freeze_heap:
            # Modules, the app, its routes and schemas: ~170,000 objects that live as long as the
            # worker. Each full collection walked them all: ~120 ms, every ~12,000 requests under
            # load, a pause for every request in flight. Frozen, a collection walks only what came
            # after (~12 ms; the collector's time fell from 13.1 to 5.1 µs a request, docs/benchmarks.md).
            gc.collect()
            gc.freeze()
            # A young collection ran whenever 700 more objects lived than at the last one: every
            # few dozen requests under load, each walking what the requests in flight hold. At
            # 10,000 the app ran 2.7 % fewer instructions per enquiry (bench.cpu_per_enquiry
            # --instructions, 4 December), and a young pass still averaged about 0.2 ms.
            gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])
        yield
        metrics.process_ended(os.getpid())
        writer.close()
        database.stop_checkpointer()
        if db is None:  # a database passed in belongs to the caller
            database.dispose()

    app = TallyApp(
        hot_handlers=hot_handlers(settings, writer, token_check),
        security_headers=SECURITY_HEADERS,
        title="Launch Tally",
        version="0.1.0",
        description="Log customer enquiries against a launch's hypotheses, and read the tallies. "
        "Every /api/v1 call needs `Authorization: Bearer <token>`; an admin creates tokens.",
        lifespan=lifespan,
        # Swagger UI would load its script from a CDN and run inline code, which the
        # CSP forbids (and closed networks cannot reach): the schema itself is served.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        telemetry=None if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.db = database
    app.state.jinja = build_environment()
    app.state.enquiry_writer = writer
    app.state.token_check = token_check
    app.state.readiness = Readiness(database, writer, name=f"{socket.gethostname()}:{os.getpid()}")

    # The security headers (SECURITY_HEADERS) are added by TallyApp itself, around all of these.
    app.add_middleware(csrf.CookieMiddleware, secure=settings.cookie_secure)
    # Pages, fragments and static files compressed; exports are not: a 100 MB CSV would spend
    # the export's CPU on gzip (and an XLSX file is a zip already).
    app.add_middleware(
        GZipMiddleware,
        minimum_size=1000,
        compresslevel=6,
        exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, *NOT_COMPRESSED),
    )
    app.add_middleware(HeadAsGet)  # HEAD for every GET route (FastAPI's routes answer it 405)
    # Outermost of ours: a huge body is refused before anything reads it.
    app.add_middleware(
        BodyLimitMiddleware, limits={("POST", "/launches"): launches.MAX_IMPORT_BODY}, page=_too_large_page
    )
    app.mount("/static", StaticAssets(directory=STATIC), name="static")

    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(recording_router)  # the tick checks CSRF itself
    app.include_router(exports.api)
    app.include_router(insight.router)  # pages behind csrf.protect (in the router), the API behind tokens
    app.include_router(alerts.router)  # reads only: the API behind tokens, the list for signed-in people
    protected = [Depends(csrf.protect)]
    for router in (auth.router, launches.router, exports.router, checklist.router, digests.router, admin.router):
        app.include_router(router, dependencies=protected, include_in_schema=False)

    @app.exception_handler(TallyError)
    async def tally_error(request: Request, error: TallyError) -> Response:
        return await error_response(request, error)

    # OperationalError: the server went away, a timeout, a lock; InternalError: among others, writes
    # refused by a read-only server (a failover, default_transaction_read_only).
    @app.exception_handler(sa.exc.OperationalError)
    @app.exception_handler(sa.exc.InternalError)
    async def database_unavailable(request: Request, error: sa.exc.DBAPIError) -> Response:
        log.error("database error on %s %s: %s", request.method, request.url.path, error.__class__.__name__)
        return await error_response(
            request, Unavailable("The database did not answer. Nothing was saved; try again in a moment.")
        )

    @app.exception_handler(sa.exc.TimeoutError)
    async def no_connection_free(request: Request, error: sa.exc.TimeoutError) -> Response:
        # Every pooled connection in use for the pool's whole timeout: a burst, or slow reports.
        log.error("no database connection free on %s %s (pool timeout)", request.method, request.url.path)
        return await error_response(
            request, Unavailable("The database is busy. Nothing was saved; try again in a moment.")
        )

    @app.exception_handler(sa.exc.DataError)
    async def unstorable_value(request: Request, error: sa.exc.DataError) -> Response:
        # PostgreSQL refuses some text outright (a NUL character) and numbers out of its types' range:
        # the client's input, not the server's fault.
        # With the database's reason (a value the app itself made too long would show up here too); not
        # SQLAlchemy's text of the error, which carries the statement's parameters (notes, hashes).
        reason = str(error.orig).strip().splitlines()[0] if error.orig else error.__class__.__name__
        log.warning("unstorable value on %s %s: %s", request.method, request.url.path, reason)
        return await error_response(
            request,
            Invalid(
                "A value in the request cannot be stored as given (a NUL character, or a number out of range): "
                "nothing was saved. Remove it and send it again."
            ),
        )

    async def refused_stranger(request: Request) -> Response | None:
        # FastAPI reads a route's JSON before its dependencies check the token, so a stranger's broken
        # body was told about its JSON instead of that it needs a token, as every other mistake of theirs is.
        try:
            await request.app.state.token_check.checked(request)
        except TallyError as refused:
            return await error_response(request, refused)
        if needs_lead_token(request.scope.get("route")):
            # So is an integration token's on a call that needs a lead token: told to fix its JSON, it then
            # heard 403 forbidden_role, which an empty or valid body was told at once.
            raw = bearer_from(request.headers.get("authorization"))
            if (not_allowed := await run_in_threadpool(role_refusal, request.app.state.db, raw)) is not None:
                return await error_response(request, not_allowed)
        return None

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        broken_json = any(e["type"] == "json_invalid" for e in error.errors())
        if broken_json and _is_api(request) and (refused := await refused_stranger(request)) is not None:
            return refused
        problems = [
            {"field": "" if e["type"] == "json_invalid" else _field_name(e["loc"]), "message": _problem(e)}
            for e in error.errors()
        ]
        first = problems[0] if problems else {"field": "", "message": "invalid request"}
        message = "; ".join(f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems)
        if _wants_json(request):
            body = {"error": {"code": "invalid", "message": message, "field": first["field"], "problems": problems}}
            return JSONResponse(body, status_code=422)
        # A page's form the framework refused ("username: Field required"): each field by its label, in
        # the reader's language, as the app's own checks tell them.
        details = [(_field_name(e["loc"]), i18n.validation_text(e)) for e in error.errors()]
        return await error_response(request, Invalid(message, field=first["field"], details=details))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        headers = dict(error.headers or {})
        allowed = [method.strip() for method in headers.get("Allow", "").split(",")]
        if "GET" in allowed and "HEAD" not in allowed:  # HeadAsGet answers HEAD wherever GET is answered
            headers["Allow"] = ", ".join([*allowed, "HEAD"])
        if error.status_code == 404:
            return await error_response(request, NotFound(f"There is nothing at {request.url.path}."))
        if error.status_code == 400 and _is_api(request):
            if (refused := await refused_stranger(request)) is not None:
                return refused
            if isinstance(error.__cause__, Invalid):  # a body that is not UTF-8 (bodies.JsonBodyRoute)
                return await error_response(request, error.__cause__)
            # The framework could not parse the body at all (JSON nested past its parser's depth, say).
            return await error_response(
                request,
                Invalid("The body could not be read as JSON: send a JSON object."),
            )
        if _wants_json(request):
            body = {"error": {"code": "http_error", "message": str(error.detail)}}
            return JSONResponse(body, status_code=error.status_code, headers=headers)
        if error.status_code == 405:
            # A typed or bookmarked address of a button (GET /logout): the page, in the reader's language,
            # not the framework's bare "Method Not Allowed".
            refused = await error_response(
                request, MethodNotAllowed(f"{request.method} is not how {request.url.path} is used.")
            )
            refused.headers.update(headers)
            return refused
        return Response(str(error.detail), status_code=error.status_code, headers=headers)

    return app
