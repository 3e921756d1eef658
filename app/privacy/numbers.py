"""Numbers that point at a person: IBANs, Finnish identity codes, and runs of digits read as cards,
bank accounts, identity numbers or phone numbers.

**Runs and windows.** A run is digits in groups joined by a space, ``.``, ``-``, ``+`` or brackets
(``01.01.70 12343``, ``070-123 45 67``, ``(+47) 41 23 45 67``), or by a ``/`` alone
(``010190/12345``). Each window of whole groups is read, longest first from each starting group,
and the first reading that fits is masked. Windows never split a group, so ``202611290915`` is
read as twelve digits and never as 11 + 1.

**Check digits or shape.** Where a check digit exists and people type the number whole (cards,
Swedish personnummer without a dash, Norwegian account numbers written plain, IBANs), the check
decides: a shape alone would mask too many order numbers. Where the shape is unmistakable
(a birth date then five digits, ``YYMMDD-NNNN``, ``1234.56.78903``), the shape decides, valid or
not: an agent's typo is still the customer's number.

**Phones** are parsed with phonenumbers, one region chosen by the number's shape (``+``/``00``:
international; leading ``0``: Sweden, then Finland; eight digits: Norway, then Denmark; 10–13
digits starting with 45, 46, 47 or 358, whole or as a first group: international without its ``+``,
as telephony systems write them).
``PhoneNumberMatcher`` over the whole note costs 300–400 µs per region on a 200-character note,
and misses a number that follows another number; parsing the windows found here costs ~20 µs each.

**Borderline shapes, decided** (a leak costs more than a lost order number, but notes must stay
readable):

* 11 digits starting with a plausible DDMMYY (D- and H-numbers too): masked, check digits or not;
  about one random 11-digit order number in ten goes with them. So is a date with a two-digit year
  followed by five digits (``12.11.26 48213``): it is how a birth number is written. With a
  four-digit year (``01.01.1990 12345``, ``01011990-12345``) only after a word such as "fnr" or
  "fødselsnummer": without one it is as often a date and a case number. Five digits right after
  "personnummer" (in Norway, the birth number's last five; ``fødselsdato 01.01.1990 personnummer
  12345``) are masked, with the date just before the word.
* ``YYMMDD-NNNN``, ``DDMMYY NNNN``, ``YYYYMMDD-NNNN``, also ``YYMMDD - NNNN``: masked by shape
  (Swedish and Danish). ``YYYYMMDD-hhmm`` within a year of today that fails the Swedish check is a
  log's time (``20261203-0915``), unless a word such as "personnummer" comes just before.
* No one is born after today: a four-digit year that puts the birth date after the day the note is
  read (``now``, passed in) is not an identity number. Two-digit years have a century to spare.
* 10 digits in one group: masked when the Swedish check digit holds (so ~1 in 10 date-shaped
  order numbers is masked) or a word such as "CPR" or "personnummer" comes just before; a
  Danish CPR typed plain without such a word survives.
* 12 digits in one group (``202611290915``): only with the Swedish check digit and not readable
  as a time within a year of now, or after such a word. Timestamps survive.
* 16 digits in four fours starting 3–6: a card, Luhn or not. Other card lengths need Luhn, unless a
  word such as "kort" or "card" comes just before: then 13–19 digits in one group or printed as cards
  are (``kort 4571234567890123``), but not a log time with seconds or in milliseconds
  (``card declined at 1764930000123``). With words between ("kortet er sperret, 4571…") only digits
  with an issuer's start or a valid Luhn check; with only "nr", "nummer" or ":" between, any digits
  (``kortnr: 1234567890123``). Not after a word such as "sporing", "sendingsnr", "terminal" or "sak".
* After a word such as "fnr", "personnummer", "CPR" or "hetu", an identity number in any grouping
  (``fnr 1507 6510 013``, ``personnr 8507 09 9805``, ``hetu 13.10.52-308T``): the date need only start
  the digits. Not when a word such as "ordre" comes right before the number.
* Nordic IBAN shapes (``NO`` + 13 digits …) are masked with a wrong check digit too.
* Eight digits are a phone only when Norway or Denmark would ring them and they are grouped the
  usual ways, or in any grouping after a word such as "tlf", "ring" or "puh" (``tlf 912 345 67``);
  ``42 250 000`` is an amount. With a trunk 0, eight digits only with the area code set off
  (``08-12 34 56``, ``0800-1600`` is opening hours) or after such a word; a ``/`` only after the
  area code (``070/123 45 67``). A plain ten-digit number that is both a Swedish mobile
  and a valid personnummer (``0701234536``) is called a phone.
* Not a phone: a window starting inside a dotted version (the ``0.12 (501234`` of ``5.0.12
  (501234)``), eight plain digits that read as YYYYMMDD (``build 20261118``) unless a word for a
  phone comes before, and a number right after a word such as "ordrenr", "ref", "faktura",
  "build" or "versjon" unless written with ``+`` or ``00``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import NamedTuple

import phonenumbers
from stdnum import iban, luhn
from stdnum.no import kontonr
from stdnum.se import personnummer

from app.privacy.markers import ACCOUNT, BIRTH_DATE, CARD, IBAN, NATIONAL_ID, PHONE

Span = tuple[int, int, str]  # start, end, marker

# ---------------------------------------------------------------------------------------------------
# IBAN: two letters, two check digits, then letters and digits, in any case, grouped or not.

# "NO93 8601 1117 947", and with a space after the country code too: "NO 93 8601 1117 947".
# The space only after capitals, as IBANs are printed: after any two letters ("er 12 …") it made every
# such pair a candidate, a sixth more time on an ordinary note.
_IBAN_CANDIDATE = re.compile(r"(?<![\w\]])(?:[A-Z]{2} |[A-Za-z]{2})\d{2}[A-Za-z0-9]*(?:[ -][A-Za-z0-9]+){0,9}")
_GROUP = re.compile(r"[A-Za-z0-9]+")
# Nordic IBANs are all digits after the country code and have a fixed length; so shaped, one with a
# wrong check digit is a mistyped account number, still personal (``NO`` plus 13 digits is nothing else).
_NORDIC_IBAN_LENGTH = {"NO": 15, "SE": 24, "DK": 18, "FI": 18, "IS": 26}


def _is_iban(compact: str) -> bool:
    if _NORDIC_IBAN_LENGTH.get(compact[:2].upper()) == len(compact) and compact[2:].isdigit():
        return True
    return 15 <= len(compact) <= 34 and bool(iban.is_valid(compact))


def iban_spans(text: str) -> Iterator[Span]:
    """IBANs: the longest run of groups from the country code on that is one."""
    position = 0
    while candidate := _IBAN_CANDIDATE.search(text, position):
        groups = list(_GROUP.finditer(text, candidate.start(), candidate.end()))
        for count in range(len(groups), 0, -1):
            if _is_iban("".join(g.group() for g in groups[:count])):
                yield candidate.start(), groups[count - 1].end(), IBAN
                position = groups[count - 1].end()
                break
        else:
            position = candidate.start() + 2
    return


# ---------------------------------------------------------------------------------------------------
# Finnish henkilötunnus: DDMMYY, a century sign (- + A, or since 2023 B–F and U–Y), three digits,
# a check character. Masked by shape: the sign and the letter make it unmistakable.

# The sign may have spaces around it when it is a dash or a plus: 131052 - 308T. No check against
# today: with its sign and letter it is an identity code, mistyped or not.
# The date may be written as a date (13.10.52-308T, 13 10 52-308T), which is masked only after a word
# such as "hetu" (``_said_to_be_an_id``): "betalt 12.11.26-123A" is a date and a code.
_HETU = re.compile(
    r"(\d\d)(?P<sep>[. ]?)(\d\d)(?P=sep)\d\d(?: ?[-+] ?|[A-FU-Ya-fu-y])\d{3}[0-9A-Ya-y](?![\w\[])"
)  # no lookbehind: faster


def hetu_spans(text: str) -> Iterator[Span]:
    for match in _HETU.finditer(text):
        start = match.start()
        if start and (text[start - 1].isalnum() or text[start - 1] == "]"):
            continue
        if not _plausible(int(match.group(1)), int(match.group(3))):
            continue
        if not match.group("sep") or _said_to_be_an_id(text[max(0, start - _CONTEXT_CHARS) : start]):
            yield start, match.end(), NATIONAL_ID


# ---------------------------------------------------------------------------------------------------
# Runs of digit groups.

# A leading + or (+ is looked for by hand: cheaper. A "/" only alone: "912 34 567 / 01019012345" is two.
_RUN = re.compile(r"\d+(?:(?:[ .()+-]{1,3}|/)\d+)*")
_DIGITS = re.compile(r"\d+")
_MAX_WINDOW_GROUPS = 8
_MAX_WINDOW_DIGITS = 19  # the longest card number
_MIN_MASKED_DIGITS = 8  # the shortest thing read here: an eight-digit phone number

# Words that say an identity number follows; with one of them close before, a bare 10- or 12-digit
# number in the shape of a date is masked even when no check digit says so.
_ID_CONTEXT = re.compile(
    r"f\.?\s?nr|fødsels|personn|person\s?nr|pers\.?\s?nr|\bpnr|\bcpr|\bhetu|henkilötunnus|\bssn\b"
    r"|social security|personal (?:id|number)|national id|\bid[- ]?n(?:r|o|ummer)|identitetsn"
)
_ID_CONTEXT_STEMS = ("nr", "fødsels", "personn", "cpr", "hetu", "henkil", "ssn", "social", "personal", "national", "id")
# Words that say a bank account follows: Swedish accounts (a clearing number, then seven to ten digits,
# grouped any way) have no check a shape could rest on, nor has a Norwegian one mistyped.
# Whole words only: "mobilbanken krasjet 202611290915" is a log time, "nettbank med KID …" a payment reference.
_ACCOUNT_CONTEXT = re.compile(
    r"\b(?:(?:bank)?konto\w*|kto|account(?:\s(?:number|no))?|clearing\w*"
    r"|swedbank|nordea|seb|dnb|handelsbanken|länsförsäkringar|danske\sbank|sparebank(?:\s?1)?)\b"
)
# Numbers that are something else, said between the account word and the number: not an account.
_OTHER_NUMBER = re.compile(
    r"\b(?:order\w*|ordre\w*|sak\w*|case|ref\w*|faktura\w*|invoice|kid|feil\w*|error|kode|code|id"
    r"|transaksjon\w*|transaction|kl|klokka|tid|time"
    # a parcel's, a terminal's, a log's or a ticket's number: "nytt kort bestilt, sporing 3701…"
    r"|sporing\w*|tracking|sending\w*|forsendelse\w*|shipment\w*|parcel|pakke\w*|terminal\w*"
    r"|logg?|logg(?:en|fil\w*)|logs|ticket\w*)\b"
)
# Said right before the number ("ordrenr 40123456", "ref: 9876 5432", "ordre nr. 12345678", "build
# 20261118"): an order's, a reference's, a build's number, not a phone number. Whole words: "refund",
# "saksbehandler 912 34 567" and "feil nummer 912 34 567" (a wrong number) are still phone numbers.
_NAMED_AS_OTHER = re.compile(
    r"\b(?:order\w*|ordre\w*|sak|saksnr|saksnummer\w*|case|ref|refnr|referanse\w*|reference\w*|faktura\w*"
    r"|invoice\w*|kid|feilkode\w*|feilmelding\w*|error|kode|code|id|transaksjon\w*|transaction\w*|build"
    r"|versjon\w*|version)\.?(?:[\s-]?(?:nr|no|nummer|number)\b\.?)?\s?[:#]?\s?\Z"  # KID-nummer: hyphened too
)
_ACCOUNT_CONTEXT_DIGITS = 9  # the fewest digits read as an account on such a word alone
# Words that say a phone number follows (Norwegian, Danish, Swedish, Finnish, English): after one,
# eight digits in any grouping are read as a phone number, not only the usual groupings.
_PHONE_CONTEXT = re.compile(
    r"\b(?:tlf\w*|tel|telnr|telefon\w*|mob|mobil\w*|ring\w*|tilbakering\w*|nummer\w*|nr|sms"
    r"|puh|puhelin\w*|numero\w*|soita\w*|soitti\w*|gsm|kännykkä\w*"
    r"|phone\w*|mobile|call\w*|number|cell)\b"
)
# Words that say a payment card follows (kort, kortnummer, bankkortet, card number, kortti): after
# one, 13–19 digits are a card whatever the Luhn check or the issuer says.
_CARD_CONTEXT = re.compile(r"(?:kort|card)\w*|\b(?:visa|amex|maestro)\b")
_CARD_CONTEXT_STEMS = ("kort", "card", "visa", "amex", "maestro")
# The card word right before the number, or with only "nr", "nummer" or ":" between ("kortnr: 1234…",
# "kort nr. 1234…"): what a number with no issuer's digits and no valid check must have to be a card.
_CARD_RIGHT_BEFORE = re.compile(
    r"(?:(?:kort|card)\w*|\b(?:visa|amex|maestro))\.?(?:\s?(?:nr|no|nummer\w*|number|numret)\b\.?)?\s?[:#]?\s?\Z"
)
_CONTEXT_CHARS = 30
_DIGIT_OR_MARKER = re.compile(r"[\d\]]")


def _said_to_be_an_id(context: str) -> bool:
    """A word such as "personnummer" or "CPR" in ``context`` (the text just before a number), with
    no number or marker after it."""
    context = context.lower()
    if not any(stem in context for stem in _ID_CONTEXT_STEMS):  # the usual case, and cheap
        return False
    said = [m.end() for m in _ID_CONTEXT.finditer(context)]
    return bool(said) and not _DIGIT_OR_MARKER.search(context, said[-1])


class _Window(NamedTuple):  # a NamedTuple is made in a third of a frozen dataclass's time
    digits: str
    sizes: tuple[int, ...]
    separators: tuple[str, ...]
    text: str  # as written, with a leading + or (+ when the window starts the run
    international: bool  # begins with + or 00
    context: str  # the text just before the window
    after_version: bool  # its first group goes on from a dotted version (the 0 and 12 of 5.0.12)
    today: dt.date  # a birth date after it is no one's; a time within a year of it is a log's

    @property
    def named_as_id(self) -> bool:
        """A word such as "personnummer" or "CPR" just before, with no number or marker between."""
        return _said_to_be_an_id(self.context)

    @property
    def named_as_card(self) -> bool:
        """A word such as "kort" or "card" just before, with no number or marker between, and no word
        such as "order" or "kl" after it ("kortet ble belastet, ordre …")."""
        context = self.context.lower()
        if not any(stem in context for stem in _CARD_CONTEXT_STEMS):  # the usual case, and cheap
            return False
        said = [m.end() for m in _CARD_CONTEXT.finditer(context)]
        return (
            bool(said)
            and not _DIGIT_OR_MARKER.search(context, said[-1])
            and not _OTHER_NUMBER.search(context, said[-1])
        )

    @property
    def named_as_card_right_before(self) -> bool:
        """A word such as "kort" right before, with at most "nr", "nummer" or ":" between."""
        return bool(_CARD_RIGHT_BEFORE.search(self.context.lower()))

    @property
    def named_as_phone(self) -> bool:
        """A word such as "tlf", "ring" or "puh" just before, with no number or marker between."""
        context = self.context.lower()
        said = [m.end() for m in _PHONE_CONTEXT.finditer(context)]
        return bool(said) and not _DIGIT_OR_MARKER.search(context, said[-1])

    @property
    def named_as_other(self) -> bool:
        """A word such as "ordre", "ref" or "build" right before: an order's, a reference's, a build's."""
        return bool(_NAMED_AS_OTHER.search(self.context.lower()))

    @property
    def named_as_account(self) -> bool:
        """A word such as "konto" or a bank's name just before (a clearing number may come between), and
        no word such as "order" or "kl" after it."""
        context = self.context.lower()
        said = [m.end() for m in _ACCOUNT_CONTEXT.finditer(context)]
        return bool(said) and not _OTHER_NUMBER.search(context, said[-1])


