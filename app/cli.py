"""The ``tally`` command: serve, demo, db, hypotheses (and, in later modules, users, tokens, digests)."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import getpass
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app import api_tokens, auth, digests, hypothesis_sets, launches, migrations
from app.config import ConfigError, Settings, hide_password, load_settings, unknown_in_env_file, unknown_variables
from app.db import Database, file_in_path, not_a_folder
from app.deps import MAX_ROW_ID
from app.errors import TallyError
from app.jobs.scheduler import DigestScheduler
from app.models import Alert, AlertKind, DigestStatus, Launch, LaunchStatus, Role, TokenRole, User
from app.observability import logs, metrics
from app.slack import blocks as slack_blocks
from app.slack.client import WEBHOOKS_CHANNEL, sender_from

cli = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Launch Tally: count launch enquiries against hypotheses."
)
db_cli = typer.Typer(no_args_is_help=True, help="Database schema.")
hypotheses_cli = typer.Typer(no_args_is_help=True, help="Hypothesis set files (hypotheses/*.yaml).")
users_cli = typer.Typer(no_args_is_help=True, help="People who sign in.")
tokens_cli = typer.Typer(no_args_is_help=True, help="API tokens for integrations.")
cli.add_typer(db_cli, name="db")
cli.add_typer(hypotheses_cli, name="hypotheses")
cli.add_typer(users_cli, name="users")
cli.add_typer(tokens_cli, name="tokens")
digest_cli = typer.Typer(no_args_is_help=True, help="Slack digests.")
cli.add_typer(digest_cli, name="digest")
enquiries_cli = typer.Typer(no_args_is_help=True, help="Enquiries logged outside the app.")
cli.add_typer(enquiries_cli, name="enquiries")
notes_cli = typer.Typer(no_args_is_help=True, help="Notes on enquiries (TALLY_NOTE_RETENTION_DAYS).")
cli.add_typer(notes_cli, name="notes")

log = logging.getLogger("app.cli")


LEVELS = ("debug", "info", "warning", "error")


def settings(*, quiet: bool = True) -> Settings:
    """The settings of a verb, with its logging set up from them (once, before it logs anything).

    ``quiet``: a verb that prints its own outcome logs warnings and errors only, or fewer if
    TALLY_LOG_LEVEL says so: its info lines would say what it prints again. The servers and passes
    (``quiet=False``) log at TALLY_LOG_LEVEL. Either way in TALLY_LOG_FORMAT: a log collector reading
    JSON lines took a verb's console lines for garbage."""
    for line in [*unknown_variables(os.environ), *unknown_in_env_file(os.environ)]:
        typer.echo(f"Warning: {line}", err=True)
    try:
        config = load_settings()
    except ConfigError as exc:
        typer.echo(f"Configuration error:\n{exc}", err=True)
        raise typer.Exit(2) from None
    level = max(config.log_level, "warning", key=LEVELS.index) if quiet else config.log_level
    logs.configure(level=level, renderer=config.log_renderer)
    return config


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


# --- db ---------------------------------------------------------------------------


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Bring the database schema up to date (creates it on an empty database)."""
    from alembic.util import CommandError

    config = settings()
    db = database_of(config)
    try:
        # Read under the migration lock: read before it, two upgrades at once both said "empty -> 0022".
        before = migrations.upgrade(db, revision)
    except migrations.NewerSchema as exc:
        raise fail(str(exc)) from None
    except CommandError as exc:
        raise fail(
            f"Cannot upgrade to {revision!r}: {exc}. The newest is {migrations.head_revision()} (leave the "
            "revision out for it); `tally db current` says where the database is."
        ) from None
    after = migrations.current_revision(db)
    if before == after:
        newer = revision not in ("head", after) and before is not None
        note = f" (a later revision than {revision}: there are no downgrades)" if newer else ""
        typer.echo(f"schema already at {after}{note}")
    else:
        typer.echo(f"schema: {before or 'empty'} -> {after}")


def _shown_database(url: str) -> str:
    """The database as a person would look for it: the SQLite file's absolute path, or the URL without its password."""
    from app import backup

    return str(backup.sqlite_path(url).resolve()) if backup.is_sqlite(url) else make_url(url).render_as_string()


@db_cli.command("current")
def db_current() -> None:
    """Print the schema revision of the database and of the code (a SQLite file that is not there is not made)."""
    config = settings()
    refuse_a_new_file(config.database_url)
    db = database_of(config)
    # Which database, too: a verb run from another directory finds another SQLite file.
    where = _shown_database(config.database_url)
    typer.echo(
        f"database: {migrations.current_revision(db) or 'empty'} ({where})\ncode:     {migrations.head_revision()}"
    )


# --- hypotheses --------------------------------------------------------------------


PathsArg = Annotated[list[Path], typer.Argument(help="YAML files, or folders holding them.", show_default=False)]


