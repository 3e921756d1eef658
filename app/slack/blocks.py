"""Block Kit for a digest and a spike alert: pure functions from a ``DigestContent`` (an
``AlertContent``) to blocks and text.

slack_sdk's block models build the JSON and check Slack's limits (they raise
if a header passes 150 characters or a section 3000); the builders here cut
text to fit first, ending with "and N more", and never use more than 50 blocks.

Everything a person typed (hypothesis texts, notes, the launch name) is
escaped for mrkdwn: &, < and > become entities, so a note can neither ping
@channel (``<!channel>``) nor forge a link (``<https://evil|click>``).
"""

from __future__ import annotations

from collections.abc import Sequence
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
    SectionBlock,
)

MAX_BLOCKS = 50
MAX_SECTION = 3000
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
    previous: int  # in the previous window
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
    verdict: str  # down, up, no_change, too_early
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
    previous_total: int
    today_total: int
    since_launch_total: int
    url: str
    hypotheses: list[HypothesisLine] = field(default_factory=list)  # every hypothesis on the list
    other: int = 0
    other_previous: int = 0
    notes: list[str] = field(default_factory=list)
    channels: dict[str, int] = field(default_factory=dict)
    late: bool = False
    alerts: list[AlertLine] = field(default_factory=list)  # spike alerts sent since the previous digest
    new_in_other: list[ThemeLine] = field(default_factory=list)  # up to three rising themes
    fixes: list[FixLine] = field(default_factory=list)  # fixes shipped in the last days

    @property
    def seen(self) -> list[HypothesisLine]:
        return sorted((h for h in self.hypotheses if h.count), key=lambda h: (-h.count, h.text))

    @property
    def not_seen(self) -> list[HypothesisLine]:
        return [h for h in self.hypotheses if not h.count]


def escape(text: str) -> str:
    """Slack's three control characters, as Slack asks: nothing else needs it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def change(now: int, before: int) -> str:
    if now > before:
        return f"↑{now - before}"
    if now < before:
        return f"↓{before - now}"
    return "="


def bar(count: int, biggest: int) -> str:
    filled = round(BAR_WIDTH * count / biggest) if biggest else 0
    if count and not filled:
        filled = 1
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def _pack(title: str, lines: Sequence[str], *, max_sections: int, more: str, hidden: int = 0) -> list[str]:
    """Lines into at most ``max_sections`` texts of at most 3000 characters.

    What does not fit, plus ``hidden`` lines left out beforehand, is counted in a last "and N more" line."""
    sections: list[str] = []
    current = title
    for index, line in enumerate(lines):
        remaining = len(lines) - index
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= MAX_SECTION - 80:  # room for the "and N more" line
            current = candidate
            continue
        if len(sections) + 1 < max_sections:
            sections.append(current)
            current = line
            continue
        sections.append(f"{current}\n{more.format(n=remaining + hidden)}")
        return sections
    sections.append(f"{current}\n{more.format(n=hidden)}" if hidden else current)
    return sections


# The digest's links open the app on the range "since the previous digest", so the numbers
# there start where this digest's window did (app/ranges.py); each hypothesis opens its drill-down.
SINCE_DIGEST = "?range=since-digest"


def page_link(content: DigestContent) -> str:
    return content.url + SINCE_DIGEST


def hypothesis_link(content: DigestContent, line: HypothesisLine) -> str:
    return f"{content.url}/hypotheses/{quote(line.key, safe='')}{SINCE_DIGEST}"


def _linked(content: DigestContent, line: HypothesisLine, limit: int) -> str:
    """The hypothesis's text as a link to its drill-down (mrkdwn: the text is escaped, so it cannot end the link)."""
    return f"<{escape(hypothesis_link(content, line))}|{escape(cut(line.text, limit))}>"


def verdict_label(fix: FixLine) -> str:
    """A fix's verdict in words: "down 72 % (share 10.0 % → 2.8 %)"."""
    shares = f"share {fix.share_before:.1%} → {fix.share_after:.1%}"
    if fix.verdict == "down":
        return f"down {-(fix.change or 0):.0%} ({shares})"
    if fix.verdict == "up":
        return f"up {(fix.change or 0):.0%} ({shares})"
    if fix.verdict == "no_change":
        return f"no change ({shares})"
    return "too early to tell"


