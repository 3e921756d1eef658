"""Stored Block Kit digests shown as HTML in the app, so leads see what Slack got.

The blocks' text is Slack mrkdwn in which everything people typed is already
entity-escaped. Each piece is unescaped and then HTML-escaped by markupsafe
before the few mrkdwn forms the builder uses (*bold*, `code`, links, > quotes)
become tags, so nothing in a text can turn into markup here either. A typed
``*``, ``_``, ``~`` or backtick is held between word joiners (blocks.typed), which
Slack does not read as formatting: neither is it read so here, and the joiners
are taken out, so the page shows the text as typed. Notes are rich text, which
Slack shows as typed: they are only HTML-escaped.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup, escape

from app.slack.blocks import WORD_JOINER

_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_JOINER = WORD_JOINER
# A mark between word joiners is a character someone typed: it neither opens nor closes.
_BOLD = re.compile(rf"(?<!{_JOINER})\*(?!{_JOINER})((?:[^*\n]|{_JOINER}\*{_JOINER})+?)(?<!{_JOINER})\*(?!{_JOINER})")
_CODE = re.compile(rf"(?<!{_JOINER})`(?!{_JOINER})((?:[^`\n]|{_JOINER}`{_JOINER})+?)(?<!{_JOINER})`(?!{_JOINER})")


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _inline(text: str) -> Markup:
    html = str(escape(_unescape(text)))
    html = _CODE.sub(r"<code>\1</code>", html)
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    html = html.replace(_JOINER, "")
    return Markup(html)  # noqa: S704 - built from escaped text and our own fixed tags


def mrkdwn(text: str) -> Markup:
    lines = []
    for raw in text.split("\n"):
        quoted = raw.startswith("> ")
        line = raw[2:] if quoted else raw
        parts: list[Markup] = []
        position = 0
        for match in _LINK.finditer(line):
            parts.append(_inline(line[position : match.start()]))
            url, label = _unescape(match.group(1)), match.group(2)
            if url.startswith(("https://", "http://")):
                parts.append(Markup('<a href="{}">{}</a>').format(url, _inline(label)))
            else:
                parts.append(_inline(label))
            position = match.end()
        parts.append(_inline(line[position:]))
        html = Markup("").join(parts)
        lines.append(Markup("<q>{}</q>").format(html) if quoted else html)
    return Markup("<br>").join(lines)


def _rich_text(element: dict[str, Any]) -> Markup:
    # Rich text is shown by Slack as typed: its texts are escaped here and nothing in them is markup.
    text = "".join(part.get("text", "") for part in element.get("elements", []) if part.get("type") == "text")
    if element.get("type") == "rich_text_quote":
        return Markup("<p><q>{}</q></p>").format(text)
    return Markup("<p>{}</p>").format(text)


def to_html(blocks: list[dict[str, Any]], language: str | None = None) -> Markup:
    """``language``: the one the digest is written in (the setting for Slack messages), marked on it: it
    may not be the page's, and a screen reader reads an English digest inside a Norwegian page with
    Norwegian sounds unless told (WCAG 3.1.2)."""
    out: list[Markup] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            out.append(Markup("<p class='digest-header'>{}</p>").format(_unescape(block["text"]["text"])))
        elif kind == "section" and "text" in block:
            out.append(Markup("<p>{}</p>").format(mrkdwn(block["text"]["text"])))
        elif kind == "context":
            texts = [mrkdwn(e.get("text", "")) for e in block.get("elements", [])]
            out.append(Markup("<p class='small muted'>{}</p>").format(Markup(" ").join(texts)))
        elif kind == "divider":
            out.append(Markup("<hr>"))
        elif kind == "rich_text":
            out.extend(_rich_text(element) for element in block.get("elements", []))
    lang = Markup(" lang='{}'").format(language) if language else Markup("")
    return Markup("<div class='digest-preview'{}>{}</div>").format(lang, Markup("").join(out))
