"""Themes in "other": what the agents' notes talk about that nobody put on the list.

**Phrases.** A note is cut into words (a hyphen parts one, as in the note search); scrub markers
(``[phone]``, ``[email]``…, app/privacy) and punctuation end a phrase; stop words (Norwegian bokmål
from the stop-words package, English and Swedish from Snowball's lists) and
pure numbers are left out but may sit inside a phrase (at most ``ThemeRules.max_gap`` of them in a
row), so "widgeten på hjemskjermen" is one phrase of two words. Each word is stemmed with Snowball's
Norwegian stemmer, and stemmed again until it stops changing (at most three times): Norwegian Snowball
takes "widgeten" to "widget" but "widget" to "widg", and only the fixed point puts the two together. In
a note with more English than Norwegian stop words (those of both languages, and "to", "under" and
"all", count for both) a word is stemmed as English first ("widgets" to
"widget", then to "widg"), so the same word makes one theme whichever language its notes are in; in one
with more Swedish stop words than either, as Swedish first ("kraschar", "kraschade": "krasch"). A phrase's *key* is its
stems; words, and two- and three-word phrases, are counted. Its *display* form is the text agents
wrote most often for it.

**Rising.** The notes of a recent period are compared with those of the launch before it. Each
phrase is counted once per note that has it (document frequency), and scored with Dunning's
log-likelihood G² on the 2×2 table (notes with / without the phrase, recent / before): the larger,
the less likely the difference is chance (G² ≥ 10.83 is p < 0.001). A theme must be more common
recently than before (as a share of the notes), in at least ``min_recent`` recent notes, and score
at least ``min_score``. A word or two-word phrase inside a longer theme that covers at least
``cover`` (80 %) of its recent notes is left out: the longer phrase says it better. So is a theme
whose recent notes are nearly those of a theme ranked above it, ``cover`` of the larger set of the
two ("QR scanner" and "crashes" in the same twelve notes): the same notes told twice would be counted
twice in a digest and alerted twice. (A word in most notes, and a theme within some of them, differ.)

**Cheap to ask often.** Everything here is a function of the notes and ``now`` (never the clock).
Each note's phrases are worked out once per text (a bounded in-process cache, and stems are
memoised); the phrase counts of a closed local day are kept in the process's memo, keyed by the
launch's ``counts_version`` exactly like the tallies' closed days (app/tallies/cache.py), so a
backfill, a re-link or notes erased by retention (app/retention.py) makes them stale in every
process; then the days whose noted "other" enquiries are still the same (a digest of their ids) are
taken over, and only the changed days counted again. Only the recent period, and the open or partial
days of the period before it, are read note by note. Figures: bench/themes.py.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import math
import re
import sys
import threading
import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlencode

import snowballstemmer  # type: ignore[import-untyped]
import sqlalchemy as sa
import stop_words  # type: ignore[import-untyped]
from sqlmodel import Session, col, select

from app import launches, ranges
from app.models import DELIVERED, DigestRun, Enquiry, Launch, id_of
from app.tallies import UNSPECIFIED_SEGMENT, Filter, is_closed

# --- the rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThemeRules:
    """When a phrase counts as a rising theme (docs/guide-product-teams.md, "What nobody expected")."""

    min_recent: int = 3  # notes in the recent period that have it
    min_score: float = 10.83  # G²: 3.84 is p < 0.05, 6.63 p < 0.01, 10.83 p < 0.001
    max_words: int = 3  # words in a phrase (stop words and numbers inside it not counted)
    max_gap: int = 2  # stop words or numbers a phrase may span between two of its words
    cover: float = 0.8  # a shorter phrase inside a longer theme with this share of its notes is left out
    max_themes: int = 20
    samples: int = 3  # notes shown for each theme, newest first
    recent: dt.timedelta = dt.timedelta(hours=24)  # the default recent period is at least this long


DEFAULT_RULES = ThemeRules()

# --- words ----------------------------------------------------------------------------------

# English: Snowball's stop list (snowball.tartarus.org, BSD), function words only. The stop-words
# package's English list is a search engine's (1,333 words) and holds words Norwegian notes use as
# content ("side", "sent", "ring", "test", "problem", "system", "fire") and words that name things in a
# product ("interest", "click", "save", "help", "fix"): they vanished from phrases, and a Norwegian
# note with them was read (and stemmed) as English.
_SNOWBALL_ENGLISH = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her
    hers herself it its itself they them their theirs themselves what which who whom this that these those
    am is are was were be been being have has had having do does did doing would should could ought i'm
    you're he's she's it's we're they're i've you've we've they've i'd you'd he'd she'd we'd they'd i'll
    you'll he'll she'll we'll they'll isn't aren't wasn't weren't hasn't haven't hadn't doesn't don't
    didn't won't wouldn't shan't shouldn't can't cannot couldn't mustn't let's that's who's what's here's
    there's when's where's why's how's a an the and but if or because as until while of at by for with
    about against between into through during before after above below to from up down in out on off
    over under again further then once here there when where why how all any both each few more most
    other some such no nor not only own same so than too very"""
