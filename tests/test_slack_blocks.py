"""Block Kit builders: pure functions, so their output is tested directly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.i18n import use_language
from app.slack.blocks import (
    MAX_MESSAGE_TEXT,
    AlertContent,
    AlertLine,
    DigestContent,
    FixLine,
    HypothesisLine,
    ThemeLine,
    bar,
    build,
    build_alert,
    escape,
    plain_text,
    text_length,
    verdict_label,
)
from app.slack.preview import to_html


def content(**overrides: object) -> DigestContent:
    values: dict[str, object] = {
        "launch_name": "PayApp 5.0",
        "slot_label": "13:00",
        "window_label": "09:00–13:00",
        "day_number": 4,
        "launch_days": 22,
        "window_total": 41,
        "previous_total": 30,
        "today_total": 63,
        "since_launch_total": 1200,
        "url": "https://tally.example/launches/payapp",
        "hypotheses": [
            HypothesisLine("send", "Can't find the send button", 20, 25, 30, expected_per_day=40),
            HypothesisLine("bankid", "BankID loops", 12, 5, 20),
            HypothesisLine("dark", "Dark mode contrast", 0, 1, 0, expected_per_day=3),
        ],
        "other": 9,
        "other_previous": 9,
        "notes": ["Asked about limits abroad", "Widget gone"],
        "channels": {"phone": 30, "chat": 11},
    }
    values.update(overrides)
    return DigestContent(**values)  # type: ignore[arg-type]


def section_texts(blocks: list[dict]) -> list[str]:
    texts = []
    for block in blocks:
        if "text" in block:
            texts.append(block["text"]["text"])
        for element in block.get("elements", []):
            texts.append(element.get("text", ""))
    return texts


def quoted(blocks: list[dict]) -> list[str]:
    """The notes a digest quotes: the texts of its rich text quotes."""
    return [
        "".join(part["text"] for part in quote["elements"])
        for block in blocks
        if block["type"] == "rich_text"
        for quote in block["elements"]
        if quote["type"] == "rich_text_quote"
    ]


def test_a_digest_reads_top_down() -> None:
    text, blocks = build(content())
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "PayApp 5.0 · 13:00"}}
    joined = "\n".join(section_texts(blocks))
    assert "Enquiries 09:00–13:00 · day 4 of 22" in joined
    assert "*41* in this window (↑11 on the one before) · *63* today · *1,200* since launch" in joined
    # Biggest first, with a bar, the change and expected against actual.
    assert joined.index("Can't find the send button") < joined.index("BankID loops")
    # Each hypothesis links to its drill-down, on the range since the previous digest.
    assert (
        "`██████████` *20* ↓5  <https://tally.example/launches/payapp/hypotheses/send?range=since-digest|"
        "Can't find the send button> · today 30 of 40 expected a day"
    ) in joined
    assert (
        "`██████░░░░` *12* ↑7  <https://tally.example/launches/payapp/hypotheses/bankid?range=since-digest|"
        "BankID loops>" in joined
    )
    # Zero counts are news: listed as not seen, with the expectation.
    assert (
        "*Not seen in this window*\n• <https://tally.example/launches/payapp/hypotheses/dark?range=since-digest|"
        "Dark mode contrast> (expects 3 a day)"
    ) in joined
    assert "*Other* (not on the list): *9* =" in joined
    other = next(i for i, b in enumerate(blocks) if b.get("text", {}).get("text", "").startswith("*Other*"))
    assert blocks[other + 1]["type"] == "rich_text"  # the notes, quoted right under their count
    assert quoted(blocks) == ["Asked about limits abroad", "Widget gone"]
    assert "By channel: phone 30 · chat 11" in joined
    assert "<https://tally.example/launches/payapp?range=since-digest|Open PayApp 5.0 in Launch Tally>" in joined
    # The fallback text stands on its own (notifications, screen readers).
    assert text == (
        "PayApp 5.0 · 13:00: 41 enquiries (09:00–13:00), 63 today, 1,200 since launch. "
        "Most: Can't find the send button (20)."
    )


def test_user_text_cannot_ping_or_forge_links() -> None:
    evil = "<!channel> & <https://evil.example|click here> <@U123>"
    _, blocks = build(
        content(
            launch_name="Launch <!here>",
            notes=[evil],
            hypotheses=[HypothesisLine("x", evil, 3, 0, 3)],
            channels={"<!everyone>": 1},
        )
    )
    dumped = json.dumps(blocks, ensure_ascii=False)
    for raw in ("<!channel>", "<https://evil.example", "<@U123>", "<!here>", "<!everyone>"):
        assert raw not in "".join(t for t in section_texts(blocks)), raw
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt; &lt;@U123&gt;" in dumped
    # The only real links are ours: the hypothesis's drill-down (the text its label) and the page.
    assert "".join(section_texts(blocks)).count("<https://") == 2
    assert "<https://tally.example/launches/payapp/hypotheses/x?range=since-digest|&lt;!channel&gt;" in dumped
    # The note is rich text: shown as typed, one plain text element, never a mention, broadcast or link.
    assert quoted(blocks) == [evil]
    [notes] = [b for b in blocks if b["type"] == "rich_text"]
    assert {part["type"] for quote in notes["elements"] for part in quote["elements"]} == {"text"}


def mrkdwn_objects(value: Any) -> list[dict[str, Any]]:
    """Every mrkdwn text object in Block Kit JSON."""
    if isinstance(value, list):
        return [found for item in value for found in mrkdwn_objects(item)]
    if not isinstance(value, dict):
        return []
    here = [value] if value.get("type") == "mrkdwn" else []
    return here + [found for item in value.values() for found in mrkdwn_objects(item)]


def test_slack_parses_no_mention_or_channel_name_in_the_messages_plain_text() -> None:
    """With ``verbatim`` off, Slack's default, it also parses "certain mentions" and channel names in a
    mrkdwn object's plain text: a hypothesis or launch named "@channel" or "#general" is escaped for
    mrkdwn, not for that. Every text object of a digest and an alert is verbatim; the links are written
    out, which verbatim keeps."""
    _, digest = build(
        content(launch_name="Launch @channel", hypotheses=[HypothesisLine("x", "@here #general", 3, 0, 3)])
    )
    _, alert = build_alert(
        AlertContent(
            launch_name="@everyone",
            theme=True,
            name="@channel",
            count=12,
            normal=3.5,
            since_label="13:00",
            url="https://tally.example/launches/x/other",
        )
    )
    for blocks in (digest, alert):
        texts = mrkdwn_objects(blocks)
        assert texts and all(t.get("verbatim") is True for t in texts), texts


def test_formatting_characters_in_a_note_stay_characters() -> None:
    """mrkdwn has no escape for *, _, ~ and backticks: quoted there, "*urgent* call _back_" came out
    bold and italic. A rich text element carries no style unless one is given."""
    note = "*urgent* call _back_ ~never~ `code` > not a quote"
    _, blocks = build(content(notes=[note]))
    assert quoted(blocks) == [note]
    [notes] = [b for b in blocks if b["type"] == "rich_text"]
    assert all("style" not in part for quote in notes["elements"] for part in quote["elements"])
    html = str(to_html(blocks))
    assert "<q>*urgent* call _back_ ~never~ `code` &gt; not a quote</q>" in html  # the app's view agrees


def test_slack_limits_hold_with_200_hypotheses_and_long_notes() -> None:
    lines = [HypothesisLine(f"h{i}", f"Hypothesis {i} " + "x" * 480, 200 - i, i % 7, 300, 10) for i in range(200)]
    zeros = [HypothesisLine(f"z{i}", f"Never seen {i} " + "y" * 150, 0, 0, 0, 5) for i in range(80)]
    text, blocks = build(
        content(
            launch_name="A launch with a very long name " * 10,
            hypotheses=lines + zeros,
            notes=["n" * 2000] * 9,
        )
    )
    assert len(blocks) <= 50
    assert len(blocks[0]["text"]["text"]) <= 150
    for block in blocks:
        if "text" in block:
            assert len(block["text"]["text"]) <= 3000
    joined = "\n".join(section_texts(blocks))
    assert "more hypotheses with enquiries: see the app" in joined
    assert "more not seen" in joined
    notes = quoted(blocks)
    assert len(notes) == 5 and all(len(n) <= 300 and n.endswith("…") for n in notes)  # five, each cut short
    assert len(text) <= 3000


def test_a_whole_digest_stays_under_slacks_limit_for_a_message() -> None:
    """Each section was under 3,000 characters, but Slack also refuses a message whose texts add up to
    about 12,000 (msg_blocks_too_long): 60 hypotheses of 120 characters with alerts, fixes and notes
    made 13,800, and every digest of that launch failed."""
    url = "https://tally.example/launches/a-long-launch-slug/hypotheses/"
    lines = [HypothesisLine(f"h{i}", f"Hypothesis {i} " + "x" * 110, 60 - i, i % 7, 80, 10) for i in range(60)]
    digest = content(
        hypotheses=lines,
        notes=["n" * 400] * 5,
        alerts=[AlertLine(False, "a" * 200, 30, 4.0, "14:20", url + f"h{i}") for i in range(12)],
        fixes=[FixLine("f" * 200, url + f"h{i}#fix", "Tue 14:00", "down", -0.5, 0.2, 0.1) for i in range(12)],
        new_in_other=[ThemeLine("t" * 80, 12, 1, url + "other") for _ in range(3)],
        channels={f"channel-{i}": i for i in range(40)},
    )
    _, blocks = build(digest)
    assert sum(len(text) for text in section_texts(blocks)) <= MAX_MESSAGE_TEXT < 11_000
    joined = "\n".join(section_texts(blocks))
    assert "more hypotheses with enquiries: see the app" in joined, "what is left out is counted"
    assert "more alerts" in joined and "more fixes" in joined
    assert joined.count(f"*{60 - 0}*") >= 1, "the biggest hypothesis is listed"


def test_a_quiet_window() -> None:
    _, blocks = build(
        content(window_total=0, previous_total=4, other=0, notes=[], hypotheses=[HypothesisLine("a", "A", 0, 2, 0)])
    )
    joined = "\n".join(section_texts(blocks))
    assert "*0* in this window (↓4 on the one before)" in joined
    assert "Hypotheses, most enquiries first" not in joined
    assert "• <https://tally.example/launches/payapp/hypotheses/a?range=since-digest|A>" in joined


def test_a_digest_with_no_window_before_it_compares_with_nothing() -> None:
    """The launch's first digest showed "↑5 on the one before" and ↑ on every line, against an empty window."""
    first = content(
        previous_total=None,
        other_previous=None,
        hypotheses=[HypothesisLine("send", "Send", 4, None, 4), HypothesisLine("dark", "Dark", 0, None, 0)],
    )
    joined = "\n".join(section_texts(build(first)[1]))
    assert "*41* in this window · *63* today · *1,200* since launch" in joined
    assert "`██████████` *4*  <https://tally.example/launches/payapp/hypotheses/send" in joined
    assert "*Other* (not on the list): *9*\n" in joined
    assert "↑" not in joined and "=" not in joined.replace("?range=", "")
    text = plain_text(first)
    assert "41 in this window · 63 today · 1,200 since launch" in text and "Other: 9\n" in text
    assert "↑" not in text


