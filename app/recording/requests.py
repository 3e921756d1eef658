"""An enquiry as the checklist and the API send it: the body, parsed and checked for shape.

The database checks the rest (launch, hypotheses, who is asking) inside the
transaction that records it (record.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar
from urllib.parse import parse_qsl

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from app import privacy
from app.bodies import EMPTY_BODY, not_utf8
from app.errors import Invalid
from app.instants import BodyTime

IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
NOTE_CUT_OFF = 2000  # characters: a note longer is refused as too long before anything reads it


@dataclass(slots=True)  # not frozen: made once per enquiry (see record.NewEnquiry)
class Credential:
    """Who is asking: a browser session or an API token (by the hash of its
    secret), or a user name a single-sign-on proxy vouched for.

    Checked by the writer with the batch that records the enquiry, so a
    session signed out, a token revoked or a user disabled a moment ago is
    refused, on every replica."""

    kind: Literal["session", "token", "trusted_user"]
    value: str


@dataclass(slots=True)  # not frozen: made once per enquiry (see record.NewEnquiry)
class EnquiryRequest:
    """An enquiry as asked for, before the database has checked it."""

    slug: str
    channel: str
    credential: Credential
    received_at: dt.datetime
    hypothesis_keys: tuple[str, ...] = ()
    segment: str | None = None
    note: str | None = None  # already scrubbed (privacy.clean_note)
    idempotency_key: str | None = None
    occurred_at: dt.datetime | None = None  # a backfill (API only): when it happened, if not now
    # The key as an ``Idempotency-Key`` header sent it (unquoted), when it came from there: a refusal names
    # it so, not by the digest a value that is no key became (``keyed``), which the client never sent.
    key_header: str | None = None


class EnquiryIn(BaseModel):
    """An enquiry as the checklist and the API send it."""

    channel: str = Field(max_length=32, examples=["phone"])
    segment: str | None = Field(default=None, max_length=32, examples=["private"])
    hypotheses: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Hypothesis keys; none means 'other'.",
        examples=[["bankid-login-loop"]],
    )
    # The 500 limit is checked by privacy.clean_note, with a clearer message (note_too_long); NOTE_CUT_OFF
    # only stops absurd input early, before it is normalised, and is answered the same way (parse_body).
    # The schema states the limit that counts.
    note: Annotated[
        str | None,
        WithJsonSchema({"anyOf": [{"type": "string", "maxLength": 500}, {"type": "null"}]}),
    ] = Field(
        default=None,
        max_length=NOTE_CUT_OFF,
        description="Up to 500 characters; personal data is masked before storage.",
    )
    idempotency_key: str | None = Field(
        default=None,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Your id for this enquiry: sending it again returns the same enquiry instead of a new one.",
    )
    # The checklist sends it for a tick that waited in the browser's queue (no connection, a server
    # problem): counted from the arrival, it landed in a later digest or day, and after the launch's
    # last day it was refused and lost. A tick sent at once carries none: the server's clock is the one.
    occurred_at: BodyTime | None = Field(
        default=None,
        description="When the enquiry happened, ISO 8601 with offset, if not now (a telephony or CRM system "
        "posting after the call, or days ticked on paper). Inside the launch's dates and not in the future.",
        examples=["2026-11-18T09:42:00+01:00"],
    )

    def request(self, *, slug: str, credential: Credential, received_at: dt.datetime) -> EnquiryRequest:
        """What the writer records: the note scrubbed of personal data first."""
        occurred_at = self.occurred_at
        if occurred_at is not None:
            try:
                occurred_at = occurred_at.astimezone(dt.UTC)
            except OverflowError:  # year 1 or 9999: no launch runs then
                raise Invalid(
                    f"occurred_at {occurred_at.isoformat()} is outside the allowed range: it must lie inside the "
                    "launch's dates and not in the future.",
                    field="occurred_at",
                    code="occurred_at_out_of_range",
                ) from None
        return EnquiryRequest(
            occurred_at=occurred_at,
            slug=slug,
            channel=self.channel,
            segment=self.segment,
            hypothesis_keys=tuple(self.hypotheses),
            note=privacy.clean_note(self.note, now=received_at),
            idempotency_key=self.idempotency_key,
            credential=credential,
            received_at=received_at,
        )


class ApiEnquiryIn(EnquiryIn):
    """An enquiry as an integration sends it: nothing it does not know."""

    # A misspelt field ("hypothesis", "occured_at") was dropped: a 201 for an enquiry stored as "other",
    # or as now instead of when it happened. The checklist's own body stays lenient: a page loaded
    # before an upgrade may still be sending.
    model_config = ConfigDict(extra="forbid")


def refuse_query(query_string: bytes) -> None:
    """The enquiry POST takes no query parameter: one sent (``?idempotency_key=…``, ``?dry_run=1``) was
    ignored, and every retry recorded the enquiry again. Refused as every other call refuses one it does
    not take (deps.known_query). Called only with one: the hot path tests for it itself."""
    names = sorted({name for name, _ in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)})
    name = names[0] if names else query_string.decode("latin-1")[:60]
    raise Invalid(
        f"This call takes no query parameter {name!r}: nothing was recorded. Its parameters: none; send the "
        f"enquiry's fields in the JSON body, and a retry's key as idempotency_key there or as the "
        f"{IDEMPOTENCY_KEY_HEADER} header.",
        field=name,
    )


def header_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The ``Idempotency-Key`` header's value, if sent: read from the ASGI headers (their names lower
    case) on the hot path. Asked through ``Request.headers``, the header's absence, nearly every time,
    is a KeyError raised and caught."""
    for name, value in headers:
        if name == b"idempotency-key":
            return value.decode("latin-1")
    return None