ENGLISH_STOP = frozenset(_SNOWBALL_ENGLISH.split())
NORWEGIAN_STOP = frozenset(w.casefold() for w in stop_words.get_stop_words("norwegian"))
# English small words that Norwegian notes use as often, which its list lacks: "to" (two: "vises to
# ganger", "To kvitteringer mangler"), "under" and "all". Voting English alone, they made such a note
# English, stemmed to "kvitt" where the same note without them had "kvittering": one theme split in
# two. They vote for both languages (and a tie is Norwegian), as "i", "at" and "for" do. An English
# note with no other small word ("Failed to load") is then stemmed as Norwegian (failed, not fail): the
# lesser harm, as the English stemmer cuts Norwegian words down to others' stems (kvittering: kvitt).
NORWEGIAN_TOO = frozenset({"to", "under", "all"})
# Swedish: Snowball's stop list (function words). The centre is Nordic: without it "inte", "jag", "när"
# and "att" were content words, so the only theme rising in a day of Swedish notes was "inte", grouping
# notes about logins, receipts and cards, while "kraschar" and "kraschade" were two words.
_SNOWBALL_SWEDISH = """
    och det att i en jag hon som han på den med var sig för så till är men ett om hade de av icke mig du
    henne då sin nu har inte hans honom skulle hennes där min man ej vid kunde något från ut när efter upp
    vi dem vara vad över än dig kan sina här ha mot alla under någon eller allt mycket sedan ju denna själv
    detta åt utan varit hur ingen mitt ni bli blev oss din dessa några deras blir mina samma vilken er
    sådan vår blivit dess inom mellan sådant varför varje vilka ditt vem vilket sitta sådana vart dina vars
    vårt våra ert era vilkas"""
SWEDISH_STOP = frozenset(_SNOWBALL_SWEDISH.split())
STOP = ENGLISH_STOP | NORWEGIAN_STOP | SWEDISH_STOP

# A word (letters and digits, with inner '), or what ends a phrase: punctuation, or a scrub marker
# such as [phone] (masked first, so its word is never read). A hyphen inside a word parts it, as the
# note search does (``searchable``): "QR-skanneren" and "QR skanneren" are one theme, and the words
# of "BankID-innlogging" are found by a search for "bankid innlogging". Except after one letter: parted,
# "e-post" and "e-faktura" were one theme called "e" (and an alert).
_MARKER = re.compile(r"\[[a-z][a-z-]*\]")
_WORD = re.compile(r"(?<![^\W_])(?:[^\W_]-(?=[^\W_]))?[^\W_]+(?:['’][^\W_]+)*")
# A free-standing hyphen is a dash too: the note scrubber folds – and — into "-".
_BREAK = re.compile(r"[.,;:!?()\[\]{}\"“”«»/|–—…]+|(?<!\S)-+(?!\S)")
_PIECE = re.compile(rf"(?P<word>{_WORD.pattern})|(?P<stop>{_BREAK.pattern})")
_JOINERS = str.maketrans("", "", "'’-")
STEM_ROUNDS = 3
SURFACE_SAMPLE = 100  # notes read for a theme's usual wording


class _Stemmers(threading.local):
    """Snowball stemmer objects keep state while they work: one per thread."""

    def __init__(self) -> None:
        self.by_language = {lang: snowballstemmer.stemmer(lang) for lang in ("norwegian", "english", "swedish")}


_stemmers = _Stemmers()


@functools.lru_cache(maxsize=200_000)
def stem(word: str, language: str = "norwegian") -> str:
    """What a word of a note in ``language`` is counted under: its Norwegian stem. A word of an English
    note is stemmed as English first (crashes, crashed: crash), then as Norwegian, so it meets the same
    word in Norwegian notes ("the widgets": widget, then widg, as "widgeten" is)."""
    if language in ("english", "swedish"):
        # Past the first Norwegian round only while four letters are left: the second round is for a
        # Norwegian form in an English note (widgeten, widget, widg), and shorter stems are where
        # English words meet unrelated ones ("appear": appe, then app). A Swedish note the same way
        # (kraschar, kraschade: krasch; widgeten: widget, then widg, as in a Norwegian note).
        return _norwegian(_snowball(word, language), keep=4)
    return _norwegian(word)


def _snowball(word: str, language: str, keep: int = 0) -> str:
    """The Snowball stem, stemmed again until it stops changing (at most ``STEM_ROUNDS`` times; a round
    after the first only while it leaves ``keep`` letters or more)."""
    stemmer = _stemmers.by_language[language]
    for round_ in range(STEM_ROUNDS):
        shorter: str = stemmer.stemWord(word)
        if shorter == word or (round_ and len(shorter) < keep):
            break
        word = shorter
    return word


