"""One spelling for what looks the same, before any matching.

A number typed with a zero-width space (``98\u200b76 54 32``), a non-breaking hyphen
(``010170\u2011123 43``) or full-width digits reads as a number to people, so it must to the
matchers too: NFKC folds compatibility characters (full-width digits, ligatures, most odd spaces),
then invisible characters are dropped and every dash or minus becomes ``-``. Control characters
become spaces, and runs of whitespace one space.

A normalised text normalises to itself, which is what keeps scrubbing idempotent.
"""

from __future__ import annotations

import re
import unicodedata

_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u00ad"  # soft hyphen
        "\u180e"  # Mongolian vowel separator
        "\u200b\u200c\u200d"  # zero-width space, non-joiner, joiner
        "\u200e\u200f\u202a\u202b\u202c\u202d\u202e"  # bidirectional marks and embeddings
        "\u2060\u2061\u2062\u2063\u2064"  # word joiner, invisible operators
        "\u2066\u2067\u2068\u2069"  # bidirectional isolates
        "\ufeff",  # zero-width no-break space (BOM)
    ),
    None,
)
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"), "-")
# NFKC already turns these into spaces; listed so the table says what we rely on.
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"), " ")
_SPACES.update(dict.fromkeys(map(ord, "\u202f\u205f\u3000"), " "))  # narrow no-break, math, ideographic
_TABLE: dict[int, str | None] = {**_INVISIBLE, **_DASHES, **_SPACES}
_ODD = re.compile("[" + re.escape("".join(map(chr, _TABLE))) + "]")  # str.translate costs 20 µs a note


def _translate(text: str) -> str:
    return _ODD.sub(lambda m: _TABLE[ord(m.group())] or "", text)


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
