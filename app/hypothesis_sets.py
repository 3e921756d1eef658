"""Hypothesis sets: a launch and the enquiries its team expects.

A set is written as a YAML file (one per launch, in hypotheses/) or edited in
the web editor; both end in ``import_launch``, so the rules are the same:
keyed by slug and key, idempotent, changed text keeps a revision, a
hypothesis left out is retired, never deleted. Files are validated with line
numbers first; export writes a file that imports back to the same state.

The schema is the pydantic model ``LaunchFile``; ``hypotheses/schema.json`` is
exported from it and ``hypotheses/README.md`` documents it for the people who
write the files.
"""

from __future__ import annotations

import bisect
import codecs
import datetime as dt
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticKnownError
from sqlmodel import Session, col, select

from app import audit, digests, i18n, schedule
from app.config import check_timezone, parse_clock_times
from app.errors import Conflict, Invalid, NotFound
from app.i18n import N_, Text, TextValueError
from app.launches import DEFAULT_LENGTH, SLUG_PATTERN, enquiries_outside, hypotheses_of, lock
from app.models import (
    CONTROL_CHARACTER,
    DEFAULT_CHANNELS,
    DEFAULT_SEGMENTS,
    Hypothesis,
    HypothesisRevision,
    HypothesisStatus,
    HypothesisStatusChange,
    Launch,
    LaunchStatus,
    id_of,
)
from app.recording.store import Store
from app.tallies import UNSPECIFIED_SEGMENT

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"

# Far above any launch, and inside the database's INTEGER column (32-bit on PostgreSQL).
MAX_EXPECTED_PER_DAY = 1_000_000
# Launch days: the arithmetic on them (default end, ranges, digests) stays far from year 9999.
EARLIEST_DAY, LATEST_DAY = dt.date(2000, 1, 1), dt.date(2199, 12, 31)
# The weeks after a release, a season at most: a year typed wrong (2025 for 2026) is told, not a launch
# of years whose pages count for most of a minute.
MAX_LAUNCH_DAYS = 366
# A launch's set, in a file or in the app: as many as a checklist can show.
MAX_HYPOTHESES = MAX_ITEMS = 500  # MAX_ITEMS: in any one list, a file's or the editor's