_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # 29 February is plausible


def _plausible(day: int, month: int, year: int = 2000) -> bool:
    if not (1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month]):
        return False
    return not (month == 2 and day == 29 and year % 4 != 0)  # a four-digit year: a leap year?


def _after(today: dt.date, year: int, month: int, day: int) -> bool:
    """A date after ``today``: a birth date no one has yet (a date that does not exist is not after)."""
    try:
        return dt.date(year, month, day) > today
    except ValueError:
        return False


def _yymmdd(digits: str) -> bool:
    day = int(digits[4:6])
    return _plausible(day - 60 if day > 60 else day, int(digits[2:4]))  # +60: Swedish samordningsnummer


def _ddmmyy(digits: str) -> bool:
    return _plausible(int(digits[0:2]), int(digits[2:4]))


def _norwegian_date(digits: str) -> bool:
    day, month = int(digits[0:2]), int(digits[2:4])
    if day > 40:  # D-number
        day -= 40
    if month > 80:  # synthetic test numbers
        month -= 80
    elif month > 40:  # H-number
        month -= 40
    return _plausible(day, month)


_LUHN_DOUBLED = {str(d): (2 * d - 9 if d > 4 else 2 * d) for d in range(10)}


def _luhn(digits: str) -> bool:
    """The Luhn check, inline and first: stdnum's costs ~10 µs, and most numbers fail it."""
    total = sum(map(int, digits[-1::-2])) + sum(map(_LUHN_DOUBLED.__getitem__, digits[-2::-2]))
    return total % 10 == 0


