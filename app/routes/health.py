"""Liveness for load balancers and the Docker HEALTHCHECK."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app.deps import DatabaseDep

router = APIRouter()
log = logging.getLogger(__name__)


@router.get("/healthz", include_in_schema=False)
def healthz(db: DatabaseDep) -> JSONResponse:
    try:
        db.ping()
    except (SQLAlchemyError, OSError) as exc:
        # The reason goes to the log only: the endpoint is public and a
        # driver message can name hosts and users.
        log.warning("health check: database unavailable: %s", exc.__class__.__name__)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
