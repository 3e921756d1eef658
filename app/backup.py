"""``tally backup`` and ``tally restore``: a copy of the whole database, taken while the app serves.

**SQLite.** SQLite's online backup API (``sqlite3.Connection.backup``) copies every page in one
step, inside one read transaction of the source: in WAL mode writers go on meanwhile and the
copy is the database as of one commit, never half of one. (Copying ``tally.db`` with ``cp`` can
miss what is still in ``tally.db-wal``, or catch a page half-written.) The copy is written next
to the target under a temporary name and moved into place only once it is complete and checked,
so a failed backup never leaves a file that looks like one.

A restore copies the other way, with the same API, into the database the app uses, then brings
its schema up to date. It must not happen under a running app: its processes would go on with
connections, in-memory caches and claimed digests from before. So it refuses when the database
looks in use (another process has it open, or its WAL still holds changes) unless forced, and the
guide says to stop the app first.

**PostgreSQL** has its own tools, which do this better than the app could: ``pg_dump`` (a
consistent snapshot while the app runs) and ``pg_restore``. The verbs print the exact commands for
the configured database, without its password.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shlex
import sqlite3
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from app import migrations
from app.db import Database, make_folder_for
from app.errors import TallyError

SQLITE_HEADER = b"SQLite format 3\x00"
# SQLite's unix VFS: every connection to a WAL database holds a read lock on this byte of the
# -shm file while it is open (the "DMS" slot, UNIX_SHM_BASE + SQLITE_SHM_NLOCK in os_unix.c).
SHM_DMS_BYTE = 128


class BackupError(TallyError):
    """A backup or restore that cannot go ahead; the message says why and what to do
    (the command line prints it, without a traceback)."""


def is_damage(exc: BaseException | None) -> bool:
    """SQLite's own word that a file is not a database, or not a whole one (cut short, overwritten)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and code is not None and code & 0xFF in DAMAGE_CODES


DAMAGE_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def unhealthy(path: Path, reason: object) -> str:
    """What to say of a database file SQLite cannot read as one (``reason``: SQLite's words)."""
    try:
        with path.open("rb") as file:
            looks_like_one = file.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        looks_like_one = True
    if not looks_like_one:  # a CSV, a log: most likely the wrong file, named by mistake
        return (
            f"{path} is not a SQLite database ({reason}): check TALLY_DATABASE_URL, or, if it was the database, "
            "restore a backup with `tally restore`."
        )
    return f"{path} is not a healthy SQLite database: {reason}; restore a backup with `tally restore`."


@dataclass(frozen=True)
class Copied:
    path: Path
    size: int  # bytes
    revision: str | None  # the schema revision in the copy
    enquiries: int


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"{url} is not a database file")
    return Path(database).expanduser()


def _pg_url(url: str) -> URL:
    # libpq understands the URL without SQLAlchemy's driver name; the password stays out of sight
    # (URL.set takes None for "unchanged", so the password is replaced on the tuple itself).
    return make_url(url).set(drivername="postgresql")._replace(password=None)


def pg_dump_command(url: str, path: Path) -> str:
    target = _pg_url(url).render_as_string(hide_password=False)
    return shlex.join(["pg_dump", "--format=custom", f"--file={path}", f"--dbname={target}"])


def pg_restore_command(url: str, path: Path) -> str:
    target = _pg_url(url).render_as_string(hide_password=False)
    return shlex.join(["pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={target}", str(path)])


def _postgres(advice: str, tool: str, steps: list[str]) -> BackupError:
    shown = "\n".join(f"  {step}" for step in steps)
    return BackupError(
        f"The database is PostgreSQL: {advice}\n\n{shown}\n\n"
        f"The password is not shown: {tool} asks for it, or reads PGPASSWORD or ~/.pgpass."
    )


def _connect(path: Path) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(path, timeout=30)
        connection.execute("PRAGMA busy_timeout=30000")
    except sqlite3.OperationalError as exc:
        raise BackupError(
            f"Cannot open a database at {path}: {exc}. Check that its folder exists and can be written "
            "(and is not on a read-only file system)."
        ) from None
    return connection