_CONTROL_TEXT = N_("holds a control character (such as \\0): write plain text")
_BETWEEN = N_("{value} is not between {earliest} and {latest}")
_FIX_AHEAD = N_("{value} is later than now ({now}): give the time the fix reached customers, once it has")
# A fix time a little ahead of this server's clock is a clock apart (a lead's laptop, a CI runner), not
# a fix to come.
FIX_CLOCK_SKEW = dt.timedelta(minutes=5)
# Letters and signs drawn as nothing: the Hangul fillers, the braille blank.
_BLANK_SIGNS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Drawn as nothing, and written by YAML only as escapes (\uFEFF, \U0010FFFF: up to 10 bytes for one
# character): dropped from texts, as runs of spaces are made one, so no set exports past MAX_FILE_BYTES.
_WRITTEN_ESCAPED = re.compile("[\ufeff\ufffe\uffff\U0010ffff]")
_INVISIBLE_TEXT = N_("has only invisible characters (such as a zero-width space): write something here")
_FIX_WITHOUT_STATUS = N_(
    "no fix has shipped with this status: set the status to fix shipped to record when it shipped, or leave the "
    "time out"
)


def _plain_text(value: str) -> str:
    """``value`` on one line, runs of spaces one space, without the characters of ``_WRITTEN_ESCAPED``."""
    return " ".join(_WRITTEN_ESCAPED.sub("", value).split())


def _shown(value: str) -> str:
    """``value``, if a person can see any of it: a name or a text of spaces, zero-width and other format
    characters, combining marks alone, is a blank button on the checklist and a blank name on the pages."""
    if value and not any(unicodedata.category(c)[0] in "LNPS" and c not in _BLANK_SIGNS for c in value):
        raise TextValueError(_INVISIBLE_TEXT)
    return value


def _or_empty(schema: dict[str, Any]) -> None:
    """A text field that may be written with nothing after it (`area:`), read as none, as ''. Said so in
    the schema too: an editor checking the file against it (yaml-language-server) marked as wrong what
    `tally hypotheses validate`, the import and hypotheses/README.md take."""
    schema["type"] = ["string", "null"]


# The lengths the patterns allow, said apart: a slug or key of 70 lower-case letters was told only to "use
# lower-case letters, digits and dashes", which it did. (Checked before the pattern, so a long one is told
# its length first.)
Slug = Annotated[str, Field(pattern=SLUG_PATTERN, max_length=64, description="lower-case letters, digits and dashes")]
ShortName = Annotated[
    str, Field(pattern=NAME_PATTERN, max_length=32, description="lower-case letters, digits, - and _")
]

_TRUE_OR_FALSE = N_("{value} is read as true or false, not a number: write a number, such as {example}")


def _number(example: str) -> BeforeValidator:
    """A number as a file writes it (or the editor's form sends it, as text): pydantic's lax mode took a
    file's `true` for 1 (`min_count: true`, an alert on every enquiry), as the API's JsonInt tells."""

    def not_true_or_false(value: object) -> object:
        if isinstance(value, bool):
            raise TextValueError(_TRUE_OR_FALSE, value=str(value).lower(), example=example)
        return value

    return BeforeValidator(not_true_or_false)


def _written_as(kind: str, *types: type) -> BeforeValidator:
    """A day or a moment as text (a file, a form) or as one already (the set as stored, changed): lax mode
    read a file's `starts_on: 1795132800` as seconds since 1970, a day nobody wrote."""

    def as_text(value: object) -> object:
        if value is None or isinstance(value, (str, *types)):
            return value
        raise PydanticKnownError(kind)  # type: ignore[arg-type]  # told as i18n.validation_text tells it

    return BeforeValidator(as_text)


Day = Annotated[dt.date, _written_as("date_type", dt.date)]
Moment = Annotated[AwareDatetime, _written_as("datetime_type", dt.datetime)]


class HypothesisSpec(BaseModel):
    """One expected kind of enquiry."""

    model_config = ConfigDict(extra="forbid")

    key: Slug = Field(description="Stable key within the launch; enquiries are counted against it.")
    text: str = Field(min_length=1, max_length=500, description="What the customer says, as an agent hears it.")
    area: str = Field(
        default="", max_length=100, description="Part of the product, e.g. Payments.", json_schema_extra=_or_empty
    )
    owner_team: str = Field(
        default="", max_length=100, description="Team that owns a fix.", json_schema_extra=_or_empty
    )
    expected_per_day: Annotated[int, Field(ge=0, le=MAX_EXPECTED_PER_DAY), _number("20")] | None = Field(
        default=None, description="Enquiries per day the team expects."
    )
    status: HypothesisStatus | None = Field(
        default=None, description="Leave out to keep the status set in the app (new hypotheses start open)."
    )
    fix_shipped_at: Moment | None = Field(
        default=None,
        description="When the fix reached customers, ISO 8601 with offset; set to now when the status becomes "
        "fix_shipped without it. From then on the app compares the enquiries before and after.",
    )
    fix_url: str | None = Field(default=None, max_length=500, description="Where to read about the fix.")

    @field_validator("text", "area", "owner_team", "fix_url", mode="before")
    @classmethod
    def _strip(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.field_name in ("area", "owner_team"):
            return ""  # `area:` with nothing after it: none, as '' says
        if isinstance(value, str) and CONTROL_CHARACTER.search(value):
            # A NUL (which PostgreSQL refuses outright) or another control character, as YAML's "\0" writes it.
            raise TextValueError(_CONTROL_TEXT)
        # Before the length checks, so a text of only spaces is refused as empty.
        return _plain_text(value) if isinstance(value, str) else value

    @field_validator("text")
    @classmethod
    def _visible(cls, value: str) -> str:
        return _shown(value)

    @field_validator("fix_shipped_at")
    @classmethod
    def _fix_needs_its_status(cls, value: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        # Kept with one of these, the pages, the drill-down and the digest reported a fix shipped for an
        # open hypothesis. A status left out is the stored one, which import_launch checks.
        if value is not None and info.data.get("status") in NO_FIX_YET:
            raise TextValueError(_FIX_WITHOUT_STATUS)
        return value

    @field_validator("fix_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        # Shown as a link on the pages and in Slack: a javascript: or data: address must not be one.
        if value and not is_web_address(value):
            if re.match(r"(?i)https?://\S", value) and re.search(r"\s", value):  # only the space is wrong
                raise TextValueError(
                    N_("{value} has a space or a line break in it: a web address has none (write a space as %20)"),
                    value=repr(value[:60]),
                )
            raise TextValueError(
                N_("{value} is not a web address: write one starting with https://"), value=repr(value[:60])
            )
        return value

    @field_validator("fix_shipped_at")
    @classmethod
    def _fix_in_range(cls, value: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        if value is not None and not EARLIEST_DAY <= value.date() <= LATEST_DAY:
            raise TextValueError(_BETWEEN, value=value.isoformat(), earliest=EARLIEST_DAY, latest=LATEST_DAY)
        # Checked against the clock only when the caller gives one (``fix_times_checked``): a fix time to
        # come was shown as empty periods before and after it, "too early to tell" until then.
        context = info.context or {}
        now: dt.datetime | None = context.get("now")
        keys = context.get("fix_keys")
        checked = keys is None or info.data.get("key") in keys
        if value is not None and now is not None and checked and value > now + FIX_CLOCK_SKEW:
            shown = now.astimezone(value.tzinfo)
            raise TextValueError(
                _FIX_AHEAD, value=value.isoformat(timespec="minutes"), now=shown.isoformat(timespec="minutes")
            )
        return value


def fix_times_checked(now: dt.datetime | None, keys: Iterable[str] | None = None) -> dict[str, Any]:
    """The validation context that refuses a fix time later than ``now`` (and a few minutes): of every
    hypothesis (a file, checked at the moment it is imported: one written and reviewed before its fix
    time passed is still taken once it has), or only of ``keys`` (an edit: the time it changes, not
    another hypothesis's it leaves as it is). ``now`` None: not checked."""
    return {"now": now, "fix_keys": None if keys is None else frozenset(keys)}


def is_web_address(value: str) -> bool:
    return bool(re.fullmatch(r"(?i)https?://\S+", value))


class AlertRules(BaseModel):
    """When a hypothesis (or a theme in "other") is far enough above normal for a spike alert."""

    model_config = ConfigDict(extra="forbid")

    min_count: Annotated[int, _number("10")] = Field(
        default=10,
        ge=1,
        le=MAX_EXPECTED_PER_DAY,
        description="At least this many enquiries in the current digest window.",
    )
    factor: Annotated[float, _number("3")] = Field(
        default=3.0,
        ge=1,
        le=1000,
        description="And at least this many times normal: the higher of the expected rate and the same hours of "
        "earlier days.",
    )


class LaunchFile(BaseModel):
    """A launch and the enquiries its team expects."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"title": "Launch Tally hypothesis set"})

    slug: Slug = Field(description="Identifies the launch in URLs, the API and on re-import.")
    name: str = Field(min_length=1, max_length=200)
    product_area: str = Field(default="", max_length=200, json_schema_extra=_or_empty)
    starts_on: Day = Field(description="Release day, YYYY-MM-DD.")
    ends_on: Day | None = Field(default=None, description="Last day; three weeks after starts_on when left out.")
    timezone: str | None = Field(default=None, description="IANA zone, e.g. Europe/Oslo; TALLY_TIMEZONE when left out.")
    # At most MAX_ITEMS, as a file's lists: the editor's forms could store more than an import takes.
    digest_times: list[str] | None = Field(
        default=None,
        max_length=MAX_ITEMS,
        description='Local times of the Slack digests, e.g. ["09:00", "13:00", "16:00"].',
    )
    slack_channel: str | None = Field(default=None, pattern=r"^#?[a-z0-9][a-z0-9._-]{0,79}$|^[CG][A-Z0-9]{6,}$")
    channels: list[ShortName] = Field(
        default_factory=lambda: list(DEFAULT_CHANNELS), min_length=1, max_length=MAX_ITEMS
    )
    segments: list[ShortName] = Field(
        default_factory=lambda: list(DEFAULT_SEGMENTS), min_length=1, max_length=MAX_ITEMS
    )
    status: LaunchStatus | None = Field(
        default=None, description="Leave out to keep the status set in the app (new launches start as draft)."
    )
    alerts: AlertRules | None = Field(
        default=None, description="Spike alerts between digests; min_count 10 and factor 3 when left out."
    )
    # Checked here, not only in a file: the editor and "New hypothesis from these" add one at a time, and a
    # 501st made an export no import would take.
    hypotheses: list[HypothesisSpec] = Field(default_factory=list, max_length=MAX_HYPOTHESES)

    @field_validator("name", "product_area", mode="before")
    @classmethod
    def _plain(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.field_name == "product_area":
            return ""  # `product_area:` with nothing after it: none, as '' says
        if isinstance(value, str) and CONTROL_CHARACTER.search(value):
            raise TextValueError(_CONTROL_TEXT)
        # As the editor strips what is typed: a name of spaces is refused as empty, in a file too. Runs of
        # spaces and line breaks are one space, as in hypothesis texts: a browser drops a line break from
        # the launch form's one-line field, and its next save stored "PayApp 5new look".
        return _plain_text(value) if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _visible(cls, value: str) -> str:
        return _shown(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @field_validator("digest_times", mode="before")
    @classmethod
    def _digest_times(cls, value: Any) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, list) and any(isinstance(v, int) for v in value):
            raise TextValueError(N_('write times in quotes, e.g. ["09:00", "13:00"]'))
        return [t.strftime("%H:%M") for t in parse_clock_times(value)]

    @field_validator("channels", "segments")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        duplicates = sorted({v for v in value if value.count(v) > 1})
        if duplicates:
            raise TextValueError(N_("listed twice: {names}"), names=", ".join(duplicates))
        return value

    @field_validator("segments")
    @classmethod
    def _not_unspecified(cls, value: list[str]) -> list[str]:
        if UNSPECIFIED_SEGMENT in value:
            raise TextValueError(
                N_(
                    "{name} stands for enquiries with no segment in every filter and count: "
                    "name this segment otherwise (for example 'unknown')"
                ),
                name=repr(UNSPECIFIED_SEGMENT),
            )
        return value

    # Field validators, not a model validator: a model's runs only once every field is valid, so a file
    # with a bad time zone and its dates the wrong way round told of one, then (once fixed) the other,
    # and without the line or the field of the date.
    @field_validator("starts_on", "ends_on")
    @classmethod
    def _in_range(cls, day: dt.date | None) -> dt.date | None:
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise TextValueError(_BETWEEN, value=day, earliest=EARLIEST_DAY, latest=LATEST_DAY)
        return day

    @field_validator("ends_on")
    @classmethod
    def _not_before_start(cls, day: dt.date | None, info: ValidationInfo) -> dt.date | None:
        starts_on = info.data.get("starts_on")
        if day is not None and starts_on is not None and day < starts_on:
            raise TextValueError(N_("{day} is before the release day, {starts_on}"), day=day, starts_on=starts_on)
        if day is not None and starts_on is not None and (days := (day - starts_on).days + 1) > MAX_LAUNCH_DAYS:
            raise TextValueError(
                N_("the launch would run {days} days, from {starts_on} to {day}: at most {most} (check the years)"),
                days=days,
                starts_on=starts_on,
                day=day,
                most=MAX_LAUNCH_DAYS,
            )
        return day


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    field: str
    message: str

    @property
    def place(self) -> str:
        """Where it is: the file, its line and the field as written in the file."""
        return f"{self.path}:{self.line}: {self.field}" if self.field else f"{self.path}:{self.line}"

    def __str__(self) -> str:
        return f"{self.place}: {self.message}"


class InvalidFiles(Exception):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)


# --- reading YAML -----------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's surprises: `13:00` is not the integer 780
    (base 60) and `no` is not false, so times and Norwegian words stay strings.
    Dates stay strings too, so pydantic reports a bad one against its field."""


_DROPPED = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp")
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?0|[-+]?[1-9][0-9_]*)$"), list("-+0123456789")
)


# The largest file the app's own export writes, so that every set it takes imports back (the web
# upload and its Apply, the CLI): 500 hypotheses with every field at its longest (text and fix
# link 500 characters, area and owner team 100, a 64-character key, a fix time, the largest expected
# rate), every character one of 4 bytes in UTF-8 (an emoji; æøå are 2), and the launch's own fields and
# lists (500 channels, segments and digest times) at their limits: 2,512,900 bytes, 2,454 KB, measured
# by tests/test_largest_set.py, which fails when a limit moves past this. A set is a few KB; at 256 KB,
# 480 hypotheses of long English texts exported a file no import took back. Characters YAML writes only
# as escapes of up to 10 bytes each (a byte-order mark, U+FFFE) are dropped from texts (_WRITTEN_ESCAPED).
# Read off the event loop: the slowest file of this size (a line break every few characters) took 2.5
# times as long as the largest set, 8.5 s on a busy 2-vCPU machine (docs/benchmarks.md).
MAX_FILE_BYTES = 2_560 * 1024
# Lines, counted before parsing too: PyYAML's pure-Python scanner spends microseconds on every line, and a
# file of MAX_FILE_BYTES with a line break every few characters took 8.5 s, two and a half times the
# largest set. The largest export has 4,388 lines; four times as many leaves room for comments and blank
# lines between hypotheses.
MAX_LINES = 20_000
MAX_DEPTH = 20  # a set needs 4 levels (launch, hypotheses, item, field)
_TOO_DEEP = Text(N_("nested too deeply (at most {most} levels)"), most=MAX_DEPTH)
# Counted while the file is read, so a hostile one stops there, not after all of it is scanned and built
# (255 KB of `{key: a, text: b}` items took seconds, and the limit of 500 was told only then). A full set
# is 500 items of 8 fields, 17 nodes each: twice that leaves room for the launch's fields and lists.
MAX_NODES = 2 * MAX_HYPOTHESES * (1 + 2 * len(HypothesisSpec.model_fields))
_TOO_MANY_HYPOTHESES = Text(N_("more than {most} hypotheses; a file may have at most {most}"), most=MAX_HYPOTHESES)
_TOO_MANY_ITEMS = Text(N_("more than {most} items in one list; a list may have at most {most}"), most=MAX_ITEMS)
_TOO_MANY_NODES = Text(
    N_(
        "more than {most} fields and values by this line, more than a file of {hypotheses} hypotheses holds: "
        "look for lines repeated many times"
    ),
    most=MAX_NODES,
    hypotheses=MAX_HYPOTHESES,
)
# A file with thousands of mistakes (a key given twice on every line) is told the first ones, not in a
# page of megabytes.
MAX_PROBLEMS = 50
_NO_ANCHORS = Text(N_("anchors and aliases (&, *) are not allowed in hypothesis files"))
_NO_MERGE = Text(N_("merge keys (<<:) are not allowed in hypothesis files: write the fields out"))
_NO_TAGS = Text(
    N_(
        "explicit YAML tags (such as !!binary or !!str) are not allowed: write plain values "
        "(quote a number meant as text)"
    )
)


_NOT_YAML = N_("not valid YAML: {problem}")


# The mistakes people make in YAML by hand, told with the fix; PyYAML's own words only for the rare rest.
_TAB = N_("a tab: YAML is indented with spaces, not tabs: write spaces instead")
_COLON = N_('a colon and a space inside a text: put the whole text in double quotes, such as "Error: receipts gone"')
_INDENTED_FURTHER = N_(
    "this line is indented further than the line above, so it is read as that line's text going on: "
    "indent fields at the same level by the same number of spaces"
)
_NOT_LINED_UP = N_(
    "this line does not line up with the lines above: indent fields at the same level by the same number of spaces"
)
_APOSTROPHE = N_(
    "a text in single quotes ends at the next ' (an apostrophe in it too): put the text in double quotes, "
    'such as "Can\'t find it"'
)
_DOUBLE_QUOTE = N_(
    'a text in double quotes ends at the next ": put the whole text in single quotes, or write each " inside it as \\"'
)
_UNCLOSED = N_("a quote is not closed on this line: end the text with the quote it starts with")
_BACKSLASH = N_(
    "a backslash inside double quotes starts an escape (\\n, \\t): write \\\\ for a backslash, "
    "or put the text in single quotes"
)
_DASH = N_('a dash starts a list item only with a space after it: write "- key: …"')
_BRACKETS = N_("a text that starts with a bracket is read as a list: put the whole text in double quotes")
_CANNOT_START = N_("{char} cannot start a text without quotes: put the whole text in double quotes")
_ALIAS = N_("* or & cannot start a text without quotes: put the whole text in double quotes")
_FLOW_COMMENT = N_(
    "# after a space starts a comment, and the rest of the line with it: put a text with # in double quotes"
)
_FLOW = N_(
    "a list or mapping in brackets is not closed as expected: check its commas and brackets, and put a text "
    "with a comma, colon or bracket in double quotes"
)
_TWO_DOCUMENTS = N_("a second document (after ---): a file holds one launch, so give each launch a file of its own")
_NO_COLON = N_("expected a colon after the field's name: write it as name: value")
_VALUE = re.compile(r"^\s*(?:-\s+)?[^\s#'\"\[{][^:#]*?:\s+(?P<value>\S.*)$")


def _closing_quote(value: str) -> int | None:
    """Where the quote ``value`` starts with ends, or None if not on this line."""
    quote, i = value[0], 1
    while i < len(value):
        if quote == '"' and value[i] == "\\":
            i += 2
            continue
        if value[i] == quote:
            if quote == "'" and value[i + 1 : i + 2] == "'":  # '' is one ' in single quotes
                i += 2
                continue
            return i
        i += 1
    return None


def _misquoted(lines: Sequence[str], first: int, last: int) -> tuple[int, str] | None:
    """(line, message) for the first of ``lines[first:last + 1]`` whose value starts a quote, list or
    mapping that ends before the line does, or is not closed on it."""
    for number in range(first, min(last, len(lines) - 1) + 1):
        found = _VALUE.match(lines[number])
        if found is None:
            continue
        value = found.group("value").rstrip()
        if value[0] in "[{":
            if value[-1] not in "]}":
                return number + 1, _BRACKETS
            continue
        if value[0] not in "'\"":
            continue
        end = _closing_quote(value)
        if end is None:
            return number + 1, _UNCLOSED
        rest = value[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            return number + 1, _APOSTROPHE if value[0] == "'" else _DOUBLE_QUOTE
    return None


def _yaml_mistake(exc: yaml.YAMLError, text: str) -> tuple[int, Text]:
    """The line of a YAML syntax error, and what to do about it."""
    mark, context_mark = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    problem, context = str(getattr(exc, "problem", None) or exc), str(getattr(exc, "context", None) or "")
    line = mark.line if mark is not None else 0
    lines = text.splitlines()
    written = lines[line] if line < len(lines) else ""
    if "found character '\\t'" in problem:
        return line + 1, Text(_TAB)
    if (char := re.match(r"found character '(.)' that cannot start any token", problem)) is not None:
        return line + 1, Text(_CANNOT_START, char=repr(char.group(1)))
    if context.startswith(("while scanning an alias", "while scanning an anchor")):
        return line + 1, Text(_ALIAS)
    if problem.startswith("found unknown escape character"):
        return line + 1, Text(_BACKSLASH)
    if context.startswith("while scanning a quoted scalar") and context_mark is not None:
        return context_mark.line + 1, Text(_UNCLOSED)
    start = context_mark.line if context_mark is not None and context_mark.line <= line else line
    if context.startswith(("while parsing a flow", "while scanning a flow")):
        if context_mark is not None and re.search(r"\s#", "\n".join(lines[context_mark.line : line + 1])):
            return context_mark.line + 1, Text(_FLOW_COMMENT)
        return start + 1, Text(_FLOW)
    if problem.startswith("but found another document"):
        return line + 1, Text(_TWO_DOCUMENTS)
    if problem.startswith("could not find expected ':'") and context_mark is not None:
        return context_mark.line + 1, Text(_NO_COLON)
    if problem == "mapping values are not allowed here" or problem.startswith("expected <block end>"):
        if (misquoted := _misquoted(lines, start, line)) is not None:
            return misquoted[0], Text(misquoted[1])
        if re.match(r"\s*-[^\s-]", written):
            return line + 1, Text(_DASH)
        if problem.startswith("expected <block end>"):
            return line + 1, Text(_NOT_LINED_UP)
        if mark is not None and re.match(r"\s*(?:-\s+)?[^\s#][^:]*:\s", written[: mark.column]):
            return line + 1, Text(_COLON)  # a second ": " on the line of a field
        return line + 1, Text(_INDENTED_FURTHER)  # read as the line above's text going on
    return line + 1, Text(_NOT_YAML, problem=problem)


class _Refused(Exception):
    """A file refused while it is read: anchors, aliases, nesting too deep, too many items or values."""

    def __init__(self, line: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.field = field


class _SafeComposer(_Loader):
    """``_Loader`` that refuses anchors and aliases (a hypothesis file never needs them, and
    nested aliases are how a few hundred bytes expand to gigabytes), nesting deeper than
    ``MAX_DEPTH``, a list longer than ``MAX_ITEMS`` and more than ``MAX_NODES`` nodes, while
    composing: before anything is expanded or recursed into, or the rest of the file read."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        # (key or position, line) of each node from the top down to the one being composed.
        self._path: list[tuple[str | int, int]] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(line, _NO_ANCHORS)
        # A tag makes values no field expects (!!binary gives bytes, which skip the text checks).
        if getattr(event, "tag", None) is not None:
            raise _Refused(line, _NO_TAGS)
        if getattr(event, "value", None) == "<<" and event.implicit[0]:  # a plain <<, as a key
            raise _Refused(line, _NO_MERGE)
        if self._depth >= MAX_DEPTH:
            raise _Refused(line, _TOO_DEEP)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(line, _TOO_MANY_NODES)
        if isinstance(index, int) and index >= MAX_ITEMS:  # an item of a list (PyYAML passes its place)
            where = tuple(step for step, _ in self._path)
            at = self._path[-1][1] if self._path else line  # the list's field, as other problems are told
            raise _Refused(
                at, _TOO_MANY_HYPOTHESES if where == ("hypotheses",) else _TOO_MANY_ITEMS, _field_name(where)
            )
        # A mapping's value is composed with its key node as ``index``, a list's item with its place.
        step = (index.value, index.start_mark.line + 1) if isinstance(index, yaml.ScalarNode) else (index, line)
        if index is not None:
            self._path.append(step)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if index is not None:
                self._path.pop()


def _walk(node: yaml.Node, path: str) -> tuple[dict[tuple[Any, ...], int], list[Problem]]:
    """The line of every field and item (a field's problem is reported on the line of its name),
    and the keys given twice in a mapping; iteratively, so no file can exhaust the stack."""
    index: dict[tuple[Any, ...], int] = {}
    problems: list[Problem] = []
    stack: list[tuple[yaml.Node, tuple[Any, ...]]] = [(node, ())]
    while stack:
        current, where = stack.pop()
        index.setdefault(where, current.start_mark.line + 1)
        if len(where) > MAX_DEPTH:
            problems.append(Problem(path, current.start_mark.line + 1, "", _TOO_DEEP))
            break
        if isinstance(current, yaml.MappingNode):
            first_line: dict[tuple[str, str], int] = {}
            for key_node, value_node in current.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue  # not a field name; construction refuses it
                key = key_node.value
                line = key_node.start_mark.line + 1
                if (key_node.tag, key) in first_line:
                    field_name = _field_name((*where, key))
                    message = Text(N_("key given twice (first on line {line})"), line=first_line[key_node.tag, key])
                    problems.append(Problem(path, line, field_name, message))
                    continue
                first_line[key_node.tag, key] = line
                index[(*where, key)] = line
                stack.append((value_node, (*where, key)))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, (*where, i)) for i, item in enumerate(current.value))
    return index, sorted(problems, key=lambda p: p.line)


# Fields of free text, by where they are: in the launch, and in each hypothesis.
_LAUNCH_TEXTS = ("name", "product_area")
_HYPOTHESIS_TEXTS = ("text", "area", "owner_team")
_CUT_BY_COMMENT = N_(
    "# after a space starts a YAML comment, so this reads {read}: put the whole text in double quotes "
    "(a comment may follow the closing quote)"
)


def _free_texts(node: yaml.Node) -> Iterable[tuple[tuple[Any, ...], yaml.Node]]:
    """(where, value) of every field of free text in a composed file, as written."""
    if not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        if key.value in _LAUNCH_TEXTS:
            yield (key.value,), value
        elif key.value == "hypotheses" and isinstance(value, yaml.SequenceNode):
            for i, item in enumerate(value.value):
                if isinstance(item, yaml.MappingNode):
                    for item_key, item_value in item.value:
                        if isinstance(item_key, yaml.ScalarNode) and item_key.value in _HYPOTHESIS_TEXTS:
                            yield ("hypotheses", i, item_key.value), item_value


def _cut_by_comments(node: yaml.Node, text: str, path: str) -> dict[tuple[Any, ...], Problem]:
    """Texts a comment cut short: in an unquoted value, `` #`` starts a comment, so `text: Fails with
    code #403` reads "Fails with code", and `name: Faktura #2` reads "Faktura". Refused, a comment meant as
    one too (`text: Login loops  # from the workshop`): which is which cannot be told from the file, and a
    text cut where the lead did not mean is one agents count against. An empty value followed by a comment
    (`area:  # none yet`) is one, unless the comment starts right after the `#`, as a text would."""
    found: dict[tuple[Any, ...], Problem] = {}
    for where, value in _free_texts(node):
        if not isinstance(value, yaml.ScalarNode) or value.style is not None:  # quoted, or a block: whole
            continue
        end = value.end_mark.index
        after = text[end : text.find("\n", end) if "\n" in text[end:] else len(text)]
        comment = re.match(r"[ \t]+#(\S?)", after)
        if comment is None or (not value.value and not comment.group(1)):
            continue
        read = " ".join(value.value.split())
        line = value.end_mark.line + 1
        found[where] = Problem(path, line, _field_name(where), Text(_CUT_BY_COMMENT, read=repr(read)))
    return found


def _line_for(loc: tuple[Any, ...], index: dict[tuple[Any, ...], int]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in index:
            return index[loc[:end]]
    return 1


def _field_name(loc: tuple[Any, ...]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


@dataclass
class ParsedFile:
    path: str
    launch: LaunchFile | None
    problems: list[Problem] = field(default_factory=list)


def too_large(size: int) -> Text:
    """What a file of ``size`` bytes, over ``MAX_FILE_BYTES``, is told; rounded up, so a file a byte over
    is not said to be as large as the most a file may be."""
    return Text(
        N_("the file is {size} KB; a hypothesis file may be at most {most} KB"),
        size=-(-size // 1024),
        most=MAX_FILE_BYTES // 1024,
    )


def too_many_lines(lines: int) -> Text:
    return Text(
        N_("the file has {lines} lines; a hypothesis file may have at most {most}"), lines=lines, most=MAX_LINES
    )


def _read_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The composed node tree and the data built from it, parsed once. Raises ``yaml.YAMLError``,
    ``_Refused``, or (from PyYAML's constructors) ``ValueError`` and kin for a value an explicit tag cannot hold."""
    loader = _SafeComposer(text)
    try:
        node = loader.get_single_node()
        return node, (None if node is None else loader.construct_document(node))
    finally:
        loader.dispose()


def parse_text(text: str, *, path: str = "<text>", now: dt.datetime | None = None) -> ParsedFile:
    """One file's launch, or its problems with line numbers. Never raises: whatever the text
    (hostile included), the answer is a ``ParsedFile``; the whole file is refused on any problem.
    ``now``: the moment it is imported, for its fix times (``fix_times_checked``)."""
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", errors="surrogatepass")) > MAX_FILE_BYTES:
        size = len(text.encode("utf-8", errors="surrogatepass"))
        return ParsedFile(path, None, [Problem(path, 1, "", too_large(size))])
    if (line_count := text.count("\n") + (not text.endswith("\n"))) > MAX_LINES:
        return ParsedFile(path, None, [Problem(path, MAX_LINES + 1, "", too_many_lines(line_count))])
    try:
        node, data = _read_yaml(text)
    except _Refused as exc:
        return ParsedFile(path, None, [Problem(path, exc.line, exc.field, exc.message)])
    except RecursionError:
        return ParsedFile(path, None, [Problem(path, 1, "", _TOO_DEEP)])
    except yaml.YAMLError as exc:
        line, message = _yaml_mistake(exc, text)
        return ParsedFile(path, None, [Problem(path, line, "", message)])
    except (ValueError, TypeError, AttributeError, LookupError, ArithmeticError) as exc:
        # PyYAML's constructors on a value its explicit tag cannot hold: `!!int x`, `!!timestamp`.
        return ParsedFile(path, None, [Problem(path, 1, "", Text(_NOT_YAML, problem=exc))])
    if not isinstance(data, dict) or node is None:
        return ParsedFile(
            path, None, [Problem(path, 1, "", Text(N_("expected a mapping with slug, name, starts_on, hypotheses…")))]
        )
    index, problems = _walk(node, path)
    if problems:
        return ParsedFile(path, None, _first_problems(problems))
    hypotheses = data.get("hypotheses")
    # Keys used twice, read from the file as written: told beside every other problem, not after them.
    keys = (
        [item.get("key") if isinstance(item, dict) else None for item in hypotheses or []]
        if isinstance(hypotheses, list)
        else []
    )
    problems = [
        Problem(path, index.get(("hypotheses", i, "key"), 1), f"hypotheses[{i}].key", message)
        for i, message in _duplicate_keys(keys)
    ]
    cut = _cut_by_comments(node, text, path)
    problems += cut.values()
    if "slack_channel" in data and data["slack_channel"] is None:
        line = index.get(("slack_channel",), 1)
        lines = text.splitlines()
        written = lines[line - 1] if line <= len(lines) else ""
        # The mistake hypotheses/README.md warns of: `#launch` read as a comment leaves the channel empty,
        # and an import would take the launch's channel away (the digests with it). "# a comment" is one.
        if written_channel := re.match(r"\s*slack_channel:\s*#(\S+)", written):
            problems.append(
                Problem(
                    path,
                    line,
                    "slack_channel",
                    Text(
                        N_('# starts a YAML comment, so this is empty: write "#{channel}"'),
                        channel=written_channel.group(1),
                    ),
                )
            )
    try:
        launch = LaunchFile.model_validate(data, context=fix_times_checked(now))
    except ValidationError as exc:
        problems += [
            Problem(path, _line_for(err["loc"], index), _field_name(err["loc"]), _message(err))
            for err in exc.errors()
            if err["loc"] not in cut  # `name: #2 launch`: told it is a comment, not also that it is empty
        ]
        return ParsedFile(path, None, _first_problems(sorted(problems, key=lambda problem: problem.line)))
    return ParsedFile(path, None if problems else launch, _first_problems(problems))


def _first_problems(problems: list[Problem]) -> list[Problem]:
    """``problems``, or the first ``MAX_PROBLEMS`` of them and a line saying how many more there are."""
    if len(problems) <= MAX_PROBLEMS + 1:  # never "1 more problems"
        return problems
    rest = problems[MAX_PROBLEMS:]
    more = Text(N_("…and {count} more problems from this line on: fix those above, then check again"), count=len(rest))
    return [*problems[:MAX_PROBLEMS], Problem(rest[0].path, rest[0].line, "", more)]


def _message(err: Any) -> Text:
    """A pydantic error as a lead is told it, in English and (on the pages) in their language."""
    if err["type"] == "extra_forbidden":
        return Text(N_("unknown field; see hypotheses/README.md for the fields a file may have"))
    if err["type"] == "too_long" and err.get("ctx", {}).get("field_type") == "List":
        return _TOO_MANY_ITEMS  # a list the editor's form sent; a file's is refused as it is read
    return i18n.validation_text(err)


def _duplicate_keys(keys: Sequence[object]) -> Iterable[tuple[int, Text]]:
    """(position, message) for each key of ``keys`` (hypotheses in order) used before; not strings: skipped."""
    first_seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        if not isinstance(key, str):
            continue
        if key in first_seen:
            yield (
                i,
                Text(
                    N_("key {key} is used twice (first by hypotheses[{first}])"), key=repr(key), first=first_seen[key]
                ),
            )
        else:
            first_seen[key] = i


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders become the YAML files directly inside them."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        else:
            found.append(path)
    return found


_NOT_UTF8 = N_("the file is not UTF-8 text (byte {byte} on this line cannot be read): save it as UTF-8 and try again")
_UTF16 = N_("the file is UTF-16 text, not UTF-8: save it as UTF-8 and try again")


def decode(raw: bytes, path: str) -> str:
    """A hypothesis file's text; ``InvalidFiles`` naming the line it stops being UTF-8 on, as the command
    line and the upload both say it (a file saved in Windows' code page or as "Unicode" is common)."""
    # Checked first: UTF-16 of plain ASCII decodes as UTF-8 full of NULs, and its BOM does not.
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InvalidFiles([Problem(path, 1, "", Text(_UTF16))])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InvalidFiles([Problem(path, line, "", Text(_NOT_UTF8, byte=f"0x{raw[exc.start]:02X}"))]) from None


def parse_files(paths: Iterable[str | Path], *, now: dt.datetime | None = None) -> list[ParsedFile]:
    parsed: list[ParsedFile] = []
    slugs: dict[str, str] = {}
    for path in expand_paths(paths):
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:  # refused unread
                parsed.append(ParsedFile(str(path), None, [Problem(str(path), 1, "", too_large(size))]))
                continue
            with path.open("rb") as file:
                text = decode(file.read(MAX_FILE_BYTES + 1), str(path))
        except OSError as exc:
            parsed.append(ParsedFile(str(path), None, [Problem(str(path), 1, "", f"cannot read: {exc}")]))
            continue
        except InvalidFiles as exc:
            parsed.append(ParsedFile(str(path), None, exc.problems))
            continue
        result = parse_text(text, path=str(path), now=now)
        if result.launch is not None:
            other = slugs.setdefault(result.launch.slug, str(path))
            if other != str(path):
                result.problems.append(
                    Problem(str(path), 1, "slug", f"{result.launch.slug!r} is also defined in {other}")
                )
                result.launch = None
        parsed.append(result)
    return parsed


def validate_files(paths: Sequence[str | Path], *, now: dt.datetime | None = None) -> list[LaunchFile]:
    """Every launch in ``paths``, or ``InvalidFiles`` listing every problem in every file; ``now``: the
    moment they are checked or imported, for their fix times."""
    parsed = parse_files(paths, now=now)
    problems = [p for f in parsed for p in f.problems]
    if not parsed:
        raise InvalidFiles([Problem(str(paths[0]) if paths else ".", 1, "", "no .yaml files found")])
    if problems:
        raise InvalidFiles(problems)
    return [f.launch for f in parsed if f.launch is not None]


# --- import -----------------------------------------------------------------------


@dataclass
class LaunchChanges:
    slug: str
    created: bool = False
    launch_fields: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    revised: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    # Retired by the status the file gives them (not by leaving them out): agents no longer see them
    # either, so the report warns of them as of the others, whatever else changed with them.
    set_retired: list[str] = field(default_factory=list)
    # For each key in ``updated``, which of its fields (column names, the text apart) changed.
    updated_fields: dict[str, list[str]] = field(default_factory=dict)
    # When the change moves the launch's window (its dates or time zone): how many of its enquiries
    # happened outside the new one, and so count nowhere (kept; counted again if the window comes back).
    outside: int = 0

    @property
    def changed(self) -> bool:
        return bool(
            self.created
            or self.launch_fields
            or self.added
            or self.revised
            or self.updated
            or self.retired
            or self.set_retired
        )

    def summary(self) -> str:
        if not self.changed:
            return f"{self.slug}: unchanged"
        parts = ["created" if self.created else ""]
        if self.launch_fields:
            parts.append(f"launch fields changed: {', '.join(self.launch_fields)}")
        updated = [f"{key} ({', '.join(self.updated_fields.get(key, ()))})" for key in self.updated]
        for label, keys in (
            ("added", self.added),
            ("new text", self.revised),
            ("updated", updated),
            ("retired", self.retired),
            ("retired by its status", self.set_retired),
        ):
            if keys:
                parts.append(f"{label}: {', '.join(keys)}")
        return f"{self.slug}: " + "; ".join(p for p in parts if p)


# Launch columns set by one rule of the file's alerts block; every other column has the field's name.
_ALERT_RULES = {"alert_min_count": "min_count", "alert_factor": "factor"}


def _given(spec: LaunchFile, column: str) -> bool:
    """Whether the file writes out the field a launch column comes from (each alert rule on its own)."""
    if column in _ALERT_RULES:
        return spec.alerts is not None and _ALERT_RULES[column] in spec.alerts.model_fields_set
    return column in spec.model_fields_set


def _launch_values(
    spec: LaunchFile, *, default_timezone: str, default_digest_times: Sequence[dt.time]
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": spec.name,
        "product_area": spec.product_area,
        "starts_on": spec.starts_on,
        "ends_on": spec.ends_on or spec.starts_on + DEFAULT_LENGTH,
        "timezone": spec.timezone or default_timezone,
        "digest_times": spec.digest_times or [t.strftime("%H:%M") for t in default_digest_times],
        "slack_channel": spec.slack_channel,
        "channels": list(spec.channels),
        "segments": list(spec.segments),
        "alert_min_count": (spec.alerts or AlertRules()).min_count,
        "alert_factor": (spec.alerts or AlertRules()).factor,
    }
    if spec.status is not None:
        values["status"] = spec.status
    return values


def _record_status(
    session: Session,
    hypothesis: Hypothesis,
    before: HypothesisStatus | None,
    to: HypothesisStatus,
    *,
    actor: str,
    now: dt.datetime,
    reason: str | None = None,
) -> None:
    """Keep a status change (``before`` None: the hypothesis was just added) for its history."""
    session.add(
        HypothesisStatusChange(
            hypothesis_id=id_of(hypothesis),
            from_status=before,
            to_status=to,
            changed_by=actor[:100],
            changed_at=now,
            reason=reason,
        )
    )


NOT_IN_FILE = "not_in_file"


# Statuses that say no fix has shipped: a hypothesis set back to one of them forgets its fix's time.
NO_FIX_YET = frozenset({HypothesisStatus.OPEN, HypothesisStatus.CONFIRMED, HypothesisStatus.NOT_SEEN})


def _status_before_dropped(session: Session, hypothesis: Hypothesis) -> HypothesisStatus | None:
    """The status it had when an import retired it because its file no longer listed it (not a person,
    in the app); None when it was not retired so."""
    last = session.exec(
        select(HypothesisStatusChange)
        .where(HypothesisStatusChange.hypothesis_id == hypothesis.id)
        .order_by(col(HypothesisStatusChange.changed_at).desc(), col(HypothesisStatusChange.id).desc())
        .limit(1)
    ).first()
    if last is None or last.reason != NOT_IN_FILE:
        return None
    return HypothesisStatus(last.from_status) if last.from_status else HypothesisStatus.OPEN


def _fix_time(
    item: HypothesisSpec, status: HypothesisStatus | None, hypothesis: Hypothesis | None, now: dt.datetime
) -> dt.datetime | None:
    """When the fix shipped: as given; else now, when the status becomes fix_shipped without one."""
    if item.fix_shipped_at is not None:
        return item.fix_shipped_at.astimezone(dt.UTC)
    # A time kept with a status that says no fix shipped (an earlier version let one stay) is no fix's.
    already = hypothesis.fix_shipped_at if hypothesis is not None and hypothesis.status not in NO_FIX_YET else None
    if status == HypothesisStatus.FIX_SHIPPED and already is None:
        return now
    return None


def _check_fix_time(spec: LaunchFile, order: int, status: HypothesisStatus) -> None:
    """``Invalid`` for a fix time given to a hypothesis whose status (the stored one, the file leaving it
    out; ``HypothesisSpec`` refuses one written out) says no fix shipped."""
    item = spec.hypotheses[order]
    if item.fix_shipped_at is None or status not in NO_FIX_YET:
        return
    # Named as in the file, with its key: a field's label alone would not say which hypothesis.
    name = f"hypotheses[{order}].fix_shipped_at"
    named = f"{name} ({item.key})"
    raise Invalid(
        f"{spec.slug}: {named}: {Text(_FIX_WITHOUT_STATUS)}", field=name, details=[(named, Text(_FIX_WITHOUT_STATUS))]
    )


def _in_their_order(written: Sequence[str], stored: Sequence[str]) -> set[str]:
    """The most of the keys ``written`` (a file's, in its order) that the launch has (``stored``, in its
    order) which stay in the order they were: the others are the ones the file moved. A longest
    increasing run of their stored places (patience sorting)."""
    place = {key: i for i, key in enumerate(stored)}
    keys = [key for key in written if key in place]
    tails: list[int] = []  # tails[n]: the index in ``keys`` ending the best run of n + 1 found so far
    tail_places: list[int] = []  # their stored places, which rise: searched by bisection
    before: list[int | None] = []
    for i, key in enumerate(keys):
        n = bisect.bisect_left(tail_places, place[key])
        before.append(tails[n - 1] if n else None)
        if n == len(tails):
            tails.append(i)
            tail_places.append(place[key])
        else:
            tails[n] = i
            tail_places[n] = place[key]
    kept: set[str] = set()
    at = tails[-1] if tails else None
    while at is not None:
        kept.add(keys[at])
        at = before[at]
    return kept


def import_launch(
    session: Session,
    spec: LaunchFile,
    *,
    actor: str,
    now: dt.datetime,
    default_timezone: str,
    default_digest_times: Sequence[dt.time],
) -> LaunchChanges:
    """Bring one launch in line with its file. Flushes; the caller commits."""
    changes = LaunchChanges(spec.slug)
    values = _launch_values(spec, default_timezone=default_timezone, default_digest_times=default_digest_times)
    launch = session.exec(select(Launch).where(Launch.slug == spec.slug)).first()
    stored: list[Hypothesis] = []  # the launch's hypotheses, in their order; none for a new launch
    if launch is not None:
        lock(session, launch)  # another edit of it in flight finishes first (launches.lock)
        stored = hypotheses_of(session, launch)
        written = {item.key for item in spec.hypotheses}
        kept = [h for h in stored if h.key not in written]
        if len(written) + len(kept) > MAX_HYPOTHESES:
            # Those left out are retired and stay: a file of 500 with a key renamed made a launch of 501,
            # whose export no import took back and whose every edit in the editor was refused.
            full = Text(_LAUNCH_FULL, most=MAX_HYPOTHESES, count=len(written) + len(kept))
            raise Invalid(f"{spec.slug}: {full}", field="hypotheses", details=[("hypotheses", full)])
    if launch is None:
        launch = Launch(slug=spec.slug, created_at=now, updated_at=now, **values)
        if launch.status == LaunchStatus.LIVE:
            launch.digests_due_from = launch.live_since = now
        session.add(launch)
        session.flush()
        changes.created = True
        audit.record(session, actor=actor, action="launch.created", target_type="launch", target_id=launch.id, now=now)
    else:
        slots_before = schedule.recent_slots(launch, now)
        # A field the file leaves out keeps what the launch has (set in the editor, say); one written
        # out, even empty, is the file's.
        values = {name: value for name, value in values.items() if _given(spec, name)}
        if "ends_on" not in values and values.get("starts_on", launch.starts_on) != launch.starts_on:
            # Moved without a last day in the file: as long as before, not ending before it starts.
            values["ends_on"] = values["starts_on"] + (launch.ends_on - launch.starts_on)
        for name, value in values.items():
            if getattr(launch, name) != value:
                changes.launch_fields.append(name)
                setattr(launch, name, value)
        if changes.launch_fields:
            launch.updated_at = now
            launch.version += 1
            if "status" in changes.launch_fields and launch.status == LaunchStatus.LIVE:
                launch.digests_due_from = launch.live_since = now
            # Slots the edit put in the past (a time moved earlier, another time zone, an earlier start)
            # were not in the schedule when their time came: no digest late over a window already
            # posted, nor a "missed" one. Only those: a slot due before and after the edit, not yet
            # sent (the scheduler was down), is still due.
            new_in_the_past = sorted(set(schedule.recent_slots(launch, now)) - set(slots_before))
            if new_in_the_past[-1:] == [schedule.closing_slot(launch)] and not digests.reported_past(session, launch):
                # The last day moved into the past: its evening is in no digest yet, and no later one
                # will cover it. The closing digest goes out late (as after an outage), not skipped.
                new_in_the_past.pop()
            if new_in_the_past:
                after_them = new_in_the_past[-1] + dt.timedelta(microseconds=1)
                launch.digests_due_from = max(launch.digests_due_from or after_them, after_them)
            if {"starts_on", "ends_on", "timezone"} & set(changes.launch_fields):
                # Enquiries never move in time: said before an import is applied (the confirm page, the
                # command's output), not only in the editor afterwards.
                changes.outside = enquiries_outside(session, launch)
            if {"starts_on", "ends_on"} & set(changes.launch_fields):
                # The counts kept for the launch so far (launch_tally, and every process's memory of
                # them) run from its first day to its last: they are counted again, in every replica.
                # Its days and slots are still what they were, and carried over.
                session.flush()
                launch.counts_version = Store.of(session.connection()).bump_counts_version(id_of(launch), ())
            audit.record(
                session,
                actor=actor,
                action="launch.updated",
                target_type="launch",
                target_id=launch.id,
                now=now,
                fields=changes.launch_fields,
            )

    existing = {h.key: h for h in stored}
    in_place = _in_their_order([item.key for item in spec.hypotheses], list(existing))
    for order, item in enumerate(spec.hypotheses):
        hypothesis = existing.pop(item.key, None)
        if hypothesis is None:
            _check_fix_time(spec, order, item.status or HypothesisStatus.OPEN)
            hypothesis = Hypothesis(
                launch_id=id_of(launch),
                key=item.key,
                text=item.text,
                area=item.area,
                owner_team=item.owner_team,
                expected_per_day=item.expected_per_day,
                status=item.status or HypothesisStatus.OPEN,
                sort_order=order,
                created_at=now,
                updated_at=now,
                fix_shipped_at=_fix_time(item, item.status, None, now),
                fix_url=item.fix_url,
            )
            session.add(hypothesis)
            session.flush()
            _record_status(session, hypothesis, None, hypothesis.status, actor=actor, now=now)
            changes.added.append(item.key)
            continue
        if hypothesis.text != item.text:
            session.add(
                HypothesisRevision(
                    hypothesis_id=id_of(hypothesis), old_text=hypothesis.text, changed_by=actor[:100], changed_at=now
                )
            )
            hypothesis.text = item.text
            changes.revised.append(item.key)
        status = item.status
        if status is None and hypothesis.status == HypothesisStatus.RETIRED:
            # Back in the file, so back in use as it was before the file left it out (a fix shipped
            # stays shipped; a bad merge dropping a row for one import does not reset it); one
            # retired by a person, in the app, stays so.
            status = _status_before_dropped(session, hypothesis)
        fields: dict[str, Any] = {  # as for the launch: a field left out keeps what is stored
            name: getattr(item, name)
            for name in ("area", "owner_team", "expected_per_day")
            if name in item.model_fields_set
        }
        if item.key in in_place:
            # Moved only by a row added, or left out, before it: its place among the others is the same.
            # Reported (and its version raised), retiring the first of 500 listed 499 as updated.
            hypothesis.sort_order = order
        else:
            fields["sort_order"] = order
        if status is not None:
            fields["status"] = status
        no_fix_yet = (status or hypothesis.status) in NO_FIX_YET
        _check_fix_time(spec, order, status or hypothesis.status)
        fix_shipped_at = _fix_time(item, status, hypothesis, now)
        if no_fix_yet and hypothesis.fix_shipped_at is not None:
            # Back to before a fix (marked shipped by mistake, taken back, retired after its fix and
            # brought back as open), or a time an earlier version kept with such a status: the pages
            # and the digest would go on comparing before and after a fix not there.
            fields["fix_shipped_at"] = None
        elif fix_shipped_at is not None:
            fields["fix_shipped_at"] = fix_shipped_at
        if item.fix_url is not None:
            fields["fix_url"] = item.fix_url or None
        changed = [name for name, value in fields.items() if getattr(hypothesis, name) != value]
        if "status" in changed:
            _record_status(session, hypothesis, hypothesis.status, fields["status"], actor=actor, now=now)
            if fields["status"] == HypothesisStatus.RETIRED:
                changes.set_retired.append(item.key)
        for name in changed:
            setattr(hypothesis, name, fields[name])
        if changed:
            # Listed under its new text only, a status, owner or fix changed with it went unseen.
            changes.updated.append(item.key)
            changes.updated_fields[item.key] = changed
        if changed or item.key in changes.revised:
            hypothesis.updated_at = now
            hypothesis.version += 1
    for place, (key, hypothesis) in enumerate(existing.items(), start=len(spec.hypotheses)):
        # After the file's rows, in the order they had: left where they were, they tied with the file's
        # rows, an export listed them among those, and importing it (or the same file again) moved rows
        # the file had not moved. The file says nothing of their order, so this is not reported.
        hypothesis.sort_order = place
        if hypothesis.status != HypothesisStatus.RETIRED:
            _record_status(
                session,
                hypothesis,
                hypothesis.status,
                HypothesisStatus.RETIRED,
                actor=actor,
                now=now,
                reason=NOT_IN_FILE,
            )
            hypothesis.status = HypothesisStatus.RETIRED
            hypothesis.updated_at = now
            hypothesis.version += 1
            changes.retired.append(key)
    if changes.added or changes.revised or changes.updated or changes.retired:
        audit.record(
            session,
            actor=actor,
            action="hypotheses.imported",
            target_type="launch",
            target_id=launch.id,
            now=now,
            added=changes.added,
            revised=changes.revised,
            updated=changes.updated,
            retired=changes.retired,
            set_retired=changes.set_retired,
        )
    session.flush()
    return changes


# --- export -----------------------------------------------------------------------


def launch_to_file(launch: Launch, hypotheses: Sequence[Hypothesis]) -> LaunchFile:
    # Not validated again as a whole: the launch was valid when stored, and a rule added since (at most
    # 366 days) must not make it unreadable; an edit of it is checked (revalidate), and says what to fix.
    return LaunchFile.model_construct(
        slug=launch.slug,
        name=launch.name,
        product_area=launch.product_area,
        starts_on=launch.starts_on,
        ends_on=launch.ends_on,
        timezone=launch.timezone,
        digest_times=list(launch.digest_times),
        slack_channel=launch.slack_channel,
        channels=list(launch.channels),
        segments=list(launch.segments),
        status=launch.status,
        alerts=AlertRules(min_count=launch.alert_min_count, factor=launch.alert_factor),
        hypotheses=[
            HypothesisSpec(
                key=h.key,
                text=h.text,
                area=h.area,
                owner_team=h.owner_team,
                expected_per_day=h.expected_per_day,
                status=h.status,
                # A time kept with a status that says no fix shipped (as an earlier version allowed) is
                # not a fix: left out, as the next save of the launch clears it.
                fix_shipped_at=None if h.status in NO_FIX_YET else h.fix_shipped_at,
                # A link stored before links had to be web addresses ("www.example.com/notes") is left
                # where it is, not read into the set, or no edit of the launch would validate.
                fix_url=h.fix_url if h.fix_url and is_web_address(h.fix_url) else None,
            )
            for h in hypotheses
        ],
    )


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # The items of a list indented under its field (`  - key: …`), as hypotheses/README.md, the guides
        # and the example write them, and as yamllint wants by default: at the field's own indent, an
        # export over a hand-written file changed every line of its hypotheses, a diff hiding the change.
        super().increase_indent(flow, indentless=False)

    def choose_scalar_style(self) -> str:
        # Quoted in double quotes, as the docs write a value that needs quotes (`"#launch-payapp-5"`).
        style: str = super().choose_scalar_style()
        return '"' if style == "'" else style


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Quote anything YAML 1.1 readers (PyYAML, many editors) would take for another type.
    style = None
    if re.fullmatch(r"\d{1,2}:\d{2}|yes|no|on|off|y|n|~|null|true|false", value, flags=re.IGNORECASE):
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    # Short lists of words read best on one line: channels: [phone, chat, email].
    flow = all(isinstance(v, str | int) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


def _represent_moment(dumper: yaml.SafeDumper, value: dt.datetime) -> yaml.Node:
    # Unquoted and with its T, as hypotheses/README.md writes a fix time (PyYAML's own has a space).
    return dumper.represent_scalar("tag:yaml.org,2002:timestamp", value.isoformat())


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(dt.datetime, _represent_moment)


def dump_yaml(spec: LaunchFile) -> str:
    """Every field written out, empty ones too (``slack_channel: null``, ``area: ""``): a field left out
    of a file keeps what is stored, so an export imported back must say what was empty to undo edits
    made since. Only a fix's time and link are left out when there is none, as leaving them out keeps
    them and an empty link would clear one."""
    data = spec.model_dump(mode="json")
    data["starts_on"] = spec.starts_on
    if spec.ends_on is not None:
        data["ends_on"] = spec.ends_on
    alerts = data.get("alerts")
    if alerts and float(alerts["factor"]).is_integer():
        alerts["factor"] = int(alerts["factor"])  # `factor: 3`, as the README writes it, not 3.0
    zone = ZoneInfo(spec.timezone) if spec.timezone else None
    for item, hypothesis in zip(data["hypotheses"], spec.hypotheses, strict=True):
        for name in ("fix_shipped_at", "fix_url"):
            if item.get(name) is None:
                del item[name]
        if hypothesis.fix_shipped_at is not None:
            # In the launch's time, as a lead writes it (`2026-11-20T14:30:00+01:00`) and the editor shows
            # it: in UTC, an export of a hand-written file changed its line, and read an hour off.
            moment = hypothesis.fix_shipped_at
            item["fix_shipped_at"] = moment.astimezone(zone) if zone is not None else moment
    # Each value on its own line, however long: wrapped at a width, a hand-written text of one line came
    # back from an export as two, and a word changed in a long text moved every line after it, a diff in
    # review of lines nobody changed.
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=math.inf)


def export_launch(session: Session, launch: Launch) -> str:
    header = f"# Launch Tally hypothesis set, exported {launch.slug}. Schema: hypotheses/README.md\n"
    return header + dump_yaml(launch_to_file(launch, hypotheses_of(session, launch)))


def json_schema() -> dict[str, Any]:
    return LaunchFile.model_json_schema()


# --- the web editor: edits are changes to the set, applied like an import ----------


def current_spec(session: Session, launch: Launch) -> LaunchFile:
    return launch_to_file(launch, hypotheses_of(session, launch))


_LAUNCH_FULL = N_("A launch may have at most {most} hypotheses, retired ones included, and this would make {count}.")


def revalidate(data: dict[str, Any], *, context: dict[str, Any] | None = None) -> LaunchFile:
    """A set from edited data, or ``Invalid`` naming the first field at fault and listing every problem
    (``Conflict`` ``duplicate_key`` for a key the set has already). ``context``: ``fix_times_checked``."""
    try:
        spec = LaunchFile.model_validate(data, context=context)
    except ValidationError as exc:
        if any(e["type"] == "too_long" and e["loc"] == ("hypotheses",) for e in exc.errors()):
            # An add to a full set (the editor's, "New hypothesis from these", the API's): not a field to fix.
            raise Invalid(Text(_LAUNCH_FULL, most=MAX_HYPOTHESES, count=len(data["hypotheses"]))) from None
        problems = [(_field_name(e["loc"]), _message(e)) for e in exc.errors()]
        raise Invalid(
            "; ".join(f"{name}: {message}" if name else message for name, message in problems),
            field=problems[0][0] or None,
            details=problems,
        ) from None
    duplicates = list(_duplicate_keys([h.key for h in spec.hypotheses]))
    if duplicates:
        # An edit adds one key at a time: told as the lead sees it, not by positions in the list; a
        # conflict with the set as stored (409), as the API's create and "New hypothesis" answer it.
        key = spec.hypotheses[duplicates[0][0]].key
        raise Conflict(
            f"The launch already has a hypothesis with key {key!r} (perhaps retired): choose another key.",
            field="key",
            code="duplicate_key",
        )
    return spec


def update_hypothesis(
    session: Session,
    launch: Launch,
    key: str,
    changes: dict[str, Any],
    *,
    expected_version: int | None,
    actor: str,
    now: dt.datetime,
    default_timezone: str,
    default_digest_times: Sequence[dt.time],
) -> Hypothesis:
    """Change one hypothesis's fields (as the editor or the API asks), through the same rules as
    an import. ``expected_version``: the version the change was made from; a stale one is refused
    with ``StaleVersion`` (409), carrying the current values, so nothing is silently overwritten."""
    lock(session, launch)  # the version checked below is the one the last edit saved
    current = {h.key: h for h in hypotheses_of(session, launch)}.get(key)
    if current is None:
        raise NotFound(f"Launch {launch.slug!r} has no hypothesis {key!r}.", code="unknown_hypothesis")
    if expected_version is not None and expected_version > current.version:
        # Not someone else's change: a version no one has saved (made up, or another hypothesis's).
        raise Invalid(
            f"Hypothesis {key!r} has never been at version {expected_version}: it is at version {current.version}. "
            "Send the version you read it at (GET /api/v1/launches gives each hypothesis's).",
            field="version",
        )
    if expected_version is not None and expected_version != current.version:
        raise StaleVersion(
            f"Hypothesis {key!r} was changed by someone else since version {expected_version}: it is at version "
            f"{current.version} now. Nothing was saved; apply your change to the current values and send it again.",
            current=current,
        )
    data = current_spec(session, launch).model_dump()
    for item in data["hypotheses"]:
        if item["key"] == key:
            item.update(changes)
            if "fix_shipped_at" not in changes and item["status"] in NO_FIX_YET:
                item["fix_shipped_at"] = None  # set back to before a fix: its time goes with it
    # The fix time this edit gives, against the clock; another hypothesis's, left as it is, is not its business.
    spec = revalidate(data, context=fix_times_checked(now, [key] if "fix_shipped_at" in changes else []))
    import_launch(
        session,
        spec,
        actor=actor,
        now=now,
        default_timezone=default_timezone,
        default_digest_times=default_digest_times,
    )
    session.refresh(current)
    return current


class StaleVersion(Conflict):
    """A save made from an older copy: refused, with what is there now."""

    def __init__(self, message: str, *, current: Any) -> None:
        super().__init__(message, code="stale_version")
        self.current = current
