"""``/healthz``, ``/readyz`` and ``/metrics``: for orchestrators and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import Field

from services.api.deps import AppSettings, Caller, Pool
from services.api.errors import error_response
from services.api.models import Answer, ErrorAnswer, Health
from services.api.readiness import readiness
from services.api.store_gauges import refresh_store_gauges

router = APIRouter(tags=["Operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process is up")
async def healthz() -> Health:
    return Health()


class Readiness(Answer):
    status: str = "ready"
    checks: dict[str, str] | None = Field(
        default=None, description="Each check: ok, or the code of its failure. Only for a "
                                  "caller with an API key.")


#: All an anonymous caller learns of a failed readiness check.
NOT_READY = ("not_ready", "not ready")


@router.get(
    "/readyz",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={503: {"model": ErrorAnswer, "description": "Not ready. With an API key the "
                                                         "reasons say why."}},
    summary="Readiness: PostgreSQL reachable and migrated, broker reachable",
)
async def readyz(settings: AppSettings, pool: Pool, caller: Caller) -> Readiness | JSONResponse:
    """Anonymous: ready or not, nothing more (no host names, no driver errors). With an API
    key: each check, and why each failed one failed."""
    checks = await readiness(settings, pool)
    failed = [(c.code, c.message) for c in checks if not c.ok]
    if caller is None:
        return error_response(503, [NOT_READY]) if failed else Readiness()
    summary = {c.name: c.summary for c in checks}
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