def _swedish_check(digits: str) -> bool:
    """A Swedish personnummer (10 or 12 digits) with a valid date and check digit."""
    return _luhn(digits[-10:]) and bool(personnummer.is_valid(digits))


def _is_timestamp(digits: str, today: dt.date) -> bool:
    """YYYYMMDDhhmm within a year of today: a log time, not someone born this year (a baby's
    personnummer typed without a dash is the rare leak this accepts)."""
    year = int(digits[:4])
    return (
        abs(year - today.year) <= 1
        and _plausible(int(digits[6:8]), int(digits[4:6]), year)
        and int(digits[8:10]) < 24
        and int(digits[10:12]) < 60
    )


def _is_card_length_log_time(digits: str, today: dt.date) -> bool:
    """A log's time near today: YYYYMMDDhhmmss, or milliseconds since 1970 (13 digits)."""
    if len(digits) == 14:
        return _is_timestamp(digits[:12], today)
    if len(digits) == 13:
        return abs(dt.datetime.fromtimestamp(int(digits) / 1000, dt.UTC).year - today.year) <= 1
    return False


def _is_card(w: _Window) -> bool:
    if not 13 <= len(w.digits) <= _MAX_WINDOW_DIGITS:
        return False
    separators = set(w.separators)
    if not separators <= {" ", "-", "."} or (len(separators) > 1 and w.sizes != (4, 4, 4, 4)):
        return False  # mixed separators only in the printed shape: 4111 1111-1111 1111
    # Issuers' ranges: 3 (Amex, Diners, JCB), 4 (Visa), 5 and 2221–2720 (Mastercard), 6 (Discover,
    # Maestro, UnionPay). Luhn alone would take one in ten 14-digit timestamps (2026…).
    issued = w.digits[0] in "3456" or 2221 <= int(w.digits[:4]) <= 2720
    if w.named_as_card and (len(w.sizes) == 1 or w.sizes in _CARD_GROUPINGS):
        # Said to be a card: a mistyped digit or an unknown issuer still leaves the customer's number.
        # Not a log time with seconds (kortet avvist 20261129091512) or in milliseconds (card declined
        # at 1764930000123).
        if _is_card_length_log_time(w.digits, w.today):
            return False
        # No card starts 00: with a country code after it, it is a phone number (Mastercard's support
        # line, 00358 40 123 4000), read as one below.
        if w.digits.startswith("00") and _parses_as_phone(w.text, ("NO",)):
            return False
        # A card word further back ("kortet virker ikke i terminal 1234…", "kort i posten, sendingsnr
        # 7071…") is the note's subject, not the number's name: then the number must look like a card.
        return issued or _luhn(w.digits) or w.named_as_card_right_before
    if not issued:
        return False
    # Sixteen digits in four fours is how cards are printed: masked even when one is mistyped.
    return w.sizes == (4, 4, 4, 4) or (_luhn(w.digits) and bool(luhn.is_valid(w.digits)))


