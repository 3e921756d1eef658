"""The web application: ``create_app()`` wires settings, database, routes and error handling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.config import Settings, load_settings
from app.db import Database
from app.routes import health


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    settings = settings or load_settings()
    database = db or Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if db is None:  # a database passed in belongs to the caller
            database.dispose()

    app = FastAPI(title="Launch Tally", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.db = database
    app.include_router(health.router)
    return app