def _norwegian(word: str, keep: int = 0) -> str:
    word = _snowball(word, "norwegian", keep)
    # The e that drops out before an ending (varsel, varsler; nøkkel, nøkler; regel, regler): Snowball
    # keeps it in one form and not the other, so the same word made two themes. Dropped in both,
    # with the consonant doubled before it (nøkkel) made single, as in the plural.
    dropped = _SYNCOPE.sub(r"\1\2", word)
    if dropped != word:
        word = _DOUBLED_BEFORE_LAST.sub(r"\1\2", dropped)
    return word


_SYNCOPE = re.compile(r"(?<=..)([bcdfghjklmnpqrstvwxz])e([lnr])$")
_DOUBLED_BEFORE_LAST = re.compile(r"([bcdfghjklmnpqrstvwxz])\1([lnr])$")


def fold(text: str) -> str:
    """For searching: case and accents ignored (é is e; æ, ø and å stay letters of their own)."""
    # Composed first, so a and a ring typed apart are å too. Decomposition parts å into a and a ring
    # (æ and ø stay whole): folded apart from it, "far" found "får" and "mal" found "mål".
    lowered = unicodedata.normalize("NFC", text).casefold()
    if "å" not in lowered:
        return _fold_accents(lowered)
    return "å".join(_fold_accents(part) for part in lowered.split("å"))


def _fold_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


# What a word is to the phrases: content (its plain form), a number, or a stop word of the languages
# whose bits are set (a word of several votes for each).
CONTENT, NUMBER, ENGLISH, NORWEGIAN, SWEDISH = 0, 1, 2, 4, 8
BOTH = ENGLISH | NORWEGIAN


@functools.lru_cache(maxsize=200_000)
def _classify(word: str) -> tuple[str, int]:
    """A word as written -> (its plain lower-case form without ' and -, and what kind of word it is)."""
    lowered = word.casefold()
    plain = lowered.translate(_JOINERS)
    kind = (
        (ENGLISH if lowered in ENGLISH_STOP or plain in ENGLISH_STOP else 0)
        | (NORWEGIAN if lowered in NORWEGIAN_STOP or plain in NORWEGIAN_STOP or plain in NORWEGIAN_TOO else 0)
        | (SWEDISH if plain in SWEDISH_STOP else 0)
    )
    if kind:
        return plain, kind
    return plain, NUMBER if plain.isdigit() else CONTENT


def _language(english: int, norwegian: int, swedish: int = 0) -> str:
    """The language with the most stop words in a note; a tie is Norwegian, then Swedish."""
    if norwegian >= max(english, swedish):
        return "norwegian"
    return "swedish" if swedish >= english else "english"


def _runs(text: str, max_gap: int) -> tuple[str, list[list[str]]]:
    """The note's language and its runs of content words, plain (a run ends at punctuation, a marker,
    or more than ``max_gap`` stop words and numbers in a row)."""
    language, runs = _placed_runs(text, max_gap)
    return language, [[plain for plain, _, _ in run] for run in runs]


def _placed_runs(text: str, max_gap: int) -> tuple[str, list[list[tuple[str, int, int]]]]:
    """``_runs`` with where each word stands in the text (for the words as written)."""
    masked = _MARKER.sub(lambda m: "|" * len(m.group()), text)
    english = norwegian = swedish = 0
    runs: list[list[tuple[str, int, int]]] = []
    run: list[tuple[str, int, int]] = []
    gap = 0
    for match in _PIECE.finditer(masked):
        word = match.group("word")
        if word is None:
            if run:
                runs.append(run)
            run, gap = [], 0
            continue
        plain, kind = _classify(word)
        if kind == CONTENT:
            run.append((plain, match.start(), match.end()))
            gap = 0
            continue
        english += bool(kind & ENGLISH)
        norwegian += bool(kind & NORWEGIAN)
        swedish += bool(kind & SWEDISH)
        if run:
            gap += 1
            if gap > max_gap:
                runs.append(run)
                run, gap = [], 0
    if run:
        runs.append(run)
    return _language(english, norwegian, swedish), runs


@dataclass(frozen=True)
class _Word:
    stem: str
    start: int
    end: int


def _phrases(text: str, max_gap: int) -> list[list[_Word]]:
    """The runs of ``_runs``, each word stemmed and placed in the text."""
    language, runs = _placed_runs(text, max_gap)
    return [[_Word(stem(plain, language), start, end) for plain, start, end in run] for run in runs]


@dataclass(frozen=True)
class Analysis:
    keys: tuple[str, ...]  # every phrase of the note, once
    group: str  # near-identical notes share it: their stemmed content words, sorted


# Stems by language, kept as the vocabulary of notes is small (Snowball in Python: ~10 µs a word).
_STEMS: dict[str, dict[str, str]] = {"norwegian": {}, "english": {}, "swedish": {}}
MAX_STEMS = 200_000