# How cards are printed, for one said to be a card: fours (the last group shorter on a 13–15-digit
# card), Amex's 4-6-5 and Diners' 4-6-4. Not 4-4-4-4-3: after a 16-digit card that is as often the
# first group of the next number ("kort 4571 2345 6789 0123 912 34 567").
_CARD_GROUPINGS = frozenset({(4, 4, 4, 1), (4, 4, 4, 2), (4, 4, 4, 3), (4, 4, 4, 4), (4, 6, 5), (4, 6, 4)})


def _is_account(w: _Window) -> bool:
    """Norwegian account numbers: written 1234.56.78903, 1234 56 78903, 1234-56-78903 or 1234 5678903
    whatever the check digit (nothing else is written so), or 11 plain digits that pass it."""
    if len(w.digits) != 11:
        return False
    if w.sizes in ((4, 2, 5), (4, 7)) and len(set(w.separators)) == 1 and w.separators[0] in (".", " ", "-"):
        return True
    return len(w.sizes) == 1 and bool(kontonr.is_valid(w.digits))


def _is_norwegian_id(w: _Window) -> bool:
    """Fødselsnummer, D- and H-numbers: a birth date (DDMMYY) then five digits, however grouped
    (``01019012345``, ``010190 12345``, ``010190 123 45``, ``01.01.90 12345``, ``010190/12345``),
    masked whether or not the check digits hold. The date must fill whole groups, so an 11-digit
    window across an order number and a date does not qualify; about one random 11-digit number in
    ten still does."""
    if len(w.digits) != 11 or not _id_separators(w):
        return False
    if len(w.sizes) > 1 and not _date_then_five(w.sizes, 6):
        return False
    return _norwegian_date(w.digits)


