"""Languages: English and Norwegian bokmål, through Babel message catalogues.

Templates call ``_()``; the language is the signed-in user's choice, else the
browser's (Accept-Language), else TALLY_LANGUAGE. It is held in a context
variable set by ``use_language`` around rendering, in the thread that renders.

Catalogues: app/locale/<lang>/LC_MESSAGES/messages.po, compiled to .mo. After
changing texts run ``make translations`` (extract, update, compile); a test
fails when a Norwegian text is missing or a .mo is stale.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, dates, numbers
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = {"en": "English", "nb": "Norsk (bokmål)"}
# Formats follow the language; English users in Nordic centres expect a 24-hour clock.
BABEL_LOCALES = {"en": "en_GB", "nb": "nb_NO"}

_language: ContextVar[str] = ContextVar("language", default="en")


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> NullTranslations:
    return Translations.load(str(LOCALE_DIR), [language], domain="messages")


@contextmanager
def use_language(language: str) -> Iterator[None]:
    token = _language.set(language if language in LANGUAGES else "en")
    try:
        yield
    finally:
        _language.reset(token)


def gettext(message: str) -> str:
    return translations(_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_language.get()).ngettext(singular, plural, n)


def negotiate(accept_language: str | None, default: str) -> str:
    """The best of our languages for an Accept-Language header."""
    if not accept_language:
        return default
    preferred = []
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag:
            preferred.append(tag)
    aliases = {"no": "nb", "nn": "nb"}  # Norwegian in general, and nynorsk readers, get bokmål
    for tag in preferred:
        base = tag.split("_")[0].lower()
        base = aliases.get(base, base)
        if base in LANGUAGES:
            return base
    return default


def N_(message: str) -> str:
    """Marks a text for translation where it is defined; ``gettext`` translates it where it is shown."""
    return message


class Numeral(str):
    """A number in a ``Text``, as written ("0.5", "-3"): so in the plain English message, and with the
    reader's decimal sign where it is shown translated ("0,5" in Norwegian)."""


_DECIMAL_WRITTEN = re.compile(r"[-+]?\d+(\.\d+)?")


