"""Scrubbing notes of customers' personal data before anything is stored.

Agents type notes mid-call; sooner or later one holds a phone number, an
e-mail address or a national identity number. GDPR says we must not keep
those, so every note passes through ``scrub`` on its way in, and each find is
replaced by a marker such as ``[phone]``. Nothing here touches the network:
phonenumbers and python-stdnum carry their rules with them.

What is masked, in this order (earlier finds cannot be re-read as later ones):

* e-mail addresses;
* IBANs that pass their check digits;
* payment card numbers: 13–19 digits, spaces or dashes allowed, passing Luhn;
* Norwegian national identity numbers and D-numbers: every 11-digit number
  shaped like one (a plausible date, the day +40 for D-numbers and the month
  +40 for H-numbers), whether or not its check digits hold: a mistyped number
  is still a person's number;
* Swedish, Danish and Finnish personal identity numbers in their written forms
  (YYMMDD-NNNN, YYYYMMDD-NNNN, YYYYMMDDNNNN, DDMMYY-NNNN, DDMMYY-NNNX);
* Norwegian bank account numbers: 11 digits written 1234.56.78901 or
  1234 56 78901 whatever their check digit, or plain 11 digits that pass it;
* phone numbers: Norwegian ones as people write them (912 34 567, 22 33 44
  55, 0047…) and international ones with +country code.

What survives: other numbers, such as 10-digit order numbers or amounts.
Names and street addresses cannot be recognised reliably; the note field
tells agents not to type them (docs/guide-agents.md).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import phonenumbers
from stdnum import iban, luhn
from stdnum.no import kontonr

from app.errors import Invalid

MAX_NOTE_LENGTH = 500

EMAIL = "[email]"
PHONE = "[phone]"
NATIONAL_ID = "[national-id]"
CARD = "[card]"
ACCOUNT = "[account]"
IBAN = "[iban]"

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\d.])(?:\d[ -]?){12,18}\d(?![\d])")
_NO_NATIONAL_ID = re.compile(r"(?<![\d.])(\d{2})(\d{2})(\d{2})[ -]?(\d{5})(?![\d])")
_NORDIC_ID_WRITTEN = re.compile(
    r"(?<![\d.])"
    r"(?:(?:19|20)?(\d{2})(\d{2})(\d{2})[-+ ]\d{3}[\dA-Z]"  # SE YYMMDD-NNNN, DK DDMMYY-NNNN, FI DDMMYY-NNNX
    r"|(?:19|20)(\d{2})(\d{2})(\d{2})\d{4})"  # SE YYYYMMDDNNNN
    r"(?![\d])"
)
_NO_ACCOUNT_WRITTEN = re.compile(r"(?<![\d.])\d{4}([. ])\d{2}\1\d{5}(?![\d])")
_ELEVEN_DIGITS = re.compile(r"(?<![\d.])\d{11}(?![\d])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _plausible_date(day: int, month: int) -> bool:
    try:
        dt.date(2000, month, day)  # a leap year: 29 February is plausible
    except ValueError:
        return False
    return True


def _shaped_like_norwegian_id(match: re.Match[str]) -> bool:
    day, month = int(match.group(1)), int(match.group(2))
    if day > 40:  # D-number
        day -= 40
    if month > 40:  # H-number (and synthetic test numbers, +80)
        month -= 80 if month > 80 else 40
    return _plausible_date(day, month)


def _shaped_like_nordic_id(match: re.Match[str]) -> bool:
    groups = [g for g in match.groups() if g is not None]
    first, second, third = (int(g) for g in groups)
    # YYMMDD (Sweden) or DDMMYY (Denmark, Finland): either reading will do.
    return _plausible_date(third, second) or _plausible_date(first, second)


def _replace(
    pattern: re.Pattern[str], marker: str, keep: Callable[[re.Match[str]], bool] | None = None
) -> Callable[[str], str]:
    def substitute(match: re.Match[str]) -> str:
        return marker if keep is None or keep(match) else match.group(0)

    return lambda text: pattern.sub(substitute, text)


def _is_card(match: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", match.group(0))
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _is_iban(match: re.Match[str]) -> bool:
    return bool(iban.is_valid(match.group(0)))


def _is_account(match: re.Match[str]) -> bool:
    return bool(kontonr.is_valid(match.group(0)))


def _mask_phones(text: str) -> str:
    found = [
        (m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, "NO", leniency=phonenumbers.Leniency.VALID)
    ]
    for start, end in reversed(found):
        text = text[:start] + PHONE + text[end:]
    return text


_STEPS: tuple[Callable[[str], str], ...] = (
    _replace(_EMAIL, EMAIL),
    _replace(_IBAN, IBAN, _is_iban),
    _replace(_CARD, CARD, _is_card),
    _replace(_NO_NATIONAL_ID, NATIONAL_ID, _shaped_like_norwegian_id),
    _replace(_NORDIC_ID_WRITTEN, NATIONAL_ID, _shaped_like_nordic_id),
    _replace(_NO_ACCOUNT_WRITTEN, ACCOUNT),
    _replace(_ELEVEN_DIGITS, ACCOUNT, _is_account),
    _mask_phones,
)


def scrub(text: str) -> str:
    """The text with personal data replaced by markers, whitespace tidied."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    for step in _STEPS:
        text = step(text)
    return text


def clean_note(note: str | None) -> str | None:
    """A note ready to store: scrubbed, or None when empty. Too long is refused."""
    if note is None:
        return None
    if len(note) > MAX_NOTE_LENGTH:
        raise Invalid(
            f"The note is {len(note)} characters long; keep it to {MAX_NOTE_LENGTH}: a few words on what the "
            "customer asked about are enough.",
            field="note",
            code="note_too_long",
        )
    cleaned = scrub(note)
    if len(cleaned) > MAX_NOTE_LENGTH:  # markers can be longer than what they replace
        cleaned = cleaned[: MAX_NOTE_LENGTH - 1] + "…"
    return cleaned or None