def test_a_long_launch_name_is_cut_before_the_time_and_never_inside_an_entity() -> None:
    """The header was escaped, then cut at 150: a long name pushed the slot time out, and a cut could
    fall inside "&amp;". So could the cut of the notes' section."""
    import re

    from slack_sdk.models.blocks import Block

    entity_cut = re.compile(r"&(?!amp;|lt;|gt;)")
    for name in ("R&D " * 60, "&" * 200, "PayApp <5> " * 20):
        text, blocks = build(content(launch_name=name, slot_label="Wed 13:00", notes=["&" * 500] * 5))
        header = blocks[0]["text"]["text"]
        assert header.endswith("… · Wed 13:00") and len(header) <= 150
        assert not entity_cut.search(header), header
        assert quoted(blocks) == ["&" * 299 + "…"] * 5  # rich text: as typed, nothing to cut in two
        assert not entity_cut.search(text)
        for block in blocks:
            Block.parse(block).validate_json()  # type: ignore[union-attr]


def test_late_digests_say_so() -> None:
    text, blocks = build(content(late=True))
    assert "sent late" in blocks[1]["elements"][0]["text"]
    # Slack's notification shows the fallback text alone.
    assert "· sent late:" in text
    assert "sent late" not in build(content())[0]


def test_bars_and_escaping_helpers() -> None:
    assert bar(0, 10) == "░" * 10
    assert bar(1, 1000) == "█" + "░" * 9  # never an empty bar for a non-zero count
    assert escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"


