"""People and sign-in: users, passwords (argon2 via pwdlib), sessions, rate limits.

A session is a random token in an HttpOnly cookie; the database keeps only
its SHA-256, so a leaked database backup cannot be replayed as cookies. Each
sign-in makes a new token (no session fixation); signing out or changing the
password revokes tokens, so old cookies stop working at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from pwdlib import PasswordHash
from sqlmodel import Session, col, select

from app import audit
from app.config import Settings
from app.errors import Conflict, Forbidden, Invalid, TooManyRequests, Unauthenticated
from app.i18n import N_, Text
from app.models import CONTROL_CHARACTER, MAX_DISPLAY_NAME, LoginAttempt, Role, User, WebSession, id_of
from app.recording.credentials import hash_token

MIN_PASSWORD_LENGTH = 10
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Checked against when the user does not exist, so a wrong user name takes
    # as long as a wrong password and names cannot be probed by timing.
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher().verify(password, _dummy_hash())
        return False
    return bool(_hasher().verify(password, password_hash))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"A password needs at least {MIN_PASSWORD_LENGTH} characters.", field="password", code="password_too_short"
        )


def normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME_PATTERN.match(name):
        raise Invalid(
            Text(N_("A user name is 1–64 lower-case letters, digits or . _ @ -, starting with a letter or digit.")),
            field="username",
        )
    return name


# --- users -------------------------------------------------------------------------


def get_user(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username.strip().lower())).first()


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.username))))


def add_user(
    session: Session,
    *,
    username: str,
    role: Role,
    now: dt.datetime,
    actor: str,
    display_name: str = "",
    password: str | None = None,
) -> tuple[User, str]:
    """Create a user; returns it and its password (generated when none is given)."""
    name = normalise_username(username)
    shown_as = display_name.strip()
    if len(shown_as) > MAX_DISPLAY_NAME:
        # Checked here, for `tally users add` too (the web form has its own limit): PostgreSQL refused
        # it with a traceback, SQLite kept it whole.
        raise Invalid(
            Text(
                N_("A display name is at most {limit} characters; this one has {n}."),
                limit=MAX_DISPLAY_NAME,
                n=len(shown_as),
            ),
            field="display_name",
        )
    if CONTROL_CHARACTER.search(shown_as):
        raise Invalid(
            Text(N_("The display name holds a control character (such as \\0): write plain text.")),
            field="display_name",
        )
    taken = Conflict(f"There is already a user called {name!r}.", field="username", code="user_exists")
    if get_user(session, name) is not None:
        raise taken
    if password is None:
        password = generate_password()
    check_password_rules(password)
    user = User(
        username=name,
        display_name=shown_as,
        role=role,
        password_hash=hash_password(password),
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except sa.exc.IntegrityError:
        # Added meanwhile (a double click on PostgreSQL, where the check above does not stop the other's
        # insert): the unique user name refused this one.
        if get_user(session, name) is None:
            raise
        raise taken from None
    audit.record(
        session, actor=actor, action="user.created", target_type="user", target_id=user.id, now=now, role=role.value
    )
    return user, password


def set_password(session: Session, user: User, password: str, *, now: dt.datetime, actor: str) -> None:
    """Change a password and sign the user out everywhere."""
    check_password_rules(password)
    user.password_hash = hash_password(password)
    session.add(user)
    revoke_sessions(session, user, now=now)
    # A new password lifts a lock-out from failed sign-ins (the message tells locked-out people so).
    forget_failures(session, user)
    audit.record(session, actor=actor, action="user.password_changed", target_type="user", target_id=user.id, now=now)


def forget_failures(session: Session, user: User) -> None:
    """The account's failed sign-ins, deleted: what an admin's reset or re-enabling lifts."""
    session.execute(
        sa.delete(LoginAttempt).where(
            col(LoginAttempt.username) == user.username, col(LoginAttempt.succeeded).is_(False)
        )
    )


ACCESS_LOCK = "tally-user-access"


def change_access(
    session: Session,
    user: User,
    *,
    now: dt.datetime,
    actor: str,
    role: Role | None = None,
    active: bool | None = None,
    seen: tuple[Role, bool] | None = None,
    acting: User | None = None,
) -> None:
    """Change ``user``'s role and whether they can sign in (``None``: left as it is); the one way both
    change, on the web and on the command line.

    Changes like this are made one at a time (``_one_access_change_at_a_time``) and read ``user`` again
    after waiting their turn: on PostgreSQL two admins demoting each other at the same moment each
    still saw the other as admin, and no admin was left. The change that would leave no active admin
    is refused. ``seen``: the role and access the page showed when it was opened; a field changed here
    that someone else changed since is refused as stale, so an old page never undoes their change.
    ``acting``: the admin making it, who must still be one when their turn comes."""
    _one_access_change_at_a_time(session)
    session.refresh(user)
    if acting is not None:
        session.refresh(acting)
        if not (acting.is_active and acting.role == Role.ADMIN):
            raise Forbidden(
                f"This needs the admin role; you are signed in as {acting.role.value}.", code="forbidden_role"
            )
    if seen is not None:
        # Only what the admin changed on the page is changed: the rest of its form is as it was shown.
        role = None if role == seen[0] else role
        active = None if active == seen[1] else active
        if (role is not None and user.role != seen[0]) or (active is not None and user.is_active != seen[1]):
            raise Conflict(
                f"Someone else changed {user.username}'s role or access since you opened the page: nothing was saved.",
                field="role",
                code="stale_version",
            )
    new_role = user.role if role is None else role
    new_active = user.is_active if active is None else active
    if user.role == Role.ADMIN and user.is_active and not (new_role == Role.ADMIN and new_active):
        others = session.execute(
            sa.select(sa.func.count())
            .select_from(User)
            .where(col(User.role) == Role.ADMIN, col(User.is_active).is_(True), col(User.id) != user.id)
        ).scalar_one()
        if not others:
            raise Conflict(
                "At least one active admin must remain: make someone else admin first.", field="role", code="last_admin"
            )
    _set_role(session, user, new_role, now=now, actor=actor)
    _set_active(session, user, new_active, now=now, actor=actor)


def _one_access_change_at_a_time(session: Session) -> None:
    """PostgreSQL: this transaction's lock on changes of role and access. (On SQLite a write
    transaction holds the whole database already.)"""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(ACCESS_LOCK))))


def _set_role(session: Session, user: User, role: Role, *, now: dt.datetime, actor: str) -> None:
    if user.role != role:
        audit.record(
            session,
            actor=actor,
            action="user.role_changed",
            target_type="user",
            target_id=user.id,
            now=now,
            old=user.role.value,
            new=role.value,
        )
        user.role = role
        session.add(user)


def _set_active(session: Session, user: User, active: bool, *, now: dt.datetime, actor: str) -> None:
    if user.is_active != active:
        user.is_active = active
        session.add(user)
        if active:
            # Tries while disabled (with the right password too, by someone who did not know) would
            # otherwise keep the person out for the failure window after an admin let them back in.
            forget_failures(session, user)
        else:
            revoke_sessions(session, user, now=now)
        audit.record(
            session,
            actor=actor,
            action="user.enabled" if active else "user.disabled",
            target_type="user",
            target_id=user.id,
            now=now,
        )


# --- sign-in -----------------------------------------------------------------------


def _failures(session: Session, since: dt.datetime, *where: Any) -> tuple[int, dt.datetime | None]:
    """How many failed sign-ins match ``where`` since ``since``, and when the last one was."""
    count, last = session.execute(
        sa.select(sa.func.count(), sa.func.max(LoginAttempt.at)).where(
            *where, col(LoginAttempt.at) >= since, col(LoginAttempt.succeeded).is_(False)
        )
    ).one()
    return int(count), last


# Past the per-account limit, from anywhere, each further try waits this long after the last
# failure, doubling per failure up to a minute: a guesser spread over many addresses gets about
# one guess a minute. An attacker who fails once a minute keeps that wait going for good, so a
# browser the account's owner signed in with before (``device_token``) is let past it.
SLOWDOWN_FIRST = dt.timedelta(seconds=2)
SLOWDOWN_MAX = dt.timedelta(minutes=1)
DEVICE_COOKIE = "tally_device"
DEVICE_COOKIE_DAYS = 365
MAX_DEVICE_ACCOUNTS = 8  # accounts one browser is known for (a shared desk in a customer centre)


def device_token(user: User, settings: Settings) -> str:
    """What a browser keeps (in ``DEVICE_COOKIE``) once ``user`` signed in with it: proof, for that
    account only, that this browser has known the password before (OWASP's device cookies). Made
    from the password's hash too, so a password change or reset ends every browser's."""
    key = settings.secret_key.get_secret_value().encode()
    made_of = f"device|{user.username}|{user.password_hash or ''}"
    return hmac.new(key, made_of.encode(), hashlib.sha256).hexdigest()[:32]


def known_device(cookie: str | None, user: User | None, settings: Settings) -> bool:
    if not cookie or user is None:
        return False
    mine = device_token(user, settings)
    # As bytes: compare_digest raises TypeError for a str holding anything but ASCII, and a cookie is what
    # the browser sent ("é", set by anyone who can set cookies for the domain): sign-in was a 500.
    return any(hmac.compare_digest(mine.encode(), token.encode()) for token in cookie.split(".")[:MAX_DEVICE_ACCOUNTS])


def known_as(proof: str) -> str:
    """What a known browser's failures are counted under (``LoginAttempt.device``): a hash of the
    account's device token, or of the session it is signed in with, never the secret itself."""
    return hashlib.sha256(proof.encode()).hexdigest()[:32]


def remember_device(cookie: str | None, user: User, settings: Settings, *, instead_of: str | None = None) -> str:
    """The cookie's new value: this account's token first, then up to seven others it held (but
    ``instead_of``, the account's token from before its password changed, which proves nothing now)."""
    mine = device_token(user, settings)
    others = [t for t in (cookie or "").split(".") if re.fullmatch(r"[0-9a-f]{32}", t) and t not in (mine, instead_of)]
    return ".".join([mine, *others][:MAX_DEVICE_ACCOUNTS])


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    address: str,
    now: dt.datetime,
    settings: Settings,
    device: str | None = None,
    signed_in: str | None = None,
) -> User:
    """The user, if the password is right and no limit stands in the way:

    * per account **and address**: ``login_max_failures_per_account`` failures lock that account
      for that address only (someone else cannot lock a person out of their own account);
    * per address: ``login_max_failures_per_address`` failures lock the address for every account;
    * per account, from anywhere: past the same number of failures, each try must wait a moment
      after the last failure (doubling up to a minute), which slows a spread-out guesser down.

    A browser that signed in to this account before, with its current password (``device``, its
    ``DEVICE_COOKIE``: ``known_device``), or is signed in now (``signed_in``, its session token), is
    let past the last two, and its own failures are counted apart from its address's: it is locked
    after as many as an address is, but nobody else's failures, from the same office's address or
    from anywhere, keep the account's owner out (OWASP's device cookies). Attempts for one account
    are checked one at a time (on SQLite the write transaction does that; on PostgreSQL a lock per
    account, waited for up to ``SIGN_IN_PATIENCE``, else 429), so a burst of them cannot all pass the
    count before any is recorded. On PostgreSQL the limits are checked before queueing too, so tries
    they refuse never keep anyone waiting.

    Every attempt the limits let through is recorded (the right password for a disabled account as a
    failure, answered as a wrong one is); the caller commits even when this raises, so failures count
    (use a write session and commit in ``finally``)."""
    name = username.strip().lower()[:64]
    address = address[:64]
    user = get_user(session, name)
    known_here = user is not None and known_device(device, user, settings)
    proof = device_token(user, settings) if known_here and user is not None else signed_in or None
    device_key = known_as(proof) if proof is not None else None
    # Checked before queueing for the account, so tries refused anyway never hold its owner up: a
    # stranger's flood of them made the owner's right password mostly "being checked" (429).
    _refuse_if_limited(session, name=name, address=address, device_key=device_key, now=now, settings=settings)
    if session.get_bind().dialect.name == "postgresql":
        _one_at_a_time(session, name)
        # Again: the ones checked while this one waited have recorded themselves.
        _refuse_if_limited(session, name=name, address=address, device_key=device_key, now=now, settings=settings)
    right = verify_password(password, user.password_hash if user else None) and user is not None
    ok = right and user is not None and user.is_active
    # The right password on a disabled account counts as a failure too: left out of the count, the
    # lockout coming a try later told a guesser the password was right. (Enabling the account again
    # forgets its failures, so its owner is not kept out by them.)
    session.add(LoginAttempt(username=name, address=address, at=now, succeeded=ok, device=device_key))
    if not ok or user is None:
        raise Unauthenticated("Wrong user name or password.", code="wrong_credentials")
    return user