def _stems(words: list[str], language: str) -> list[str]:
    known = _STEMS[language]
    found = [known.get(word) for word in words]
    if None in found:
        if len(known) > MAX_STEMS:
            known.clear()
        for i, word in enumerate(words):
            if found[i] is None:
                found[i] = known[word] = sys.intern(stem(word, language))
    return found  # type: ignore[return-value]


@functools.lru_cache(maxsize=131_072)  # about 25 MB with 100,000 notes: phrase keys are interned
def analyse(text: str, max_words: int = DEFAULT_RULES.max_words, max_gap: int = DEFAULT_RULES.max_gap) -> Analysis:
    """A note's phrase keys and group key (kept per text: notes repeat, and never change)."""
    language, runs = _runs(text, max_gap)
    intern = sys.intern
    keys: dict[str, None] = {}
    words: set[str] = set()
    for run in runs:
        stems = _stems(run, language)
        words.update(stems)
        keys.update(dict.fromkeys(stems))
        if max_words >= 2:
            for a, b in itertools.pairwise(stems):
                keys[intern(f"{a} {b}")] = None
        if max_words >= 3:
            for a, b, c in zip(stems, stems[1:], stems[2:], strict=False):
                keys[intern(f"{a} {b} {c}")] = None
        for n in range(4, max_words + 1):
            for i in range(len(stems) - n + 1):
                keys[intern(" ".join(stems[i : i + n]))] = None
    group = " ".join(sorted(words)) if words else " ".join(fold(text).split())
    return Analysis(tuple(keys), intern(group))


def surfaces(
    text: str, *, max_words: int = DEFAULT_RULES.max_words, max_gap: int = DEFAULT_RULES.max_gap
) -> dict[str, str]:
    """Phrase key -> the words as the note has them (from its first word to its last)."""
    runs = _phrases(text, max_gap)
    found: dict[str, str] = {}
    for run in runs:
        for n in range(1, max_words + 1):
            for i in range(len(run) - n + 1):
                part = run[i : i + n]
                found.setdefault(" ".join(w.stem for w in part), " ".join(text[part[0].start : part[-1].end].split()))
    return found


# --- the score ------------------------------------------------------------------------------


def _xlogx(observed: float, expected: float) -> float:
    return observed * math.log(observed / expected) if observed > 0 else 0.0


def log_likelihood(recent_with: int, recent_notes: int, before_with: int, before_notes: int) -> float:
    """Dunning's G² for the 2×2 table of notes with and without a phrase, recent and before."""
    total = recent_notes + before_notes
    having = recent_with + before_with
    if having in (0, total) or recent_notes == 0 or before_notes == 0:
        return 0.0
    cells = (
        (recent_with, recent_notes * having / total),
        (recent_notes - recent_with, recent_notes * (total - having) / total),
        (before_with, before_notes * having / total),
        (before_notes - before_with, before_notes * (total - having) / total),
    )
    return 2.0 * sum(_xlogx(observed, expected) for observed, expected in cells)


# --- the data -------------------------------------------------------------------------------


class NoteRef(NamedTuple):  # a tuple: a launch's notes are read by the hundred thousand
    id: int  # the enquiry's
    note: str
    occurred_at: dt.datetime


@dataclass(frozen=True)
class Theme:
    phrase: str  # as agents wrote it most often
    key: str  # its stems
    recent: int  # notes with it in the recent period
    before: int  # … and in the part of the launch before it
    score: float  # G²
    first_seen: dt.datetime
    notes: list[NoteRef] = field(default_factory=list)  # samples, newest first

    @property
    def words(self) -> int:
        return self.key.count(" ") + 1


@dataclass(frozen=True)
class Surprises:
    themes: list[Theme]
    notes_total: int  # "other" notes in the recent period
    before_total: int  # … and before it
    start: dt.datetime  # the recent period, [start, end)
    end: dt.datetime
    recent: list[NoteRef] = field(default_factory=list, repr=False)  # its notes, newest first


_enquiry = Enquiry.__table__  # type: ignore[attr-defined]


def _filter_clauses(flt: Filter | None) -> list[sa.ColumnElement[bool]]:
    if flt is None:
        return []
    clauses: list[sa.ColumnElement[bool]] = []
    if flt.channels is not None:
        clauses.append(_enquiry.c.channel.in_(sorted(flt.channels)))
    if flt.segments is not None:
        named = sorted(s for s in flt.segments if s != UNSPECIFIED_SEGMENT)
        either = [_enquiry.c.segment.in_(named)] if named else []
        if UNSPECIFIED_SEGMENT in flt.segments:
            either.append(_enquiry.c.segment.is_(None))
        clauses.append(sa.or_(*either))
    return clauses