def test_plain_text_for_the_terminal() -> None:
    text = plain_text(content())
    assert text.splitlines()[0] == "PayApp 5.0 · 13:00"
    assert "41 in this window (↑11) · 63 today · 1,200 since launch" in text
    assert "Not seen in this window:\n  - Dark mode contrast (expects 3 a day)" in text  # as in Slack


def test_the_app_shows_stored_digests_as_safe_html() -> None:
    _, blocks = build(content(notes=['<script>alert(1)</script> "quoted" & more']))
    html = str(to_html(blocks))
    assert "<script>" not in html
    assert "<q>&lt;script&gt;alert(1)&lt;/script&gt; &#34;quoted&#34; &amp; more</q>" in html
    assert (
        '<a href="https://tally.example/launches/payapp?range=since-digest">Open PayApp 5.0 in Launch Tally</a>' in html
    )
    assert '<a href="https://tally.example/launches/payapp/hypotheses/send?range=since-digest">' in html
    assert "<strong>41</strong>" in html


def test_new_in_other_and_fixes_shipped_have_their_sections() -> None:
    from app.slack.blocks import FixLine, ThemeLine

    digest = content(
        new_in_other=[
            ThemeLine("widget <!channel>", 12, 1, "https://tally.example/launches/x/other?q=widget"),
            ThemeLine("kvittering", 5, 0, "https://tally.example/launches/x/other?q=kvittering"),
        ],
        fixes=[
            FixLine(
                "Login loops",
                "https://tally.example/launches/x/hypotheses/login#fix",
                "Tue 14:00",
                "down",
                -0.72,
                0.10,
                0.028,
            ),
            FixLine(
                "Receipts",
                "https://tally.example/launches/x/hypotheses/receipts#fix",
                "Fri 09:00",
                "too_early",
                None,
                0.0,
                0.0,
            ),
        ],
    )
    _, blocks = build(digest)
    sections = "\n".join(section_texts(blocks))
    assert "*New in “other”*" in sections
    assert "|widget &lt;!channel&gt;>: *12* notes now, 1 before" in sections  # escaped: cannot ping the channel
    assert "*Fixes shipped*" in sections
    assert "Login loops>: shipped Tue 14:00, *down 72% (share 10.0% → 2.8%)*" in sections
    assert "Receipts>: shipped Fri 09:00, *too early to tell*" in sections
    plain = plain_text(digest)
    assert "New in other:\n  widget <!channel>: 12 notes now, 1 before" in plain
    assert "Fixes shipped:\n  Login loops: shipped Tue 14:00, down 72% (share 10.0% → 2.8%)" in plain