# How long a sign-in on PostgreSQL waits for one of the same account's ahead of it (a hash each, a
# quarter of a second on a busy server; the tries refused by the limits do not queue) before it is
# told to try again.
SIGN_IN_PATIENCE = dt.timedelta(seconds=5)
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout runs out


def _one_at_a_time(session: Session, name: str) -> None:
    """PostgreSQL: the account's lock for this transaction, after the attempts being checked before it."""
    previous = session.execute(sa.select(sa.func.current_setting("lock_timeout"))).scalar_one()
    patience = f"{int(SIGN_IN_PATIENCE.total_seconds() * 1000)}ms"
    try:
        with session.begin_nested():  # a lock timeout spoils only the savepoint, not what the caller commits
            session.execute(sa.select(sa.func.set_config("lock_timeout", patience, True)))
            session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext("tally-login:" + name))))
    except sa.exc.OperationalError as error:
        if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        raise TooManyRequests(
            "Another sign-in for this account is being checked: try again in a moment.",
            retry_after=1,
            code="sign_in_busy",
        ) from None
    session.execute(sa.select(sa.func.set_config("lock_timeout", previous, True)))


# One message each, saying what the count is kept by (a fixed text for the code, over an English
# detail, showed two lines that disagreed on both that and the wait). "Up to": the failures count for
# the window from each one, so the block lifts as the oldest ages out.
_LOCKED_BROWSER = N_(
    "Too many failed sign-ins for this account from this browser. Wait up to {minutes} minutes and try again, or "
    "ask an admin to reset your password: a new password lifts the block at once."
)
_LOCKED_ADDRESS = N_(
    "Too many failed sign-ins for this account from this network address (in an office, often every desk). Wait "
    "up to {minutes} minutes and try again, or ask an admin to reset your password: a new password lifts the "
    "block at once."
)
_LOCKED_WHOLE_ADDRESS = N_(
    "Too many failed sign-ins from this network address, for any account (in an office, often every desk). Wait "
    "up to {minutes} minutes and try again."
)