def _notes_in(
    launch: Launch, start: dt.datetime, end: dt.datetime, flt: Filter | None, *, other_only: bool = True
) -> list[Any]:
    """The "other" enquiries of the launch with a note in [start, end), filtered (all of them: ``other_only``
    false, as erasing a note needs: one moved onto a hypothesis keeps its note)."""
    return [
        _enquiry.c.launch_id == id_of(launch),
        _enquiry.c.created_at >= start,
        _enquiry.c.created_at < end,
        *([_enquiry.c.is_other.is_(True)] if other_only else []),
        _enquiry.c.note.is_not(None),
        *_filter_clauses(flt),
    ]


def load_notes(
    session: Session,
    launch: Launch,
    *,
    start: dt.datetime,
    end: dt.datetime,
    filter: Filter | None = None,
    ids: Iterable[int] | None = None,
    other_only: bool = True,
) -> list[NoteRef]:
    """The "other" enquiries with a note in [start, end), newest first (every enquiry's: ``other_only`` false)."""
    if end <= start:
        return []
    query = sa.select(_enquiry.c.id, _enquiry.c.created_at, _enquiry.c.note).where(
        *_notes_in(launch, start, end, filter, other_only=other_only)
    )
    if ids is not None:
        query = query.where(_enquiry.c.id.in_(sorted(set(ids))))
    query = query.order_by(_enquiry.c.created_at.desc(), _enquiry.c.id.desc())
    return [NoteRef(int(i), note, at) for i, at, note in session.execute(query).all() if note]


@dataclass
class PhraseCounts:
    """Phrase counts of a stretch of notes: how many notes, and per phrase key in how many, first when
    (as the database gave the time: ``aware`` makes it a UTC datetime, for the few that are shown)."""

    notes: int = 0
    df: dict[str, int] = field(default_factory=dict)
    first: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, notes: Sequence[NoteRef], rules: ThemeRules, keys: set[str] | None = None) -> PhraseCounts:
        """Counted from notes given newest first; only ``keys`` when given."""
        return cls.count([(ref.occurred_at, ref.note) for ref in reversed(notes)], rules, keys)

    @classmethod
    def count(cls, rows: Sequence[tuple[Any, str]], rules: ThemeRules, keys: set[str] | None = None) -> PhraseCounts:
        """Counted from (time, note) rows given oldest first."""
        counts = cls(notes=len(rows))
        df, first = counts.df, counts.first
        for at, note in rows:
            for key in analyse(note, rules.max_words, rules.max_gap).keys:
                if keys is not None and key not in keys:
                    continue
                if key in df:
                    df[key] += 1
                else:
                    df[key] = 1
                    first[key] = at
        return counts


def aware(value: Any) -> dt.datetime:
    """A stored time (naive UTC; text on SQLite) as an aware UTC datetime."""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _note_rows(
    session: Session, launch: Launch, *, start: dt.datetime, end: dt.datetime, filter: Filter | None
) -> tuple[list[tuple[Any, str]], bytes]:
    """(time as stored, note) of the "other" notes in [start, end), oldest first, for counting (turning
    every time into a datetime would cost a third of the work); and the digest of their ids
    (``_day_digest``), from the same rows."""
    raw_time = sa.type_coerce(
        _enquiry.c.created_at, sa.String if session.get_bind().dialect.name == "sqlite" else sa.DateTime
    )
    query = (
        sa.select(raw_time, _enquiry.c.note, _enquiry.c.id)
        .where(*_notes_in(launch, start, end, filter))
        .order_by(_enquiry.c.created_at, _enquiry.c.id)
    )
    found = [(at, note, enquiry_id) for at, note, enquiry_id in session.execute(query).all() if note]
    return [(at, note) for at, note, _ in found], _digest(enquiry_id for _, _, enquiry_id in found)


THEME_DAYS_KEY = "insight_theme_days"

DayKey = tuple[int, str, dt.date, int, object, ThemeRules]


class ThemeDays:
    """Phrase counts of closed local days, per launch, zone, day, counts version, filter and rules.

    A new counts version (a backfill or re-link, on some day) makes every entry stale; each day's
    entry also remembers a digest of the ids of its "other" enquiries, so that after a new version
    the days whose enquiries are the same are taken over (one read of their ids) and only the changed
    ones counted again. Only enquiries with a note go into the digest: an erased note changes the day."""

    def __init__(self, max_days: int = 300) -> None:
        # A day of 5,000 notes keeps ~0.4 MB (about 4,500 phrases); 300 days are 14 launches, or
        # filters, of three weeks.
        self._days: dict[DayKey, PhraseCounts] = {}
        self._latest: dict[tuple[Any, ...], tuple[bytes, PhraseCounts]] = {}  # the key without the version
        self._lock = threading.Lock()
        self._max_days = max_days

    @staticmethod
    def _unversioned(key: DayKey) -> tuple[Any, ...]:
        return (*key[:3], *key[4:])

    def get(self, key: DayKey) -> PhraseCounts | None:
        with self._lock:
            return self._days.get(key)

    def same(self, key: DayKey, digest: bytes) -> PhraseCounts | None:
        """The counts kept for the day at another version, if its enquiries were the same then."""
        with self._lock:
            found = self._latest.get(self._unversioned(key))
        return found[1] if found is not None and found[0] == digest else None

    def put(self, key: DayKey, counts: PhraseCounts, digest: bytes) -> None:
        with self._lock:
            if len(self._days) >= self._max_days:
                self._days.clear()  # old versions pile up after backfills and re-links
                self._latest.clear()
            self._days[key] = counts
            self._latest[self._unversioned(key)] = (digest, counts)