def test_a_fix_after_which_a_hypothesis_rose_from_nothing_says_so_not_up_zero() -> None:
    """No share before the fix (a hypothesis added just before it shipped): no percentage to give."""
    fix = FixLine("Widget", "https://tally.example/x#fix", "Tue 14:00", "up", None, 0.0, 0.075)
    assert verdict_label(fix) == "up from none before (share 0.0% → 7.5%)"
    with use_language("nb"):
        assert verdict_label(fix) == "opp fra ingen før (andel 0,0\xa0% → 7,5\xa0%)"


def test_a_fix_shipped_before_its_hypothesis_was_counted_says_there_is_no_before() -> None:
    """The pages say so (impact's no_before); the digest said "too early to tell", which waiting never ends."""
    fix = FixLine("Widget", "https://tally.example/x#fix", "Tue 14:00", "no_before", None, 0.0, 0.0)
    assert verdict_label(fix) == "nothing before it to compare"
    with use_language("nb"):
        assert verdict_label(fix) == "ingenting før den å sammenligne med"


@pytest.mark.parametrize(
    ("verdict", "said"),
    [
        ("too_little_before", "too little before it to compare"),
        ("too_little_after", "too little time after it"),
        ("too_few", "too few enquiries to tell"),
        ("after_launch", "shipped after the launch ended"),
    ],
)
def test_a_fix_waiting_will_not_judge_says_why_not_too_early(verdict: str, said: str) -> None:
    """As the pages do (impact's outcomes that do not change with time): "too early to tell" for good."""
    fix = FixLine("Widget", "https://tally.example/x#fix", "Tue 14:00", verdict, None, 0.0, 0.0)
    assert verdict_label(fix) == said