def _refuse_if_limited(
    session: Session, *, name: str, address: str, device_key: str | None, now: dt.datetime, settings: Settings
) -> None:
    """Raises if a limit (``authenticate``'s) stands in the way of one more try."""
    window = dt.timedelta(minutes=settings.login_failure_window_minutes)
    since = now - window
    minutes = settings.login_failure_window_minutes
    limit = settings.login_max_failures_per_account
    known = device_key is not None
    here_is = col(LoginAttempt.device) == device_key if device_key else col(LoginAttempt.address) == address
    here, _ = _failures(session, since, col(LoginAttempt.username) == name, here_is)
    if here >= limit:
        raise TooManyRequests(
            Text(_LOCKED_BROWSER if known else _LOCKED_ADDRESS, minutes=minutes),
            retry_after=int(window.total_seconds()),
            code="locked_account",
        )
    from_address, _ = (0, None) if known else _failures(session, since, col(LoginAttempt.address) == address)
    if from_address >= settings.login_max_failures_per_address:
        raise TooManyRequests(
            Text(_LOCKED_WHOLE_ADDRESS, minutes=minutes),
            retry_after=int(window.total_seconds()),
            code="locked_address",
        )
    anywhere, last = (0, None) if known else _failures(session, since, col(LoginAttempt.username) == name)
    if anywhere >= limit and last is not None:
        wait = min(SLOWDOWN_FIRST * 2 ** (anywhere - limit), SLOWDOWN_MAX)
        if now < last + wait:
            raise TooManyRequests(
                "Too many failed sign-ins for this account just now: wait a moment and try again.",
                retry_after=max(1, int((last + wait - now).total_seconds() + 0.999)),
                code="slow_down",
            )


