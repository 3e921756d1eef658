"""Notes kept no longer than ``TALLY_NOTE_RETENTION_DAYS`` (GDPR: storage limitation).

A note is erased, never its enquiry: the row, its hypothesis links, channel, segment and time
stay, so every count, chart, digest figure and export total is exactly what it was. Only the
text goes, from everywhere it was kept:

* ``enquiry.note`` is set to NULL for enquiries that happened (``created_at``) before the cut-off,
  and ``note_erased_at`` to when (a retry that still carries the note is the same enquiry: record.py);
* the launch's ``counts_version`` is raised in the same transaction, so each process's phrase
  counts of closed days (app/insight/themes.py, keyed by the version, with a digest of the ids
  of the noted enquiries) are counted again without the erased notes, on every replica. The
  tallies' kept days do not depend on notes and are carried over to the new version unchanged;
* a stored digest (``digest_run.blocks``) quotes up to five notes of its window, as the quotes of a
  rich_text block (app/slack/blocks.py), or, in digests stored before December 2026, as ``> …`` lines
  of a section (everything people typed was escaped there, so only the builder wrote a line that
  starts with ``> ``). Digests whose window starts before the cut-off lose those quotes: a window
  that straddles it loses a few hours of notes early, which errs the safe way.

Nothing else holds a note's text. The audit trail records ids, keys and counts (an undo notes the
hypotheses and channel, never the note); a re-link keeps enquiry ids; exports and pages read the live
rows. A spike alert, and a stored digest's "new in other" and the alerts it recalled, name a theme: a
phrase at least three notes share, never one note, but a name the scrubber missed, in the notes of a
customer who called again and again, is one, and the very thing a lead erases. So ``erase_notes`` takes
the phrase out of the alerts of a theme the erased notes had (``alerts.unname``), and tells the stored
digests' links to it as a theme whose notes were erased (``without_themes``). Retention's cut-off does
neither: a theme of old notes is no one customer's. Messages already posted to Slack are Slack's to keep
or expire.

``erase_notes`` erases chosen notes at once, the same way: a lead who finds a name or a number the
scrubber missed (app/privacy), or a customer's request to be forgotten, need not wait for the cut-off.
The stored digests of its launch lose the quotes of those notes alone.

``scrub_notes`` scrubs the stored notes again with this version's scrubber, after an upgrade that
taught it more ("født 12.03.1985" became a ``[birth-date]``): a note stored before it keeps what the
scrubber of its day missed. A changed note is stored masked, the same way as an erasure: the counts
version raised, the launch's stored digests losing their quotes of its old text, the audit trail
recording the enquiry ids.

``scrub_stored_once`` is how that happens without an operator: each scheduler, as it starts, scrubs
the stored notes again unless a pass of this scrubber (``privacy.SCRUBBER_VERSION``) is recorded in
the audit trail (``notes.scrubber``, written by every whole pass, `tally notes scrub`'s too).
Replicas starting together may both pass: each note is stored once, by a conditional update. Once a
pass is recorded, a scheduler starting reads only the notes stored since the last one: in a rolling
upgrade the replicas still on the older version store notes by its scrubber until they are restarted.

``purge_notes`` is the job: a plain function of ``now``, safe to run again (nothing left to erase
means nothing written) and from several replicas at once (each erasure is a conditional update,
and only the replica whose update changed rows raises the version). The enquiries to erase are
found with plain reads, a day of the launch at a time, and erased in small transactions, so the
write lock the hot path needs is held for milliseconds.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from sqlmodel import Session

from app import audit, i18n, privacy
from app.db import Database
from app.insight import alerts, themes
from app.models import AuditEvent, DigestRun, Enquiry, Launch
from app.recording.store import Store
from app.slack.blocks import typed

SLICE = dt.timedelta(days=1)  # the stretch of enquiries read at a time
CHUNK = 1_000  # notes erased per transaction
QUOTE = "> "  # how a digest's blocks quoted a note before they were rich text

_enquiry = Enquiry.__table__  # type: ignore[attr-defined]
_launch = Launch.__table__  # type: ignore[attr-defined]
_digest_run = DigestRun.__table__  # type: ignore[attr-defined]
_audit_event = AuditEvent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Purged:
    cutoff: dt.datetime  # notes of enquiries before this moment are gone
    notes: int  # notes erased by this run
    digests: int  # stored digests whose quoted notes were taken out by this run


def purge_notes(db: Database, *, days: int, now: dt.datetime) -> Purged:
    """Erase the notes of enquiries that happened more than ``days`` days before ``now``."""
    before = privacy.retention_cutoff(days=days, now=now)
    with db.session() as session:
        launch_ids = [int(i) for i in session.execute(sa.select(_launch.c.id).order_by(_launch.c.id)).scalars()]
    erased = sum(_erase_launch(db, launch_id, before, now) for launch_id in launch_ids)
    return Purged(before, erased, _strip_digests(db, before))


def _erase_launch(db: Database, launch_id: int, before: dt.datetime, now: dt.datetime) -> int:
    with db.session() as session:
        first = session.execute(
            sa.select(sa.func.min(_enquiry.c.created_at)).where(_enquiry.c.launch_id == launch_id)
        ).scalar()
    if first is None:
        return 0
    erased = 0
    start = first
    while start < before:
        end = min(start + SLICE, before)
        with db.session() as session:
            ids = list(
                session.execute(
                    sa.select(_enquiry.c.id).where(
                        _enquiry.c.launch_id == launch_id,
                        _enquiry.c.created_at >= start,
                        _enquiry.c.created_at < end,
                        _enquiry.c.note.is_not(None),
                    )
                ).scalars()
            )
        for part in _chunks(ids):
            erased += _erase(db, launch_id, part, now)
        start = end
    return erased


def _erase(db: Database, launch_id: int, ids: list[int], now: dt.datetime) -> int:
    with db.transaction() as session:
        return len(_clear(session, launch_id, ids, now))


def _clear(session: Session, launch_id: int, ids: list[int], now: dt.datetime) -> list[int]:
    """Set the notes of these enquiries of the launch to NULL, marked erased at ``now``; the counts version
    is raised if any was set. The ids of those this transaction erased: of two erasing the same notes at
    once (two replicas), the second waits for the first's row locks and then finds them erased."""
    erased = session.execute(
        sa.update(_enquiry)
        .where(_enquiry.c.id.in_(ids), _enquiry.c.note.is_not(None))
        .values(note=None, note_erased_at=now)
        .returning(_enquiry.c.id)
    )
    found = sorted(int(enquiry_id) for enquiry_id in erased.scalars())
    if found:
        # No changed days: the tallies do not read notes, so every kept day carries over.
        Store.of(session.connection()).bump_counts_version(launch_id, ())
    return found


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def without_quotes(value: Any, quoted: Callable[[str], bool] | None = None) -> Any:
    """Stored Block Kit with every quote (a note) taken out, or those whose text ``quoted`` picks: rich
    text quotes, and the block left empty of them; and, in digests stored before those, quoted lines of
    a text (escaped for mrkdwn there)."""
    if isinstance(value, list):
        kept = [without_quotes(item, quoted) for item in value if not _quote_of(item, quoted)]
        return [item for item in kept if not (_of_type(item, "rich_text") and not item.get("elements"))]
    if isinstance(value, dict):
        return {key: without_quotes(item, quoted) for key, item in value.items()}
    if isinstance(value, str) and QUOTE in value:
        return "\n".join(
            line
            for line in value.split("\n")
            if not (line.startswith(QUOTE) and (quoted is None or quoted(html.unescape(line[len(QUOTE) :]))))
        )
    return value