def test_a_digest_in_norwegian_with_its_numbers_and_still_escaped() -> None:
    digest = content(
        notes=["<!channel> ring meg"],
        new_in_other=[ThemeLine("widget", 1, 0, "https://tally.example/launches/x/other?q=widget")],
        fixes=[FixLine("Login loops", "https://tally.example/x#fix", "tir. 14:00", "down", -0.72, 0.10, 0.028)],
    )
    with use_language("nb"):
        text, blocks = build(digest)
        plain = plain_text(digest)
    joined = "\n".join(section_texts(blocks))
    assert "Henvendelser 09:00–13:00 · dag 4 av 22" in joined
    assert "*41* i denne perioden (↑11 mot forrige) · *63* i dag · *1\u00a0200* siden lanseringen" in joined
    assert "> · i dag 30 av 40 forventet per dag" in joined
    assert "*Ikke sett i denne perioden*" in joined and "Dark mode contrast> (forventet 3 per dag)" in joined
    assert "*Annet* (ikke på listen): *9* =" in joined and quoted(blocks) == ["<!channel> ring meg"]
    assert "<!channel>" not in joined
    assert "Per kanal: telefon 30 · chat 11" in joined
    assert "|Åpne PayApp 5.0 i Launch Tally>" in joined
    assert "*Nytt i «Annet»*" in joined and "|widget>: *1* notat nå, 0 før" in joined
    # Shares as Norwegian writes them: a decimal comma and a space before the sign.
    assert "Login loops>: sluppet tir. 14:00, *ned 72\u00a0% (andel 10,0\u00a0% → 2,8\u00a0%)*" in joined
    assert text == (
        "PayApp 5.0 · 13:00: 41 henvendelser (09:00–13:00), 63 i dag, 1\u00a0200 siden lanseringen. "
        "Flest: Can't find the send button (20)."
    )
    assert "41 i denne perioden (↑11) · 63 i dag · 1\u00a0200 siden lanseringen" in plain
    assert "Nytt i «Annet»:\n  widget: 1 notat nå, 0 før" in plain
    # The language is only lent: outside, English again.
    assert build(digest)[0].startswith("PayApp 5.0 · 13:00: 41 enquiries (09:00–13:00)")


def test_an_alert_in_norwegian() -> None:
    alert = AlertContent(
        launch_name="PayApp <5>",
        theme=False,
        name="BankID",
        count=12,
        normal=3.5,
        since_label="tir. 13:00",
        url="https://tally.example/launches/x/hypotheses/bankid",
    )
    with use_language("nb"):
        text, blocks = build_alert(alert)
        one, theme_blocks = build_alert(AlertContent(**{**alert.__dict__, "count": 1, "normal": 0.0, "theme": True}))
    section = blocks[0]["text"]["text"]
    assert section == (
        ":zap: *Toppvarsel:* <https://tally.example/launches/x/hypotheses/bankid|BankID>\n"
        "*12* henvendelser siden tir. 13:00 · *3,4× normalt* (normalt hittil: 3,5)"
    )
    assert "PayApp &lt;5&gt; · Launch Tally: ett varsel per hypotese eller tema" in blocks[1]["elements"][0]["text"]
    assert text == "Toppvarsel i PayApp &lt;5&gt;: BankID: 12 henvendelser siden tir. 13:00, 3,4× normalt."
    # A theme rises only against earlier notes: a normal of 0 means none had it, as the pages say.
    assert one == "Stigende i «Annet» i PayApp &lt;5&gt;: «BankID»: 1 henvendelse siden tir. 13:00, nytt: ingen før."
    # The phrase quoted as Norwegian quotes, not with English marks.
    assert theme_blocks[0]["text"]["text"].startswith(
        ":zap: *Stigende i «Annet»:* «<https://tally.example/launches/x/hypotheses/bankid|BankID>»\n"
    )