def _digest(ids: Iterable[int]) -> bytes:
    return hashlib.blake2b(array("q", sorted(ids)).tobytes(), digest_size=16).digest()


def _day_digest(session: Session, launch: Launch, *, start: dt.datetime, end: dt.datetime, flt: Filter | None) -> bytes:
    """A digest of the ids of the "other" enquiries with a note in [start, end)."""
    query = sa.select(_enquiry.c.id).where(*_notes_in(launch, start, end, flt))
    return _digest(session.execute(query).scalars())


def _theme_days(session: Session) -> ThemeDays | None:
    memo = session.info.get("memo")
    if memo is None:
        return None
    days: ThemeDays = memo.setdefault(THEME_DAYS_KEY, ThemeDays())
    return days


def _filter_key(flt: Filter | None) -> object:
    if flt is None:
        return None
    return (
        tuple(sorted(flt.channels)) if flt.channels is not None else None,
        tuple(sorted(flt.segments)) if flt.segments is not None else None,
    )


class Before:
    """The notes of the launch before the recent period, as phrase counts of its parts (oldest first)."""

    def __init__(self, parts: Sequence[PhraseCounts] = ()) -> None:
        self.parts = list(parts)

    @property
    def notes(self) -> int:
        return sum(part.notes for part in self.parts)

    def df(self, key: str) -> int:
        return sum(part.df.get(key, 0) for part in self.parts)

    def first(self, key: str) -> dt.datetime | None:
        for part in self.parts:
            if key in part.first:
                return aware(part.first[key])
        return None


def _before(
    session: Session,
    launch: Launch,
    *,
    end: dt.datetime,
    now: dt.datetime,
    filter: Filter | None,
    rules: ThemeRules,
    candidates: set[str],
) -> Before:
    """Closed whole days from the kept counts (counted and kept when missing), the rest note by note."""
    tz = launches.zone(launch)
    launch_start = launches.window(launch)[0]
    before = Before()
    if end <= launch_start:
        return before
    kept = _theme_days(session)
    day = launches.local_date(launch_start, tz)
    last = launches.local_date(end - dt.timedelta(microseconds=1), tz)
    while day <= last:
        day_start, day_end = launches.day_bounds(day, tz)
        part_start, part_end = max(day_start, launch_start), min(day_end, end)
        whole = part_start == day_start and part_end == day_end and is_closed(launch, day, now)
        counts: PhraseCounts | None = None
        if whole:
            key: DayKey = (id_of(launch), launch.timezone, day, launch.counts_version, _filter_key(filter), rules)
            counts = kept.get(key) if kept is not None else None
            if counts is None and kept is not None:
                digest = _day_digest(session, launch, start=day_start, end=day_end, flt=filter)
                counts = kept.same(key, digest)
                if counts is not None:
                    kept.put(key, counts, digest)
            if counts is None:
                rows, digest = _note_rows(session, launch, start=day_start, end=day_end, filter=filter)
                counts = PhraseCounts.count(rows, rules)
                if kept is not None:
                    kept.put(key, counts, digest)
        else:
            rows, _ = _note_rows(session, launch, start=part_start, end=part_end, filter=filter)
            counts = PhraseCounts.count(rows, rules, candidates)
        before.parts.append(counts)
        day += dt.timedelta(days=1)
    return before