_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")


def without_themes(value: Any, keys: set[str], instead: str) -> Any:
    """Stored Block Kit with each link to a theme among ``keys`` (its ``theme=``: stems, or the phrase of
    an alert stored before it kept them) told as ``instead``: the digest's "new in other" and the alerts
    it recalled named the theme with the words of its notes. The rest of each line stays."""
    if isinstance(value, list):
        return [without_themes(item, keys, instead) for item in value]
    if isinstance(value, dict):
        return {key: without_themes(item, keys, instead) for key, item in value.items()}
    if isinstance(value, str) and "theme=" in value:

        def told(link: re.Match[str]) -> str:
            asked = parse_qs(urlsplit(html.unescape(link.group(1))).query).get("theme", [""])[0]
            if asked and (asked in keys or themes.analyse(asked).group in keys):
                return typed(instead)
            return link.group(0)

        return _LINK.sub(told, value)
    return value


def _quote_of(value: Any, quoted: Callable[[str], bool] | None) -> bool:
    if not _of_type(value, "rich_text_quote"):
        return False
    if quoted is None:
        return True
    text = "".join(str(part.get("text", "")) for part in value.get("elements", []) if isinstance(part, dict))
    return quoted(text)


def _of_type(value: Any, kind: str) -> bool:
    return isinstance(value, dict) and value.get("type") == kind


def _strip_digests(db: Database, before: dt.datetime) -> int:
    with db.session() as session:
        runs = session.execute(
            sa.select(_digest_run.c.id, _digest_run.c.blocks).where(_digest_run.c.window_start < before)
        ).all()
    stripped = 0
    for run_id, blocks in runs:
        kept = without_quotes(blocks)
        if kept == blocks:
            continue
        with db.transaction() as session:
            session.execute(sa.update(_digest_run).where(_digest_run.c.id == run_id).values(blocks=kept))
        stripped += 1
    return stripped


