"""Log lines: JSON in production, readable in a terminal, with nothing secret in either.

The app, uvicorn, Alembic, APScheduler and SQLAlchemy all log through the standard library's
``logging``; structlog's ``ProcessorFormatter`` sits on the root handler and renders every record,
theirs and ours, the same way: a timestamp (UTC), the level, the logger's name, the message
(``event``) and whatever the request bound, chiefly its ``request_id`` (app/observability/requests.py).

``TALLY_LOG_FORMAT`` picks the renderer: ``json`` (one object a line, for a log collector) or
``console`` (for people); unset, production gets JSON and everything else the console.

Redaction is a processor, run last before rendering, on every line: values under keys that name a
secret or a note are masked, and bearer tokens, API tokens and passwords in URLs are masked wherever
they appear in text (an exception's message included). Request bodies are never logged at all, so a
note's text has no way in except by a key, which is masked.
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

Renderer = Literal["json", "console"]

MASK = "[redacted]"
SECRET_KEYS = ("token", "secret", "password", "passwd", "authorization", "cookie", "note", "api_key", "csrf")
_SECRET_TEXT = (
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+"), r"\1 " + MASK),
    (re.compile(r"\blt_[A-Za-z0-9_-]{8,}"), "lt_" + MASK),  # app/api_tokens.py's tokens
    (re.compile(r"(://[^:/@\s]*:)[^@\s]+@"), r"\1" + MASK + "@"),  # a password in a database URL
)


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_KEYS)


def scrub_text(text: str) -> str:
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, MutableMapping):
        return {k: MASK if isinstance(k, str) and _is_secret_key(k) else _scrub(v) for k, v in value.items()}
    return value


def redact(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Mask secrets and notes: by key anywhere, by their look in any text."""
    for key, value in list(event_dict.items()):
        event_dict[key] = MASK if _is_secret_key(key) else _scrub(value)
    return event_dict


def _shared() -> list[Processor]:
    """What every line gets, whether it was logged through structlog or the standard library."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _last(renderer: Renderer) -> list[Processor]:
    if renderer == "json":
        return [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(),
        ]
    return [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        # The traceback made text before redact reads it: rendered after, by the console renderer, a
        # token or a database password in an exception's message was printed as it was.
        structlog.processors.format_exc_info,
        redact,
        # Plain tracebacks: rich ones print every frame's locals (a note's text, a token) and took
        # 0.4–1 s to render, on the event loop, when a batch failed.
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback),
    ]


def formatter(renderer: Renderer = "console") -> logging.Formatter:
    """The root handler's formatter (named in ``logging_config``, so that uvicorn's worker processes,
    which apply that configuration themselves, configure structlog too)."""
    structlog.configure(
        processors=[*_shared(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=_shared(), processors=_last(renderer))


def logging_config(*, level: str, renderer: Renderer) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for this process, and for uvicorn (its ``log_config``): one
    handler on the root logger; uvicorn's own loggers hand their records up to it."""
    handed_up = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": f"{__name__}.formatter", "renderer": renderer}},
        "filters": {
            "no_alembic_context": {"()": f"{__name__}.AlembicContextFilter"},
            "no_query": {"()": f"{__name__}.NoQueryFilter"},
            "not_logged_twice": {"()": f"{__name__}.NotLoggedTwice"},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "stream": "ext://sys.stderr",
                "filters": ["no_alembic_context"],
            }
        },
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            "uvicorn": {**handed_up, "level": level.upper()},
            "uvicorn.error": {**handed_up, "filters": ["not_logged_twice"]},
            "uvicorn.access": {**handed_up, "filters": ["no_query"]},
            # SQLAlchemy logs statements with their parameters (notes among them) at INFO: never.
            "sqlalchemy": {"level": "WARNING"},
            # slack_sdk logs each request at DEBUG with its URL (a webhook's is its secret) and body
            # (a digest's notes): never, whatever TALLY_LOG_LEVEL says.
            "slack_sdk": {"level": "WARNING"},
        },
    }


class NotLoggedTwice(logging.Filter):
    """Drops uvicorn's "Exception in ASGI application" for an error the app logged already, with the
    request's id (app/observability/requests.py): the same traceback twice, the second without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not getattr(error, "tally_logged", False)


class NoQueryFilter(logging.Filter):
    """uvicorn's access lines without query strings: a search of the notes (``?q=``) is a note's words."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


class AlembicContextFilter(logging.Filter):
    """Drops Alembic's two lines about its context ("Context impl SQLiteImpl.", "Will assume
    non-transactional DDL."), which every command that checks the schema printed, a cron job's
    run-due every minute among them; the upgrades it runs are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "alembic.runtime.migration" and record.msg in ("Context impl %s.", "Will assume %s DDL.")
        )


def configure(*, level: str, renderer: Renderer) -> None:
    """Set up this process's logging, unless something already did (as ``logging.basicConfig`` would
    not): a command run inside a test runner keeps the runner's capture."""
    if logging.getLogger().handlers:
        return
    logging.config.dictConfig(logging_config(level=level, renderer=renderer))