def rank(recent: Sequence[NoteRef], before: Before, *, rules: ThemeRules = DEFAULT_RULES) -> list[Theme]:
    """The rising themes of ``recent`` notes (newest first) against the phrase counts of the notes before.

    Pure: the same notes and counts give the same themes."""
    analyses = [analyse(ref.note, rules.max_words, rules.max_gap) for ref in recent]
    df: Counter[str] = Counter()
    for analysis in analyses:
        df.update(analysis.keys)
    recent_notes, before_notes = len(recent), before.notes

    scored: list[tuple[float, int, str, int, int]] = []  # score, words, key, recent, before
    for key, a in df.items():
        if a < rules.min_recent:
            continue
        b = before.df(key)
        if a * before_notes <= b * recent_notes:  # not a larger share of the notes than before
            continue
        score = log_likelihood(a, recent_notes, b, before_notes)
        if score >= rules.min_score:
            scored.append((score, key.count(" ") + 1, key, a, b))
    # Longest phrases first, so that a part can be checked against the longer themes kept.
    kept: list[tuple[float, int, str, int, int]] = []
    for item in sorted(scored, key=lambda s: (-s[1], -s[0], s[2])):
        _, words, key, a, _ = item
        inside = f" {key} "
        if any(other[1] > words and inside in f" {other[2]} " and other[3] >= rules.cover * a for other in kept):
            continue
        kept.append(item)
    kept.sort(key=lambda s: (-s[0], -s[1], s[2]))
    members: dict[str, set[int]] = {item[2]: set() for item in kept}
    for index, analysis in enumerate(analyses):
        for key in members.keys() & analysis.keys:
            members[key].add(index)
    distinct: list[tuple[float, int, str, int, int]] = []
    for item in kept:  # best first
        its = members[item[2]]
        if any(
            len(its & members[other[2]]) >= rules.cover * max(len(its), len(members[other[2]])) for other in distinct
        ):
            continue
        distinct.append(item)
        if len(distinct) == rules.max_themes:
            break
    kept = distinct

    chosen = {item[2] for item in kept}
    samples: dict[str, list[NoteRef]] = {key: [] for key in chosen}
    forms: dict[str, Counter[str]] = {key: Counter() for key in chosen}
    earliest: dict[str, dt.datetime] = {}
    for ref, analysis in zip(recent, analyses, strict=True):
        mine = chosen.intersection(analysis.keys)
        if not mine:
            continue
        # The surface forms of the newest notes are enough to tell the usual one.
        unread = any(forms[key].total() < SURFACE_SAMPLE for key in mine)
        shown = surfaces(ref.note, max_words=rules.max_words, max_gap=rules.max_gap) if unread else {}
        for key in mine:
            if len(samples[key]) < rules.samples:
                samples[key].append(ref)
            if key in shown and forms[key].total() < SURFACE_SAMPLE:
                forms[key][shown[key]] += 1
            earliest[key] = ref.occurred_at  # newest first: the last one seen is the earliest
    themes: list[Theme] = []
    for score, _, key, a, b in kept:
        seen = [t for t in (before.first(key), earliest.get(key)) if t is not None]
        phrase = display_form(forms[key]) or key
        themes.append(Theme(phrase, key, a, b, round(score, 2), min(seen), samples[key]))
    return themes


def display_form(forms: Counter[str]) -> str | None:
    """The wording written most often, case aside (ties: the newest); lower case unless always written
    otherwise (so a capital at the start of a note does not stick, but "BankID" does)."""
    if not forms:
        return None
    by_folded: dict[str, Counter[str]] = {}
    for form, n in forms.items():
        by_folded.setdefault(form.casefold(), Counter())[form] += n
    best = max(by_folded.values(), key=lambda variants: variants.total())  # max keeps the first of a tie
    lowered = next(iter(best)).casefold()
    return lowered if lowered in best else best.most_common(1)[0][0]


def themes_of(
    recent: Sequence[NoteRef], before: Sequence[NoteRef], *, rules: ThemeRules = DEFAULT_RULES
) -> list[Theme]:
    """The rising themes of ``recent`` notes against ``before`` (both newest first): the pure core."""
    return rank(recent, Before([PhraseCounts.of(before, rules)]), rules=rules)


# --- the period -----------------------------------------------------------------------------


def default_period(
    session: Session, launch: Launch, *, now: dt.datetime, rules: ThemeRules = DEFAULT_RULES
) -> tuple[dt.datetime, dt.datetime]:
    """From the earlier of the end of the last digest delivered and 24 hours ago, to now (in the launch)."""
    launch_start, launch_end = launches.window(launch)
    end = min(now, launch_end)
    last_digest = session.exec(
        select(DigestRun.window_end)
        .where(
            DigestRun.launch_id == launch.id,
            col(DigestRun.status).in_(DELIVERED),
            col(DigestRun.window_end) <= now,
        )
        .order_by(col(DigestRun.window_end).desc())
        .limit(1)
    ).first()
    start = end - rules.recent
    if last_digest is not None:
        start = min(start, last_digest)
    start = max(start, launch_start)
    return start, max(start, end)


def surprises(
    session: Session,
    launch: Launch,
    *,
    now: dt.datetime,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    rules: ThemeRules = DEFAULT_RULES,
    filter: Filter | None = None,
) -> Surprises:
    """The rising themes of [start, end) against the part of the launch before ``start``.

    Without ``start``/``end``: ``default_period``. The period is clipped to the launch."""
    if start is None or end is None:
        default_start, default_end = default_period(session, launch, now=now, rules=rules)
        start, end = start or default_start, end or default_end
    launch_start, launch_end = launches.window(launch)
    start = min(max(start, launch_start), launch_end)
    end = max(min(end, launch_end), start)
    recent = load_notes(session, launch, start=start, end=end, filter=filter)
    candidates = _candidates(recent, rules) if start > launch_start else set()  # nothing before: no theme
    before = _before(session, launch, end=start, now=now, filter=filter, rules=rules, candidates=candidates)
    themes = rank(recent, before, rules=rules) if candidates and before.notes else []
    return Surprises(themes, len(recent), before.notes, start, end, recent)


