"""``/healthz``, ``/readyz`` and ``/metrics``: for orchestrators and Prometheus."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import Field

from services import metrics
from services.api.deps import AppSettings, Caller, Pool
from services.api.errors import error_response
from services.api.models import Answer, ErrorAnswer, Health
from services.api.readiness import readiness
from services.config import Settings
from services.status import status_report

log = logging.getLogger("ledger.api")

router = APIRouter(tags=["Operations"])

#: A scrape waits at most this long for the store-state gauges (lag needs the broker).
REFRESH_TIMEOUT = 5.0


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


async def refresh_store_gauges(settings: Settings, pool: asyncpg.Pool) -> None:
    """Consumer lag and outbox backlog from the store and the broker, as ``ledger status``
    computes them. On failure the lag samples are dropped (unknown, not stale)."""
    try:
        report = await asyncio.wait_for(status_report(settings, pool), REFRESH_TIMEOUT)
    except Exception as error:  # the scrape must still answer
        log.warning("metrics: lag and outbox backlog not refreshed (%s: %s)",
                    type(error).__name__, error)
        metrics.STORE_GAUGES_REFRESH_FAILURES.inc()
        metrics.CONSUMER_LAG.clear()
        return
    metrics.set_store_gauges(report, settings.topic_billing)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                     "description": "Prometheus text exposition."}},
    summary="Prometheus metrics",
)
async def prometheus_metrics(settings: AppSettings, pool: Pool) -> Response:
    await refresh_store_gauges(settings, pool)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
