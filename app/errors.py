"""Domain errors. Routes raise these; one handler in app.main turns them into
a JSON body, an error page or an htmx fragment with the right status code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field


class TallyError(Exception):
    """``message`` says what went wrong and how to fix it; ``code`` is stable
    for programs (and for the checklist, which shows its own translation)."""

    status_code = 400
    default_code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        details: Sequence[tuple[str, str]] = (),
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or self.default_code
        # (field, message) for each problem ``message`` lists, for a page to show them field by field
        # in the reader's language (a message may be an ``i18n.Text``).
        self.details = tuple(details)
        # What the message names (the value given, what would do instead), for a page to say the same in
        # the reader's language by ``code`` and ``field``: ``message`` itself is English, for the API.
        self.params: dict[str, Any] = dict(params or {})


class NotFound(TallyError):
    default_code = "not_found"
    status_code = 404


class MethodNotAllowed(TallyError):
    default_code = "method_not_allowed"
    status_code = 405


class Invalid(TallyError):
    default_code = "invalid"
    status_code = 422


class Conflict(TallyError):
    default_code = "conflict"
    status_code = 409


class StaleOrder(Conflict):
    """A move made on a page that no longer shows the stored order (another lead moved rows since):
    refused, with the order there now (``order`` beside ``error`` in the JSON answer), which the page
    shows before the lead moves again. Stored, it would have undone the other move unseen."""

    default_code = "order_changed"

    def __init__(self, message: str, *, order: Sequence[str], shortcuts: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.order = list(order)
        # The checklist's keys in that order (``checklist.shortcuts``), which the page shows beside the rows.
        self.shortcuts = dict(shortcuts or {})


class Unauthenticated(TallyError):
    default_code = "unauthenticated"
    status_code = 401


class Forbidden(TallyError):
    default_code = "forbidden"
    status_code = 403


class TooManyRequests(TallyError):
    status_code = 429
    default_code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class Unavailable(TallyError):
    status_code = 503
    default_code = "unavailable"


# --- the API's error body, as the OpenAPI document describes it ----------------------


class ProblemOut(BaseModel):
    field: str = Field(examples=["channel"])
    message: str = Field(examples=["unknown field (misspelt?): the fields are in the API reference"])


class ErrorDetail(BaseModel):
    code: str = Field(examples=["unknown_hypothesis"])
    message: str = Field(examples=["Unknown hypothesis key 'x' for launch 'payapp-5-redesign'."])
    field: str | None = Field(default=None, examples=["hypotheses[0]"])
    problems: list[ProblemOut] | None = Field(
        default=None,
        description='With every 422 `invalid`: each field at fault and what is wrong (`""`: the request as a whole).',
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


# Headers of the answers, as the document declares them (a generated client exposes only those).
RETRY_AFTER: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds to wait before sending the same request again",
        "schema": {"type": "integer", "minimum": 0},
    }
}
WWW_AUTHENTICATE: dict[str, Any] = {
    "WWW-Authenticate": {
        "description": "`Bearer`: send an API token as `Authorization: Bearer <token>`",
        "schema": {"type": "string"},
    }
}

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing, wrong or revoked token", "headers": WWW_AUTHENTICATE},
    404: {"model": ErrorBody, "description": "No such launch (`unknown_launch`)"},
    422: {"model": ErrorBody, "description": "A field is wrong; `field` names it"},
    503: {
        "model": ErrorBody,
        "description": "The database did not answer in time (`unavailable`): nothing was changed; try again after "
        "the `Retry-After` header's seconds",
        "headers": RETRY_AFTER,
    },
}


def not_found(description: str) -> dict[int | str, dict[str, Any]]:
    """A call's own 404, where it can answer more than ``ERRORS``' unknown launch (a generated client shows
    this text, and "unknown launch or enquiry" named codes some calls never answer)."""
    return {404: {"model": ErrorBody, "description": description}}


ENQUIRY_NOT_FOUND = not_found("No such enquiry (`unknown_enquiry`): never logged, or undone")
HYPOTHESIS_NOT_FOUND = not_found("No such launch (`unknown_launch`) or hypothesis (`unknown_hypothesis`)")
# The API's calls that need a lead token.
LEAD_ONLY: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "An integration token (`forbidden_role`): this needs a lead token"}
}
