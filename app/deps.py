"""Dependencies, declared once as Annotated aliases for the routes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.config import Settings
from app.db import Database

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_session(request: Request) -> Iterator[Session]:
    """A session per request. Requests that may change state get a write
    session (BEGIN IMMEDIATE on SQLite) so they never fail half-way with
    "database is locked"; reads stay concurrent."""
    db: Database = request.app.state.db
    with db.session(write=request.method not in SAFE_METHODS) as session:
        yield session


def get_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]
SessionDep = Annotated[Session, Depends(get_session)]
Now = Annotated[dt.datetime, Depends(get_now)]
