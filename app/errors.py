"""Domain errors. Routes raise these; one handler in app.main turns them into
a JSON body, an error page or an htmx fragment with the right status code."""

from __future__ import annotations


class TallyError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(TallyError):
    status_code = 404


class Invalid(TallyError):
    status_code = 422


class Conflict(TallyError):
    status_code = 409


class Unauthenticated(TallyError):
    status_code = 401


class Forbidden(TallyError):
    status_code = 403


class TooManyRequests(TallyError):
    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
