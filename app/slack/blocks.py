"""Block Kit for a digest and a spike alert: pure functions from a ``DigestContent`` (an
``AlertContent``) to blocks and text.

slack_sdk's block models build the JSON and check Slack's limits (they raise
if a header passes 150 characters or a section 3000); the builders here cut
text to fit first, ending with "and N more", and never use more than 50 blocks.

Everything a person typed (hypothesis texts, theme phrases sliced from notes, the
launch name, channel and segment names) goes into mrkdwn through ``typed``: &, <
and > become entities, so a text can neither ping @channel (``<!channel>``) nor
forge a link (``<https://evil|click>``), and each ``*``, ``_``, ``~`` and backtick
is held between word joiners (U+2060, invisible), so it can neither open nor close
bold, italics, strikethrough or code: "the *Send* button" is shown as typed. The
fallback text (what a notification shows, read as plain text) is only entity-escaped,
without joiners. Notes, typed by
agents mid-call, are quoted in a rich_text block instead: its text elements are
shown as typed, so ``*``, ``_``, ``~`` and backticks in a note stay characters
(mrkdwn has no escape for them) and nothing in it is a mention or a link.

The words, numbers and shares are in the language in use (``i18n.use_language``,
the settings' ``message_language``), set by whoever composes: the labels of times
in the content are made in it too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    RichTextBlock,
    RichTextElementParts,
    RichTextQuoteElement,
    SectionBlock,
)

from app.i18n import dimension_label, format_decimal, format_number, format_percent, ngettext
from app.i18n import gettext as _

MAX_BLOCKS = 50
MAX_SECTION = 3000
# Slack refuses a message whose blocks' texts add up to more than about 12,000 characters
# (msg_blocks_too_long; undocumented, slackapi/bolt-js#2509 measured 13,297, another report was refused
# at 11,341): a digest stays under this, its hypotheses taking what the other sections leave.
MAX_MESSAGE_TEXT = 10_000
MAX_TAIL_SECTION = 1_500  # alerts, fixes, not seen: a digest's parts after the hypotheses
MAX_HEADER = 150
MAX_NOTE = 300
# A digest is read on a phone between meetings: the biggest movers, then a pointer to the app.
MAX_LISTED = 25
BAR_WIDTH = 10


@dataclass(frozen=True)
class HypothesisLine:
    key: str
    text: str
    count: int  # in the window
    previous: int | None  # in the previous window; None when there was none (the launch's first digest)
    today: int
    expected_per_day: int | None = None


@dataclass(frozen=True)
class AlertLine:
    """A spike alert sent since the previous digest, as the digest recalls it."""

    theme: bool  # a rising theme in "other", not a hypothesis
    name: str  # the hypothesis's text, or the theme's phrase
    count: int
    normal: float
    at_label: str  # when it was sent, local: "14:20"
    url: str  # its drill-down


@dataclass(frozen=True)
class ThemeLine:
    """A theme rising in "other" notes (app/insight/themes.py), as the digest names it."""

    phrase: str
    recent: int  # notes with it in the recent period
    before: int  # … and in the part of the launch before it
    url: str  # the notes page, searched for it


@dataclass(frozen=True)
class FixLine:
    """A fix shipped in the last days, and what happened since (app/insight/impact.py)."""

    text: str  # the hypothesis's
    url: str  # its drill-down, at the effect of the fix
    shipped_label: str  # local: "Tue 14:00"
    verdict: str  # impact.Verdict: down, up, no_change, too_early, too_little_after, …
    change: float | None  # relative change of the share
    share_before: float
    share_after: float


@dataclass(frozen=True)
class DigestContent:
    launch_name: str
    slot_label: str  # "13:00"
    window_label: str  # "09:00–13:00", or "Mon 16:00 – Tue 09:00"
    day_number: int
    launch_days: int
    window_total: int
    previous_total: int | None  # None: no window before this one (the launch's first), nothing to compare
    today_total: int
    since_launch_total: int
    url: str
    hypotheses: list[HypothesisLine] = field(default_factory=list)  # every hypothesis on the list
    other: int = 0
    other_previous: int | None = 0
    notes: list[str] = field(default_factory=list)
    channels: dict[str, int] = field(default_factory=dict)
    late: bool = False
    # Why it is late: "down" (no scheduler ran at its time), "undelivered" (composed on time, but Slack
    # did not take it then; sent after retries or once a process came back), "by_hand" (a dry run
    # sent from the Digests page), "moved" (a closing digest whose end an edit moved into the past), or
    # "delayed" (the scheduler ran at its time, but the passes ahead of it held it up).
    late_cause: str = "down"
    alerts: list[AlertLine] = field(default_factory=list)  # spike alerts sent since the previous digest
    new_in_other: list[ThemeLine] = field(default_factory=list)  # up to three rising themes
    fixes: list[FixLine] = field(default_factory=list)  # fixes shipped in the last days
    # Where its links open the app: this window itself (``window``: its start and end, local ISO times), so
    # the page's numbers, and what they are compared with, are the digest's whenever the link is clicked;
    # else since the latest digest time.
    window: tuple[str, str] | None = None

    @property
    def seen(self) -> list[HypothesisLine]:
        return sorted((h for h in self.hypotheses if h.count), key=lambda h: (-h.count, h.text))

    @property
    def not_seen(self) -> list[HypothesisLine]:
        return [h for h in self.hypotheses if not h.count]


def escape(text: str) -> str:
    """Slack's three control characters, as Slack asks: nothing else needs it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Slack documents no escape for its formatting marks (only &, < and > have entities). A mark opens or