def _read_only(path: Path) -> sqlite3.Connection:
    """A backup file, opened only to be read, wherever it lies (a read-only volume or share included).

    A file in WAL mode (every backup written before 2026-12) needs a -shm file beside it to be read
    the usual way, which a read-only folder cannot take: SQLite said "unable to open database file".
    A backup does not change while it is read, so it is opened as immutable, unless a -wal file lies
    beside it (a copy of a database taken with its log), which only the usual way reads."""
    if path.with_name(path.name + "-wal").exists():
        return _connect(path)
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.OperationalError as exc:
        raise BackupError(f"Cannot read {path}: {exc}.") from None


def _revision(connection: sqlite3.Connection, what: str = "The database file") -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise BackupError(f"Cannot read {what}: {exc}.") from None
    except sqlite3.DatabaseError as exc:  # a file cut short, or otherwise damaged
        raise BackupError(f"{what} is damaged: {exc}.") from None
    return str(row[0]) if row else None


def _count(connection: sqlite3.Connection, table: str) -> int:
    try:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0


def _problems(connection: sqlite3.Connection) -> str | None:
    result = [row[0] for row in connection.execute("PRAGMA quick_check").fetchall()]
    return None if result == ["ok"] else "; ".join(result[:3])


def _checked(connection: sqlite3.Connection, what: str) -> None:
    if problems := _problems(connection):
        raise BackupError(f"{what} is damaged: {problems}")


# The files SQLite keeps a database in, beside the database's own name.
LIVE_FILES = ("", "-wal", "-shm", "-journal")