@hypotheses_cli.command("validate")
def hypotheses_validate(paths: PathsArg) -> None:
    """Check files against the schema: one line per problem with file, line and field."""
    try:
        launches_found = hypothesis_sets.validate_files(paths, now=now())
    except hypothesis_sets.InvalidFiles as exc:
        raise fail(str(exc)) from None
    for spec in launches_found:
        typer.echo(f"ok: {spec.slug} ({len(spec.hypotheses)} hypotheses)")


class _DryRun(Exception):
    """Raised to roll an import back once it has said what it would change."""


DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Say what the import would change (edits made in the app since the file was exported that it "
        "would undo, too), and change nothing.",
    ),
]


@hypotheses_cli.command("import")
def hypotheses_import(paths: PathsArg, dry_run: DryRunOption = False) -> None:
    """Create or update launches from files, all in one transaction: a bad file imports nothing."""
    config = settings()
    try:
        specs = hypothesis_sets.validate_files(paths, now=now())
    except hypothesis_sets.InvalidFiles as exc:
        raise fail(f"{exc}\nNothing was imported.") from None
    db = ready_database(config)
    changes: list[hypothesis_sets.LaunchChanges] = []
    try:
        with db.transaction() as session:
            changes = [
                hypothesis_sets.import_launch(
                    session,
                    spec,
                    actor=actor(),
                    now=now(),
                    default_timezone=config.timezone,
                    default_digest_times=config.digest_times,
                )
                for spec in specs
            ]
            if dry_run:
                # The very import, rolled back: what it says is what importing the files now would do.
                raise _DryRun
    except TallyError as exc:  # what only the stored launch can tell (a fix time for a status kept open)
        raise fail(f"{exc.message}\nNothing was imported.") from None
    except _DryRun:
        pass
    where = _shown_database(db.url)
    typer.echo(f"Would import into {where} (--dry-run: nothing was changed):" if dry_run else f"Imported into {where}:")
    with db.session() as session:
        for change in changes:
            typer.echo(change.summary())
            if change.outside:
                # The release slipped and the file says so: those logged before the new day drop out of
                # every count, the launch page's totals and the digests' included.
                typer.echo(
                    f"  {change.slug}: {change.outside} "
                    + ("enquiry already logged falls" if change.outside == 1 else "enquiries already logged fall")
                    + " outside the launch's new dates, so "
                    + ("it counts" if change.outside == 1 else "they count")
                    + " nowhere: kept, and counted again if the dates move to include "
                    + ("it." if change.outside == 1 else "them.")
                )
            launch = launches.find_by_slug(session, change.slug)
            if change.created and launch is not None and launch.status == LaunchStatus.DRAFT:
                # The first thing a newcomer runs into: the checklist refuses ticks, digests never come.
                typer.echo(
                    f"  {change.slug} is a draft: agents cannot log enquiries and no digests go out until it is "
                    "live: status: live in the file, or Status: live in the launch's settings (Edit)."
                )


@hypotheses_cli.command("export")
def hypotheses_export(slug: str) -> None:
    """Print a launch as YAML that imports back to the same state."""
    db = ready_database(settings())
    launch = _launch(db, slug)
    with db.session() as session:
        sys.stdout.write(hypothesis_sets.export_launch(session, launch))


@hypotheses_cli.command("schema")
def hypotheses_schema() -> None:
    """Print the JSON Schema of a hypothesis set file."""
    typer.echo(json.dumps(hypothesis_sets.json_schema(), indent=2, ensure_ascii=False))


# --- users and tokens -------------------------------------------------------------


def _read_password(password_stdin: bool) -> str | None:
    if not password_stdin:
        return None
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise fail("--password-stdin: no password on standard input.")
    return password