def numeral(value: object) -> str:
    """``value`` as a ``Numeral`` if it is a number (or a decimal written as one), else as it is written:
    1.0 as "1", as the bounds a form's field takes read."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    written = str(value)
    if isinstance(value, bool) or not _DECIMAL_WRITTEN.fullmatch(written.strip()):
        return written
    return Numeral(written)


class Text(str):
    """A message for a person, in English as a plain string (logs, the API, the CLI), that can also be
    shown in the reader's language: ``msgid`` is its catalogue entry, ``params`` fill its {fields}
    (a ``Numeral`` with the reader's decimal sign).

    A ``str`` so that code that joins, compares or stores messages keeps working unchanged."""

    msgid: str
    params: dict[str, str]
    numerals: frozenset[str]

    def __new__(cls, msgid: str, /, **params: object) -> Text:
        strings = {name: str(value) for name, value in params.items()}
        text = super().__new__(cls, msgid.format(**strings))
        text.msgid = msgid
        text.params = strings
        text.numerals = frozenset(name for name, value in params.items() if isinstance(value, Numeral))
        return text

    def translated(self) -> str:
        decimal = numbers.get_decimal_symbol(_locale())
        shown = {
            name: value.replace(".", decimal) if name in self.numerals else value for name, value in self.params.items()
        }
        return gettext(self.msgid).format(**shown)


class TextValueError(ValueError):
    """A ``ValueError`` (as validators raise) whose message is a ``Text``: pydantic keeps the exception
    in the error's context, so the message can be shown translated where the field is."""

    def __init__(self, msgid: str, /, **params: object) -> None:
        self.text = Text(msgid, **params)
        super().__init__(self.text)


def translated(message: str) -> str:
    """A message in the reader's language if it is a ``Text``, else as it is."""
    return message.translated() if isinstance(message, Text) else message


# Domain errors carry English messages for developers and logs; people see
# these, by the error's code, in their own language.
ERROR_TEXTS = {
    "signed_out": N_("Your session has ended: sign in again."),
    "method_not_allowed": N_("That address cannot be opened like this: go back and use the button on the page."),
    "wrong_credentials": N_("Wrong user name or password."),
    "slow_down": N_("Too many failed sign-ins for this account just now. Wait a moment and try again."),
    "sign_in_busy": N_("Another sign-in for this account is being checked: try again in a moment."),
    "csrf": N_("This page was out of date: reload it and try again."),
    "bad_origin": N_("The request did not come from this site, so it was refused."),
    "forbidden_role": N_("Your role does not give access to this."),
    "unknown_user": N_("Launch Tally has no active user by your name: ask an admin."),
    "launch_not_live": N_("This launch is not live, so enquiries cannot be logged on it."),
    "outside_window": N_("This launch's dates are over (or have not begun): ask a lead to change them."),
    "unknown_launch": N_("There is no such launch."),
    "unknown_hypothesis": N_("A hypothesis is no longer on the list: reload the page."),
    "no_such_hypothesis": N_("This launch has no such hypothesis: check the address."),
    "retired_hypothesis": N_("A hypothesis was retired: reload the page."),
    "unknown_channel": N_("That channel is not offered any more: reload the page."),
    "unknown_segment": N_("That segment is not offered any more: reload the page."),
    "note_too_long": N_("The note is too long: keep it to 500 characters."),
    "stale_order": N_("The list of hypotheses changed since you opened the editor: reload the page, then move again."),
    "order_changed": N_(
        "Someone else changed the order of the hypotheses since you opened the editor: nothing was saved. The list "
        "now shows the current order; move again if you still want to."
    ),
    "too_late": N_("Enquiries can be undone for 15 minutes after they were logged."),
    "not_yours": N_("You can only undo enquiries you logged yourself."),
    "unknown_enquiry": N_("That enquiry was already undone."),
    "wrong_password": N_("The current password is not right."),
    "password_too_short": N_("A password needs at least 10 characters."),
    "unavailable": N_("The server could not save this just now. Try again in a moment."),
    "not_found": N_("There is nothing here."),
    "user_exists": N_("There is already a user by that name: choose another user name."),
    "own_admin": N_("You cannot remove your own admin role or access: ask another admin."),
    "last_admin": N_("At least one active admin must remain: make someone else admin first."),
    "forbidden": N_("You do not have access to this."),
    "invalid": N_("Something in the request is not right; the details are below."),
    "invalid_range": N_("That range cannot be shown: choose one of the ranges, or days inside the launch."),
    "range_out_of_window": N_("That range is outside this launch's dates: choose days inside them."),
    "body_too_large": N_("That was more data than this page ever sends: nothing was saved."),
    "duplicate_key": N_("The launch already has a hypothesis with that key (perhaps retired): choose another key."),
    "nothing_to_move": N_("Tick at least one enquiry to move."),
    "nothing_moved": N_("None of the enquiries ticked is under “Other” any more: nothing was moved."),
    "too_many_enquiries": N_("That is more enquiries than can be moved at once: move them in smaller sets."),
    "unknown_relink": N_("There is no such move of enquiries."),
    "already_undone": N_("That move was undone already."),
    "stale_version": N_("Someone else changed this since you opened it: nothing was saved. See the current values."),
    "idempotency_key_reused": N_("That key was used before for a different enquiry: nothing was recorded."),
    "occurred_at_out_of_range": N_(
        "That time is outside the launch's dates, too long ago (a tick waits at most a day), or in the future."
    ),
    "slack_not_configured": N_("Slack is not set up for Launch Tally yet: ask an admin to set it up."),
    "digest_not_resendable": N_("Only digests that failed, wait to be retried or were dry runs can be sent again."),
    "digest_busy": N_("Someone else is sending this digest right now."),
    "digest_outside_dates": N_(
        "This digest's window is outside the launch's dates since they were changed: it is not sent."
    ),
    "digest_may_be_posted": N_(
        "Nothing was sent: the digest sent by hand before may already be in Slack, and Slack could not be "
        "checked just now. Look in the channel: if it is not there, press Send to Slack on the waiting digest, "
        "or leave it to its retry."
    ),
    "invalid_format": N_("Downloads come as CSV or XLSX: choose one of them."),
    "invalid_what": N_("A download holds the enquiries or the counts per day: choose one of them."),
}


# Words stored as values (roles and statuses), shown in the reader's language.
LABELS = {
    "agent": N_("agent"),
    "lead": N_("lead"),
    "admin": N_("admin"),
    "integration": N_("integration"),
    "draft": N_("draft"),
    "live": N_("live"),
    "closed": N_("closed"),
    "open": N_("open"),
    "confirmed": N_("confirmed"),
    "not_seen": N_("not seen"),
    "fix_shipped": N_("fix shipped"),
    "resolved": N_("resolved"),
    "retired": N_("retired"),
    "pending": N_("sending"),
    "sent": N_("sent"),
    "late": N_("sent late"),
    "dry_run": N_("dry run"),
    "retrying": N_("will retry"),
    "failed": N_("failed"),
    "missed": N_("missed"),
    "replaced": N_("replaced by a later one"),
}


# The default channels and segments, shown in the reader's language; any other a launch defines
# is shown as it is written. A table of their own: a channel a launch calls "late" or "open" is its
# own word, not a digest's or a hypothesis's status.
DIMENSION_LABELS = {
    "phone": N_("phone"),
    "chat": N_("chat"),
    "email": N_("email"),
    "social": N_("social"),
    "private": N_("private"),
    "business": N_("business"),
    "unspecified": N_("unspecified"),
}


def label(value: str) -> str:
    """A role or a status in the reader's language."""
    text = LABELS.get(str(value))
    return gettext(text) if text else str(value)


def dimension_label(value: str) -> str:
    """A channel or a segment in the reader's language, if it is one of the defaults."""
    text = DIMENSION_LABELS.get(str(value))
    return gettext(text) if text else str(value)


# Errors raised with a ``Text`` that says it all, translated as it is, with no fixed text for the code:
# a sign-in block's says what the failures are counted by (this browser or this address) and the wait.
TOLD_BY_MESSAGE = frozenset({"locked_account", "locked_address"})

# Errors whose translation says all a person needs: their English message, written for developers
# and API clients (it may name routes or commands), is not shown under it on a page.
PLAIN_ERRORS = frozenset(
    {
        "unknown_launch",
        "not_found",
        "method_not_allowed",
        "forbidden_role",
        "forbidden",
        "signed_out",
        "csrf",
        "bad_origin",
        "own_admin",
        "duplicate_key",
        "slow_down",  # its message says the same in other words ("just now: wait a moment")
    }
)


def error_detail(code: str, message: str, details: Sequence[tuple[str, str]] = ()) -> list[str]:
    """The lines to show under an error's translation on a page, if they add anything: each problem
    with the field it is in, in the reader's language where the message is a ``Text``."""
    shown = error_text(code, message)
    if code in PLAIN_ERRORS or shown in (message, translated(message)):
        return []
    problems = list(details) or [("", message)]
    if _language.get() != "en" and code != "invalid":
        # A plain str is English written for developers: under a translation that says what to do it
        # only adds English ("Feil brukernavn eller passord." over "Wrong user name or password.").
        # Kept for "invalid", whose translation points to the details: English is better than none.
        problems = [(name, text) for name, text in problems if isinstance(text, Text)]
    return [f"{field_label(name)}: {translated(text)}" if name else translated(text) for name, text in problems]


_AS_IS = "{message}"  # not a catalogue entry: a message no translation is kept for


def validation_text(err: Any) -> Text:
    """A pydantic error as a person is told it, in English and (on the pages) in their language:
    a lead's file or form, any form's field the framework refused."""
    kind, context = err["type"], err.get("ctx") or {}
    if kind == "value_error" and isinstance(raised := context.get("error"), TextValueError):
        return raised.text  # ours: a validator's own words
    given = repr(err["input"])[:80] if "input" in err else ""
    # A number (typed, or read from a file) is shown as written, with the reader's decimal sign: "0.5 is too
    # small: at least 1.0" was told a Norwegian lead who had typed 0,5.
    number = numeral(str(err.get("input", ""))[:80])
    if kind == "extra_forbidden":
        return Text(N_("unknown field"))
    if kind == "missing":
        return Text(N_("required field is missing"))
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return Text(N_("{value} is not a whole number: write one, such as 20"), value=given)
    if kind in ("float_parsing", "float_type"):
        return Text(N_("{value} is not a number: write one, such as 3 or 2.5"), value=given)
    if kind == "string_pattern_mismatch" and err.get("loc", ())[-1:] == ("slack_channel",):
        # A channel's name also takes dots and underscores, or is an id: "use lower-case letters, digits
        # and dashes" told "#Launch" less than it may write, and nothing of the id.
        return Text(
            N_(
                "{value} is not a Slack channel: write its name in lower case, such as #launch-payapp "
                "(letters, digits, dashes, dots and underscores), or its id, such as C0123ABCD"
            ),
            value=given,
        )
    if kind == "string_pattern_mismatch":
        letters = sorted({c for c in str(err.get("input", "")) if c.isalpha() and not c.isascii()})
        if letters:
            # æ, ø and å are lower-case letters too: "use lower-case letters" told a Norwegian segment
            # ('næring') or key what it already was.
            return Text(
                N_("{value} does not fit: use only the letters a to z (not {letters}), digits and dashes"),
                value=given,
                letters=", ".join(letters[:5]),
            )
        return Text(N_("{value} does not fit: use lower-case letters, digits and dashes"), value=given)
    if kind == "string_too_short":
        return Text(N_("is empty: write something here"))
    if kind == "string_too_long":
        return Text(N_("is too long: at most {most} characters"), most=context.get("max_length", ""))
    if kind == "too_short":
        return Text(N_("is empty: list at least one"))
    if kind in ("greater_than_equal", "greater_than"):
        return Text(
            N_("{value} is too small: at least {least}"),
            value=number,
            least=numeral(context.get("ge", context.get("gt"))),
        )
    if kind in ("less_than_equal", "less_than"):
        return Text(
            N_("{value} is too large: at most {most}"), value=number, most=numeral(context.get("le", context.get("lt")))
        )
    if kind.startswith("date_") or kind == "date_type":
        return Text(N_("{value} is not a date: write it as YYYY-MM-DD, such as 2026-11-20"), value=given)
    if kind == "timezone_aware":
        return Text(N_("{value} has no offset: write it with one, such as 2026-11-20T14:30+01:00"), value=given)
    if kind.startswith("datetime_"):
        return Text(N_("{value} is not a date and time: write one such as 2026-11-20T14:30+01:00"), value=given)
    if kind == "enum":
        # pydantic joins the choices with an English "or": listed with commas, in any language.
        choices = str(context.get("expected", "")).replace(" or ", ", ")
        return Text(N_("{value} is not one of {choices}"), value=given, choices=choices)
    if kind in ("string_type", "list_type") and err.get("input", "") is None:
        return Text(N_("is empty: write something here"))  # `text:` with nothing after it, in a file
    if kind == "string_type" and isinstance(err.get("input"), bool):
        # A file's `true` (or JSON's): said as it was written.
        written = str(err["input"]).lower()
        return Text(N_('{value} is read as true or false: put the text in quotes, such as "{value}"'), value=written)
    if kind == "string_type" and isinstance(err.get("input"), int | float):
        # As written, in any language: it is what goes between the quotes.
        return Text(N_('{value} is read as a number: put the text in quotes, such as "{value}"'), value=str(number))
    if kind in ("string_type", "list_type", "dict_type", "model_type", "model_attributes_type"):
        return Text(N_("{value} is not the kind of value this field takes"), value=given)
    return Text(_AS_IS, message=str(err["msg"]).removeprefix("Value error, "))  # pydantic's own words


# A launch's and a hypothesis's fields, by their names in files and the API, as the editor labels them:
# a refused value is told by the label the lead sees beside the field.
FIELD_LABELS = {
    "slug": N_("Slug"),
    "name": N_("Name"),
    "product_area": N_("Product area"),
    "starts_on": N_("Release day"),
    "ends_on": N_("Last day"),
    "timezone": N_("Time zone"),
    "digest_times": N_("Digest times"),
    "slack_channel": N_("Slack channel"),
    "channels": N_("Channels"),
    "segments": N_("Segments"),
    "status": N_("Status"),
    "alerts.min_count": N_("Spike alert: at least this many enquiries"),
    "alerts.factor": N_("Spike alert: times normal"),
    "alert_min_count": N_("Spike alert: at least this many enquiries"),  # as the launch's columns name them
    "alert_factor": N_("Spike alert: times normal"),
    "key": N_("Key"),
    "text": N_("Text"),
    "area": N_("Area"),
    "owner_team": N_("Owner team"),
    "expected_per_day": N_("Expected per day"),
    "fix_shipped_at": N_("Fix shipped"),
    "fix_url": N_("Fix link"),
    "sort_order": N_("Place in the list"),
    # The other forms' fields.
    "username": N_("User name"),
    "display_name": N_("Display name"),
    "role": N_("Role"),
    "password": N_("Password"),
}
_ITEM = re.compile(r"^hypotheses\[\d+\]\.|\[\d+\]$")  # a hypothesis's field; an item of a list


def field_label(name: str) -> str:
    """A field's label in the reader's language (a hypothesis's field by its own label); any other
    place, such as a file's line, as it is."""
    text = FIELD_LABELS.get(_ITEM.sub("", name))
    return gettext(text) if text else name


def error_text(code: str, message: str) -> str:
    """What to show a person for an error: the translation for its code, else its message."""
    text = ERROR_TEXTS.get(code)
    return gettext(text) if text else translated(message)


def _locale() -> Locale:
    return Locale.parse(BABEL_LOCALES[_language.get()])


def format_datetime(value: dt.datetime, tz: ZoneInfo | str) -> str:
    """A moment on a page, "5 Dec 2026, 09:12" ("5. des. 2026, 09:12"): the date written as the pages'
    dates are (``format_date``), so a launch's days and its moments read alike and "05/12" is never
    taken for the fifth of May; the time without seconds."""
    locale = _locale()
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # as Babel reads a naive one
    local = aware.astimezone(ZoneInfo(str(tz)))
    return (
        str(dates.get_datetime_format("medium", locale=locale))
        .replace("'", "")
        .replace("{0}", dates.format_time(local, format="short", locale=locale))
        .replace("{1}", dates.format_date(local, format="medium", locale=locale))
    )


def format_time(value: dt.datetime, tz: ZoneInfo | str, format: str = "short") -> str:
    return dates.format_time(value, format=format, tzinfo=ZoneInfo(str(tz)), locale=_locale())


def format_date(value: dt.date, format: str = "medium") -> str:
    return dates.format_date(value, format=format, locale=_locale())


def format_number(value: float) -> str:
    return format_number_in(value, _locale())


def format_number_in(value: float, locale: Locale) -> str:
    if type(value) is float and value.is_integer() and abs(value) < 2**53:
        value = int(value)  # as Babel writes 40.0: "40"
    if type(value) is int:  # counts, nearly every number a page shows: bool and floats go to Babel
        symbols = _integer_symbols(locale)
        if symbols is not None:
            group, minus = symbols
            text = f"{abs(value):,}".replace(",", group)
            return minus + text if value < 0 else text
    return numbers.format_decimal(value, locale=locale)


@lru_cache(maxsize=16)
def _integer_symbols(locale: Locale) -> tuple[str, str] | None:
    """The group separator and minus sign that write a whole number as Babel does in ``locale``, by
    Python's own grouping: Babel's pattern machinery took 8 µs a number, and the launch page's chart
    data tables hold a few thousand of them. None where that grouping is not the locale's (an Indian
    lakh, a minimum of two grouping digits): Babel writes those."""
    # As Babel writes them (its minus for Norwegian is "-", not the locale's listed U+2212).
    group, minus = numbers.format_decimal(1234, locale=locale)[1:-3], numbers.format_decimal(-1, locale=locale)[:-1]
    for sample in (0, 7, 12, 999, 1_000, 1_234, 12_345, 123_456, 1_234_567, 1_234_567_890, -1, -1_234):
        fast = f"{abs(sample):,}".replace(",", group)
        if (minus + fast if sample < 0 else fast) != numbers.format_decimal(sample, locale=locale):
            return None
    return group, minus


def format_decimal(value: float, decimals: int) -> str:
    """A number with exactly ``decimals`` decimals: "3.4" in English, "3,4" in Norwegian."""
    return numbers.format_decimal(value, format="#,##0." + "0" * decimals if decimals else "#,##0", locale=_locale())


def format_percent(value: float, decimals: int = 0) -> str:
    """A share as the language writes it: "72%", "10.0%" in English, "72 %", "10,0 %" in Norwegian."""
    pattern = _locale().percent_formats[None].pattern  # "#,##0%", or "#,##0 %" with a no-break space
    if decimals:
        pattern = pattern.replace("0", "0." + "0" * decimals, 1)
    return numbers.format_percent(value, format=pattern, locale=_locale())


def format_p_value(value: float) -> str:
    """A test's p-value as "p = 0.0191" ("p = 0,0191" in Norwegian): three significant digits, and
    "p < 0.001" below that, where more digits say nothing."""
    if value < 0.001:
        return "p < " + format_decimal(0.001, 3)
    return "p = " + numbers.format_decimal(value, format="@@@", locale=_locale())


# The date patterns a digest names times with: Norwegian takes a full stop after the day.
_DAY_TIME = {"en": "d MMM HH:mm", "nb": "d. MMM HH:mm"}


def format_weekday_time(value: dt.datetime) -> str:
    """An aware datetime in its own zone, with its weekday: "Tue 14:00", "tir. 14:00"."""
    return dates.format_datetime(value, format="EEE HH:mm", locale=_locale())


def format_time_on(value: dt.datetime, today: dt.date) -> str:
    """An aware datetime in its own zone, as read on ``today``: "16:00" that day ("16:00" the next
    morning reads as a time still to come), else ``format_with_day``."""
    return f"{value:%H:%M}" if value.date() == today else format_with_day(value, today)


def format_with_day(value: dt.datetime, today: dt.date) -> str:
    """An aware datetime in its own zone with its day, as read on ``today``: "Wed 16:00" up to six days
    before, "18 Nov 16:00" once its weekday has come round again (or ahead of ``today``)."""
    return format_weekday_time(value) if 0 <= (today - value.date()).days < 7 else format_day_time(value)


def format_day_time(value: dt.datetime) -> str:
    """An aware datetime in its own zone, with its date: "1 Dec 14:00", "1. des. 14:00"."""
    return dates.format_datetime(value, format=_DAY_TIME[_language.get()], locale=_locale())