def rising_themes(
    session: Session,
    launch: Launch,
    *,
    now: dt.datetime,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    rules: ThemeRules = DEFAULT_RULES,
) -> list[Theme]:
    """Just the themes (for spike alerts: ``start`` the digest window's start, ``end`` now)."""
    return surprises(session, launch, now=now, start=start, end=end, rules=rules).themes


def page_url(base_url: str, launch: Launch, theme: str, window: tuple[dt.datetime, dt.datetime]) -> str:
    """The "other" page on one theme (``theme=``: its key; a phrase is looked up among the themes) in the
    ``window`` it was counted in: the page ranks that window's themes again and lists the notes that
    have the theme, so the count a reader finds is the count the digest or alert gave. (A text search
    for the phrase, as before, found other notes: "widget is gone" is the stems "widget gone", which
    "the widgets are gone" has and the search missed, over whatever period it was opened in.)"""
    tz = launches.zone(launch)
    start, end = (ranges.link_time(moment, tz) for moment in window)
    return f"{base_url}/launches/{launch.slug}/other?{urlencode({'theme': theme, 'from': start, 'to': end})}"


def chosen_theme(found: Surprises, asked: str) -> Theme | None:
    """The theme a link names, by its key, or by its phrase (an alert keeps only that), among ``found``."""
    for theme in found.themes:
        if theme.key == asked:
            return theme
    folded = asked.casefold()
    by_phrase = next((theme for theme in found.themes if theme.phrase.casefold() == folded), None)
    if by_phrase is not None:
        return by_phrase
    # A link posted before English words were stemmed on to their Norwegian stems ("widget gone", now
    # "widg gon"): its words stemmed again as an English note's are. One posted before a hyphen parted
    # a word ("qrskann krasj", now "qr skann krasj"): the same letters, with the spaces.
    # One posted before Swedish notes were stemmed as Swedish ("app kraschad", now "app krasch"): its words
    # stemmed again as a Swedish note's are.
    again = {" ".join(stem(word, language) for word in asked.split()) for language in ("english", "swedish")}
    joined = asked.replace(" ", "")
    return next((theme for theme in found.themes if theme.key in again), None) or next(
        (theme for theme in found.themes if theme.key.replace(" ", "") == joined and theme.words > len(asked.split())),
        None,
    )


def _candidates(recent: Sequence[NoteRef], rules: ThemeRules) -> set[str]:
    df: Counter[str] = Counter()
    for ref in recent:
        df.update(analyse(ref.note, rules.max_words, rules.max_gap).keys)
    return {key for key, n in df.items() if n >= rules.min_recent}


# --- the notes, grouped ---------------------------------------------------------------------


@dataclass(frozen=True)
class NoteGroup:
    key: str
    text: str  # the newest note of the group
    count: int
    newest: dt.datetime
    oldest: dt.datetime
    ids: tuple[int, ...]  # newest first


@dataclass(frozen=True)
class NoteGroups:
    groups: list[NoteGroup]  # most notes first, at most ``limit``
    notes: int  # notes that matched the search
    total_groups: int


_WORDS = re.compile(r"[^\W_]+")


def searchable(text: str) -> str:
    """Text as searched: case, accents, punctuation and spacing ignored."""
    return " ".join(_WORDS.findall(fold(text)))


@functools.lru_cache(maxsize=65_536)
def _searchable(text: str) -> str:
    return searchable(text)


def matches(note: str, q: str) -> bool:
    """Whether a note holds the search text, ignoring case, accents, punctuation and spacing."""
    return searchable(q) in _searchable(note)


def group_notes(notes: Sequence[NoteRef], *, q: str | None = None, limit: int = 200) -> NoteGroups:
    """Near-identical notes together (same stemmed words, in any order), biggest groups first."""
    wanted = searchable(q) if q else None
    groups: dict[str, list[NoteRef]] = {}
    matched = 0
    for ref in notes:
        if wanted and wanted not in _searchable(ref.note):
            continue
        matched += 1
        groups.setdefault(analyse(ref.note).group, []).append(ref)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), -item[1][0].occurred_at.timestamp(), item[0]))
    return NoteGroups(
        [
            NoteGroup(
                key, refs[0].note, len(refs), refs[0].occurred_at, refs[-1].occurred_at, tuple(r.id for r in refs)
            )
            for key, refs in ordered[:limit]
        ],
        matched,
        len(groups),
    )


def notes_with(
    notes: Sequence[NoteRef], *, theme_keys: Iterable[str] = (), group_keys: Iterable[str] = ()
) -> list[NoteRef]:
    """The notes that have any of the themes (phrase keys) or belong to any of the groups."""
    themes, groups = set(theme_keys), set(group_keys)
    found: list[NoteRef] = []
    for ref in notes:
        analysis = analyse(ref.note)
        if analysis.group in groups or not themes.isdisjoint(analysis.keys):
            found.append(ref)
    return found
