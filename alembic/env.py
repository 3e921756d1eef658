"""Alembic environment. The database URL comes from the app's settings
(TALLY_DATABASE_URL) unless the caller passes a connection or URL in
``config.attributes``, as ``app.migrations`` and the tests do."""

from typing import Any, Literal

from sqlalchemy import Connection
from sqlmodel import SQLModel

import app.models  # noqa: F401 - registers every table on the metadata
from alembic import context
from app.config import load_settings
from app.db import EnumString, create_db_engine

config = context.config
target_metadata = SQLModel.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations must not import the enums of the day: write EnumString as the
    # plain string column it is in the database.
    if type_ == "type" and isinstance(obj, EnumString):
        return f"sa.String(length={obj.impl_instance.length})"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
        render_item=_render_item,
    )


def run_migrations_offline() -> None:
    url = config.attributes.get("database_url") or load_settings().database_url
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.attributes.get("database_url") or load_settings().database_url
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