def keyed(request: EnquiryRequest, header: str) -> EnquiryRequest:
    """The request with the key of an ``Idempotency-Key`` header (draft-ietf-httpapi-idempotency-key-header),
    which many HTTP clients' retry helpers send. Ignored, each of their retries recorded the enquiry
    again.

    The header never refuses an enquiry: integrations posted with it before it was read, and gateways and
    client libraries add their own (base64, UUIDs in braces, longer than 64). The body's key, where there
    is one, is the integration's own and wins; a header value that is not a key as the body's must be is
    kept as a digest of itself, the same for every retry that sends it."""
    if request.idempotency_key is not None:
        return request
    # The draft writes it as a structured-field string ("abc"); most clients send it bare (abc).
    key = (header[1:-1] if len(header) >= 2 and header[0] == header[-1] == '"' else header).strip()
    if not key:
        return request
    request.key_header = key
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        key = "h:" + hashlib.sha256(key.encode("latin-1")).hexdigest()[:62]
    request.idempotency_key = key
    return request


# An integration's clock may run a little ahead of ours: that is not "in the future".


Body = TypeVar("Body", bound=BaseModel)


BOM = b"\xef\xbb\xbf"


def parse_body(model: type[Body], raw: bytes) -> Body:
    """The JSON body as ``model``, or the same 422 FastAPI would give."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors()
        if not raw.strip():  # as the other calls tell it (app.main), not as JSON that ends at column 0
            raise Invalid(EMPTY_BODY) from None
        if any(error["type"] == "json_invalid" for error in errors) and (refused := not_utf8(raw)) is not None:
            raise refused from None
        if raw.startswith(BOM):
            # PowerShell and .NET write UTF-8 with a byte order mark, which RFC 8259 lets a parser
            # ignore (the framework's routes do). Looked for only once a body was refused: nothing is
            # added to the enquiries that parse.
            return parse_body(model, raw[len(BOM) :])
        for position, error in enumerate(errors):
            if error["type"] == "string_too_long" and error["loc"] == ("note",):
                # The early cut-off, told as the 500 limit is (privacy.clean_note): "String should have at most
                # 2000 characters", code `invalid`, for a note a 501-character one is told to keep to 500.
                too_long = note_too_long(len(error["input"]))
                if len(errors) == 1:
                    raise too_long from None
                errors[position] = {**error, "msg": too_long.message}
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in errors]) from None


def note_too_long(length: int) -> Invalid:
    """A note over ``NOTE_CUT_OFF`` characters, refused in the words of privacy.clean_note's 500 limit."""
    return Invalid(
        f"The note is {length} characters long; keep it to {privacy.MAX_NOTE_LENGTH}: a few words on what the "
        "customer asked about are enough.",
        field="note",
        code="note_too_long",
    )