@dataclass(frozen=True)
class Erased:
    notes: int  # notes erased (an enquiry of another launch, or with no note left, erases nothing)
    digests: int  # stored digests that lost a quote of one of them
    event_id: int | None = None  # the audit trail's record of it (None: nothing erased)


def erase_notes(
    session: Session, launch_id: int, enquiry_ids: Sequence[int], *, actor: str, now: dt.datetime
) -> Erased:
    """Erase the notes of these enquiries of the launch, in the caller's transaction: the enquiries and
    every count stay; the counts version is raised (the themes' phrase counts of closed days hold them);
    the launch's stored digests lose their quotes of these notes; the audit trail says who erased how
    many, by enquiry id, never what they said."""
    rows = (
        session.execute(
            sa.select(_enquiry.c.id, _enquiry.c.note).where(
                _enquiry.c.launch_id == launch_id,
                _enquiry.c.id.in_(sorted(set(enquiry_ids))),
                _enquiry.c.note.is_not(None),
            )
        ).all()
        if enquiry_ids
        else []
    )
    if not rows:
        return Erased(0, 0)
    # Those this erasure erased, not all it read: another lead's (or a double press sent to another
    # replica) at the same moment erased the rest, and has them in its own audit entry and count.
    ids = _clear(session, launch_id, [int(row.id) for row in rows], now)
    if not ids:
        return Erased(0, 0)
    event = audit.record(
        session, actor=actor, action="notes.erased", target_type="launch", target_id=launch_id, now=now, enquiries=ids
    )
    erased = set(ids)
    texts = {str(row.note) for row in rows if int(row.id) in erased}
    keys = _theme_keys(texts)
    digests = _unquote(session, launch_id, texts, keys)
    alerts.unname(session, launch_id, keys)
    session.flush()
    return Erased(len(ids), digests, event.id)


def _theme_keys(notes: Iterable[str | None]) -> set[str]:
    """The themes (phrase keys) these notes have."""
    keys: set[str] = set()
    for note in notes:
        if note:
            keys.update(themes.analyse(note).keys)
    return keys


def _unquote(session: Session, launch_id: int, notes: set[str], keys: set[str]) -> int:
    """Take the quotes of these notes' texts out of the launch's stored digests, and the phrases of the
    themes ``keys`` (``without_themes``); how many changed."""
    quoted = _quoting(notes)
    changed = 0
    for run_id, blocks, language in session.execute(
        sa.select(_digest_run.c.id, _digest_run.c.blocks, _digest_run.c.language).where(
            _digest_run.c.launch_id == launch_id
        )
    ).all():
        kept = without_quotes(blocks, quoted)
        if keys:
            with i18n.use_language(language or "en"):  # as composed (before the column: English)
                kept = without_themes(kept, keys, i18n.gettext("a theme whose notes were erased"))
        if kept != blocks:
            session.execute(sa.update(_digest_run).where(_digest_run.c.id == run_id).values(blocks=kept))
            changed += 1
    return changed


def erased_by(session: Session, launch_id: int, event_id: int) -> int | None:
    """How many notes an erasure of this launch (its audit event) erased; None if it is not one: what the
    page says after it comes from the database, not from a link anyone can write."""
    event = session.get(AuditEvent, event_id)
    if event is None or event.action != "notes.erased" or event.target_id != str(launch_id):
        return None
    return len(event.detail.get("enquiries", []))


def _quoting(notes: set[str]) -> Callable[[str], bool]:
    """Whether a digest's quote is of one of ``notes``: the whole note, or its start cut with "…"
    (app/slack/blocks.py ``cut``). Another enquiry's note of the same words goes too: the safe way."""

    def quotes(text: str) -> bool:
        if text in notes:
            return True
        start = text[:-1] if text.endswith("…") else ""
        return bool(start) and any(note.startswith(start) for note in notes)

    return quotes


@dataclass(frozen=True)
class Scrubbed:
    changed: dict[str, list[int]]  # launch slug: the ids of its enquiries whose notes the scrubber changes
    digests: int  # stored digests that lost a quote of an old text (0 with ``dry_run``)

    @property
    def notes(self) -> int:
        return sum(len(ids) for ids in self.changed.values())


SCRUBBER_PASSED = "notes.scrubber"  # a whole pass of one scrubber version, recorded in the audit trail


# How long before a recorded pass a note may have been received and yet not been committed when the
# pass read past it: a later pass reads the notes from that far back again.
_IN_FLIGHT = dt.timedelta(minutes=10)