def _is_id_said_to_be_one(w: _Window) -> bool:
    """After a word such as "fnr", "personnummer" or "CPR": an identity number however grouped, as the
    agent heard it read out (``fnr 1507 6510 013``, ``fnr 15076 510013``, ``personnr 8507 09 9805``).
    The date need not fill whole groups, only start the number: a Norwegian birth number's DDMMYY (D-
    and H-numbers too), a Swedish personnummer's YYMMDD or YYYYMMDD, a Danish CPR's DDMMYY; or a
    Norwegian one with a four-digit year (``_is_norwegian_id_long_year``). Not when a word such as
    "ordre" comes right before the number: "fnr mangler, ordre 1507 6510 013" is the order's."""
    digits, n = w.digits, len(w.digits)
    if not 10 <= n <= 13 or not _id_separators(w) or not w.named_as_id or w.named_as_other:
        return False
    if n == 11:
        return _norwegian_date(digits)
    if n == 10:
        return _yymmdd(digits) or _ddmmyy(digits)
    if n == 12:
        return digits[:2] in ("19", "20") and _yymmdd(digits[2:]) and _born_by(digits, w.today)
    return _is_norwegian_id_long_year(w)


def _is_norwegian_id_long_year(w: _Window) -> bool:
    """A birth date with a four-digit year (DDMMYYYY), then five digits: ``01.01.1990 12345``,
    ``01011990-12345``. Only after a word such as "fnr" (``_is_id_said_to_be_one``): a date and then a case
    number look the same. Not born yet: not a birth number."""
    if len(w.digits) != 13 or not _id_separators(w) or not _date_then_five(w.sizes, 8):
        return False
    day, month, year = int(w.digits[:2]), int(w.digits[2:4]), int(w.digits[4:8])
    return year >= 1850 and _plausible(day, month, year) and not _after(w.today, year, month, day)


def _id_separators(w: _Window) -> bool:
    return all(separator.strip() in _ID_SEPARATORS for separator in w.separators)


_ID_SEPARATORS = frozenset(("", ".", "-", "/"))  # stripped: " - " is a dash


def _date_then_five(sizes: tuple[int, ...], date_digits: int) -> bool:
    """Groups that make a date of ``date_digits`` in at most three whole groups, then five digits in
    at most two."""
    total, date_groups = 0, 0
    for size in sizes:
        total += size
        date_groups += 1
        if total >= date_digits:
            break
    return total == date_digits and date_groups <= 3 and len(sizes) - date_groups <= 2


def _is_nordic_id_written(w: _Window) -> bool:
    """Swedish personnummer and Danish CPR written with their separator (and Finnish HETU with a
    digit for check character): the shape decides. A dash with spaces round it is a dash."""
    if len(w.sizes) != 2 or (w.separators[0].strip() or " ") not in ("-", "+", " "):
        return False
    if w.sizes == (6, 4):  # YYMMDD-NNNN (SE), DDMMYY-NNNN (DK)
        return _yymmdd(w.digits) or _ddmmyy(w.digits)
    if w.sizes == (8, 4) and w.digits[:2] in ("19", "20"):  # YYYYMMDD-NNNN
        if not (_yymmdd(w.digits[2:]) and _born_by(w.digits, w.today)):
            return False
        return not _is_log_time(w.digits, w.today) or w.named_as_id  # "personnr 20261130-1234": a baby
    return False


def _born_by(digits: str, today: dt.date) -> bool:
    """YYYYMMDD… (a Swedish samordningsnummer's day plus 60) not after ``today``."""
    day = int(digits[6:8])
    return not _after(today, int(digits[:4]), int(digits[4:6]), day - 60 if day > 60 else day)