def _stopped(exc: sqlite3.OperationalError, folder: Path) -> str:
    """Why a copy stopped, with what to check when it is the disk (full, or past a file size limit)."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
        return f"{exc}: check the free space in {folder} (and any limit on file sizes)"
    return str(exc)


def _remove(path: Path) -> None:
    """A file SQLite wrote, with the journal it may have left beside it."""
    for suffix in LIVE_FILES:
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _is_live_file(target: Path, database: Path) -> bool:
    """Whether ``target`` is the database file or one of its -wal, -shm and -journal, by any path: the
    folder is compared as a file, so a second mount of it (a bind mount, a container's volume seen from
    the host) is the same folder, which resolving the path alone does not show."""
    live = database.resolve()
    # Resolved first: "new/../tally.db-wal" names the database's folder before "new" exists.
    resolved = target.resolve()
    if resolved.name not in {live.name + suffix for suffix in LIVE_FILES}:
        return False
    if resolved.parent == live.parent:
        return True
    try:
        return os.path.samefile(resolved.parent, live.parent)
    except OSError:  # a folder that does not exist (yet), with no ".." left in it: not the database's
        return False


def backup_sqlite(url: str, target: Path, *, force: bool = False) -> Copied:
    """A consistent copy of the SQLite database at ``url`` in ``target``, taken while the app writes."""
    if not is_sqlite(url):
        advice = "back it up with pg_dump, which takes a consistent snapshot while the app runs:"
        raise _postgres(advice, "pg_dump", [pg_dump_command(url, target)])
    source_path = sqlite_path(url)
    if not source_path.is_file():
        raise BackupError(f"There is no database at {source_path}: check TALLY_DATABASE_URL.")
    # Its -wal and -shm are the database too: a backup written over the WAL of a running app left it
    # "database disk image is malformed". Checked before "exists", which would suggest --force.
    if _is_live_file(target, source_path):
        raise BackupError("The backup would overwrite the database itself: choose another path.")
    if target.exists() and not force:
        raise BackupError(f"{target} exists already: choose another name, or add --force to replace it.")
    make_folder_for(target)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        partial.unlink(missing_ok=True)
        # Readable by its owner only, from the first byte: it holds password hashes and the audit trail.
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise BackupError(f"Cannot write a backup in {target.parent}: {exc.strerror or exc}.") from None
    try:
        source = _connect(source_path)
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # every page in one step: one snapshot, however busy the writers
            # Out of WAL mode: one self-contained file, which reads anywhere without a -shm beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
            if problems := _problems(copy):  # a copy page for page: its damage is the database's own
                raise BackupError(unhealthy(source_path.resolve(), problems))
            copied = Copied(target, 0, _revision(copy), _count(copy, "enquiry"))
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise BackupError(unhealthy(source_path.resolve(), exc)) from None
            if isinstance(exc, sqlite3.OperationalError):  # a full disk: one line, not a traceback
                raise BackupError(
                    f"The backup stopped: {_stopped(exc, target.parent)}. Nothing was written to {target}."
                ) from None
            raise
        finally:
            copy.close()
            source.close()
        _move(partial, target, force=force)
    finally:
        _remove(partial)  # a copy cut short leaves its rollback journal too
    return Copied(target, target.stat().st_size, copied.revision, copied.enquiries)


def _move(partial: Path, target: Path, *, force: bool) -> None:
    if force:
        partial.replace(target)
        return
    taken = BackupError(f"{target} appeared while the backup ran: nothing was replaced.")
    try:
        os.link(partial, target)  # fails, rather than replace, if the name was taken meanwhile
    except FileExistsError:
        raise taken from None
    except OSError:  # a file system without hard links
        if target.exists():
            raise taken from None
        partial.replace(target)


CORE_TABLES = ("enquiry", "hypothesis", "launch")


def check_backup(path: Path) -> str:
    """The schema revision of a Launch Tally backup at ``path``; refuses anything else."""
    if not path.is_file():
        raise BackupError(f"There is no file at {path}.")
    with path.open("rb") as file:
        if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError(f"{path} is not a SQLite database.")
    connection = _read_only(path)
    try:
        revision = _revision(connection, str(path))
        if revision is None:
            raise BackupError(f"{path} is not a Launch Tally database: it has no schema revision (alembic_version).")
        if revision not in migrations.known_revisions():
            raise BackupError(
                f"{path} has schema revision {revision}, which this version of Launch Tally does not know: "
                "it was made by a newer version. Restore it with that version."
            )
        _checked(connection, str(path))
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        connection.close()
    # Any file can hold an alembic_version row with one of our revision names: the tables show whose it is.
    # The tables every revision has first: what names the file best.
    missing = sorted(tables_at(revision) - tables, key=lambda name: (name not in CORE_TABLES, name))
    if missing:
        raise BackupError(
            f"{path} is not a Launch Tally database of schema revision {revision}: it has no "
            f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''} table. Nothing was changed."
        )
    return revision


def tables_at(revision: str) -> set[str]:
    """The tables a Launch Tally database has at ``revision``: an empty database migrated to it, looked at."""
    with tempfile.TemporaryDirectory(prefix="tally-schema-") as directory:
        db = Database(f"sqlite:///{Path(directory) / 'schema.db'}")
        try:
            migrations.upgrade(db, revision)
            with db.engine.connect() as connection:
                return set(sa.inspect(connection).get_table_names())
        finally:
            db.dispose()


def holder_of(path: Path) -> int | None:
    """The id of another process that has the SQLite database at ``path`` open, if one can be seen.

    Only other processes: POSIX locks never conflict within one."""
    if not sys.platform.startswith("linux"):
        return None  # struct flock's layout below is Linux's; elsewhere the WAL check alone decides
    shm = path.with_name(path.name + "-shm")
    try:
        descriptor = os.open(shm, os.O_RDONLY)
    except OSError:
        return None  # no -shm file: nobody has the database open in WAL mode
    try:
        # struct flock on Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid.
        asked = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, SHM_DMS_BYTE, 1, 0)
        answer = fcntl.fcntl(descriptor, fcntl.F_GETLK, asked)
        kind, _, _, _, pid = struct.unpack("hhqqi4x", answer)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return None if kind == fcntl.F_UNLCK else int(pid)


def in_use(path: Path) -> str | None:
    """Why the database at ``path`` looks in use, or None."""
    pid = holder_of(path)
    if pid is not None:
        return f"process {pid} has it open"
    wal = path.with_name(path.name + "-wal")
    with contextlib.suppress(OSError):
        if wal.stat().st_size > 0:
            return f"{wal.name} holds changes not yet in the database file (is the app running, or did it crash?)"
    return None


@dataclass(frozen=True)
class Restored:
    source: Path
    target: Path
    from_revision: str
    to_revision: str | None
    enquiries: int
    kept: Path | None  # the database as it was before, if there was one
    damaged: str | None = None  # why SQLite could not read that one, if it could not


def restore_sqlite(url: str, source: Path, *, now: dt.datetime, force: bool = False) -> Restored:
    """Copy the backup at ``source`` into the SQLite database at ``url``, then upgrade it to head; the
    database it replaces is kept beside it, named by ``now``."""
    if not is_sqlite(url):
        advice = "stop the app, restore with pg_restore, then upgrade the schema:"
        raise _postgres(advice, "pg_restore", [pg_restore_command(url, source), "tally db upgrade"])
    revision = check_backup(source)
    target = sqlite_path(url)
    if source.resolve() == target.resolve():
        raise BackupError("The backup is the database itself: nothing to do.")
    if target.exists() and not force:
        reason = in_use(target)
        if reason is not None:
            raise BackupError(
                f"The database {target} seems in use: {reason}. Stop the app (every `tally serve` and "
                "`tally scheduler`) first, or add --force if you are sure nothing uses it."
            )
    make_folder_for(target)
    existed = target.exists()
    try:
        kept, damaged = _keep(target, now)
    except sqlite3.OperationalError as exc:  # a full disk: _keep removed what it began
        raise BackupError(
            f"The restore stopped before it began, keeping a copy of the database: {_stopped(exc, target.parent)}. "
            f"Nothing was changed in {target}."
        ) from None
    backup = _read_only(source)
    destination = _connect(target)
    try:
        backup.backup(destination)
        enquiries = _count(destination, "enquiry")
    except sqlite3.OperationalError as exc:
        # The copy is one transaction of the destination: cut short, it is rolled back. A file made for
        # it (none was there, or the damaged one was moved aside) is removed: left empty, `tally
        # scheduler` took it for a database and made a new one in it.
        destination.close()
        if damaged is not None or (kept is None and not existed):
            _remove(target)
        elif kept is None:  # an empty file was there (an operator's, with its owner and mode): left empty
            os.truncate(target, 0)
            for suffix in LIVE_FILES[1:]:
                target.with_name(target.name + suffix).unlink(missing_ok=True)
        if kept is None:
            unchanged = f"Nothing was restored into {target}"
        elif damaged is None:
            unchanged = f"{target} is as it was (so its copy {kept} may be deleted)"
        else:
            unchanged = f"Nothing was restored into {target}; the damaged database it replaced is kept as {kept}"
        raise BackupError(f"The restore stopped: {_stopped(exc, target.parent)}. {unchanged}.") from None
    finally:
        destination.close()
        backup.close()
    db = Database(url)
    try:
        migrations.upgrade(db)
        now_at = migrations.current_revision(db)
    finally:
        db.dispose()
    return Restored(source, target, revision, now_at, enquiries, kept, damaged)


def _keep(target: Path, now: dt.datetime) -> tuple[Path | None, str | None]:
    """The database about to be replaced, kept beside it (``<name>.before-restore-<time>``): a
    restore of the wrong backup, or one that fails half-way, can then be undone. Also what was
    wrong with it, if SQLite could not read it as a database.

    A healthy one is copied with the backup API (a consistent copy, even of one a forced restore
    finds in use). A damaged one, which the backup API cannot read (and the restore could not
    write into), is moved aside as it is, with its -wal and -shm: the restore then makes a new file."""
    if not target.is_file() or target.stat().st_size == 0:
        return None, None
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = target.with_name(f"{target.name}.before-restore-{stamp}")
    os.close(os.open(kept, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))  # as a backup: its owner only
    try:
        # Read-only: a connection that may write would, on closing, fold the -wal into a damaged file and
        # delete it, so that what was kept would not be the files as they were.
        current = sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        with contextlib.closing(current), contextlib.closing(_connect(kept)) as copy:
            current.backup(copy)
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            _remove(kept)
            raise
        # Over the empty file made above, which holds the name for it.
        target.replace(kept)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                target.with_name(target.name + suffix).replace(kept.with_name(kept.name + suffix))
        return kept, str(exc)
    except BaseException:
        _remove(kept)
        raise
    return kept, None
