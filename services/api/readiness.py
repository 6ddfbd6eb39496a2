"""Is this process able to serve? PostgreSQL reachable and migrated, the broker answering.

Each check is bounded by a short timeout and they run concurrently, so ``/readyz`` answers
within about ``TIMEOUT`` seconds even with every dependency down. The messages go only to a
caller with an API key, and never carry a password: credentials in a URL are masked.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import asyncpg

from services.config import Settings
from services.kafka_io import bootstrap_servers, request_metadata
from services.store.migrate import pending_migrations

TIMEOUT = 2.0  # seconds, per check

#: ``scheme://user:password@`` in a driver's message.
_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]*@")


def without_credentials(text: str) -> str:
    return _CREDENTIALS.sub(r"\1***@", text)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    code: str = ""
    message: str = ""

    @property
    def summary(self) -> str:
        return "ok" if self.ok else self.code


async def check_database(pool: asyncpg.Pool) -> list[Check]:
    """Two checks: PostgreSQL answers, and no bundled migration is missing."""
    try:
        async with asyncio.timeout(TIMEOUT):
            async with pool.acquire() as conn:
                pending = await pending_migrations(conn)
    except Exception as error:  # refused, timed out, pool closed: all "unreachable"
        return [
            Check("database", False, "database_unreachable",
                  without_credentials(
                      f"PostgreSQL did not answer: {type(error).__name__}: {error}")),
            Check("migrations", False, "migrations_unknown", "PostgreSQL did not answer"),
        ]
    migrations = Check("migrations", True)
    if pending:
        migrations = Check("migrations", False, "migrations_pending",
                           f"not applied yet: {', '.join(pending)}")
    return [Check("database", True), migrations]


async def check_broker(settings: Settings) -> Check:
    """Reachable when one bootstrap server answers a Kafka Metadata request in time, over
    the configured TLS and SASL (a failed handshake is "not reachable" too)."""
    if not settings.kafka_bootstrap:
        return Check("broker", False, "broker_not_configured", "no Kafka bootstrap address")
    failures = []
    for host, port in bootstrap_servers(settings):
        try:
            await asyncio.wait_for(
                request_metadata(settings, host, port, int(TIMEOUT * 1000)), TIMEOUT + 0.5
            )
        except Exception as error:  # refused, timed out, not Kafka: all "not reachable"
            failures.append(without_credentials(f"{host}:{port}: {type(error).__name__}: "
                                                f"{error}"))
        else:
            return Check("broker", True)
    return Check("broker", False, "broker_unreachable",
                 "no Kafka bootstrap server answered a metadata request: " + "; ".join(failures))


async def readiness(settings: Settings, pool: asyncpg.Pool) -> list[Check]:
    database, broker = await asyncio.gather(
        check_database(pool), check_broker(settings)
    )
    return [*database, broker]
