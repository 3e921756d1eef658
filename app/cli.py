"""The ``tally`` command: serve, demo, db, hypotheses (and, in later modules, users, tokens, digests)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from app import hypothesis_files, launches, migrations
from app.config import ConfigError, Settings, load_settings
from app.db import Database
from app.errors import TallyError

cli = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Launch Tally: count launch enquiries against hypotheses."
)
db_cli = typer.Typer(no_args_is_help=True, help="Database schema.")
hypotheses_cli = typer.Typer(no_args_is_help=True, help="Hypothesis set files (hypotheses/*.yaml).")
cli.add_typer(db_cli, name="db")
cli.add_typer(hypotheses_cli, name="hypotheses")

log = logging.getLogger("app.cli")


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(f"Configuration error:\n{exc}", err=True)
        raise typer.Exit(2) from None


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


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
    config = settings()
    configure_logging("warning")
    db = Database(config.database_url)
    before = migrations.current_revision(db)
    migrations.upgrade(db, revision)
    after = migrations.current_revision(db)
    typer.echo(f"schema: {before or 'empty'} -> {after}" if before != after else f"schema already at {after}")


@db_cli.command("current")
def db_current() -> None:
    """Print the schema revision of the database and of the code."""
    db = Database(settings().database_url)
    typer.echo(f"database: {migrations.current_revision(db) or 'empty'}\ncode:     {migrations.head_revision()}")


# --- hypotheses --------------------------------------------------------------------


PathsArg = Annotated[list[Path], typer.Argument(help="YAML files, or folders holding them.", show_default=False)]


@hypotheses_cli.command("validate")
def hypotheses_validate(paths: PathsArg) -> None:
    """Check files against the schema: one line per problem with file, line and field."""
    try:
        launches_found = hypothesis_files.validate_files(paths)
    except hypothesis_files.InvalidFiles as exc:
        raise fail(str(exc)) from None
    for spec in launches_found:
        typer.echo(f"ok: {spec.slug} ({len(spec.hypotheses)} hypotheses)")


@hypotheses_cli.command("import")
def hypotheses_import(paths: PathsArg) -> None:
    """Create or update launches from files, all in one transaction: a bad file imports nothing."""
    config = settings()
    try:
        specs = hypothesis_files.validate_files(paths)
    except hypothesis_files.InvalidFiles as exc:
        raise fail(f"{exc}\nNothing was imported.") from None
    db = Database(config.database_url)
    with db.transaction() as session:
        changes = [
            hypothesis_files.import_launch(
                session,
                spec,
                actor=actor(),
                now=now(),
                default_timezone=config.timezone,
                default_digest_times=config.digest_times,
            )
            for spec in specs
        ]
    for change in changes:
        typer.echo(change.summary())


@hypotheses_cli.command("export")
def hypotheses_export(slug: str) -> None:
    """Print a launch as YAML that imports back to the same state."""
    db = Database(settings().database_url)
    with db.session() as session:
        try:
            launch = launches.get_by_slug(session, slug)
        except TallyError as exc:
            raise fail(exc.message) from None
        sys.stdout.write(hypothesis_files.export_launch(session, launch))


@hypotheses_cli.command("schema")
def hypotheses_schema() -> None:
    """Print the JSON Schema of a hypothesis set file."""
    typer.echo(json.dumps(hypothesis_files.json_schema(), indent=2, ensure_ascii=False))


# --- serving -----------------------------------------------------------------------


def run_server(config: Settings, *, host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvloop + httptools: with plain asyncio every request on a shared
        # socket gains ~40 ms from Nagle's algorithm once workers > 1.
        loop="uvloop",
        http="httptools",
        access_log=config.access_log,
        log_level=config.log_level,
        proxy_headers=True,
        server_header=False,
    )


def prepare_database(config: Settings) -> None:
    db = Database(config.database_url)
    try:
        if config.auto_migrate:
            migrations.upgrade(db)
        elif migrations.current_revision(db) != migrations.head_revision():
            raise fail(
                "The database schema is not up to date and TALLY_AUTO_MIGRATE is off: run `tally db upgrade` first."
            )
    finally:
        db.dispose()


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for all.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Run the web app (migrating the database first, unless TALLY_AUTO_MIGRATE=false)."""
    config = settings()
    configure_logging(config.log_level)
    prepare_database(config)
    run_server(config, host=host, port=port, workers=workers)


@cli.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Load the example launch, demo users and a few days of enquiries, then serve."""
    from app import demo as demo_data

    config = settings()
    configure_logging(config.log_level)
    prepare_database(config)
    db = Database(config.database_url)
    try:
        report = demo_data.load(db, settings=config, now=now())
    finally:
        db.dispose()
    address = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
    typer.echo(demo_data.welcome(report, address=address, database_url=config.database_url))
    run_server(config, host=host, port=port, workers=1)


def main() -> None:
    cli()
