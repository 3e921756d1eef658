"""Liveness (/healthz) for the Docker HEALTHCHECK and orchestrators, readiness (/readyz) for load balancers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.readiness import Readiness

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> JSONResponse:
    """The process answers. Touches no database, so a slow one never makes a live process look dead."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> JSONResponse:
    """The database answers and writes work (see app/readiness.py); 503 otherwise."""
    readiness: Readiness = request.app.state.readiness
    state = readiness.check()
    return JSONResponse(state.body(), status_code=200 if state.ready else 503)