def _is_log_time(digits: str, today: dt.date) -> bool:
    """YYYYMMDD and four digits that read as a log's time (20261203-0915) and fail the Swedish check."""
    return _is_timestamp(digits, today) and not _swedish_check(digits)


def _is_nordic_id_plain(w: _Window, named: bool) -> bool:
    """Ten or twelve digits in one group. Plain ten digits are as often an order number, and twelve
    how systems write a time (202611290915): the Swedish check digit decides (and the twelve must
    not read as a recent time), or a word such as "personnummer" or "CPR" just before."""
    digits, n = w.digits, len(w.digits)
    if len(w.sizes) != 1:
        return False
    if n == 10:
        return _swedish_check(digits) or (named and (_yymmdd(digits) or _ddmmyy(digits)))
    if n == 12 and digits[:2] in ("19", "20"):
        if not _born_by(digits, w.today):
            return False
        if _swedish_check(digits) and not _is_timestamp(digits, w.today):
            return True
        return named and _yymmdd(digits[2:])
    return False


# How Norwegians and Danes group their eight digits; other groupings are amounts (42 250 000).
_EIGHT_DIGIT_GROUPINGS = {(8,), (3, 2, 3), (2, 2, 2, 2), (4, 4), (4, 2, 2)}


def _is_date(w: _Window) -> bool:
    """12.11.2026, 2026-11-29, 1/2-26: not a phone number, whatever phonenumbers thinks of it."""
    if len(w.sizes) != 3 or len(set(w.separators)) != 1 or w.separators[0] not in ".-/":
        return False
    parts, position = [], 0
    for size in w.sizes:
        parts.append(int(w.digits[position : position + size]))
        position += size
    if w.sizes[0] == 4:
        return _plausible(parts[2], parts[1])
    return w.sizes[2] in (2, 4) and _plausible(parts[0], parts[1])


def _parses_as_phone(text: str, regions: tuple[str, ...]) -> bool:
    for region in regions:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


def _is_phone(w: _Window) -> bool:
    n = len(w.digits)
    if "+" in w.separators or _is_date(w) or _is_time_range(w):
        return False
    if w.digits[0] == "0" and not w.international:  # Swedish and Finnish numbers carry the trunk 0
        return _is_trunk_phone(w)
    if "/" in w.separators:  # only after an area code: 070/123 45 67
        return False
    if w.international:  # +47 412 34 567, 0046 70 123 45 67, (+47) 41 23 45 67, +44 20 7946 0958
        return 8 <= n <= 17 and _parses_as_phone(w.text, ("NO",))  # 00 is Norway's (and SE/DK/FI's) exit code
    if 10 <= n <= 13 and _starts_with_country_code(w):  # 46701234567, 47 91234567: read as +46…, +47…
        return _parses_as_phone("+" + w.text, ("NO",))
    if n != 8:
        return False
    if w.named_as_phone:  # "tlf 912 345 67", "tlf 91 234 567", "tlf 912 34567": any grouping
        return _parses_as_phone(w.text, ("NO", "DK"))
    if w.sizes == (8,) and _is_yyyymmdd(w.digits):  # "build 20261118", "dato 20261203"
        return False
    # Norwegian and Danish numbers: eight digits, grouped the usual ways. Two fours only with a space:
    # 2025-2026, 2200-2330 and 2025.1118 are years, times and builds.
    if w.sizes not in _EIGHT_DIGIT_GROUPINGS or len(set(w.separators)) > 1:
        return False  # one separator all through: "2026 09.15" is a year and a time
    if w.sizes == (4, 4) and (w.separators != (" ",) or _two_years(w.digits)):
        return False
    return _parses_as_phone(w.text, ("NO", "DK"))


def _is_trunk_phone(w: _Window) -> bool:
    """070-123 45 67, 040 123 4567, 070/123 45 67; with eight digits, Stockholm's 08-12 34 56 with its
    area code set off (0800-1600 is opening hours), or any grouping after a word such as "tlf"; after
    such a word, 9 to 13 digits from any country."""
    n = len(w.digits)
    if "/" in w.separators[1:]:
        return False
    if w.named_as_phone and 9 <= n <= 13:
        # Another country's number as its people write it (07911 123456, 0151 23456789): its shape is
        # all a note shows, and after a word such as "tlf" that is enough.
        return True
    if n == 8:
        area_code = w.sizes[0] in (2, 3) and w.separators[:1] in (("-",), ("/",))
        if not (area_code or w.named_as_phone):
            return False
    elif not 9 <= n <= 10:
        return False
    return _parses_as_phone(w.text.replace("/", " "), ("SE", "FI"))


# Telephony and CRM systems send numbers in E.164 without the "+" (an MSISDN: 46701234567), and
# agents copy them so. The countries whose customers call us, as the whole number's start or its
# first group ("46 70 123 45 67", "47 91234567").
_BARE_COUNTRY_CODES = ("45", "46", "47", "358")


def _starts_with_country_code(w: _Window) -> bool:
    return any(
        w.digits.startswith(code) and (len(w.sizes) == 1 or w.sizes[0] == len(code)) for code in _BARE_COUNTRY_CODES
    )


