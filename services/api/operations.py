"""``/healthz``, ``/readyz`` and ``/metrics``: for orchestrators and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from services.api.deps import AppSettings, Pool
from services.api.errors import error_response
from services.api.models import ErrorAnswer, Health, Readiness
from services.api.readiness import readiness
from services.api.store_gauges import refresh_store_gauges

router = APIRouter(tags=["Operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process is up")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": ErrorAnswer, "description": "Not ready: the reasons say why."}},
    summary="Readiness: PostgreSQL reachable and migrated, broker reachable",
)
async def readyz(settings: AppSettings, pool: Pool) -> Readiness | JSONResponse:
    checks = await readiness(settings, pool)
    summary = {c.name: c.summary for c in checks}
    failed = [(c.code, c.message) for c in checks if not c.ok]
    if failed:
        return error_response(503, failed, checks=summary)
    return Readiness(checks=summary)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                     "description": "Prometheus text exposition."}},
    summary="Prometheus metrics",
)
async def prometheus_metrics(settings: AppSettings, pool: Pool, request: Request) -> Response:
    await refresh_store_gauges(settings, pool, request.app.state.end_offsets)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