def _theme_line(theme: ThemeLine) -> str:
    return (
        f"• <{escape(theme.url)}|{escape(cut(theme.phrase, 100))}>: *{theme.recent}* notes now, {theme.before} before"
    )


def _fix_line(fix: FixLine) -> str:
    return (
        f"• <{escape(fix.url)}|{escape(cut(fix.text, 200))}>: shipped {escape(fix.shipped_label)}, "
        f"*{escape(verdict_label(fix))}*"
    )


def _hypothesis_line(content: DigestContent, line: HypothesisLine, biggest: int) -> str:
    expected = ""
    if line.expected_per_day is not None:
        expected = f" · today {line.today} of {line.expected_per_day} expected a day"
    return (
        f"`{bar(line.count, biggest)}` *{line.count}* {change(line.count, line.previous)}  "
        f"{_linked(content, line, 300)}{expected}"
    )


def build(content: DigestContent) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and the blocks for ``content``."""
    blocks: list[Block] = [
        HeaderBlock(
            text=PlainTextObject(text=cut(escape(f"{content.launch_name} · {content.slot_label}"), MAX_HEADER))
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=escape(
                        f"Enquiries {content.window_label} · day {content.day_number} of {content.launch_days}"
                        + (" · sent late: Launch Tally was not running at the time" if content.late else "")
                    )
                )
            ]
        ),
        SectionBlock(
            text=MarkdownTextObject(
                text=(
                    f"*{content.window_total}* in this window "
                    f"({change(content.window_total, content.previous_total)} on the one before) · "
                    f"*{content.today_total}* today · *{content.since_launch_total}* since launch"
                )
            )
        ),
        DividerBlock(),
    ]
    seen = content.seen
    biggest = max((h.count for h in seen), default=0)
    tail: list[Block] = []

    if content.alerts:
        lines = [
            f"• {escape(a.at_label)} {'“other”: ' if a.theme else ''}<{escape(a.url)}|{escape(cut(a.name, 200))}>: "
            f"*{a.count}* ({ratio_label(a.count, a.normal)})"
            for a in content.alerts
        ]
        [text] = _pack("*Alerts since the previous digest*", lines, max_sections=1, more="…and {n} more alerts")
        tail.append(SectionBlock(text=MarkdownTextObject(text=text)))

    if content.fixes:
        lines = [_fix_line(f) for f in content.fixes]
        [text] = _pack("*Fixes shipped*", lines, max_sections=1, more="…and {n} more fixes")
        tail.append(SectionBlock(text=MarkdownTextObject(text=text)))

    not_seen = content.not_seen
    if not_seen:
        names = [
            _linked(content, h, 200) + (f" (expects {h.expected_per_day} a day)" if h.expected_per_day else "")
            for h in not_seen
        ]
        [text] = _pack(
            "*Not seen in this window*", [f"• {n}" for n in names], max_sections=1, more="…and {n} more not seen"
        )
        tail.append(SectionBlock(text=MarkdownTextObject(text=text)))

    other = f"*Other* (not on the list): *{content.other}* {change(content.other, content.other_previous)}"
    notes = [f"> {escape(cut(note, MAX_NOTE))}" for note in content.notes[:5]]
    tail.append(SectionBlock(text=MarkdownTextObject(text=cut("\n".join([other, *notes]), MAX_SECTION))))
    if content.new_in_other:
        lines = [_theme_line(t) for t in content.new_in_other[:3]]
        [text] = _pack("*New in “other”*", lines, max_sections=1, more="…and {n} more")
        tail.append(SectionBlock(text=MarkdownTextObject(text=text)))
    if content.channels:
        split = " · ".join(f"{escape(name)} {n}" for name, n in content.channels.items())
        tail.append(ContextBlock(elements=[MarkdownTextObject(text=cut(f"By channel: {split}", MAX_SECTION))]))
    tail.append(
        SectionBlock(
            text=MarkdownTextObject(
                text=f"<{escape(page_link(content))}|Open {escape(cut(content.launch_name, 100))} in Launch Tally>"
            )
        )
    )

    if seen:
        room = max(1, MAX_BLOCKS - len(blocks) - len(tail))
        listed = [_hypothesis_line(content, h, biggest) for h in seen[:MAX_LISTED]]
        sections = _pack(
            "*Hypotheses, most enquiries first*",
            listed,
            max_sections=room,
            more="…and {n} more hypotheses with enquiries: see the app",
            hidden=len(seen) - len(listed),
        )
        blocks.extend(SectionBlock(text=MarkdownTextObject(text=text)) for text in sections)
    blocks.extend(tail)

    top = f" Most: {cut(seen[0].text, 100)} ({seen[0].count})." if seen else ""
    text = escape(
        f"{content.launch_name} · {content.slot_label}: {content.window_total} enquiries ({content.window_label}), "
        f"{content.today_total} today, {content.since_launch_total} since launch.{top}"
    )
    return cut(text, MAX_SECTION), [block.to_dict() for block in blocks]


def plain_text(content: DigestContent) -> str:
    """The digest as plain text, for the terminal (`tally digest preview`) and logs."""
    seen = content.seen
    biggest = max((h.count for h in seen), default=0)
    lines = [
        f"{content.launch_name} · {content.slot_label}",
        f"Enquiries {content.window_label} · day {content.day_number} of {content.launch_days}"
        + (" · sent late" if content.late else ""),
        f"{content.window_total} in this window ({change(content.window_total, content.previous_total)}) · "
        f"{content.today_total} today · {content.since_launch_total} since launch",
        "",
    ]
    for h in seen:
        expected = f" (today {h.today} of {h.expected_per_day} expected a day)" if h.expected_per_day else ""
        lines.append(f"  {bar(h.count, biggest)} {h.count:>4} {change(h.count, h.previous):>4}  {h.text}{expected}")
    if content.alerts:
        lines += ["", "Alerts since the previous digest:"]
        lines += [
            f"  {a.at_label} {'other: ' if a.theme else ''}{a.name}: {a.count} ({ratio_label(a.count, a.normal)})"
            for a in content.alerts
        ]
    if content.fixes:
        lines += ["", "Fixes shipped:"]
        lines += [f"  {f.text}: shipped {f.shipped_label}, {verdict_label(f)}" for f in content.fixes]
    if content.not_seen:
        lines += ["", "Not seen in this window:"] + [f"  - {h.text}" for h in content.not_seen]
    lines += ["", f"Other: {content.other} ({change(content.other, content.other_previous)})"]
    lines += [f'  "{note}"' for note in content.notes[:5]]
    if content.new_in_other:
        lines += ["", "New in other:"]
        lines += [f"  {t.phrase}: {t.recent} notes now, {t.before} before" for t in content.new_in_other[:3]]
    if content.channels:
        lines += ["", "By channel: " + " · ".join(f"{name} {n}" for name, n in content.channels.items())]
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


def ratio_label(count: int, normal: float) -> str:
    """'3.4× normal'; with nothing to compare with (no expected rate, no earlier day) 'no normal yet'."""
    if normal <= 0:
        return "no normal yet"
    return f"{count / normal:.1f}× normal"


def _normal_label(normal: float) -> str:
    return f"{normal:.0f}" if normal >= 10 else f"{normal:.1f}"


def build_alert(content: AlertContent) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and the blocks of a spike alert: the one subject, its count, the rate
    against normal, and a link to its drill-down."""
    what = "Rising in “other”" if content.theme else "Spike"
    name = escape(cut(content.name, 500))
    link = f"<{escape(content.url)}|{name}>"
    subject = f"“{link}”" if content.theme else link
    ratio = ratio_label(content.count, content.normal)
    normal = f" (normal by now: {_normal_label(content.normal)})" if content.normal > 0 else ""
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f":zap: *{what}:* {subject}\n"
                f"*{content.count}* enquiries since {escape(content.since_label)} · *{ratio}*{normal}"
            )
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"{escape(cut(content.launch_name, 200))} · Launch Tally: one alert per hypothesis or theme "
                    "between digests"
                )
            ]
        ),
    ]
    text = escape(
        f"{what} in {content.launch_name}: {cut(content.name, 300)}: {content.count} enquiries since "
        f"{content.since_label}, {ratio}."
    )
    return cut(text, MAX_SECTION), [block.to_dict() for block in blocks]