def _is_yyyymmdd(digits: str) -> bool:
    year = int(digits[:4])
    return 1900 <= year <= 2099 and _plausible(int(digits[6:8]), int(digits[4:6]), year)


def _is_time_range(w: _Window) -> bool:
    """0800-1600, 2200-2330: opening hours, also after "ring"."""
    if w.sizes != (4, 4) or w.separators != ("-",):
        return False
    return all(int(w.digits[i : i + 2]) < 24 and int(w.digits[i + 2 : i + 4]) < 60 for i in (0, 4))


def _two_years(digits: str) -> bool:
    return all(1900 <= int(part) <= 2099 for part in (digits[:4], digits[4:]))


def _classify(w: _Window) -> str | None:
    """What the window is, most certain reading first. A plain number that is both a phone number
    and a Luhn-valid personnummer (0701234536) is called a phone: masked either way."""
    if w.text[:1] in ("+", "("):  # +47 …, (+47) …: a phone number or nothing
        return PHONE if not w.after_version and _is_phone(w) else None
    if _is_id_said_to_be_one(w):  # "fnr 1507 6510 013", "fødselsnummer 31.12.1990 12345", Luhn or not
        return NATIONAL_ID
    if _is_card(w):
        return CARD
    if _is_account(w) and len(w.sizes) > 1:
        return ACCOUNT
    if _is_norwegian_id(w) or _is_nordic_id_written(w):
        return NATIONAL_ID
    if _is_account(w):
        return ACCOUNT
    plain_id = len(w.sizes) == 1 and len(w.digits) in (10, 12)
    named = plain_id and w.named_as_id
    if named and _is_nordic_id_plain(w, named):  # "CPR 0101000001": what the agent says it is
        return NATIONAL_ID
    # Not the 0 or 12 of 5.0.12 (501234); after "ordrenr", "ref" or "build" an order's, a reference's
    # or a build's number, unless written with + or 00.
    if not w.after_version and _is_phone(w) and (w.international or not w.named_as_other):
        return PHONE
    if plain_id and _is_nordic_id_plain(w, named):
        return NATIONAL_ID
    if len(w.digits) >= _ACCOUNT_CONTEXT_DIGITS and not _is_time_like(w) and w.named_as_account:
        return ACCOUNT
    return None


def _is_time_like(w: _Window) -> bool:
    """A date, a date and a time, or a log time: 18.11.2026 09.15, 2026-11-18 09:15, 202611290915."""
    if len(w.sizes) == 1:
        return len(w.digits) == 12 and _is_timestamp(w.digits, w.today)
    head = w.sizes[:3]
    if head not in ((2, 2, 4), (4, 2, 2), (2, 2, 2)) or len(set(w.separators[:2])) != 1:
        return False
    return _is_date(w._replace(sizes=head, separators=w.separators[:2], digits=w.digits[: sum(head)]))


def _begin(text: str, group_start: int) -> int:
    """Where a window starting at this group begins: before a + or (+ written just in front."""
    if text[max(0, group_start - 2) : group_start] == "(+":
        return group_start - 2
    if text[max(0, group_start - 1) : group_start] == "+":
        return group_start - 1
    return group_start


def _run_spans(text: str, run: re.Match[str], *, today: dt.date, first: int = 0) -> Iterator[Span]:
    """``first``: the group to start from (1 when the run's first group belongs to a code before it)."""
    groups = [(g.start(), g.end()) for g in _DIGITS.finditer(text, run.start(), run.end())]
    while first < len(groups):
        begin = _begin(text, groups[first][0])
        after_version = first > 0 and text[groups[first - 1][1] : groups[first][0]] == "."
        last = min(len(groups), first + _MAX_WINDOW_GROUPS) - 1
        digit_count = sum(end - start for start, end in groups[first : last + 1])
        while last >= first and digit_count >= _MIN_MASKED_DIGITS:  # shorter windows have fewer digits
            chosen = groups[first : last + 1]
            if digit_count <= _MAX_WINDOW_DIGITS:
                digits = "".join(text[a:b] for a, b in chosen)
                window = _Window(
                    digits=digits,
                    sizes=tuple(b - a for a, b in chosen),
                    separators=tuple(text[chosen[k][1] : chosen[k + 1][0]] for k in range(len(chosen) - 1)),
                    text=text[begin : chosen[-1][1]],
                    international=begin < chosen[0][0] or digits.startswith("00"),
                    context=text[max(0, begin - _CONTEXT_CHARS) : begin],
                    after_version=after_version,
                    today=today,
                )
                if marker := _classify(window):
                    yield begin, chosen[-1][1], marker
                    first = last
                    break
            digit_count -= groups[last][1] - groups[last][0]
            last -= 1
        first += 1


# Words a number is typed straight after ("tlf91234567"); after any other word, digits glued to it
# are part of a code (0x80070643, E40123456, ERR-41234567), not a number of their own.
_NUMBER_WORDS = frozenset(
    {"tlf", "tel", "telefon", "tlfnr", "telnr", "mob", "mobil", "mobilnr", "nr", "nummer", "ring", "sms"}
    | {"fnr", "pnr", "fødselsnr", "personnr", "konto", "kontonr", "kto", "kort", "kortnr", "iban", "cpr"}
)
_WORD_BEFORE = re.compile(r"[^\W\d_]+\Z")


