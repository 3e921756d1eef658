"""One spelling for what looks the same, before any matching.

A number typed with a zero-width space (``98\u200b76 54 32``), a non-breaking hyphen
(``010170\u2011123 43``) or full-width digits reads as a number to people, so it must to the
matchers too: NFKC folds compatibility characters (full-width digits, ligatures, most odd spaces),
then invisible characters are dropped and every dash or minus becomes ``-``. Control characters
become spaces, and runs of whitespace one space.

A normalised text normalises to itself, which is what keeps scrubbing idempotent.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# Characters that show nothing, or nothing on their own, so a number or an address typed with them
# between its digits or letters looks whole to people: every format character (Unicode's category
# Cf: zero-width spaces and joiners, bidirectional marks, invisible operators, the BOM, tag
# characters…) and these, which are not Cf but show nothing either.
_ALSO_INVISIBLE = (
    "\u034f"  # combining grapheme joiner
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers
    "\u17b4\u17b5"  # Khmer inherent vowels
    "\u180b\u180c\u180d\u180f"  # Mongolian variation selectors
    "\u2800"  # braille pattern blank
    + "".join(map(chr, range(0xFE00, 0xFE10)))  # variation selectors
    + "".join(map(chr, range(0xE0100, 0xE01F0)))  # variation selectors supplement
)
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"), "-")
# NFKC already turns these into spaces; listed so the table says what we rely on.
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"), " ")
_SPACES.update(dict.fromkeys(map(ord, "\u202f\u205f\u3000"), " "))  # narrow no-break, math, ideographic


@functools.cache
def _odd() -> tuple[re.Pattern[str], dict[int, str | None]]:
    """The characters to drop or replace, and what becomes of each: built on the first note that is not
    ASCII (the scan of Unicode's planes for Cf takes ~20 ms, which no process that never sees one pays).
    As a pattern: ``str.translate`` cost 20 µs a note."""
    planes = (range(0x30000), range(0xE0000, 0xE1000))  # no format characters elsewhere (Unicode 15)
    formats = "".join(chr(c) for plane in planes for c in plane if unicodedata.category(chr(c)) == "Cf")
    table: dict[int, str | None] = {**dict.fromkeys(map(ord, formats + _ALSO_INVISIBLE)), **_DASHES, **_SPACES}
    return re.compile("[" + re.escape("".join(map(chr, table))) + "]"), table


def _translate(text: str) -> str:
    pattern, table = _odd()
    return pattern.sub(lambda m: table[ord(m.group())] or "", text)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_OTHER_DIGIT = re.compile(r"[^\D0-9]")  # Arabic-Indic, Devanagari… digits, which NFKC keeps


def normalise(text: str) -> str:
    """The text in NFKC, without invisible characters, with ASCII dashes and single spaces."""
    if not text.isascii():  # ASCII is already NFKC and has none of the characters above
        # Dropping an invisible character can bring a letter and an accent together, which NFKC
        # then composes; NFKC can yield dashes (U+2011 becomes U+2010): translate on both sides.
        text = _translate(unicodedata.normalize("NFKC", _translate(text)))
        text = _OTHER_DIGIT.sub(lambda m: str(unicodedata.digit(m.group())), text)
    return " ".join(_CONTROL.sub(" ", text).split())