def start_session(session: Session, user: User, *, now: dt.datetime, settings: Settings) -> str:
    """A new session for ``user``; returns the raw token for the cookie."""
    token = new_token()
    session.add(
        WebSession(
            token_hash=hash_token(token),
            user_id=id_of(user),
            created_at=now,
            expires_at=now + dt.timedelta(days=settings.session_days),
        )
    )
    return token


def end_session(session: Session, token: str, *, now: dt.datetime) -> None:
    session.execute(
        sa.update(WebSession)
        .where(col(WebSession.token_hash) == hash_token(token), col(WebSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def revoke_sessions(session: Session, user: User, *, now: dt.datetime) -> None:
    session.execute(
        sa.update(WebSession)
        .where(col(WebSession.user_id) == user.id, col(WebSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def find_session(session: Session, token: str, *, now: dt.datetime) -> tuple[User, WebSession] | None:
    row = session.exec(
        select(User, WebSession)
        .join(WebSession, col(WebSession.user_id) == col(User.id))
        .where(
            WebSession.token_hash == hash_token(token),
            col(WebSession.revoked_at).is_(None),
            col(WebSession.expires_at) > now,
            col(User.is_active).is_(True),
        )
    ).first()
    return (row[0], row[1]) if row else None


def prune_login_attempts(session: Session, *, now: dt.datetime, keep: dt.timedelta = dt.timedelta(days=30)) -> int:
    result = session.connection().execute(sa.delete(LoginAttempt).where(col(LoginAttempt.at) < now - keep))
    return int(result.rowcount or 0)