def test_counts_are_grouped_as_the_digest_language_writes_them() -> None:
    """Thousands as the launch page shows them: 12 345 in Norwegian (a no-break space), 12,345 in English."""
    big = content(
        window_total=12345,
        previous_total=10000,
        hypotheses=[HypothesisLine("send", "Send", 2345, 1000, 4321, expected_per_day=1500)],
        other=1001,
        other_previous=1,
        new_in_other=[ThemeLine("widget", 1234, 1000, "https://tally.example/x")],
        channels={"phone": 10000, "chat": 2345},
    )
    alert = AlertContent(
        launch_name="PayApp", theme=False, name="BankID", count=4321, normal=1000.0, since_label="13:00", url="u"
    )
    with use_language("nb"):
        text, blocks = build(big)
        plain = plain_text(big)
        alert_text, alert_blocks = build_alert(alert)
    joined = "\n".join(section_texts(blocks))
    for expected in (
        "*12\u00a0345* i denne perioden (↑2\u00a0345 mot forrige)",
        "*2\u00a0345* ↑1\u00a0345",
        "*Annet* (ikke på listen): *1\u00a0001* ↑1\u00a0000",
        "*1\u00a0234* notater nå, 1\u00a0000 før",
        "Per kanal: telefon 10\u00a0000 · chat 2\u00a0345",
    ):
        assert expected in joined, expected
    assert "12\u00a0345 henvendelser (09:00–13:00)" in text and "(2\u00a0345)" in text
    assert "2\u00a0345 ↑1\u00a0345" in plain and "telefon 10\u00a0000" in plain
    assert "*4\u00a0321* henvendelser siden 13:00" in alert_blocks[0]["text"]["text"]
    assert "4\u00a0321 henvendelser siden 13:00" in alert_text
    with use_language("en"):
        assert "*12,345* in this window (↑2,345 on the one before)" in "\n".join(section_texts(build(big)[1]))


def test_the_more_lines_agree_with_their_number() -> None:
    one_more = [HypothesisLine(f"h{i}", f"Hypothesis {i}", 100 - i, 0, 0) for i in range(26)]  # 25 are listed
    for language, expected in (
        ("en", "…and 1 more hypothesis with enquiries: see the app"),
        ("nb", "…og 1 hypotese til med henvendelser: se appen"),
    ):
        with use_language(language):
            _, blocks = build(content(hypotheses=one_more))
        assert expected in "\n".join(section_texts(blocks))


def test_a_channel_named_like_a_status_keeps_its_name() -> None:
    # Statuses and the default channels are translated from two tables: a launch's own channel
    # called "late" or "open" is not a digest's "sent late" nor a hypothesis's "open".
    digest = content(channels={"phone": 3, "late": 2, "open": 1})
    for language, phone in (("en", "phone"), ("nb", "telefon")):
        with use_language(language):
            joined = "\n".join(section_texts(build(digest)[1]))
            plain = plain_text(digest)
        assert f"{phone} 3 · late 2 · open 1" in joined
        assert f"{phone} 3 · late 2 · open 1" in plain