@users_cli.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name used to sign in.")],
    role: Annotated[Role, typer.Option(help="agent, lead or admin.")] = Role.AGENT,
    display_name: Annotated[str, typer.Option(help="Name shown in the app.")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Add a user. Without --password-stdin a password is generated and printed once."""
    db = ready_database(settings())
    password = _read_password(password_stdin)
    try:
        with db.transaction() as session:
            user, password = auth.add_user(
                session,
                username=name,
                role=role,
                display_name=display_name,
                password=password,
                now=now(),
                actor=actor(),
            )
    except TallyError as exc:
        raise fail(exc.message) from None
    typer.echo(f"Added {user.username} ({user.role.value}) to {_shown_database(db.url)}.")
    if not password_stdin:
        typer.echo(f"Password (shown once): {password}")


@users_cli.command("passwd")
def users_passwd(
    name: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Set a new password (generated unless given on stdin); signs the user out everywhere."""
    db = ready_database(settings())
    password = _read_password(password_stdin) or auth.generate_password()
    try:
        with db.transaction() as session:
            user = auth.get_user(session, name)
            if user is None:
                raise fail(f"No user called {name!r}.")
            auth.set_password(session, user, password, now=now(), actor=actor())
    except TallyError as exc:
        raise fail(exc.message) from None
    typer.echo(f"New password for {user.username} in {_shown_database(db.url)}; signed out everywhere.")
    if not password_stdin:
        typer.echo(f"Password (shown once): {password}")


def _change_user(name: str, change: Callable[[Session, User], None]) -> str:
    """Where it was changed: the database, as the line saying so names it."""
    db = ready_database(settings())
    try:
        with db.transaction() as session:
            user = auth.get_user(session, name)
            if user is None:
                raise fail(f"No user called {name!r}: `tally users list` shows who there is.")
            change(session, user)
    except TallyError as exc:
        raise fail(exc.message) from None
    return _shown_database(db.url)


@users_cli.command("disable")
def users_disable(name: str) -> None:
    """Take a user's access away: signed out everywhere, and refused at sign-in and on every tick (kept, for the
    audit trail and their enquiries)."""
    where = _change_user(
        name, lambda session, user: auth.change_access(session, user, active=False, now=now(), actor=actor())
    )
    typer.echo(f"{name} is disabled in {where} and signed out everywhere.")


@users_cli.command("enable")
def users_enable(name: str) -> None:
    """Give a disabled user access again (with the password they had)."""
    where = _change_user(
        name, lambda session, user: auth.change_access(session, user, active=True, now=now(), actor=actor())
    )
    typer.echo(f"{name} is enabled in {where}: they can sign in again.")


@users_cli.command("role")
def users_role(
    name: str, role: Annotated[Role, typer.Argument(help="agent, lead or admin.", show_default=False)]
) -> None:
    """Change a user's role (it counts from their next request)."""
    where = _change_user(
        name, lambda session, user: auth.change_access(session, user, role=role, now=now(), actor=actor())
    )
    typer.echo(f"{name} is {role.value} now, in {where}.")


@users_cli.command("list")
def users_list() -> None:
    """List users with their roles."""
    db = ready_database(settings())
    with db.session() as session:
        users = auth.list_users(session)
        for user in users:
            state = "" if user.is_active else "  (cannot sign in)"
            typer.echo(f"{user.username:<24} {user.role.value:<6} {user.display_name}{state}")
    if not users:  # nothing at all could be the wrong database: say so, and which
        typer.echo(f"No users in {_shown_database(db.url)} yet: add one with `tally users add NAME --role admin`.")


@tokens_cli.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="What uses it, e.g. telephony.")],
    role: Annotated[
        TokenRole, typer.Option(help="integration: log enquiries and read; lead: also change hypotheses.")
    ] = TokenRole.INTEGRATION,
) -> None:
    """Create an API token and print it once; only its hash is stored."""
    db = ready_database(settings())
    try:
        with db.transaction() as session:
            token, raw = api_tokens.create(session, name=name, now=now(), actor=actor(), role=role)
    except TallyError as exc:
        raise fail(exc.message) from None
    typer.echo(
        f"Token {token.id} ({token.role.value}) for {token.name!r} in {_shown_database(db.url)} (shown once; store it "
        "in the integration's secrets):"
    )
    typer.echo(raw)


@tokens_cli.command("list")
def tokens_list() -> None:
    """List API tokens (never the tokens themselves)."""
    db = ready_database(settings())
    with db.session() as session:
        tokens = api_tokens.list_tokens(session)
        for token in tokens:
            state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
            typer.echo(f"{token.id:>4}  {token.prefix}…  {token.name:<30} {token.role.value:<11} {state}")
    if not tokens:
        typer.echo(f"No API tokens in {_shown_database(db.url)} yet: create one with `tally tokens create NAME`.")


@tokens_cli.command("revoke")
def tokens_revoke(
    # The web's range for ids (deps.RowId): a larger number is no token's, and PostgreSQL refused it
    # with a traceback (NumericValueOutOfRange).
    token_id: Annotated[int, typer.Argument(min=1, max=MAX_ROW_ID, show_default=False)],
) -> None:
    """Revoke a token: requests with it are refused from now on."""
    db = ready_database(settings())
    at = now()
    try:
        with db.transaction() as session:
            token = api_tokens.revoke(session, token_id, now=at, actor=actor())
    except TallyError as exc:
        raise fail(exc.message) from None
    if token.revoked_at is not None and token.revoked_at != at:
        typer.echo(f"Token {token.id} ({token.name}) was revoked already, at {token.revoked_at:%Y-%m-%d %H:%M} UTC.")
        return
    typer.echo(f"Revoked token {token.id} ({token.name}) in {_shown_database(db.url)}.")


# --- serving -----------------------------------------------------------------------


# A factory that each worker calls (by name: the parent process need not import the web app).
SERVED_APP = "app.main:served_app"


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


@contextlib.contextmanager
def sigterm_ends_cleanly() -> Iterator[None]:
    """SIGTERM (how systemd, Docker and Kubernetes stop a process) raises SystemExit here, so the
    `finally` blocks after it run: uvicorn stops gracefully and then raises the signal again, whose
    default action killed the process before the database was closed for good (``stopped``)."""
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def served_at(config: Settings, *, host: str, port: int) -> Settings:
    """The settings with TALLY_BASE_URL, when it was not set, at the address being served: links in
    digests and pages then lead here rather than to the default port. The environment carries it to
    uvicorn's workers, which read their settings afresh."""
    if "base_url" in config.model_fields_set:
        return config
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    address = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
    os.environ["TALLY_BASE_URL"] = address
    return config.model_copy(update={"base_url": address})