def _part_of_a_code(text: str, start: int) -> bool:
    end = start - 1 if text[start - 1 : start] == "-" else start
    if not text[end - 1 : end].isalpha():
        return False
    word = _WORD_BEFORE.search(text, max(0, end - 20), end)
    return not word or word.group().lower() not in _NUMBER_WORDS


# In Norway "personnummer" is the birth number's last five digits: "fødselsdato 01.01.1990
# personnummer 12345". Those five after such a word, and the date just before it, are the number.
_PERSONAL_NUMBER_WORD = re.compile(r"(?:\bpersonn(?:ummer(?:et)?|r)|\bpers(?:on)?\.?\s?nr|\bpnr)\.?:?\s\Z")
_BIRTH_DATE_BEFORE = re.compile(r"(?<![\d.\-/])(\d\d)([.\-/]?)(\d\d)\2(\d{4}|\d\d),?\s\Z")
_FIVE_DIGITS = re.compile(r"\d{5}|\d{3} \d{2}")


def _personal_number_span(text: str, run: re.Match[str], taken: int, today: dt.date) -> Span | None:
    """Five digits after "personnummer", from the birth date before the word if there is one (and it
    is not part of a find already, which ends at ``taken``, nor after ``today``)."""
    start = run.start()
    context = text[max(0, start - _CONTEXT_CHARS) : start].lower()
    if "nr" not in context and "personn" not in context:  # the usual case, and cheap
        return None
    if not (word := _PERSONAL_NUMBER_WORD.search(context)):
        return None
    word_start = start - len(context) + word.start()
    if date := _BIRTH_DATE_BEFORE.search(text, max(taken, word_start - 12), word_start):
        day, month, year = int(date.group(1)), int(date.group(3)), int(date.group(4))
        if _plausible(day, month) and not (year > 999 and _after(today, year, month, day)):
            start = date.start()
    return start, run.end(), NATIONAL_ID


def number_spans(text: str, *, today: dt.date) -> Iterator[Span]:
    """Cards, accounts, identity numbers and phone numbers among the text's runs of digits, read on
    ``today`` (no one is born after it)."""
    taken = 0  # where the last find ends
    for run in _RUN.finditer(text):
        written = run.group()
        if len(written) >= _MIN_MASKED_DIGITS and sum(map(str.isdigit, written)) >= _MIN_MASKED_DIGITS:
            # A first group glued to a word is the code's (S23, iPhone15): what follows is still read.
            first = 1 if run.start() and _part_of_a_code(text, run.start()) else 0
            for found in _run_spans(text, run, today=today, first=first):
                taken = found[1]
                yield found
        elif _FIVE_DIGITS.fullmatch(written) and (personal := _personal_number_span(text, run, taken, today)):
            taken = personal[1]
            yield personal


# ---------------------------------------------------------------------------------------------------
# Birth dates: a date is kept (when something happened is the note's), unless a word says it is when
# someone was born ("født 12.03.1985", "DOB 1985-03-12", "född 12 mars 1985"). Read after the
# numbers above, so that a birth number's date ("fnr 01.01.1990 12345") goes with its number.

_BORN = (
    r"født|fødd|f\.|fødselsdato|fødselsdag|f\.dato|fdato|f\.d\.|född|födelsedatum|födelsedag|född den|"
    r"født den|fødd den|born|born on|date of birth|birth date|birthdate|dob|d\.o\.b\.|birthday|"
    r"syntynyt|syntymäaika|syntymäpäivä"
)
_MONTHS = (
    r"jan|januar|januari|january|feb|februar|februari|february|mar|mars|march|apr|april|mai|maj|may|"
    r"jun|juni|june|jul|juli|july|aug|august|augusti|sep|sept|september|okt|oct|oktober|october|"
    r"nov|november|des|dec|desember|december"
)
_ORDINAL = r"(?:st|nd|rd|th)?"  # 12th, 1st
_BIRTH_DATE = re.compile(
    rf"(?i:(?<![\w.])(?:{_BORN})(?:\s?:)?\s?)"
    # The separators as typed, mixed too: "12/3-85" is how many Norwegians write a date by hand.
    r"(?P<date>\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})"  # 12.03.1985, 12/3/85, 12/3-1985
    r"|\d{4}[-./]\d{1,2}[-./]\d{1,2}"  # 1985-03-12, 1985.03.12
    r"|\d{6}|\d{8}"  # 120385, 19850312
    # 12. mars 1985, 12.mars 85, 12 mars -85, 12th of March 1985
    rf"|\d{{1,2}}(?i:{_ORDINAL})(?:\.\s?|\s)(?:of\s)?(?i:{_MONTHS})\.?,?\s(?:\d{{4}}|[-']?\d{{2}})"
    rf"|(?i:{_MONTHS})\.?\s\d{{1,2}}(?i:{_ORDINAL}),?\s\d{{4}})"  # March 12, 1985 (English, month first)
    r"(?![\w\[])"
)


def birth_date_spans(text: str) -> Iterator[Span]:
    """Dates said to be someone's birth."""
    for match in _BIRTH_DATE.finditer(text):
        yield match.start("date"), match.end("date"), BIRTH_DATE