# closes formatting only at a word boundary (whitespace, punctuation, the text's ends); U+2060 WORD
# JOINER is none (a format character, not a space), shows as nothing, and keeps the mark as typed.
# (U+200B, the zero-width *space*, would not do: it is a boundary, and is what makes formatting work
# inside a word.) The app's Digests page (app/slack/preview.py) reads a joined mark as a character too.
WORD_JOINER = "\u2060"
FORMATTING_MARKS = "*_~`"


def mrkdwn(text: str) -> MarkdownTextObject:
    """A mrkdwn text object that Slack shows as built, links and formatting included: ``verbatim`` off
    (Slack's default), Slack also parses "certain mentions" in the plain text and links channel names,
    and people's text in it (a hypothesis, a theme's phrase, a launch's name) is escaped for mrkdwn, not
    for that. Every link of the app's messages is written out (<url|label>), which verbatim keeps."""
    return MarkdownTextObject(text=text, verbatim=True)


def typed(text: str) -> str:
    """People's text for mrkdwn: shown as typed, never a mention, a link or formatting."""
    escaped = escape(text)
    for mark in FORMATTING_MARKS:
        escaped = escaped.replace(mark, f"{WORD_JOINER}{mark}{WORD_JOINER}")
    return escaped


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escaped_cut(text: str, limit: int, escaper: Callable[[str], str] = escape) -> str:
    """``text`` escaped (by ``escaper``), in at most ``limit`` characters: cut before escaping, so an
    entity (&amp;) or a joined mark is never cut in two."""
    escaped = escaper(text)
    if len(escaped) <= limit:
        return escaped
    kept, used = [], 0
    for char in text:
        part = escaper(char)
        if used + len(part) > limit - 1:
            break
        kept.append(part)
        used += len(part)
    return "".join(kept) + "…"


def change(now: int, before: int | None) -> str:
    """The change since ``before``, ↑3, ↓2 or =; none with nothing to compare with."""
    if before is None:
        return ""
    if now > before:
        return f"↑{format_number(now - before)}"
    if now < before:
        return f"↓{format_number(before - now)}"
    return "="