def refuse_taken_port(host: str, port: int) -> None:
    """Before the database, the scheduler and the workers start: uvicorn would say so only after
    all of them (with several workers, while the scheduler's first pass ran, which then could not stop)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            shown = f"[{host}]" if ":" in host else host
            if exc.errno == errno.EADDRINUSE:
                raise fail(
                    f"{shown}:{port} is in use ({exc.strerror}): stop what runs there, or choose another port "
                    "with --port."
                ) from None
            # Not a port in use: a name that resolves to nothing, or an address of another machine. Said
            # as such, not as "in use", which sent people looking for a process that was not there.
            if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
                raise fail(
                    f"--host {host}: this machine has no such address ({exc.strerror}): give one of its own, "
                    "such as 127.0.0.1, or 0.0.0.0 for all."
                ) from None
            raise fail(f"Cannot listen on {shown}:{port}: {exc.strerror or exc}.") from None


def run_server(config: Settings, *, host: str, port: int, workers: int) -> None:
    import uvicorn

    from app.serving import UVICORN_OPTIONS

    uvicorn.run(
        SERVED_APP,
        factory=True,
        # The workers apply this themselves: uvicorn's records and the app's come out alike.
        log_config=logs.logging_config(level=config.log_level, renderer=config.log_renderer),
        host=host,
        port=port,
        workers=workers,
        access_log=config.access_log,
        log_level=config.log_level,
        forwarded_allow_ips=config.forwarded_allow_ips,
        **UVICORN_OPTIONS,
    )


def ready_database(config: Settings) -> Database:
    """The database, its schema brought up to date first (as `tally serve` does), so every verb
    works on a brand-new database; with TALLY_AUTO_MIGRATE off, a clear refusal instead. Never a
    new SQLite file: only `tally db upgrade`, `serve`, `demo` and `restore` make one."""
    refuse_a_new_file(config.database_url)
    prepare_database(config)
    return database_of(config)


def refuse_a_new_file(url: str) -> None:
    """Run from another folder (the default sqlite:///./var/tally.db is relative to it) or with a
    mistyped path, a verb made a new, empty database there and said it had done its work: a user
    added to it could never sign in to the real app."""
    from app import backup

    if not backup.is_sqlite(url) or (path := backup.sqlite_path(url)).exists():
        return
    if (file := file_in_path(path)) is not None:
        raise not_a_folder(path.absolute(), file)
    relative = "" if path.is_absolute() else " (a sqlite:/// path is relative to the folder the command runs in)"
    raise fail(
        f"No database at {path.resolve()}{relative}: run `tally db upgrade` first to make one there, or set "
        "TALLY_DATABASE_URL to the database you mean."
    )


def database_of(config: Settings) -> Database:
    """The configured database, for a command: it gives up connecting after
    TALLY_DATABASE_CONNECT_TIMEOUT as the web app does, but has no lock timeout (migrations, imports and
    the scheduler wait as long as they must)."""
    return Database(config.database_url, connect_timeout=config.database_connect_timeout)


def prepare_database(config: Settings) -> None:
    db = database_of(config)
    try:
        if config.auto_migrate:
            migrations.upgrade(db)
        elif (revision := migrations.current_revision(db)) != migrations.head_revision():
            migrations.refuse_newer(revision)  # where `tally db upgrade` cannot help
            raise fail(
                "The database schema is not up to date and TALLY_AUTO_MIGRATE is off: run `tally db upgrade` first."
            )
    except migrations.NewerSchema as exc:
        raise fail(str(exc)) from None
    finally:
        db.dispose()


def start_scheduler(config: Settings) -> DigestScheduler:
    # In this (the parent) process: uvicorn's workers are separate processes
    # that never start one, so --workers N still means one scheduler here.
    scheduler = DigestScheduler(database_of(config), config)
    scheduler.start()
    return scheduler


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for all.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    scheduler: Annotated[
        bool, typer.Option("--scheduler/--no-scheduler", help="Run the digest scheduler in this process.")
    ] = True,
) -> None:
    """Run the web app (migrating the database first, unless TALLY_AUTO_MIGRATE=false)."""
    config = served_at(settings(quiet=False), host=host, port=port)
    refuse_taken_port(host, port)
    prepare_database(config)
    # Before the scheduler starts (it counts digests here) and before the workers do: each worker's
    # counts go to files in this directory, which /metrics adds up.
    operators = metrics.multiprocess_directory()
    directory, made = metrics.prepare_directory(operators) if workers > 1 or operators else (None, False)
    running = start_scheduler(config) if scheduler else None
    try:
        with sigterm_ends_cleanly():
            run_server(config, host=host, port=port, workers=workers)
    finally:
        stopped(running, config)
        if made and directory is not None:
            metrics.remove_directory(directory)


def stopped(running: DigestScheduler | None, config: Settings) -> None:
    """After the server (and its workers) stopped: the scheduler, then the database, closed for good."""
    if running is not None:
        running.shutdown()
        running.db.dispose()
    database_of(config).close_for_good()


@cli.command("scheduler")
def scheduler_command(
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve this process's Prometheus metrics (its last passes, digest and alert runs) at "
            "/metrics on this port; TALLY_METRICS_TOKEN is asked for as with `tally serve`.",
        ),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address for --metrics-port; 0.0.0.0 for all.")] = "127.0.0.1",
) -> None:
    """Run only the digest scheduler, as its own process (pair with `tally serve --no-scheduler`)."""
    config = settings(quiet=False)
    refuse_a_new_file(config.database_url)
    prepare_database(config)
    metrics.prepare_operators_directory()  # its own directory (docs/operations.md)
    if metrics_port is not None:
        token = config.metrics_token.get_secret_value() if config.metrics_token else None
        try:
            metrics.serve_standalone(metrics_host, metrics_port, token=token)
        except OSError as exc:
            raise fail(f"--metrics-port {metrics_port}: cannot listen on {metrics_host}: {exc.strerror}") from None
        shown = f"[{metrics_host}]" if ":" in metrics_host else metrics_host  # an IPv6 address, as a URL has it
        log.info("scheduler metrics at http://%s:%d/metrics", shown, metrics_port)
    running = DigestScheduler(database_of(config), config, blocking=True)
    try:
        with sigterm_ends_cleanly():
            running.start()
    finally:
        stopped(running, config)


# --- digests -----------------------------------------------------------------------


def _launch(db: Database, slug: str) -> Launch:
    with db.session() as session:
        try:
            return launches.get_by_slug(session, slug)
        except TallyError as exc:
            raise fail(exc.message) from None


_SKEW = dt.timedelta(minutes=5)  # another machine's clock a little ahead is not the future


def _parse_now(value: str | None, *, future_refused: str | None = None) -> dt.datetime:
    """``--now``; a moment to come refused with ``future_refused``, why acting as if it were then would
    change what happens when it comes, in the real database."""
    if value is None:
        return now()
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--now {value!r} is not an ISO time such as 2026-11-18T13:00:00+01:00", code=2) from None
    if moment.tzinfo is None:
        raise fail(f"--now {value!r} needs a UTC offset, such as 2026-11-18T13:00:00+01:00", code=2)
    if future_refused is not None and moment > now() + _SKEW:
        raise fail(
            f"--now {value!r} is in the future: {future_refused} Leave --now out, or give a past moment "
            "(on a copy of the database to try things out: docs/operations.md).",
            code=2,
        )
    return moment.astimezone(dt.UTC)


# Every --now is refused in the future (_parse_now), and the help says so: "as if it were this moment"
# promised any moment, and a moment to come ended in exit 2.
_PAST_MOMENT = "a past moment, ISO 8601 with offset (such as 2026-11-18T13:00:00+01:00); a future one is refused"


@digest_cli.command("run-due")
def digest_run_due(
    at: Annotated[str | None, typer.Option("--now", help=f"Act as if it were then: {_PAST_MOMENT}.")] = None,
) -> None:
    """Do what the scheduler does at this moment: send every due, unsent digest, then check for spike alerts
    (not for a past --now: they would read as happening now)."""
    config = settings(quiet=False)
    db = ready_database(config)
    alerts: list[Alert] = []
    failed: list[str] = []
    moment = _parse_now(
        at, future_refused="a pass as if it were then would record the digests until then as sent or missed, for good."
    )
    looks_back = digests.looks_back(moment, now())
    # Composed as at --now, but claimed by the real clock: a claim stamped hours ago looks abandoned to
    # a running scheduler, which would take it over and post the same digest during this one's post.
    # Posted by the real clock too, so a past slot's digest says it is late.
    runs = digests.run_due(
        db,
        settings=config,
        now=moment,
        sender=sender_from(config, rate_limit_retries=0),  # as the scheduler's: see DigestScheduler
        alerts_done=alerts,
        clock=now,
        failed=failed,
        check_alerts=not looks_back,
    )
    for run in runs:
        typer.echo(f"{run.slot_key}: {run.status.value}" + (f" ({run.error})" if run.error else ""))
    for alert in alerts:
        typer.echo(
            f"alert {alert.claim_key}: {alert.status.value}, {alert.count} enquiries, "
            f"{slack_blocks.ratio_label(alert.count, alert.normal, theme=alert.kind == AlertKind.THEME)}"
            + (f" ({alert.error})" if alert.error else "")
        )
    for slug in failed:
        typer.echo(f"{slug}: digests failed (the log above says why); the next pass tries again", err=True)
    if not runs and not alerts and not failed:
        typer.echo("nothing due")
    if looks_back:
        typer.echo("spike alerts: not checked, as --now is in the past (the scheduler checks them as they happen)")
    if failed or DigestStatus.FAILED in {run.status for run in runs} | {alert.status for alert in alerts}:
        raise typer.Exit(1)


@digest_cli.command("preview")
def digest_preview(
    slug: str,
    at: Annotated[
        str | None, typer.Option("--now", help=f"The digest a send would have posted then: {_PAST_MOMENT}.")
    ] = None,
) -> None:
    """Print the digest a send would post now, as text."""
    config = settings()
    db = ready_database(config)
    launch = _launch(db, slug)
    # Only read, yet a moment to come is refused too: counting as if it were then keeps the counts of
    # 15-minute slots not over yet, shared by every process, without the enquiries logged in them meanwhile.
    moment = _parse_now(
        at,
        future_refused="counting as if it were then would keep, for every process, counts of 15-minute slots not "
        "over yet, without the enquiries logged in them meanwhile (a preview sends and records nothing, but "
        "the counts it makes are kept).",
    )
    text, _ = digests.preview_message(db, launch, settings=config, now=moment, present=at is None)
    typer.echo(text)


@digest_cli.command("send")
def digest_send(slug: str) -> None:
    """Send a digest now (the window since the last scheduled one). Exits non-zero, saying why, if Slack refuses."""
    config = settings()
    db = ready_database(config)
    launch = _launch(db, slug)
    sender = sender_from(config)
    if sender is None:
        raise fail("Slack is not configured: set SLACK_BOT_TOKEN (or SLACK_WEBHOOK_URL), then try again.")
    try:
        run = digests.send_now(
            db, launch, settings=config, now=now(), sender=sender, max_pause=digests.BY_HAND_MAX_PAUSE
        )
    except TallyError as exc:  # the one sent before may be in Slack, and Slack could not be checked
        raise fail(exc.message) from None
    tz = launches.zone(launch)
    if run.status == DigestStatus.RETRYING and run.next_attempt_at is not None:
        # Said so, an operator does not send it again and again (each a post once Slack is back);
        # sending again replaces this one all the same, once it is sure not to be in the channel.
        retry = run.next_attempt_at.astimezone(tz)
        again = (
            "It may be in the channel already: sending again looks for it there first, and replaces it only if "
            "it is not there."
            if run.maybe_posted
            else "Sending again replaces it."
        )
        raise fail(
            f"Not sent yet: {run.error} It is kept: the scheduler (tally serve or tally scheduler) tries again at "
            f"{retry:%H:%M} ({launch.timezone}). {again}"
        )
    if run.status not in (DigestStatus.SENT, DigestStatus.LATE):
        raise fail(f"Not sent ({run.status.value}): {run.error}")
    where = (launch.slack_channel or run.channel) if run.channel else WEBHOOKS_CHANNEL  # a webhook's: its own
    start, end = run.window_start.astimezone(tz), run.window_end.astimezone(tz)
    typer.echo(f"Sent to {where} ({start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}, {launch.timezone}).")


@cli.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    force: Annotated[
        bool, typer.Option("--force", help="Run on a database that holds users or launches the demo did not make.")
    ] = False,
) -> None:
    """Load the example launch, demo users and a few days of enquiries, then serve. Only into a database of its
    own (never with TALLY_ENV=production): it moves its launch's dates and adds users with known passwords."""
    from app import demo as demo_data

    config = served_at(settings(quiet=False), host=host, port=port)
    refuse_taken_port(host, port)
    prepare_database(config)
    db = database_of(config)
    try:
        report = demo_data.load(db, settings=config, now=now(), force=force)
    finally:
        db.dispose()
    typer.echo(demo_data.welcome(report, address=config.base_url, database_url=config.database_url))
    metrics.prepare_operators_directory()  # before the scheduler counts
    running = start_scheduler(config)
    try:
        with sigterm_ends_cleanly():
            run_server(config, host=host, port=port, workers=1)
    finally:
        stopped(running, config)


# --- enquiries ---------------------------------------------------------------------


IMPORT_HELP = (
    "Bring in enquiries that happened before they were logged (days ticked on paper).\n\n"
    "Columns: occurred_at (ISO 8601 with offset, such as 2026-11-18T09:42:00+01:00), hypotheses (keys "
    "separated by ';', empty for other), channel, segment (may be empty), note (may be empty; personal data "
    "is masked) and, optionally, count (1 to 10000 enquiries; empty for 1).\n\n"
    "The whole file is checked first, one line per problem (FILE:LINE: column: message), and a file with a "
    "problem imports nothing. Draft, live and closed launches all take an import: what is checked is that "
    "each time lies within the launch's dates and not in the future, whatever its status.\n\n"
    "Running a file again adds nothing; a file with rows added (or a count raised) adds only those. "
    "Migrates the database first, unless TALLY_AUTO_MIGRATE=false."
)


@enquiries_cli.command("import", help=IMPORT_HELP)
def enquiries_import(
    file: Annotated[
        Path,
        typer.Argument(help="CSV file, UTF-8, header row first.", exists=True, dir_okay=False, show_default=False),
    ],
    slug: Annotated[str, typer.Option("--launch", help="Slug of the launch they belong to.", show_default=False)],
) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from app import imports

    config = settings()
    db = ready_database(config)
    try:
        launch = _launch(db, slug)
        started = now()
        with db.session() as session:
            hypotheses = launches.hypotheses_of(session, launch)
        try:
            rows = imports.read(
                file, launch=launch, hypotheses=hypotheses, now=started, imported=imports.imported_keys(db, launch)
            )
        except imports.InvalidFile as exc:
            raise fail(f"{exc}\nNothing was imported.") from None
        console = Console(stderr=True)
        columns = (TextColumn("Importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
            task = progress.add_task("import", total=sum(row.count for row in rows))
            report = imports.import_rows(
                db,
                launch=launch,
                rows=rows,
                now=started,
                actor=actor(),
                source_name=file.name,
                on_progress=lambda done: progress.advance(task, done),
            )
    finally:
        db.dispose()
    typer.echo(report.summary(launch, database=_shown_database(db.url)))


# --- retention, backup and restore --------------------------------------------------


@notes_cli.command("purge")
def notes_purge(
    at: Annotated[str | None, typer.Option("--now", help=f"Act as if it were then: {_PAST_MOMENT}.")] = None,
) -> None:
    """Erase now what the scheduler erases daily: the notes of enquiries older than TALLY_NOTE_RETENTION_DAYS.
    The enquiries, and so every count, stay."""
    from app import retention

    config = settings()
    if config.note_retention_days is None:
        raise fail("TALLY_NOTE_RETENTION_DAYS is not set, so notes are kept: set it to a number of days first.", 2)
    db = ready_database(config)
    try:
        purged = retention.purge_notes(
            db,
            days=config.note_retention_days,
            now=_parse_now(
                at, future_refused="erasing as if it were then would erase notes the retention still keeps."
            ),
        )
    finally:
        db.dispose()
    typer.echo(
        f"Erased {purged.notes} notes of enquiries before {purged.cutoff:%Y-%m-%d %H:%M} UTC "
        f"({config.note_retention_days} days) in {_shown_database(db.url)}; {purged.digests} stored digests lost "
        "their quoted notes."
    )


@notes_cli.command("scrub")
def notes_scrub(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say which enquiries' notes would change; change nothing.")
    ] = False,
) -> None:
    """Scrub the stored notes again with this version's scrubber, after an upgrade that taught it more
    (the notes stored before it keep what it missed then). Counts stay; stored digests lose their quotes
    of the old texts."""
    from app import retention

    db = ready_database(settings())
    try:
        scrubbed = retention.scrub_notes(db, actor=actor(), now=dt.datetime.now(dt.UTC), dry_run=dry_run)
    finally:
        db.dispose()
    where = _shown_database(db.url)
    if not scrubbed.notes:
        typer.echo(f"Every stored note in {where} is as this version scrubs it: nothing to change.")
        return
    by_launch = "; ".join(f"{slug}: {_some_ids(ids)}" for slug, ids in scrubbed.changed.items())
    count = f"{scrubbed.notes} note{'' if scrubbed.notes == 1 else 's'}"
    if dry_run:
        typer.echo(
            f"{count} in {where} would be scrubbed ({by_launch}). Nothing was changed: run it without --dry-run."
        )
        return
    typer.echo(
        f"Scrubbed {count} again in {where} ({by_launch}); {scrubbed.digests} stored "
        f"digest{'' if scrubbed.digests == 1 else 's'} lost their quotes of the old texts."
    )


def _some_ids(ids: list[int], most: int = 10) -> str:
    """Enquiry ids to look up, not a screenful: the first ``most``."""
    shown = ", ".join(map(str, ids[:most]))
    return f"enquiries {shown}" + (f" and {len(ids) - most} more" if len(ids) > most else "")


@notes_cli.command("erase")
def notes_erase(
    ids: Annotated[list[int], typer.Argument(help="Enquiry ids (the API's `id`; the export's `enquiry_id`).")],
) -> None:
    """Erase the notes of these enquiries now (a name or number the scrubber missed, or a customer's request
    to be forgotten). The enquiries, and so every count, stay; stored digests lose their quotes of them.
    Cannot be undone."""
    from app import retention
    from app.models import Enquiry

    db = ready_database(settings())
    try:
        with db.transaction() as session:
            launch_of = {}
            for enquiry_id in dict.fromkeys(ids):
                enquiry = session.get(Enquiry, enquiry_id) if 0 < enquiry_id <= MAX_ROW_ID else None
                if enquiry is None:
                    raise fail(f"No enquiry with id {enquiry_id}: nothing was erased. Check the ids and run it again.")
                launch_of[enquiry_id] = enquiry.launch_id
            notes = digests = 0
            for launch_id in sorted(set(launch_of.values())):
                chosen = [i for i, of in launch_of.items() if of == launch_id]
                erased = retention.erase_notes(session, launch_id, chosen, actor=actor(), now=dt.datetime.now(dt.UTC))
                notes, digests = notes + erased.notes, digests + erased.digests
    finally:
        db.dispose()
    none = len(launch_of) - notes
    typer.echo(
        f"Erased {notes} note{'' if notes == 1 else 's'} in {_shown_database(db.url)}; {digests} stored "
        f"digest{'' if digests == 1 else 's'} "
        "lost their quotes of them." + (f" {none} of the enquiries had no note left to erase." if none else "")
    )


@cli.command("backup")
def backup_command(
    path: Annotated[Path, typer.Argument(help="The file to write.", show_default=False, dir_okay=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")] = False,
) -> None:
    """Copy the SQLite database to PATH, consistently, while the app serves. On PostgreSQL: prints the pg_dump
    command to use instead."""
    from app import backup

    def stop(signum: int, frame: object) -> None:
        raise backup.BackupError(f"The backup was stopped (SIGTERM): nothing was written to {path}.")

    # SIGTERM (a timeout, or systemd stopping the job) killed it at once: its partial copy, as big as the
    # database, stayed behind under a hidden name, and another came with each stopped run. Raised here,
    # the backup's own clean-up runs (once SQLite's copy step returns).
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        copied = backup.backup_sqlite(settings().database_url, path, force=force)
    finally:
        signal.signal(signal.SIGTERM, previous)
    typer.echo(
        f"Wrote {copied.path} ({copied.size / 1_000_000:.1f} MB, schema {copied.revision or 'empty'}, "
        f"{copied.enquiries} enquiries)."
    )


@cli.command("restore")
def restore_command(
    path: Annotated[Path, typer.Argument(help="A backup made by `tally backup`.", show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Restore even though the database seems in use.")] = False,
) -> None:
    """Replace the SQLite database with the backup at PATH, then upgrade its schema. Stop the app first.
    On PostgreSQL: prints the pg_restore steps."""
    from app import backup

    config = settings()
    restored = backup.restore_sqlite(config.database_url, path, now=now(), force=force)
    typer.echo(
        f"Restored {restored.source} into {restored.target} ({restored.enquiries} enquiries); "
        f"schema {restored.from_revision} -> {restored.to_revision}."
    )
    if restored.damaged is not None:
        typer.echo(
            f"The database it replaced was not a healthy SQLite database ({restored.damaged}): it is kept as it "
            f"was, as {restored.kept}."
        )
    elif restored.kept is not None:
        typer.echo(f"The database it replaced is kept as {restored.kept}; delete it once you are sure.")


def _reason(exc: sa.exc.DBAPIError, url: str) -> str:
    """The driver's first line, never the statement (its parameters hold hashes), nor the password
    (libpq names the host, and a password with an unescaped @ ran into it)."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig and str(exc.orig).strip() else type(exc).__name__
    return hide_password(reason, url)


INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL's SQLSTATE


def _refusal(exc: sa.exc.DatabaseError, url: str) -> str | None:
    """One line for a database error the operator can fix, or None."""
    from app import backup

    if backup.is_sqlite(url) and backup.is_damage(exc.orig):
        return backup.unhealthy(backup.sqlite_path(url).resolve(), exc.orig)
    if getattr(exc.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
        parsed = make_url(url)
        user, name = parsed.username or "the user it connects as", parsed.database
        return (
            f"The database user {user} may not do this in the database {name}: {_reason(exc, url)}. Launch "
            f"Tally's database user must own its database (ALTER DATABASE {name} OWNER TO {user}) or at least "
            f"have CREATE on its schema public (GRANT CREATE ON SCHEMA public TO {user}, run in {name}): "
            "see docs/operations.md, Databases."
        )
    return None


def main() -> None:
    """The command line, with every known failure said in a line or two, never as a traceback."""
    try:
        code = cli(standalone_mode=False)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(130)
    except typer.TyperException as exc:
        # Typer (0.29 on) parses with its own copy of click, whose usage errors (an unknown verb or
        # option, a missing argument, a bad value) are these: said in a line, with the usage.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except TallyError as exc:
        typer.echo(exc.message, err=True)
        sys.exit(1)
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        url = load_settings().database_url
        typer.echo(
            f"The database at {_shown_database(url)} did not answer: {_reason(exc, url)}\nCheck "
            "TALLY_DATABASE_URL and that the database server is running.",
            err=True,
        )
        sys.exit(1)
    except sa.exc.DataError as exc:
        # A value the database cannot store (too long for its column, a number out of its range, a NUL):
        # the database's own first line says which, never the statement (its parameters hold hashes).
        reason = _reason(exc, load_settings().database_url)
        typer.echo(f"The database refused a value as given, and nothing was changed: {reason}", err=True)
        sys.exit(1)
    except sa.exc.DatabaseError as exc:
        refusal = _refusal(exc, load_settings().database_url)
        if refusal is None:
            raise  # not the operator's to fix: a traceback for whoever fixes it
        typer.echo(refusal, err=True)
        sys.exit(1)
    except OSError as exc:
        typer.echo(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
