"""CSV for spreadsheets: UTF-8 with a byte order mark, a header row, streamed chunk by chunk.

Fields are quoted as RFC 4180 says (only when they hold a quote, a comma or a line
break), and when they hold a semicolon (below); each chunk is encoded column by column, which is three times as fast as
``csv.writer`` here (a third of the time of a whole export went to it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.exports.rows import Kind

BOM = "\ufeff"  # without it Excel reads the file in the system's code page and garbles æøå
# A cell starting with one of these is taken for a formula by Excel, LibreOffice and
# Google Sheets: a note such as =HYPERLINK("http://evil.example", "click") would become
# a live link, or worse, when the file is opened. Such text gets a leading apostrophe,
# which makes it text (OWASP's advice against CSV injection). Tab and carriage return
# can start one too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Excel set to Norwegian, as in most of Europe, opens a .csv with ";" as its separator, whatever
# the quotes: what follows a ";" is a cell of its own there, defused the same way, and the field is
# quoted so that a reader splitting on commas keeps it whole.
_FORMULA_AFTER_SEMICOLON = re.compile(";(?=[=+\\-@\t\r])")
_NEEDS_QUOTES = re.compile('[",;\r\n]')
LINE_END = "\r\n"
_BOOL = {True: "true", False: "false"}


def field(text: str) -> str:
    """Text as one CSV field: defused if it could start a formula, quoted if need be."""
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    if ";" in text:
        text = _FORMULA_AFTER_SEMICOLON.sub(";'", text)
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _int_field(value: int | None) -> str:
    return "" if value is None else str(value)


def _text_field(value: str | None) -> str:
    return "" if value is None else field(value)


class _Labels(dict[Any, str]):
    """Fields of the few distinct values of a column (keys, channels, dates), each worked out once."""

    def __missing__(self, value: Any) -> str:
        text = self[value] = "" if value is None else field(value if isinstance(value, str) else value.isoformat())
        return text


def stream(header: Sequence[str], kinds: Sequence[Kind], chunks: Iterable[Sequence[Sequence[Any]]]) -> Iterator[bytes]:
    """The CSV file as bytes: the header with the first chunk, then a piece per chunk of rows."""
    labels = _Labels()
    first = BOM + ",".join(field(name) for name in header) + LINE_END
    for chunk in chunks:
        if not chunk:
            continue
        columns: list[Iterable[str]] = []
        for kind, values in zip(kinds, zip(*chunk, strict=True), strict=True):
            if kind == "int":  # None: an empty cell (rare: a hypothesis's days before it counted)
                columns.append(map(str, values) if None not in values else map(_int_field, values))
            elif kind == "time":
                columns.append(values)
            elif kind == "bool":
                columns.append(map(_BOOL.__getitem__, values))
            elif kind == "text":
                columns.append(map(_text_field, values))
            else:  # label, date
                columns.append(map(labels.__getitem__, values))
        lines = LINE_END.join(map(",".join, zip(*columns, strict=True)))
        yield (first + lines + LINE_END).encode("utf-8")
        first = ""
    if first:  # no rows at all: the header alone
        yield first.encode("utf-8")