def bar(count: int, biggest: int) -> str:
    filled = round(BAR_WIDTH * count / biggest) if biggest else 0
    if count and not filled:
        filled = 1
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def _pack(
    title: str,
    lines: Sequence[str],
    *,
    max_sections: int,
    more: Callable[[int], str],
    hidden: int = 0,
    budget: int = MAX_SECTION,
) -> list[str]:
    """Lines into at most ``max_sections`` texts of at most 3000 characters, ``budget`` characters in all.

    What does not fit, plus ``hidden`` lines left out beforehand, is counted in a last line, ``more(n)``
    ("…and 3 more alerts": a function, so the words can agree with the number)."""
    sections: list[str] = []
    current = title
    used = 0  # by the sections closed so far
    for index, line in enumerate(lines):
        remaining = len(lines) - index
        candidate = f"{current}\n{line}" if current else line
        room = budget - used - 80  # room for the "and N more" line
        if len(candidate) <= min(MAX_SECTION - 80, room):
            current = candidate
            continue
        if len(sections) + 1 < max_sections and len(current) + len(line) <= room:
            sections.append(current)
            used += len(current)
            current = line
            continue
        sections.append(f"{current}\n{more(remaining + hidden)}")
        return sections
    sections.append(f"{current}\n{more(hidden)}" if hidden else current)
    return sections


def text_length(blocks: Sequence[Block | dict[str, Any]]) -> int:
    """The characters of every text in ``blocks``: what Slack's limit on a whole message counts."""
    return sum(_texts_length(block.to_dict() if isinstance(block, Block) else block) for block in blocks)


def _texts_length(value: Any) -> int:
    # Sections hold {"text": {"text": …}}, context and rich_text blocks nest theirs in "elements".
    if isinstance(value, list):
        return sum(_texts_length(item) for item in value)
    if isinstance(value, dict):
        return sum(
            len(item) if key == "text" and isinstance(item, str) else _texts_length(item) for key, item in value.items()
        )
    return 0


def quoted_notes(notes: Sequence[str], *, budget: int) -> RichTextBlock | None:
    """Up to five notes, each a quote of plain text, ``budget`` characters in all.

    Rich text is not mrkdwn: Slack shows a text element as it is, so a note needs no escaping and
    cannot be turned into formatting, a mention or a link (retention takes these quotes out again:
    app/retention.py)."""
    quotes: list[RichTextQuoteElement] = []
    used = 0
    for note in notes[:5]:
        room = budget - used
        if room < 20:  # not even a few words of it
            break
        text = cut(note, min(MAX_NOTE, room))
        quotes.append(RichTextQuoteElement(elements=[RichTextElementParts.Text(text=text)]))
        used += len(text)
    return RichTextBlock(elements=quotes) if quotes else None


# The digest's links open the app on this digest's window (app/ranges.py: from= and to=), so the page
# shows the digest's numbers and compares them with the same window before; each hypothesis opens its
# drill-down. ("range=since-digest" would be worked out when clicked: after the next digest time, a
# later window.)
SINCE_DIGEST = "?range=since-digest"


def _since(content: DigestContent) -> str:
    if content.window is None:
        return SINCE_DIGEST
    start, end = content.window
    return f"?from={quote(start, safe='')}&to={quote(end, safe='')}"


def page_link(content: DigestContent) -> str:
    return content.url + _since(content)


def hypothesis_link(content: DigestContent, line: HypothesisLine) -> str:
    return f"{content.url}/hypotheses/{quote(line.key, safe='')}{_since(content)}"


def _expects(line: HypothesisLine) -> str:
    """ " (expects 3 a day)" after a hypothesis not seen, when it has an expected rate."""
    return (
        " (" + _("expects {n} a day").format(n=format_number(line.expected_per_day)) + ")"
        if line.expected_per_day
        else ""
    )


def _linked(content: DigestContent, line: HypothesisLine, limit: int) -> str:
    """The hypothesis's text as a link to its drill-down (``typed``: it cannot end the link or format)."""
    return f"<{escape(hypothesis_link(content, line))}|{typed(cut(line.text, limit))}>"


