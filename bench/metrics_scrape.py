"""``/metrics`` scrape benchmark: the scrape time must stay flat as the history grows.

``python -m bench.metrics_scrape [--sizes 10000,100000,1000000] [--scrapes 50]`` against
PostgreSQL at 127.0.0.1:5432 (user postgres), each size in a fresh schema
``bench_<hex>_<size>`` named in the URL (``?search_path=``), dropped at the end (``--keep``
keeps them).

Data, written straight into the store by set-based INSERTs (the ingest's speed is
bench/ingest.py's business): N transactions in ``pending_transactions`` (N/10 documents of
ten lines, half of them journaled), their N/10 ``invoice.posted`` events in ``events``
(a compact payload: a scrape never reads it), N/100 outbox rows already sent and 25 waiting,
10 refused messages, and the consumer offsets of the billing topic's four partitions.

Broker: a Tansu (memory storage) started by the bench, with 1,000 records on the billing
topic (each in a batch of its own), so the lag is read through the API's long-lived Kafka
client as in production; ``--kafka-bootstrap`` uses another broker, ``--no-broker`` none
(the lag is then unknown and the scrape's broker read fails fast).

Measured per size: the HTTP API served by uvicorn in this process, on the pool ``ledger
serve`` gives it (``services.pools.api_pool``), scraped ``--scrapes`` times after five
warm-up scrapes: median, p95 and max milliseconds per ``GET /metrics``. For comparison,
the work each scrape did before (``services.operations.status.status_report``: it counts the
pending transactions and opens a Kafka consumer) is timed once per size.
Target: flat, the median at the largest size at most 1.5x the smallest's (or within 5 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from services.api.server import api_server
from services.config import Settings
from services.embedded import embedded_kafka, free_port
from services.kafka_io import producer
from services.operations.status import status_report
from services.pools import api_pool
from services.store.pool import create_pool

RESULTS = Path(__file__).parent / "results"
LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"
TOPIC, GROUP, PARTITIONS, RECORDS = "bench.billing", "bench-ingest", 4, 1000
TARGET_RATIO, TARGET_SLACK_MS = 1.5, 5.0
console = Console(width=max(Console().width, 110))

#: $1 = N. Documents of ten lines; the events carry only the document header.
LOAD = [
    """
    INSERT INTO events (stream, version, event_id, event_type, org, payload, body_hash)
    SELECT 'document:INV-' || d, 1, gen_random_uuid(), 'invoice.posted', 'US',
           jsonb_build_object('document', jsonb_build_object('number', 'INV-' || d)),
           '\\x00'::bytea
    FROM generate_series(0, $1 / 10 - 1) AS d
    """,
    """
    INSERT INTO pending_transactions (
        type, id, subtype, org, date, status, amount, currency, debit_account,
        credit_account, segments, document_number, account_number, event_position)
    SELECT 'invoice_item', 'INV-' || g / 10 || '-' || g % 10, 'charge', 'US',
           DATE '2024-04-01' + g % 30, 'posted', (g % 90000) / 100.0, 'USD',
           'Accounts Receivable', 'Revenue ' || g % 4, jsonb_build_object('region', 'R' || g % 5),
           'INV-' || g / 10, 'A' || g % 5000, g / 10 + 1
    FROM generate_series(0, $1 - 1) AS g
    """,
    """
    INSERT INTO journaled_transactions (type, id, journal_entry)
    SELECT type, id, 'JE-' || lpad((1 + event_position % 8)::text, 8, '0')
    FROM pending_transactions WHERE event_position % 2 = 0
    """,
    """
    INSERT INTO outbox (event_id, event_type, key, payload, event_position, sent_at)
    SELECT gen_random_uuid(), 'journal_entry.created', 'US', '{}'::jsonb, g,
           CASE WHEN g <= $1 / 100 THEN now() END
    FROM generate_series(1, $1 / 100 + 25) AS g
    """,
    """
    INSERT INTO rejected_messages (event_id, topic, partition, "offset", value, error_code,
                                   error_detail, rejected_at, event_position)
    SELECT gen_random_uuid(), 'bench.billing', 0, g, 'not json', 'invalid_json', 'bench',
           now(), g
    FROM generate_series(1, 10) AS g
    """,
]

#: Stored offsets of the four partitions: 900 of the 1,000 records (lag 100 when exact).
OFFSETS = """
INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)
SELECT $1, $2, p, 225 FROM generate_series(0, 3) AS p
"""


def with_params(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))


@contextmanager
def broker(args: argparse.Namespace) -> Iterator[str | None]:
    if args.no_broker:
        yield None
    elif args.kafka_bootstrap:
        yield args.kafka_bootstrap
    else:
        with tempfile.TemporaryDirectory() as data, embedded_kafka(Path(data)) as bootstrap:
            yield bootstrap


async def load(url: str, size: int) -> float:
    started = time.perf_counter()
    pool = await create_pool(url, max_size=1)  # migrates the fresh schema
    try:
        for statement in LOAD:
            await pool.execute(statement, *([size] if "$1" in statement else []))
        await pool.execute(OFFSETS, GROUP, TOPIC)
        await pool.execute("VACUUM ANALYZE")
    finally:
        await pool.close()
    return time.perf_counter() - started


async def fill_topic(bootstrap: str) -> None:
    """``RECORDS`` records, each in a batch of its own (Tansu reports the end offset of a
    multi-record batch as its base offset + 1), spread over the partitions."""
    async with producer(bootstrap, linger_ms=0) as p:
        for n in range(RECORDS):
            await p.send_and_wait(TOPIC, b'{"bench": true}', partition=n % PARTITIONS)


def lag_total(text: str) -> float | None:
    for family in text_string_to_metric_families(text):
        if family.name == "ledger_consumer_lag":
            return sum(s.value for s in family.samples) if family.samples else None
    return None


async def scrape(settings: Settings, scrapes: int) -> dict[str, Any]:
    pool = await api_pool(settings)
    server = api_server(settings, pool, host="127.0.0.1")
    serving = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}",
                                     timeout=30) as client:
            while True:
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            seconds = []
            for n in range(5 + scrapes):
                started = time.perf_counter()
                answer = await client.get("/metrics")
                if n >= 5:
                    seconds.append(time.perf_counter() - started)
                answer.raise_for_status()
            lag = lag_total(answer.text)
    finally:
        server.should_exit = True
        await serving
        await pool.close()
    ms = sorted(s * 1000 for s in seconds)
    return {"scrape_median_ms": statistics.median(ms),
            "scrape_p95_ms": ms[max(0, round(0.95 * len(ms)) - 1)],
            "scrape_max_ms": ms[-1], "lag_scraped": lag}


async def previous_work(settings: Settings) -> float | None:
    """One ``status_report``: what every scrape did before (needs a broker)."""
    if not settings.kafka_bootstrap:
        return None
    assert settings.database_url
    pool = await create_pool(settings.database_url, max_size=1, run_migrations=False)
    try:
        started = time.perf_counter()
        await status_report(settings, pool)
        return (time.perf_counter() - started) * 1000
    finally:
        await pool.close()


async def measure_size(url: str, size: int, bootstrap: str | None,
                       scrapes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"transactions": size, "load_s": await load(url, size)}
    settings = Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                        kafka_bootstrap=bootstrap or f"127.0.0.1:{free_port()}",
                        topic_billing=TOPIC, consumer_group=GROUP, http_port=free_port())
    out |= await scrape(settings, scrapes)
    out["previous_scrape_work_ms"] = await previous_work(
        settings if bootstrap else settings.model_copy(update={"kafka_bootstrap": None}))
    console.print(f"  {size:>9,} transactions: loaded in {out['load_s']:.1f}s, scrape median "
                  f"{out['scrape_median_ms']:.1f} ms")
    return out


def report(result: dict[str, Any]) -> bool:
    sizes = result["sizes"]
    first, last = sizes[0], sizes[-1]
    limit = max(first["scrape_median_ms"] * TARGET_RATIO,
                first["scrape_median_ms"] + TARGET_SLACK_MS)
    flat = last["scrape_median_ms"] <= limit
    t = Table(title=f"GET /metrics over the stored history; target: flat (median at "
                    f"{last['transactions']:,} <= {limit:.1f} ms), broker: "
                    f"{result['broker'] or 'none'} (load average "
                    f"{result['loadavg_before'][0]:.1f} on {os.cpu_count()} cores)")
    for column in ("transactions", "scrape median ms", "p95 ms", "max ms", "lag scraped",
                   "before: status_report ms"):
        t.add_column(column, justify="right")
    for s in sizes:
        before = s["previous_scrape_work_ms"]
        t.add_row(f"{s['transactions']:,}", f"{s['scrape_median_ms']:.1f}",
                  f"{s['scrape_p95_ms']:.1f}", f"{s['scrape_max_ms']:.1f}",
                  "unknown" if s["lag_scraped"] is None else f"{s['lag_scraped']:.0f}",
                  "" if before is None else f"{before:.0f}")
    console.print(t)
    console.print(f"[{'green' if flat else 'red'}]{'flat' if flat else 'NOT flat'}[/]: "
                  f"{first['scrape_median_ms']:.1f} ms at {first['transactions']:,}, "
                  f"{last['scrape_median_ms']:.1f} ms at {last['transactions']:,}")
    return flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="stored transactions, comma-separated")
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--database-url", default=LOCAL)
    parser.add_argument("--kafka-bootstrap", help="use this broker instead of a Tansu")
    parser.add_argument("--no-broker", action="store_true", help="no broker: lag unknown")
    parser.add_argument("--keep", action="store_true", help="keep the schemas (to dig in)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # a failed lag read would warn on each scrape
    sizes = [int(s) for s in args.sizes.split(",")]
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    names = {size: f"{schema}_{size}" for size in sizes}
    RESULTS.mkdir(exist_ok=True)
    result: dict[str, Any] = {"loadavg_before": os.getloadavg(), "cpu_count": os.cpu_count(),
                              "scrapes": args.scrapes, "schemas": names, "sizes": []}

    async def schemas(sql: str) -> None:
        conn = await asyncpg.connect(args.database_url)
        try:
            result.setdefault("postgres", await conn.fetchval("SHOW server_version"))
            for name in names.values():
                await conn.execute(sql.format(name=name))
        finally:
            await conn.close()

    asyncio.run(schemas('CREATE SCHEMA "{name}"'))
    try:
        with broker(args) as bootstrap:
            result["broker"] = bootstrap
            if bootstrap:
                asyncio.run(fill_topic(bootstrap))
            for size in sizes:
                url = with_params(args.database_url, search_path=names[size])
                result["sizes"].append(
                    asyncio.run(measure_size(url, size, bootstrap, args.scrapes)))
    finally:
        if not args.keep:
            asyncio.run(schemas('DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    result["loadavg_after"] = os.getloadavg()
    result["flat"] = report(result)
    path = RESULTS / f"metrics_scrape-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    console.print(f"results: {path}")


if __name__ == "__main__":
    main()