def scrub_stored_once(db: Database, *, now: dt.datetime) -> Scrubbed | None:
    """Scrub the stored notes again unless this scrubber version has passed over them; once it has, only
    the notes stored since its last pass (None when none of them changed). In a rolling upgrade the
    replicas still on the older version store notes by its scrubber after the first new one's pass, until
    each of them is restarted on this version, and so passes again over what they stored."""
    with db.session() as session:
        last = session.execute(
            sa.select(sa.func.max(_audit_event.c.at)).where(
                _audit_event.c.action == SCRUBBER_PASSED, _audit_event.c.target_id == str(privacy.SCRUBBER_VERSION)
            )
        ).scalar()
    if last is None:
        return scrub_notes(db, actor="scheduler", now=now)
    since = (last if last.tzinfo else last.replace(tzinfo=dt.UTC)) - _IN_FLIGHT
    later = scrub_notes(db, actor="scheduler", now=now, since=since)
    return later if later.notes else None


def scrub_notes(
    db: Database, *, actor: str, now: dt.datetime, dry_run: bool = False, since: dt.datetime | None = None
) -> Scrubbed:
    """Scrub every stored note again (each as if written when it was received, as it was), or with
    ``since`` those of the enquiries recorded since; store those it changes, a thousand enquiries at a
    time, unless ``dry_run``, and record the pass. Safe to run again: a note scrubbed by this version is
    left as it is."""
    recent = (
        sa.true()
        if since is None
        else sa.or_(_enquiry.c.recorded_at >= since, _enquiry.c.created_at >= since)  # imports: recorded_at None
    )
    with db.session() as session:
        launches = session.execute(sa.select(_launch.c.id, _launch.c.slug).order_by(_launch.c.id)).all()
    changed: dict[str, list[int]] = {}
    digests = 0
    for launch_id, slug in launches:
        after = 0
        while True:
            with db.session() as session:
                rows = session.execute(
                    sa.select(_enquiry.c.id, _enquiry.c.note, _enquiry.c.created_at, _enquiry.c.recorded_at)
                    .where(
                        _enquiry.c.launch_id == launch_id, _enquiry.c.id > after, _enquiry.c.note.is_not(None), recent
                    )
                    .order_by(_enquiry.c.id)
                    .limit(CHUNK)
                ).all()
            if not rows:
                break
            after = int(rows[-1].id)
            scrubbed = {
                int(row.id): (str(row.note), new)
                for row in rows
                # As when it was received (an import's rows have no such time: when they happened).
                if (new := privacy.clean_stored(str(row.note), now=row.recorded_at or row.created_at)) != row.note
            }
            if not scrubbed:
                continue
            if dry_run:
                changed.setdefault(slug, []).extend(scrubbed)
                continue
            with db.transaction() as session:
                ids, stripped = _store_scrubbed(session, launch_id, scrubbed, actor=actor, now=now)
            changed.setdefault(slug, []).extend(ids)
            digests += stripped
    scrubbed_all = Scrubbed(changed, digests)
    if not dry_run:
        with db.transaction() as session:
            audit.record(
                session,
                actor=actor,
                action=SCRUBBER_PASSED,
                target_type="scrubber",
                target_id=privacy.SCRUBBER_VERSION,
                now=now,
                notes=scrubbed_all.notes,
                **({} if since is None else {"since": since.isoformat()}),
            )
    return scrubbed_all


def _store_scrubbed(
    session: Session, launch_id: int, scrubbed: dict[int, tuple[str, str | None]], *, actor: str, now: dt.datetime
) -> tuple[list[int], int]:
    """Store the scrubbed notes whose text is still the one read (a lead may have erased one since)."""
    ids = []
    for enquiry_id, (old, new) in scrubbed.items():
        result = session.execute(
            sa.update(_enquiry).where(_enquiry.c.id == enquiry_id, _enquiry.c.note == old).values(note=new)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            ids.append(enquiry_id)
    if not ids:
        return [], 0
    # No changed days: the tallies do not read notes; the themes' phrase counts do, by the version.
    Store.of(session.connection()).bump_counts_version(launch_id, ())
    audit.record(
        session, actor=actor, action="notes.scrubbed", target_type="launch", target_id=launch_id, now=now, enquiries=ids
    )
    # The themes only the text masked now had: a name the older scrubber let through, in the phrase of
    # an alert or a digest's line. The note's other themes stay as they were.
    keys: set[str] = set()
    for i in ids:
        old, new = scrubbed[i]
        keys |= _theme_keys([old]) - _theme_keys([new])
    alerts.unname(session, launch_id, keys)
    return ids, _unquote(session, launch_id, {scrubbed[i][0] for i in ids}, keys)