def verdict_label(fix: FixLine) -> str:
    """A fix's verdict in words: "down 72% (share 10.0% → 2.8%)"."""
    shares = _("share {before} → {after}").format(
        before=format_percent(fix.share_before, 1), after=format_percent(fix.share_after, 1)
    )
    if fix.verdict == "down":
        return _("down {change} ({shares})").format(change=format_percent(-(fix.change or 0)), shares=shares)
    if fix.verdict == "up":
        if fix.change is None:  # none before the fix (a hypothesis added just before it): no percentage
            return _("up from none before ({shares})").format(shares=shares)
        return _("up {change} ({shares})").format(change=format_percent(fix.change), shares=shares)
    if fix.verdict == "no_change":
        return _("no change ({shares})").format(shares=shares)
    if fix.verdict == "no_before":  # shipped before the hypothesis was counted: waiting will not help
        return _("nothing before it to compare")
    if fix.verdict == "too_little_before":  # nothing logged between when it began to count and the fix
        return _("too little before it to compare")
    if fix.verdict == "too_little_after":  # the launch ended less than a day after the fix
        return _("too little time after it")
    if fix.verdict == "too_few":  # the periods will not grow any more
        return _("too few enquiries to tell")
    if fix.verdict == "after_launch":  # nothing is counted after a launch's end
        return _("shipped after the launch ended")
    return _("too early to tell")


def _notes_now(theme: ThemeLine, *, bold: bool = True) -> str:
    return ngettext("{recent} note now, {before} before", "{recent} notes now, {before} before", theme.recent).format(
        recent=f"*{format_number(theme.recent)}*" if bold else format_number(theme.recent),
        before=format_number(theme.before),
    )


def _theme_line(theme: ThemeLine) -> str:
    return f"• <{escape(theme.url)}|{typed(cut(theme.phrase, 100))}>: {_notes_now(theme)}"


def _fix_line(fix: FixLine) -> str:
    shipped = _("shipped {when}").format(when=escape(fix.shipped_label))
    return f"• <{escape(fix.url)}|{typed(cut(fix.text, 200))}>: {shipped}, *{escape(verdict_label(fix))}*"


def _expected_today(line: HypothesisLine) -> str:
    return _("today {today} of {expected} expected a day").format(
        today=format_number(line.today), expected=format_number(line.expected_per_day or 0)
    )


def _hypothesis_line(content: DigestContent, line: HypothesisLine, biggest: int) -> str:
    expected = ""
    if line.expected_per_day is not None:
        expected = " · " + _expected_today(line)
    return (
        f"`{bar(line.count, biggest)}` *{format_number(line.count)}*{_spaced(change(line.count, line.previous))} "
        f"{_linked(content, line, 300)}{expected}"
    )


