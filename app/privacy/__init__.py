"""Scrubbing notes of customers' personal data before anything is stored.

Agents type notes mid-call; sooner or later one holds a phone number, an e-mail address, an
identity number or a name. GDPR says we must not keep those, so every note passes through
``clean_note`` on its way in, and each find is replaced by a marker such as ``[phone]``. Nothing
here touches the network: phonenumbers and python-stdnum carry their rules with them.

First the note is normalised (normalise.py: NFKC, no invisible characters, ASCII dashes, single
spaces), so ``98\u200b76 54 32`` is read like ``9876 54 32``. Then, in this order, each find replaced
before the next step reads the text, so a find is never read twice:

* e-mail addresses, also disguised: ``ola . nordmann @ example . no``, ``ola(at)example.no``,
  ``matti(a)example.fi``, ``ola dot nordmann at example dot no``, ``ola@example`` (people.py);
* IBANs in any case and grouping, and Finnish identity codes (numbers.py);
* street addresses with a house number, and a postcode and place after them (people.py);
* runs of digits: payment cards, Norwegian account numbers, Nordic identity numbers, and phone
  numbers (numbers.py says which shapes and checks decide);
* dates said to be a birth: "født 12.03.1985", "DOB 1985-03-12" (numbers.py), after the identity
  numbers, so that a birth number's date goes with its number;
* names after the phrases that introduce them: "kunden heter", "the customer", "navnet er",
  "på vegne av", "mvh" … and a common given name with a surname: "Ola Nordmann lurer på …" (people.py).

What survives: amounts, dates (not said to be a birth), times, 12-digit timestamps and log times,
versions and builds, error codes, short order and case numbers, and numbers said to be an order's, a
reference's or a build's.
Whether a date is a birth date depends on the day, so ``scrub`` and ``clean_note`` take ``now``. A
name or address typed without the usual phrase or shape survives too, which is why the note field
still tells agents not to type them (docs/guide-agents.md).

Notes without digits, ``@`` or a word like "at" cost one pass of the name pattern and little else.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable

from app.errors import Invalid
from app.privacy import numbers, people
from app.privacy.markers import ACCOUNT, ADDRESS, BIRTH_DATE, CARD, EMAIL, IBAN, NAME, NATIONAL_ID, PHONE
from app.privacy.normalise import normalise

__all__ = [
    "ACCOUNT",
    "ADDRESS",
    "BIRTH_DATE",
    "CARD",
    "EMAIL",
    "IBAN",
    "MAX_NOTE_LENGTH",
    "NAME",
    "NATIONAL_ID",
    "PHONE",
    "SCRUBBER_VERSION",
    "clean_note",
    "clean_stored",
    "normalise",
    "scrub",
]

MAX_NOTE_LENGTH = 500
# Raised with every change to what the scrubber masks: each scheduler then scrubs the notes stored before
# it again, once (app/retention.py ``scrub_stored_once``). tests/test_privacy.py holds this package's
# hash beside it, so that a change here fails until someone has decided whether it masks more.
SCRUBBER_VERSION = 4
_ELLIPSIS = "..."  # not "…", which NFKC would turn into three dots on the next cleaning

Spans = Callable[[str], Iterable[tuple[int, int, str]]]
_ANY_DIGIT = re.compile(r"\d")

_WORD_STEPS: tuple[Spans, ...] = (people.email_at_spans, people.email_bracketed_spans, people.email_bare_spans)


def _replace(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    pieces: list[str] = []
    position = 0
    for start, end, marker in sorted(spans):
        if start < position:  # overlaps an earlier find, which already covers it
            continue
        pieces += (text[position:start], marker)
        position = end
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


def _mask(text: str, now: dt.datetime) -> str:
    """Personal data in normalised text replaced by markers. ``now``: an identity number whose birth
    date is after it is no one's (a log's time or an order number), and a time near it is a log's."""
    for step in _WORD_STEPS:
        text = _replace(text, step(text))
    if _ANY_DIGIT.search(text):
        today = now.date()
        text = _replace(text, numbers.iban_spans(text))
        text = _replace(text, numbers.hetu_spans(text))
        text = _replace(text, people.address_spans(text))
        text = _replace(text, numbers.number_spans(text, today=today))
        text = _replace(text, numbers.birth_date_spans(text))
    return _replace(text, people.name_spans(text))


def scrub(text: str, *, now: dt.datetime) -> str:
    """The text normalised, with personal data replaced by markers."""
    return _mask(normalise(text), now)


def _shorten(text: str) -> str:
    """Cut to MAX_NOTE_LENGTH at a space, with an ellipsis. Never inside a word: a marker stays
    whole, and a number cut short could read as something else on the next cleaning."""
    limit = MAX_NOTE_LENGTH - len(_ELLIPSIS)
    cut = text.rfind(" ", 0, limit + 1)
    if cut < 1:  # one long word (a@b.no,c@d.no,…): cut before a marker that would be split
        opening = text.rfind("[", 0, limit)
        cut = opening if opening > text.rfind("]", 0, limit) else limit
    return text[:cut] + _ELLIPSIS


def clean_note(note: str | None, *, now: dt.datetime) -> str | None:
    """A note ready to store, written at ``now``: scrubbed, or None when empty. Too long is refused.

    Too long means longer than MAX_NOTE_LENGTH both as typed and once normalised. As typed is what
    the checklist's note field counts (its maxlength): NFKC makes some characters several ("…" is
    "...", "ﬁ" is "fi"), and a note the field took was refused. Normalised, the spaces tidied and the
    invisible characters dropped do not count against the writer. Either way before masking: a
    marker can be longer than what it replaces, which the agent cannot see. What masking or NFKC
    makes longer than the column is cut at a space (``_shorten``).
    """
    if note is None:
        return None
    text = normalise(note)
    length = min(len(note), len(text))
    if length > MAX_NOTE_LENGTH:
        raise Invalid(
            f"The note is {length} characters long; keep it to {MAX_NOTE_LENGTH}: a few words on what the "
            "customer asked about are enough. (Counted as typed, or after tidying spaces if that is shorter; "
            "before personal data is masked.)",
            field="note",
            code="note_too_long",
        )
    return _masked(text, now)


def clean_stored(note: str, *, now: dt.datetime) -> str | None:
    """A note stored by an earlier version, scrubbed by this one as if written at ``now``. Never refused
    for its length: it was taken once (and a note from before the limit would stop every later one)."""
    return _masked(normalise(note), now)


def _masked(text: str, now: dt.datetime) -> str | None:
    cleaned = _mask(text, now)
    if len(cleaned) > MAX_NOTE_LENGTH:  # markers can be longer than what they replace
        cleaned = _shorten(cleaned)
    return cleaned or None


def retention_cutoff(*, days: int, now: dt.datetime) -> dt.datetime:
    """The moment before which notes are erased when kept ``days`` days (``TALLY_NOTE_RETENTION_DAYS``;
    the erasing is app/retention.py's)."""
    if days < 1:
        raise ValueError("notes are kept for at least one day")
    return now - dt.timedelta(days=days)
