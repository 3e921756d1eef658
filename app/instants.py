"""A moment as a request gives it: ISO 8601 with a UTC offset, read the same way everywhere.

Every time a request carries is read here: the tally's ``start`` and ``end``, the ``from`` and ``to``
of series, exports, surprises and the pages (``ranges``), an enquiry's ``occurred_at`` and a fix's
``fix_shipped_at``. Before, the query times of one call were pydantic's and of the next Python's
``fromisoformat``: ``…T10:00:00z`` was taken by one and refused by the other, ``+01`` the other way
round. The forms (docs/guide-admins.md, "Times"):

* ``2026-11-18T09:00:00+01:00``: the date, ``T`` (or ``t``, or a space), the time to the minute, the
  second or a fraction of one (``.`` or ``,``, up to 9 digits, kept to the microsecond), and the
  offset: ``Z`` (or ``z``), ``+01:00``, ``+0100`` or ``+01``;
* the same without the separators: ``20261118T090000+0100``.

Nothing else: no time without an offset (which zone would it be?), no Unix timestamp, no week or
ordinal date. A query's unencoded ``+`` arrives as a space; a time that would have been one with a
``+`` there is told so (``unencoded_plus``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BeforeValidator

EXAMPLE = "2026-11-18T09:00:00+01:00"
PLUS_HINT = "a + in a URL's query is read as a space: write it as %2B (09:00:00%2B01:00)"

_FORM = re.compile(
    r"(?P<year>[0-9]{4})(?P<dash>-?)(?P<month>[0-9]{2})(?P=dash)(?P<day>[0-9]{2})"
    r"[Tt ]"
    r"(?P<hour>[0-9]{2})(?P<colon>:?)(?P<minute>[0-9]{2})"
    r"(?:(?P=colon)(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]{1,9}))?)?"
    r"(?:(?P<utc>[Zz])|(?P<sign>[+-])(?P<offset_hours>[0-9]{2})(?::?(?P<offset_minutes>[0-9]{2}))?)?"
)


class NotATime(ValueError):
    """``text`` is no time of the accepted forms. ``reason`` follows the value in a message: the caller
    names the value as the request named it (``from='…'``, or the value alone)."""

    def __init__(self, text: str, reason: str, *, kind: Literal["unreadable", "no_offset", "impossible"]) -> None:
        self.text = text
        self.reason = reason
        self.kind = kind  # in none of the forms; a time without an offset; one that cannot be (25:00, +24:00)
        super().__init__(f"{text!r} {reason}")


def parse(text: str) -> dt.datetime:
    """The moment ``text`` (surrounding spaces aside) names, with its own offset; else ``NotATime``."""
    written = text.strip()
    match = _FORM.fullmatch(written)
    if match is None:
        raise NotATime(
            text, f"is not an ISO 8601 time with a UTC offset, such as {EXAMPLE} (Z for UTC)", kind="unreadable"
        )
    part = match.groupdict()
    if part["utc"]:
        zone: dt.tzinfo | None = dt.UTC
    elif part["sign"]:
        sign = -1 if part["sign"] == "-" else 1
        hours, minutes = int(part["offset_hours"]), int(part["offset_minutes"] or 0)
        if hours > 23 or minutes > 59:
            raise NotATime(
                text,
                "has an offset no clock has (a day or more, or over 59 minutes): write one such as +01:00",
                kind="impossible",
            )
        zone = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    else:
        zone = None
    try:
        moment = dt.datetime(
            int(part["year"]),
            int(part["month"]),
            int(part["day"]),
            int(part["hour"]),
            int(part["minute"]),
            int(part["second"] or 0),
            int((part["fraction"] or "0")[:6].ljust(6, "0")),
            tzinfo=zone,
        )
    except ValueError as exc:  # 2026-02-30, 25:00
        raise NotATime(text, f"is no real time ({exc})", kind="impossible") from None
    if zone is None:
        raise NotATime(text, f"has no UTC offset: write it with one, such as {EXAMPLE} (Z for UTC)", kind="no_offset")
    return moment


def unencoded_plus(text: str) -> bool:
    """Whether ``text`` is a time but for a space where its offset's ``+`` was: ``+`` unencoded in a URL."""
    before, space, after = text.strip().rpartition(" ")
    if not space:
        return False
    try:
        parse(f"{before}+{after}")
    except NotATime:
        return False
    return True


def _in_query(value: Any) -> Any:
    return _checked(value, query=True)


def _in_body(value: Any) -> Any:
    return _checked(value, query=False)


def _checked(value: Any, *, query: bool) -> Any:
    if isinstance(value, dt.datetime):  # made in Python, not sent: pydantic checks it has an offset
        return value
    if not isinstance(value, str):  # a JSON number (a Unix timestamp), true, a list: no time of ours
        raise ValueError(f"{value!r} is not an ISO 8601 time: write it as a string, such as {EXAMPLE!r}")
    try:
        return parse(value)
    except NotATime as exc:
        if query and unencoded_plus(value):
            raise ValueError(f"{exc}; {PLUS_HINT}") from None
        raise ValueError(str(exc)) from None


# For pydantic: a time in a query (start, end) or a JSON body (occurred_at, fix_shipped_at). The
# documents describe them as before (string, date-time).
QueryTime = Annotated[AwareDatetime, BeforeValidator(_in_query)]
BodyTime = Annotated[AwareDatetime, BeforeValidator(_in_body)]