def build(content: DigestContent) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and the blocks for ``content``."""
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_header(content))),
        ContextBlock(
            elements=[
                mrkdwn(text=escape(_enquiries_day(content) + (" · " + _late_note(content) if content.late else "")))
            ]
        ),
        SectionBlock(
            text=mrkdwn(
                text=_totals(
                    content,
                    _("{window} in this window ({change} on the one before) · {today} today · {since} since launch"),
                    bold=True,
                )
            )
        ),
        DividerBlock(),
    ]
    seen = content.seen
    biggest = max((h.count for h in seen), default=0)
    tail: list[Block] = []

    if content.alerts:
        other_prefix = _("“other”") + ": "
        lines = [
            f"• {escape(a.at_label)} {other_prefix if a.theme else ''}<{escape(a.url)}|{typed(cut(a.name, 200))}>: "
            f"*{format_number(a.count)}* ({ratio_label(a.count, a.normal, theme=a.theme)})"
            for a in content.alerts
        ]
        [text] = _pack(
            "*" + _("Alerts since the previous digest") + "*",
            lines,
            max_sections=1,
            budget=MAX_TAIL_SECTION,
            more=lambda n: ngettext("…and {n} more alert", "…and {n} more alerts", n).format(n=format_number(n)),
        )
        tail.append(SectionBlock(text=mrkdwn(text)))

    if content.fixes:
        lines = [_fix_line(f) for f in content.fixes]
        [text] = _pack(
            "*" + _("Fixes shipped") + "*",
            lines,
            max_sections=1,
            budget=MAX_TAIL_SECTION,
            more=lambda n: ngettext("…and {n} more fix", "…and {n} more fixes", n).format(n=format_number(n)),
        )
        tail.append(SectionBlock(text=mrkdwn(text)))

    not_seen = content.not_seen
    not_seen_at: int | None = None  # its place in ``tail``, to give it the room the hypotheses leave

    not_seen_lines = [f"• {_linked(content, h, 200)}{_expects(h)}" for h in not_seen]

    def pack_not_seen(budget: int) -> SectionBlock:
        [text] = _pack(
            "*" + _("Not seen in this window") + "*",
            not_seen_lines,
            max_sections=1,
            budget=budget,
            more=lambda n: _("…and {n} more not seen").format(n=format_number(n)),
        )
        return SectionBlock(text=mrkdwn(text))

    if not_seen:
        not_seen_at = len(tail)
        tail.append(pack_not_seen(MAX_TAIL_SECTION))

    other = "*{}* ({}): *{}*{}".format(
        _("Other"),
        _("not on the list"),
        format_number(content.other),
        _spaced(change(content.other, content.other_previous)).rstrip(),
    )
    tail.append(SectionBlock(text=mrkdwn(other)))
    quoted = quoted_notes(content.notes, budget=MAX_TAIL_SECTION + 300 - len(other))
    if quoted:
        tail.append(quoted)
    if content.new_in_other:
        lines = [_theme_line(t) for t in content.new_in_other[:3]]
        [text] = _pack(
            "*" + _("New in “other”") + "*",
            lines,
            max_sections=1,
            more=lambda n: _("…and {n} more").format(n=format_number(n)),
        )
        tail.append(SectionBlock(text=mrkdwn(text)))
    if content.channels:
        split = " · ".join(f"{dimension_label(name)} {format_number(n)}" for name, n in content.channels.items())
        by_channel = _("By channel: {split}").format(split=split)
        tail.append(ContextBlock(elements=[mrkdwn(escaped_cut(by_channel, MAX_TAIL_SECTION, typed))]))
    tail.append(
        SectionBlock(
            text=mrkdwn(
                text=f"<{escape(page_link(content))}|"
                + _("Open {launch} in Launch Tally").format(launch=typed(cut(content.launch_name, 100)))
                + ">"
            )
        )
    )

    if seen:
        room = max(1, MAX_BLOCKS - len(blocks) - len(tail))
        listed = [_hypothesis_line(content, h, biggest) for h in seen[:MAX_LISTED]]
        sections = _pack(
            "*" + _("Hypotheses, most enquiries first") + "*",
            listed,
            max_sections=room,
            more=lambda n: ngettext(
                "…and {n} more hypothesis with enquiries: see the app",
                "…and {n} more hypotheses with enquiries: see the app",
                n,
            ).format(n=format_number(n)),
            hidden=len(seen) - len(listed),
            budget=MAX_MESSAGE_TEXT - text_length(blocks) - text_length(tail),
        )
        blocks.extend(SectionBlock(text=mrkdwn(text)) for text in sections)
    if not_seen_at is not None:
        # Each name is a link of some 200 characters, so the tail's share cut a quiet morning's list of
        # ten at six ("…and 4 more not seen"), whatever room the message had: days of *Not seen* are the
        # news it is there for. It takes what the hypotheses left, up to a whole section.
        left = MAX_MESSAGE_TEXT - text_length(blocks) - text_length(tail)
        if left > 0:
            tail[not_seen_at] = pack_not_seen(min(MAX_SECTION, text_length([tail[not_seen_at]]) + left))
    blocks.extend(tail)

    top = (
        " " + _("Most: {text} ({count}).").format(text=cut(seen[0].text, 100), count=format_number(seen[0].count))
        if seen
        else ""
    )
    summary = ngettext(
        "{total} enquiry ({window}), {today} today, {since} since launch.",
        "{total} enquiries ({window}), {today} today, {since} since launch.",
        content.window_total,
    ).format(
        total=format_number(content.window_total),
        window=content.window_label,
        today=format_number(content.today_total),
        since=format_number(content.since_launch_total),
    )
    # The notification shows this text alone: yesterday's numbers must not read as today's there either.
    late = " · " + _("sent late") if content.late else ""
    text = escaped_cut(f"{content.launch_name} · {content.slot_label}{late}: {summary}{top}", MAX_SECTION)
    return text, [block.to_dict() for block in blocks]


def _header(content: DigestContent) -> str:
    """The header, "PayApp 5.0 · 13:00": a long name is cut, never the time."""
    slot = escape(f" · {content.slot_label}")
    return escaped_cut(content.launch_name, MAX_HEADER - len(slot)) + slot


def _spaced(arrow: str) -> str:
    """An arrow between a count and what follows, " ↑3 ", or a single space without one."""
    return f" {arrow} " if arrow else " "


def _totals(content: DigestContent, compared: str, *, bold: bool) -> str:
    """The window's, today's and the launch's totals, with ``compared`` (the words with {change}) when
    there was a window before this one."""
    mark = "*" if bold else ""
    words = (
        compared
        if content.previous_total is not None
        else _("{window} in this window · {today} today · {since} since launch")
    )
    return words.format(
        window=f"{mark}{format_number(content.window_total)}{mark}",
        change=change(content.window_total, content.previous_total),
        today=f"{mark}{format_number(content.today_total)}{mark}",
        since=f"{mark}{format_number(content.since_launch_total)}{mark}",
    )


def _late_note(content: DigestContent) -> str:
    if content.late_cause in ("by_hand", "moved", "delayed"):
        return _("sent late")
    if content.late_cause == "undelivered":
        return _("sent late: Slack did not take it at the time")
    return _("sent late: Launch Tally was not running at the time")


def _enquiries_day(content: DigestContent) -> str:
    return _("Enquiries {window} · day {day} of {days}").format(
        window=content.window_label, day=content.day_number, days=content.launch_days
    )


def plain_text(content: DigestContent) -> str:
    """The digest as plain text, for the terminal (`tally digest preview`) and logs."""
    seen = content.seen
    biggest = max((h.count for h in seen), default=0)
    lines = [
        f"{content.launch_name} · {content.slot_label}",
        _enquiries_day(content) + (" · " + _("sent late") if content.late else ""),
        _totals(content, _("{window} in this window ({change}) · {today} today · {since} since launch"), bold=False),
        "",
    ]
    for h in seen:
        expected = f" ({_expected_today(h)})" if h.expected_per_day else ""
        count = format_number(h.count)
        lines.append(f"  {bar(h.count, biggest)} {count:>5} {change(h.count, h.previous):>5}  {h.text}{expected}")
    if content.alerts:
        other_prefix = _("“other”") + ": "
        lines += ["", _("Alerts since the previous digest") + ":"]
        lines += [
            f"  {a.at_label} {other_prefix if a.theme else ''}{a.name}: "
            f"{format_number(a.count)} ({ratio_label(a.count, a.normal, theme=a.theme)})"
            for a in content.alerts
        ]
    if content.fixes:
        lines += ["", _("Fixes shipped") + ":"]
        lines += [
            f"  {f.text}: {_('shipped {when}').format(when=f.shipped_label)}, {verdict_label(f)}" for f in content.fixes
        ]
    if content.not_seen:
        lines += ["", _("Not seen in this window") + ":"] + [f"  - {h.text}{_expects(h)}" for h in content.not_seen]
    other_change = change(content.other, content.other_previous)
    lines += ["", f"{_('Other')}: {format_number(content.other)}" + (f" ({other_change})" if other_change else "")]
    lines += [f'  "{note}"' for note in content.notes[:5]]
    if content.new_in_other:
        lines += ["", _("New in other") + ":"]
        lines += [f"  {t.phrase}: {_notes_now(t, bold=False)}" for t in content.new_in_other[:3]]
    if content.channels:
        split = " · ".join(f"{dimension_label(name)} {format_number(n)}" for name, n in content.channels.items())
        lines += ["", _("By channel: {split}").format(split=split)]
    lines += ["", page_link(content)]
    return "\n".join(lines)


# --- spike alerts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertContent:
    """One spike: a hypothesis (or a theme in "other") far above normal since the last digest time."""

    launch_name: str
    theme: bool  # a rising theme in "other", not a hypothesis
    name: str  # the hypothesis's text, or the theme's phrase
    count: int  # in the window so far
    normal: float  # the count that would have been normal for the same stretch (0: no normal yet)
    since_label: str  # the window's start, local: "13:00" (or "Tue 16:00")
    url: str  # its drill-down
    # Posted well after it was counted (Slack refused it, or the process sending it stopped): when it was
    # counted, "13:30" (or "Tue 13:30"), so that a spike of hours ago is not read as one now. "" when on time.
    counted_label: str = ""
    late_cause: str = "undelivered"  # "undelivered": Slack did not take it at the time; "down": the sender stopped


def _alert_late_note(content: AlertContent) -> str:
    if content.late_cause == "down":
        return _("sent late, counted at {time}: Launch Tally stopped before it went out").format(
            time=content.counted_label
        )
    return _("sent late, counted at {time}: Slack did not take it at the time").format(time=content.counted_label)


def ratio_label(count: int, normal: float, *, theme: bool = False) -> str:
    """'3.4× normal'; with nothing to compare with (no expected rate, no earlier day) 'no normal yet';
    for a theme in "other", which rises only against earlier notes, a normal of 0 means none of them
    had it: 'new: none before' (as the pages say)."""
    if normal <= 0:
        return _("new: none before") if theme else _("no normal yet")
    return _("{ratio}× normal").format(ratio=format_decimal(count / normal, 1))


def _normal_label(normal: float) -> str:
    return format_decimal(normal, 0 if normal >= 10 else 1)


def build_alert(content: AlertContent) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and the blocks of a spike alert: the one subject, its count, the rate
    against normal, and a link to its drill-down."""
    what = _("Rising in “other”") if content.theme else _("Spike")
    name = typed(cut(content.name, 500))
    link = f"<{escape(content.url)}|{name}>"
    # A theme is a phrase from the notes, quoted as the reader's language quotes (Norwegian «…»).
    subject = _("“{phrase}”").format(phrase=link) if content.theme else link
    ratio = ratio_label(content.count, content.normal, theme=content.theme)
    normal = " (" + _("normal by now: {n}").format(n=_normal_label(content.normal)) + ")" if content.normal > 0 else ""
    blocks: list[Block] = [
        SectionBlock(
            text=mrkdwn(
                text=f":zap: *{what}:* {subject}\n"
                + ngettext("{count} enquiry since {since}", "{count} enquiries since {since}", content.count).format(
                    count=f"*{format_number(content.count)}*", since=escape(content.since_label)
                )
                + f" · *{ratio}*{normal}"
                + (f"\n:hourglass: _{escape(_alert_late_note(content))}_" if content.counted_label else "")
            )
        ),
        ContextBlock(
            elements=[
                mrkdwn(
                    text=f"{typed(cut(content.launch_name, 200))} · "
                    + _("Launch Tally: one alert per hypothesis or theme between digests")
                )
            ]
        ),
    ]
    since = ngettext("{count} enquiry since {since}", "{count} enquiries since {since}", content.count).format(
        count=format_number(content.count), since=content.since_label
    )
    plain_name = cut(content.name, 300)
    if content.theme:  # quoted as in the blocks: a phrase with a colon ran into the sentence
        plain_name = _("“{phrase}”").format(phrase=plain_name)
    text = _("{what} in {launch}: {name}: {since}, {ratio}.").format(
        what=what, launch=content.launch_name, name=plain_name, since=since, ratio=ratio
    )
    if content.counted_label:
        text += f" ({_alert_late_note(content)})"
    return escaped_cut(text, MAX_SECTION), [block.to_dict() for block in blocks]
