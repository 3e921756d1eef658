"""Liveness (/healthz) for the Docker HEALTHCHECK and orchestrators, readiness (/readyz) for load balancers,
Prometheus metrics (/metrics) for monitoring."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.observability import metrics
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


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(request: Request) -> Response:
    """Prometheus metrics (app/observability/metrics.py), every worker's summed. With
    TALLY_METRICS_TOKEN set, only for ``Authorization: Bearer <that token>``."""
    expected = request.app.state.settings.metrics_token
    if expected is not None:
        given = request.headers.get("authorization", "")
        wanted = "Bearer " + expected.get_secret_value()
        if not hmac.compare_digest(given.encode(), wanted.encode()):
            # For Prometheus and operators, not people signing in: no page, no translation.
            return PlainTextResponse(
                "/metrics needs TALLY_METRICS_TOKEN as a bearer token\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
