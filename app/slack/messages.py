"""What a lead reads about a digest's or an alert's delivery, in the reader's language.

The outcome is stored in English (``digest_run.error``, ``alert.error``), as the logs and the API
say it, and always made from a template registered here (``template``, where the text is written,
marked ``N_`` for the catalogue). A page shows it translated: the stored text is matched against
each template, and the template's translation filled with the same values, a message inside a
message (the reason a pass gave up) translated in turn. Values such as a channel's name or an
error code stay as they are. A text no template matches (stored by an older version) is shown
as it was stored.
"""

from __future__ import annotations

import re

from app.i18n import gettext

_PLACEHOLDER = re.compile(r"\\\{(\w+)\\\}")  # "{name}" as re.escape writes it
# Those that wrap another message ({reason}) first, as a placeholder of an inner one would swallow
# the wrapper's words; then most fixed text first ("Gave up after {attempts} attempts: {reason}" must
# not take what a longer template of the same start made).
_templates: list[tuple[str, re.Pattern[str]]] = []


def _order(item: tuple[str, re.Pattern[str]]) -> tuple[bool, int]:
    text = item[0]
    return "{reason}" not in text, -len(re.sub(r"\{\w+\}", "", text))


def template(text: str) -> str:
    """Register ``text``, with ``{name}`` placeholders, as the form of stored outcomes; returns it."""
    if all(text != known for known, _ in _templates):
        pattern = _PLACEHOLDER.sub(lambda found: f"(?P<{found.group(1)}>.+?)", re.escape(text))
        _templates.append((text, re.compile(pattern + r"\Z", re.DOTALL)))
        _templates.sort(key=_order)
    return text


def templates() -> list[str]:
    return [text for text, _ in _templates]


def translated(stored: str | None) -> str:
    """``stored`` in the language in use (app/i18n.py), or as stored when no template made it."""
    if not stored:
        return ""
    for text, pattern in _templates:
        found = pattern.match(stored)
        if found:
            values = {name: translated(value) for name, value in found.groupdict().items()}
            return gettext(text).format(**values)
    return stored