def test_typed_marks_in_alerts_fixes_and_themes_are_not_formatting() -> None:
    """A ``*``, ``_``, ``~`` or backtick someone typed is held between word joiners wherever it goes
    into mrkdwn (Slack documents no escape for them); the fallback text keeps it plain."""
    from app.slack.blocks import WORD_JOINER, typed

    text = "Can't find the *Send* button in `Pay`"
    _, blocks = build(
        content(
            hypotheses=[HypothesisLine("send", text, 3, 0, 3), HypothesisLine("none", "_never_ seen", 0, 0, 0)],
            alerts=[AlertLine(False, text, 9, 2.0, "10:20", "https://t.example/a")],
            fixes=[FixLine(text, "https://t.example/f", "Tue 14:00", "down", -0.5, 0.1, 0.05)],
            new_in_other=[ThemeLine("Widget ~home~ vanished", 6, 0, "https://t.example/o")],
        )
    )
    mrkdwn = "\n".join(section_texts(blocks))
    for shown in (text, "_never_ seen", "Widget ~home~ vanished"):
        assert typed(shown) in mrkdwn and shown not in mrkdwn, shown
    assert mrkdwn.count(typed(text)) == 3  # the hypothesis, its alert and its fix
    fallback, alert = build_alert(
        AlertContent("Pay *5*", True, "Widget ~home~", 6, 0.0, "13:00", "https://t.example/o")
    )
    assert typed("Widget ~home~") in json.dumps(alert, ensure_ascii=False)
    assert typed("Pay *5*") in json.dumps(alert, ensure_ascii=False)
    assert WORD_JOINER not in fallback and "Widget ~home~" in fallback
    html = str(to_html(blocks))
    assert WORD_JOINER not in html and "<strong>Send</strong>" not in html and "<code>Pay</code>" not in html
    assert "Can&#39;t find the *Send* button in `Pay`" in html


def test_every_hypothesis_not_seen_is_named_when_the_message_has_room() -> None:
    """A quiet night with 10 of 13 hypotheses not seen: each name is a link to the app, and the list
    was cut at six ("…and 4 more not seen") in a message of a third of Slack's size."""
    texts = [
        "BankID login loops back to the start after the update",
        "Where did my receipts go?",
        "Payment card no longer shown, wants to add it again",
        "No push notifications after updating",
        "Phone too old for the new version, cannot update",
        "Dislikes the new design or colours, wants the old app back",
        "New split-the-bill flow is confusing",
        "Business customer cannot find settlement reports in the new menu",
        "Worried the redesign means new fees",
        "Text hard to read in dark mode",
    ]
    quiet = [HypothesisLine(f"quiet-{i}", text, 0, 1, 0, expected_per_day=5) for i, text in enumerate(texts)]
    seen = [HypothesisLine(f"seen-{i}", f"Seen hypothesis number {i}", 3 - i, 2, 3) for i in range(3)]
    digest = content(
        url="https://launch-tally.example.com/launches/payapp-5-redesign",
        window=("2026-12-05T16:00+01:00", "2026-12-06T09:00+01:00"),
        hypotheses=seen + quiet,
    )
    for language in ("en", "nb"):
        with use_language(language):
            _, blocks = build(digest)
        [not_seen] = [t for t in section_texts(blocks) if t.startswith(("*Not seen", "*Ikke sett"))]
        assert all(escape(text) in not_seen for text in texts), not_seen
        assert "more not seen" not in not_seen and "til ikke sett" not in not_seen
        assert len(not_seen) <= 3000


def test_not_seen_takes_no_room_the_hypotheses_need() -> None:
    """25 hypotheses of 290 characters fill the message: not seen keeps its share, and no more."""
    lines = [HypothesisLine(f"h{i}", f"Hypothesis {i} " + "x" * 280, 60 - i, i % 7, 80, 10) for i in range(60)]
    zeros = [HypothesisLine(f"z{i}", f"Never seen {i} " + "y" * 100, 0, 0, 0, 5) for i in range(40)]
    _, blocks = build(content(hypotheses=lines + zeros))
    assert text_length(blocks) <= MAX_MESSAGE_TEXT
    [not_seen] = [t for t in section_texts(blocks) if t.startswith("*Not seen")]
    assert len(not_seen) <= 1500 and "more not seen" in not_seen
