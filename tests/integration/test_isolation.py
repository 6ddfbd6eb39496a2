"""Isolation (docs/design.md): the HTTP API has its own pool, with a statement timeout and a
wait limit, so slow downloads cannot starve the ingest; PostgreSQL away is 503
``unavailable``, never 500. Real uvicorn, real PostgreSQL and Tansu."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from events.journal_rules import JournalRunRequest
from services.config import Settings
from services.journal.run import create_journal_run
from services.pools import api_pool, part_pools
from services.samples import invoices, to_lines
from services.store.pool import WaitLimitedPool
from tests.helpers import wait_until
from tests.integration.conftest import IngestRunner
from tests.integration.http_api import bearer, serving
from tests.integration.ledger_setup import set_up
from tests.tcp_proxy import TcpProxy, through

ROWS = 40_000
#: Wide text cells make a CSV of ~30 MB: far more than every buffer between PostgreSQL and a
#: client that stopped reading (socket buffers, the response's queue), so the export stalls.
_BIG_ENTRY = """
INSERT INTO pending_transactions (type, id, date, status, amount, currency, debit_account,
                                  credit_account, document_number, account_number,
                                  event_position)
SELECT 'invoice_item', 'T' || lpad(g::text, 7, '0'), date '2024-04-01' + g % 30, 'posted',
       (g % 1000) / 100.0, 'USD', 'Accounts Receivable ' || repeat('d', 230),
       'Revenue ' || repeat('c', 240), 'INV-' || g || '-' || repeat('n', 200), 'A-001', 0
FROM generate_series(1, $1) AS g
"""
RECEIVE_BUFFER = 128 * 1024
ENTRY = "JE-00000001"
DETAIL = f"/v1/journal-entries/{ENTRY}/transaction-details"
RUN = "/v1/journal-runs/JR-00000001"


async def big_entry(pool: asyncpg.Pool, rows: int = ROWS) -> None:
    """One created entry (JE-00000001 of JR-00000001) of ``rows`` transactions, stored
    set-based straight into the projection (the log is not needed to export them)."""
    await set_up(pool)
    await pool.execute(_BIG_ENTRY, rows)
    run = await create_journal_run(pool, JournalRunRequest(types=("invoice_item",),
                                                           period="Apr-2024"))
    assert (run["journal_entry_numbers"], run["transaction_count"]) == ([ENTRY], rows)


class StalledDownload:
    """A transaction-detail download that read its first bytes and then stops reading (the
    stream stays open until ``read_rest`` or the block ends)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.chunks = response.aiter_raw()  # kept: dropping it would close the connection
        self.first = b""

    @classmethod
    async def open(cls, stack: AsyncExitStack, client: httpx.AsyncClient) -> StalledDownload:
        response = await stack.enter_async_context(client.stream("GET", DETAIL))
        assert response.status_code == 200, await response.aread()
        download = cls(response)
        download.first = await anext(download.chunks)
        return download

    async def read_rest(self) -> bytes:
        """Everything after the first bytes; raises if the server broke the transfer."""
        rest = [chunk async for chunk in self.chunks]
        return self.first + b"".join(rest)


def in_use(pool: asyncpg.Pool) -> int:
    return int(pool.get_size() - pool.get_idle_size())


def unavailable(answer: httpx.Response) -> str:
    """The reason's message of a 503 ``unavailable``."""
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["success"] is False
    assert [r["code"] for r in body["reasons"]] == ["unavailable"]
    message: str = body["reasons"][0]["message"]
    return message


@pytest.fixture
async def clients(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The downloads' client: a small receive buffer per connection (Linux would otherwise
    grow it to tens of MB on loopback and take a whole export in while "not reading"),
    with a viewer's key."""
    transport = httpx.AsyncHTTPTransport(
        socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}",
                                 transport=transport, timeout=30,
                                 headers=await bearer(pool, "viewer")) as client:
        yield client


async def test_stalled_downloads_hold_only_api_connections_and_the_ingest_stores_on(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner,
    clients: httpx.AsyncClient,
) -> None:
    await big_entry(pool)
    assert settings.kafka_bootstrap
    await ingest.feed(to_lines(invoices(5, org=None, seed=1)), stored=5)  # the ingest is up
    limits = settings.model_copy(update={
        "api_pool_size": 2, "api_pool_timeout_ms": 500, "api_statement_timeout_ms": 300,
        "api_export_idle_timeout_ms": 120_000})
    api_connections = await api_pool(limits)
    try:
        async with serving(limits, api_connections) as api, AsyncExitStack() as downloads:
            stalled = [await StalledDownload.open(downloads, clients) for _ in range(2)]
            assert stalled[0].first.startswith(b"journal_entry,transaction_id,")
            assert in_use(api_connections) == 2  # each download holds one of the two

            # the ingest has its own pool: a new batch is stored within seconds
            await ingest.feed(to_lines(invoices(20, org=None, seed=2)), stored=25,
                              within=5)

            # every API connection is taken: a request waits 0.5 s for one, then 503
            refused = await api.get(RUN)
            assert unavailable(refused) == (
                "no database connection became free in time; try again later")
            assert refused.elapsed.total_seconds() >= 0.5
            assert in_use(api_connections) == 2  # the downloads are stalled, not finished

            # A stalled download outlives the API's 0.3 s statement timeout (its COPY has
            # the export's own limit): read on, it arrives whole.
            whole = await stalled[0].read_rest()
            assert whole.count(b"\n") == ROWS + 1
            assert len(whole) > 25_000_000
            await stalled[1].response.aclose()  # gone: its export stops, its connection too

            async def all_returned() -> bool:
                return in_use(api_connections) == 0

            await wait_until(all_returned, timeout=10, message="connections back in the pool")
            assert (await api.get(RUN)).status_code == 200
    finally:
        await api_connections.close()


