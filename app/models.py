"""The tables. Domain behaviour lives in the concept modules (launches, tallies…).

Conventions: times are aware UTC datetimes (``UTCDateTime``); statuses are short
strings checked by Python enums rather than database enum types, so adding a
status never needs a migration of a PostgreSQL type.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.db import EnumString, UTCDateTime

# Deterministic constraint names, so Alembic migrations can refer to them on both databases.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def id_of(row: Any) -> int:
    """The primary key of a row that has one (it was flushed or loaded)."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush the session first")
    return int(row.id)


class LaunchStatus(StrEnum):
    DRAFT = "draft"
    LIVE = "live"
    CLOSED = "closed"


class HypothesisStatus(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    NOT_SEEN = "not_seen"
    FIX_SHIPPED = "fix_shipped"
    RESOLVED = "resolved"
    RETIRED = "retired"


class DigestStatus(StrEnum):
    PENDING = "pending"  # claimed; being composed or sent
    SENT = "sent"
    LATE = "late"  # sent, but after its slot (the app was down at the time)
    DRY_RUN = "dry_run"  # composed and stored; no Slack configured
    RETRYING = "retrying"  # Slack could not be reached; the scheduler tries again
    FAILED = "failed"  # Slack refused it; a lead must act (the error says how)
    MISSED = "missed"  # the app was down for longer than the grace period
    REPLACED = "replaced"  # sent by hand, waiting for Slack, when a newer one was sent by hand: it covers this


DELIVERED = (DigestStatus.SENT, DigestStatus.LATE, DigestStatus.DRY_RUN)


class DigestKind(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"


class Role(StrEnum):
    AGENT = "agent"
    LEAD = "lead"
    ADMIN = "admin"


DEFAULT_CHANNELS = ["phone", "chat", "email", "social"]
DEFAULT_SEGMENTS = ["private", "business"]


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Launch(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_type=sa.String(64), unique=True)
    name: str = Field(sa_type=sa.String(200))
    product_area: str = Field(default="", sa_type=sa.String(200))
    starts_on: dt.date
    ends_on: dt.date
    timezone: str = Field(sa_type=sa.String(64))
    digest_times: list[str] = Field(sa_type=sa.JSON)
    slack_channel: str | None = Field(default=None, sa_type=sa.String(100))
    channels: list[str] = Field(sa_type=sa.JSON)
    segments: list[str] = Field(sa_type=sa.JSON)
    status: LaunchStatus = Field(default=LaunchStatus.DRAFT, sa_type=EnumString(LaunchStatus))
    # When it last went live, or an edit last moved slots it had passed (its digest times, time zone
    # or dates): digest slots before then were not in the schedule when their time came, so they
    # are neither sent late nor "missed".
    digests_due_from: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When it last went live: what digests_due_from was before migration 0018, still written for
    # replicas of the version before during a rolling upgrade (they read it); drop it in a later one.
    live_since: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Raised whenever counts of past days change (a backfill, a re-link): every cached
    # count of this launch, in any process or replica, is keyed by it and so goes stale.
    counts_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Spike alerts: at least this many enquiries in the current digest window, and at least
    # this many times the normal rate (the expected rate, spread over the launch's hours, or the same
    # hours of earlier days).
    alert_min_count: int = Field(default=10, sa_column_kwargs={"server_default": "10"})
    alert_factor: float = Field(default=3.0, sa_column_kwargs={"server_default": "3"})
    # Raised by every edit: a save made from an older copy is refused instead of overwriting.
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: dt.datetime = _created()
    updated_at: dt.datetime = _created()


class Hypothesis(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("launch_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    launch_id: int = Field(foreign_key="launch.id", ondelete="CASCADE")
    key: str = Field(sa_type=sa.String(64))
    text: str = Field(sa_type=sa.String(500))
    area: str = Field(default="", sa_type=sa.String(100))
    owner_team: str = Field(default="", sa_type=sa.String(100))
    expected_per_day: int | None = None
    status: HypothesisStatus = Field(default=HypothesisStatus.OPEN, sa_type=EnumString(HypothesisStatus))
    sort_order: int = 0
    created_at: dt.datetime = _created()
    updated_at: dt.datetime = _created()
    # When the fix for it reached customers (may be set in the past), and where to read about it.
    fix_shipped_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    fix_url: str | None = Field(default=None, sa_type=sa.String(500))
    # Raised by every edit: a save made from an older copy is refused instead of overwriting.
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class HypothesisRevision(SQLModel, table=True):
    """The text a hypothesis had before a change, and who changed it when."""

    __tablename__ = "hypothesis_revision"

    id: int | None = Field(default=None, primary_key=True)
    hypothesis_id: int = Field(foreign_key="hypothesis.id", ondelete="CASCADE", index=True)
    old_text: str = Field(sa_type=sa.String(500))
    changed_by: str = Field(sa_type=sa.String(100))
    changed_at: dt.datetime = _created()


MAX_DISPLAY_NAME = 100  # the column's length: PostgreSQL refuses a longer one, SQLite would keep it
# Control characters but tab, line feed and carriage return: PostgreSQL refuses a NUL in text and SQLite
# keeps it, so what people type into a name is refused with them on both, before either sees it. Also the
# C1 controls (\x9b starts a terminal's escape) and the bidi embeddings, overrides and isolates: a name or
# hypothesis text is set inside lines the app writes (a digest's "text: 12 · 20 expected a day", a CSV
# row), and an unclosed U+202E there drew the app's own counts after it reversed.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class User(SQLModel, table=True):
    __tablename__ = "tally_user"  # "user" is reserved in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_type=sa.String(64), unique=True)
    display_name: str = Field(default="", sa_type=sa.String(MAX_DISPLAY_NAME))
    role: Role = Field(default=Role.AGENT, sa_type=EnumString(Role))
    is_active: bool = True
    created_at: dt.datetime = _created()
    password_hash: str | None = Field(default=None, sa_type=sa.String(255))
    language: str | None = Field(default=None, sa_type=sa.String(8))
    # The checklist's sticky toggles, remembered across devices.
    channel: str | None = Field(default=None, sa_type=sa.String(32))
    segment: str | None = Field(default=None, sa_type=sa.String(32))

    @property
    def name(self) -> str:
        return self.display_name or self.username

    def can(self, role: Role) -> bool:
        """Admins can do what leads can, leads what agents can."""
        order = (Role.AGENT, Role.LEAD, Role.ADMIN)
        return self.is_active and order.index(self.role) >= order.index(role)


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_type=sa.String(64), unique=True)
    user_id: int = Field(foreign_key="tally_user.id", ondelete="CASCADE", index=True)
    created_at: dt.datetime = _created()
    expires_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginAttempt(SQLModel, table=True):
    """Sign-in attempts, kept for rate limiting per account and per address."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        sa.Index("ix_login_attempt_username", "username", "at"),
        sa.Index("ix_login_attempt_address", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_type=sa.String(64))
    address: str = Field(sa_type=sa.String(64))
    at: dt.datetime = _created()
    succeeded: bool = False
    # From a browser that signed in to this account before: a hash of what proved it (auth.known_as).
    device: str | None = Field(default=None, sa_type=sa.String(32))


class TokenRole(StrEnum):
    INTEGRATION = "integration"
    LEAD = "lead"


class ApiToken(SQLModel, table=True):
    """A bearer token for integrations (telephony, CRM). Only the hash is stored."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=sa.String(100))
    token_hash: str = Field(sa_type=sa.String(64), unique=True)
    prefix: str = Field(sa_type=sa.String(16))  # shown in lists so people can tell tokens apart
    created_by: str = Field(sa_type=sa.String(100))
    created_at: dt.datetime = _created()
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # integration: log enquiries and read; lead: also change hypotheses.
    role: TokenRole = Field(
        default=TokenRole.INTEGRATION, sa_type=EnumString(TokenRole), sa_column_kwargs={"server_default": "integration"}
    )


class EnquirySource(StrEnum):
    CHECKLIST = "checklist"
    API = "api"
    IMPORT = "import"


class Enquiry(SQLModel, table=True):
    """One customer enquiry, as an agent or an integration logged it.

    ``created_at`` is when it happened (what every count uses); ``recorded_at``
    when the server stored it. They differ for a backfill: an integration that
    posts after the call with ``occurred_at``, or days ticked on paper imported.

    ``is_other`` is true when it matched no hypothesis; kept on the row so the
    window tally reads one index instead of anti-joining the link table.
    """

    __table_args__ = (
        sa.UniqueConstraint("launch_id", "idempotency_key"),
        # Counting is by index range seeks, chosen by measuring (docs/benchmarks.md):
        # totals and recent enquiries scan a launch's time range; the channel,
        # segment and other counts each seek one (channel, segment, is_other) prefix.
        # On PostgreSQL the time index also carries the dimensions, so the minutes around kept
        # slots are read and grouped from the index alone (app/tallies/counting.py).
        sa.Index("ix_enquiry_time", "launch_id", "created_at", postgresql_include=["channel", "segment", "is_other"]),
        sa.Index("ix_enquiry_dimensions", "launch_id", "channel", "segment", "is_other", "created_at"),
        # An agent's own enquiries. Partial: those logged through the API have no agent, and
        # their NULLs, sorted first, made every batch of them rewrite pages of this index.
        sa.Index(
            "ix_enquiry_agent",
            "agent_id",
            "created_at",
            sqlite_where=sa.text("agent_id IS NOT NULL"),
            postgresql_where=sa.text("agent_id IS NOT NULL"),
        ),
        # Ids are never reused (SQLite would reuse the highest after a delete): an undo button
        # or an integration holding an old id must never reach a newer enquiry.
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    launch_id: int = Field(foreign_key="launch.id", ondelete="CASCADE")
    channel: str = Field(sa_type=sa.String(32))
    segment: str | None = Field(default=None, sa_type=sa.String(32))
    agent_id: int | None = Field(default=None, foreign_key="tally_user.id", ondelete="SET NULL")
    token_id: int | None = Field(default=None, foreign_key="api_token.id", ondelete="SET NULL")
    created_at: dt.datetime = _created()
    note: str | None = Field(default=None, sa_type=sa.String(500))
    is_other: bool = False
    idempotency_key: str | None = Field(default=None, sa_type=sa.String(64))
    recorded_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set when the note is erased (app/retention.py): a retry is then not compared by its note. Without
    # it, an enquiry without a note never had one, and a retry that brings one is another enquiry.
    note_erased_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    source: EnquirySource = Field(
        default=EnquirySource.CHECKLIST,
        sa_type=EnumString(EnquirySource),
        sa_column_kwargs={"server_default": "checklist"},
    )


class EnquiryHypothesis(SQLModel, table=True):
    """Which hypotheses an enquiry matched.

    launch_id, created_at, channel and segment are copied from the enquiry
    (enquiries never move in time or change channel) so a per-hypothesis count,
    filtered or not, is one range seek in one covering index.
    """

    __tablename__ = "enquiry_hypothesis"
    # One range seek per hypothesis counts its enquiries in a window; channel and segment at the
    # end make it covering for a filtered count and for counting a day hour by hour, with no
    # lookup of the enquiry rows.
    __table_args__ = (
        sa.Index("ix_enquiry_hypothesis_count", "launch_id", "hypothesis_id", "created_at", "channel", "segment"),
    )

    enquiry_id: int = Field(foreign_key="enquiry.id", ondelete="CASCADE", primary_key=True)
    # No cascade: hypotheses are retired, never deleted, so their enquiries keep counting.
    hypothesis_id: int = Field(foreign_key="hypothesis.id", primary_key=True)
    launch_id: int = Field(foreign_key="launch.id", ondelete="CASCADE")
    created_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    # Copied from the enquiry too (an enquiry's channel and segment never change).
    channel: str | None = Field(default=None, sa_type=sa.String(32))
    segment: str | None = Field(default=None, sa_type=sa.String(32))


class UndoneEnquiry(SQLModel, table=True):
    """The idempotency key of an enquiry that was undone, kept so a retry of it is not logged again.

    A browser whose answer to a tick was lost sends it again, with the same key, even after the
    agent undid it in "My enquiries"; an integration may do the same. The key (a hash, see
    ``record.scoped_key``) is all that is kept: no note, no time of the call."""

    __tablename__ = "undone_enquiry"

    launch_id: int = Field(foreign_key="launch.id", ondelete="CASCADE", primary_key=True)
    idempotency_key: str = Field(sa_type=sa.String(64), primary_key=True)
    undone_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)


class DayTally(SQLModel, table=True):
    """The totals of one closed local day of a launch, added up from its slots once and kept.

    A closed day changes only through a backfill or a re-link, and those raise
    the launch's ``counts_version``; so whichever process first needs a day at
    a version counts it, and every other process and replica reads this row
    instead of a day of index entries. Keyed by the time zone too: a launch
    moved to another zone has other days.
    """

    __tablename__ = "day_tally"

    launch_id: int = Field(foreign_key="launch.id", ondelete="CASCADE", primary_key=True)
    timezone: str = Field(sa_type=sa.String(64), primary_key=True)
    day: dt.date = Field(primary_key=True)
    version: int = Field(default=0, primary_key=True)
    counts: dict[str, Any] = Field(sa_type=sa.JSON)
    computed_at: dt.datetime = _created()


class SlotTally(SQLModel, table=True):
    """The counts of one closed 15-minute slot of a launch's open day, computed once and kept.

    Like ``DayTally`` for the day still going on: keyed by the counts version, so a
    backfill or a re-link makes them stale; ``day`` is the slot's local day, which a
    version bump carries over or drops as it does for days. Slots stay once their day
    closes: a window that starts or ends inside a closed day reads them.
    """

    __tablename__ = "slot_tally"

    launch_id: int = Field(foreign_key="launch.id", ondelete="CASCADE", primary_key=True)
    timezone: str = Field(sa_type=sa.String(64), primary_key=True)
    version: int = Field(default=0, primary_key=True)
    starts_at: dt.datetime = Field(sa_type=UTCDateTime, primary_key=True)
    day: dt.date
    counts: dict[str, Any] = Field(sa_type=sa.JSON)
    computed_at: dt.datetime = _created()


class LaunchTally(SQLModel, table=True):
    """The counts of a launch from its start to ``through`` (the end of its latest closed 15-minute
    slot, or of the launch), kept so that a whole-launch tally reads one row and the open part.

    Keyed by the counts version like ``DayTally`` (a backfill or a re-link makes it stale); a
    newer row of the same version replaces the older ones as slots close.
    """

    __tablename__ = "launch_tally"

    launch_id: int = Field(foreign_key="launch.id", ondelete="CASCADE", primary_key=True)
    timezone: str = Field(sa_type=sa.String(64), primary_key=True)
    version: int = Field(default=0, primary_key=True)
    through: dt.datetime = Field(sa_type=UTCDateTime, primary_key=True)
    counts: dict[str, Any] = Field(sa_type=sa.JSON)
    computed_at: dt.datetime = _created()


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_target", "target_type", "target_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = _created()
    actor: str = Field(sa_type=sa.String(100))
    action: str = Field(sa_type=sa.String(64))
    target_type: str = Field(sa_type=sa.String(32))
    target_id: str = Field(sa_type=sa.String(64))
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class DigestRun(SQLModel, table=True):
    """One digest for one launch and slot. ``slot_key`` is unique: inserting
    the row is how a process claims the slot, so a slot is sent once however
    many workers and replicas run the scheduler."""

    __tablename__ = "digest_run"
    __table_args__ = (sa.Index("ix_digest_run_launch_slot", "launch_id", "slot_at"),)

    id: int | None = Field(default=None, primary_key=True)
    launch_id: int = Field(foreign_key="launch.id", ondelete="CASCADE")
    slot_key: str = Field(sa_type=sa.String(80), unique=True)
    kind: DigestKind = Field(default=DigestKind.SCHEDULED, sa_type=EnumString(DigestKind))
    slot_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    window_start: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    window_end: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    status: DigestStatus = Field(default=DigestStatus.PENDING, sa_type=EnumString(DigestStatus))
    attempts: int = 0
    claimed_by: str = Field(default="", sa_type=sa.String(100))
    claimed_at: dt.datetime = _created()
    next_attempt_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    channel: str | None = Field(default=None, sa_type=sa.String(100))
    slack_ts: str | None = Field(default=None, sa_type=sa.String(32))
    text: str = Field(default="", sa_type=sa.Text)
    blocks: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    # The language it was composed in (TALLY_SLACK_LANGUAGE then), marked on it where it is shown: the
    # setting may change. None for runs stored before it was kept.
    language: str | None = Field(default=None, sa_type=sa.String(8))
    error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: dt.datetime = _created()
    # A try that failed may be in Slack all the same (a dropped connection, a 5xx), and no look in the
    # channel since found it missing: Send now looks for it before replacing it (digests.send_now).
    maybe_posted: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class HypothesisStatusChange(SQLModel, table=True):
    """A hypothesis's status as it changed (``from_status`` None: when it was added), who changed it
    and when: the drill-down shows this history, e.g. when "fix shipped" was set."""

    __tablename__ = "hypothesis_status_change"

    id: int | None = Field(default=None, primary_key=True)
    hypothesis_id: int = Field(foreign_key="hypothesis.id", ondelete="CASCADE", index=True)
    from_status: HypothesisStatus | None = Field(default=None, sa_type=EnumString(HypothesisStatus))
    to_status: HypothesisStatus = Field(sa_type=EnumString(HypothesisStatus))
    changed_by: str = Field(sa_type=sa.String(100))
    changed_at: dt.datetime = _created()
    # Set where no person chose it: "not_in_file" (an import retired it because its file no longer lists it).
    reason: str | None = Field(default=None, sa_type=sa.String(32))


class AlertKind(StrEnum):
    HYPOTHESIS = "hypothesis"
    THEME = "theme"


class Alert(SQLModel, table=True):
    """A spike: one hypothesis (or a rising theme in "other") far above normal in a digest window.

    ``claim_key`` is unique per (launch, what, digest window): inserting the row is how a process
    claims the alert, exactly like a digest slot, so several workers and replicas send it once."""

    __tablename__ = "alert"
    __table_args__ = (sa.Index("ix_alert_launch_created", "launch_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    launch_id: int = Field(foreign_key="launch.id", ondelete="CASCADE")
    claim_key: str = Field(sa_type=sa.String(120), unique=True)
    kind: AlertKind = Field(sa_type=EnumString(AlertKind))
    hypothesis_id: int | None = Field(default=None, foreign_key="hypothesis.id", ondelete="CASCADE")
    subject: str = Field(sa_type=sa.String(200))  # the hypothesis key, or the theme's phrase
    # A theme's stems: a later theme of the window is compared with them, not with the phrase read again
    # as a note (a bare English phrase has no small words, so it was stemmed as Norwegian). None for
    # hypotheses, and for theme alerts stored before it was kept.
    theme_key: str | None = Field(default=None, sa_type=sa.Text)
    window_start: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    observed_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    count: int = 0
    normal: float = 0.0  # the count that would have been normal for the same stretch
    status: DigestStatus = Field(default=DigestStatus.PENDING, sa_type=EnumString(DigestStatus))
    attempts: int = 0
    claimed_by: str = Field(default="", sa_type=sa.String(100))
    claimed_at: dt.datetime = _created()
    next_attempt_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    channel: str | None = Field(default=None, sa_type=sa.String(100))
    slack_ts: str | None = Field(default=None, sa_type=sa.String(32))
    text: str = Field(default="", sa_type=sa.Text)
    blocks: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: dt.datetime = _created()


class Relink(SQLModel, table=True):
    """ "Other" enquiries moved to a hypothesis (made from their notes), so it can be undone."""

    id: int | None = Field(default=None, primary_key=True)
    launch_id: int = Field(foreign_key="launch.id", ondelete="CASCADE", index=True)
    hypothesis_id: int = Field(foreign_key="hypothesis.id", ondelete="CASCADE")
    enquiry_ids: list[int] = Field(sa_type=sa.JSON)
    relinked_by: str = Field(sa_type=sa.String(100))
    relinked_at: dt.datetime = _created()
    undone_by: str | None = Field(default=None, sa_type=sa.String(100))
    undone_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReadinessProbe(SQLModel, table=True):
    """One row per app process, rewritten by /readyz when it must know whether writes work
    (a full disk fails writes while reads and SELECT 1 still answer)."""

    __tablename__ = "readiness_probe"

    name: str = Field(sa_type=sa.String(100), primary_key=True)
    at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