@pytest.mark.parametrize("limit", [
    {"api_export_idle_timeout_ms": 1000},  # the client took nothing for 1 s
    {"api_export_idle_timeout_ms": 60_000, "api_export_timeout_ms": 3000},  # 3 s in all
], ids=["idle-limit", "time-limit"])
async def test_a_download_whose_client_takes_nothing_is_cut_by_the_export_s_limits(
    settings: Settings, pool: asyncpg.Pool, clients: httpx.AsyncClient, limit: dict[str, int],
) -> None:
    await big_entry(pool)
    limits = settings.model_copy(update={
        "api_pool_size": 2, "api_pool_timeout_ms": 200, **limit})
    api_connections = await api_pool(limits)
    try:
        async with serving(limits, api_connections) as api, AsyncExitStack() as downloads:
            stalled = [await StalledDownload.open(downloads, clients) for _ in range(2)]
            assert in_use(api_connections) == 2

            async def both_freed() -> bool:
                return in_use(api_connections) == 0

            await wait_until(both_freed, timeout=15,
                             message="the limit frees the stalled downloads' connections")
            assert (await api.get(RUN)).status_code == 200
            for download in stalled:  # read on: the transfer is broken, never a short file
                with pytest.raises(httpx.RemoteProtocolError):
                    await download.read_rest()
    finally:
        await api_connections.close()


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    """A proxy in front of the test's PostgreSQL, over TCP or its Unix socket."""
    proxy = TcpProxy.to_postgres(settings.database_dsn())
    await proxy.start()
    yield proxy
    await proxy.cut()


async def test_postgresql_away_is_503_unavailable_without_driver_detail_then_recovers(
    settings: Settings, pool: asyncpg.Pool, proxy: TcpProxy
) -> None:
    await big_entry(pool, rows=10)
    proxied = settings.model_copy(update={
        "database_url": SecretStr(through(settings.database_dsn(), proxy.port)),
        "api_pool_timeout_ms": 1000})
    api_connections = await api_pool(proxied)
    try:
        async with serving(proxied, api_connections) as api:
            assert (await api.get(RUN)).status_code == 200
            await proxy.cut()  # open connections reset, new ones refused
            for path in (RUN, f"/v1/journal-entries/{ENTRY}", DETAIL,
                         "/v1/accounting-periods"):
                message = unavailable(await api.get(path))
                assert message == "the database is unavailable; try again later", path
            await proxy.restore()

            async def back() -> bool:
                return (await api.get(RUN)).status_code == 200

            await wait_until(back, timeout=10, message="the API answers again")
    finally:
        await api_connections.close()


async def test_a_closed_pool_is_503_unavailable(settings: Settings, pool: asyncpg.Pool) -> None:
    api_connections = await api_pool(settings)
    async with serving(settings, api_connections) as api:
        assert (await api.get("/v1/accounting-periods")).status_code == 200
        await api_connections.close()
        for path in ("/v1/accounting-periods", RUN, DETAIL):
            assert unavailable(await api.get(path)) == (
                "the database is unavailable; try again later")


async def test_serve_opens_a_pool_per_part_and_the_api_s_has_its_limits(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    limits = settings.model_copy(update={
        "publisher_pool_size": 1, "api_pool_size": 3, "api_statement_timeout_ms": 250,
        "api_pool_timeout_ms": 300})
    async with part_pools(limits, pool, {"ingest", "publisher", "api"}) as pools:
        assert pools["ingest"] is pool
        assert len({id(p) for p in pools.values()}) == 3
        api = pools["api"]
        assert isinstance(api, WaitLimitedPool) and api.get_max_size() == 3
        assert pools["publisher"].get_max_size() == 1
        assert await api.fetchval("SHOW statement_timeout") == "250ms"
        assert await pools["publisher"].fetchval("SHOW statement_timeout") == "0"
        with pytest.raises(asyncpg.QueryCanceledError):
            await api.execute("SELECT pg_sleep(2)")
        async with api.acquire(), api.acquire(), api.acquire():
            with pytest.raises(TimeoutError):  # all three taken: 0.3 s, then refused
                await api.acquire()
    assert api.is_closing() and pools["publisher"].is_closing()  # closed; not ingest's
    assert await pool.fetchval("SELECT 1") == 1

    async with part_pools(limits, pool, {"api"}) as only_api:
        assert set(only_api) == {"api"}
