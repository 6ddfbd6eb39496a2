"""Rebuild benchmark: fold a 2,000,000-event log into every projection.

``python -m bench.rebuild [--events N]``. The log is written straight into PostgreSQL by one
set-based INSERT (the ingest's own speed is bench/ingest.py's business): one- and three-line
invoices for eight orgs, one status change per 50 documents, one refused message per 500,
then journal runs, a transfer and a cancel through the real command handlers, so every
projection has work. Timed: ``services.operations.rebuild.rebuild`` of all projections, in
events/s, and the peak RSS of this process (the fold runs in PostgreSQL; Python only pages).
Target: at least 50,000 events/s, RSS under 300 MB. Then ``ledger verify`` of the same log is
timed too (no target; it must find no violation).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

from bench.peak_rss import PeakRss
from events.journal_rules import JournalRunRequest
from services.commands.orgs import create_org
from services.commands.periods import create_period
from services.commands.settings import set_settings
from services.journal.entries import cancel_entry, set_transfer_status
from services.journal.run import create_journal_run
from services.operations.rebuild import rebuild
from services.operations.verify import verify
from services.store.pool import create_pool

TARGET_EVENTS_PER_S = 50_000
RSS_TARGET_MB = 300.0
RESULTS = Path(__file__).parent / "results"
ORGS = ("US", "EU", "APAC", "UK", "JP", "BR", "IN", "DE")

#: $1 first n, $2 last n. Event n: an invoice of 1 line (3 lines every 4th), dated in April.
INVOICES = """
INSERT INTO events (stream, version, event_id, event_type, org, payload, body_hash, metadata)
SELECT 'document:INV-' || e.n, 1, e.id, 'invoice.posted', e.org,
       jsonb_build_object(
           'event_id', e.id, 'event_type', 'invoice.posted', 'org', e.org,
           'occurred_at', '2024-04-15T12:00:00Z', 'schema_version', 1,
           'data', jsonb_build_object(
               'document', jsonb_build_object('number', 'INV-' || n, 'account_number',
                                              'A' || (n % 5000), 'currency', 'USD'),
               'transactions', (
                   SELECT jsonb_agg(jsonb_build_object(
                       'id', 'INV-' || n || '-' || i, 'type', 'invoice_item',
                       'subtype', 'charge', 'date', (DATE '2024-04-01' + (n % 30)::int)::text,
                       'status', 'posted', 'amount', ((n % 90000) / 100.0 + i)::text,
                       'currency', 'USD', 'debit_account', 'Accounts Receivable',
                       'credit_account', 'Revenue ' || (i % 4),
                       'segments', jsonb_build_object('region', 'R' || (n % 5)),
                       'document_number', 'INV-' || n, 'account_number', 'A' || (n % 5000)))
                   FROM generate_series(1, CASE WHEN n % 4 = 0 THEN 3 ELSE 1 END) AS i))),
       '\\x00'::bytea, '{}'::jsonb
FROM (SELECT n, gen_random_uuid() AS id,
             (ARRAY['US','EU','APAC','UK','JP','BR','IN','DE'])[1 + n % 8] AS org
      FROM generate_series($1::bigint, $2::bigint) AS n) e
"""

STATUS_CHANGES = """
INSERT INTO events (stream, version, event_id, event_type, org, payload, body_hash, metadata)
SELECT 'status-change:' || id, 1, id, 'transactions.status_changed', NULL,
       jsonb_build_object('event_id', id, 'event_type', 'transactions.status_changed',
           'occurred_at', '2024-04-20T12:00:00Z', 'org', NULL, 'schema_version', 1,
           'data', jsonb_build_object('changes', jsonb_build_array(jsonb_build_object(
               'type', 'invoice_item', 'id', 'INV-' || n || '-1', 'status', 'posted')))),
       '\\x00'::bytea, '{}'::jsonb
FROM (SELECT n, gen_random_uuid() AS id FROM generate_series($1::bigint, $2::bigint, 50) AS n) s
"""

REJECTIONS = """
INSERT INTO events (stream, version, event_id, event_type, org, payload, body_hash, metadata)
SELECT 'rejected:billing.events/0', n / 500, id, 'message.rejected', NULL,
       jsonb_build_object('event_id', id, 'event_type', 'message.rejected', 'org', NULL,
           'occurred_at', '2024-04-20T12:00:00Z', 'schema_version', 1,
           'data', jsonb_build_object('topic', 'billing.events', 'partition', 0, 'offset', n,
               'key', NULL, 'value', encode('not json'::bytea, 'base64'), 'headers', '[]'::jsonb,
               'error_code', 'invalid_json', 'error_detail', 'not JSON', 'error_field', NULL,
               'rejected_at', '2024-04-20T12:00:00Z')),
       '\\x00'::bytea, '{}'::jsonb
FROM (SELECT n, gen_random_uuid() AS id FROM generate_series($1::bigint, $2::bigint, 500) AS n) s
"""


async def load(pool: asyncpg.Pool, events: int, console: Console) -> dict[str, float]:
    started = time.perf_counter()
    await set_settings(pool, {"settlement": "invoice_settlement", "multi_org": "true"})
    for org in ORGS:
        await create_org(pool, org)
        await create_period(pool, org=org, name="Apr-2024", start=date(2024, 4, 1),
                            end=date(2024, 4, 30), fiscal_year=2024)
    documents = int(events * 0.978)
    step = 100_000
    async with pool.acquire() as conn:
        for first in range(1, documents + 1, step):
            last = min(first + step - 1, documents)
            await conn.execute(INVOICES, first, last)
            await conn.execute(STATUS_CHANGES, first, last)
            await conn.execute(REJECTIONS, first, last)
            console.print(f"  loaded documents {last:,}/{documents:,}")
        loaded = time.perf_counter() - started
        head = int(await conn.fetchval("SELECT max(position) FROM events"))
        await rebuild(conn)  # the projections the commands below read
    for org in ORGS[:3]:
        run = await create_journal_run(
            pool, JournalRunRequest(types=("invoice_item",), org=org, period="Apr-2024"))
        numbers = run["journal_entry_numbers"]
        await set_transfer_status(pool, numbers[0], "yes")
        if len(numbers) > 1:
            await cancel_entry(pool, numbers[1])
    async with pool.acquire() as conn:
        await conn.execute("VACUUM ANALYZE events")
        # The load's own writes are flushed before the clock starts, not charged to it.
        await conn.execute("CHECKPOINT")
        total = int(await conn.fetchval("SELECT count(*) FROM events"))
    return {"load_s": loaded, "events": float(total), "documents": float(documents),
            "head_before_commands": float(head)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    console = Console()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(args.database_url)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in args.database_url else "?"
        url = f"{args.database_url}{sep}search_path={schema}"
        pool = await create_pool(url, max_size=2, run_migrations=True)
        try:
            loaded = await load(pool, args.events, console)
            events = int(loaded["events"])
            console.print(f"rebuilding all projections from {events:,} events ...")
            async with pool.acquire() as conn:
                before = {t: await conn.fetchval(f"SELECT count(*) FROM {t}")
                          for t in ("pending_transactions", "journal_entries",
                                    "rejected_messages")}
                with PeakRss() as rss:
                    started = time.perf_counter()
                    await rebuild(conn)
                    seconds = time.perf_counter() - started
                after = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in before}
            console.print("verifying the rebuilt ledger ...")
            started = time.perf_counter()
            verified = await verify(url)
            verify_s = time.perf_counter() - started
        finally:
            await pool.close()
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
    assert after == before, f"rebuild changed row counts: {before} -> {after}"
    assert verified["ok"], f"verify found violations: {verified['violations']}"
    return {"events": events, "seconds": seconds, "events_per_s": events / seconds,
            "peak_rss_mb": rss.mb, "rows": after, "load": loaded, "verify_s": verify_s}


def report(result: dict[str, Any]) -> None:
    table = Table(title="rebuild of all projections")
    for column in ("events", "seconds", "events/s", "target", "peak RSS MB", "target"):
        table.add_column(column, justify="right")
    rate_ok = result["events_per_s"] >= TARGET_EVENTS_PER_S
    rss_ok = result["peak_rss_mb"] < RSS_TARGET_MB
    table.add_row(f"{result['events']:,}", f"{result['seconds']:.1f}",
                  f"{result['events_per_s']:,.0f}",
                  f"{'ok' if rate_ok else 'MISSED'} >= {TARGET_EVENTS_PER_S:,}",
                  f"{result['peak_rss_mb']:.0f}", f"{'ok' if rss_ok else 'MISSED'} < 300")
    Console().print(table)
    Console().print(f"ledger verify of the same log (every check, fresh fold compared): "
                    f"{result['verify_s']:.1f} s, no violations")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"rebuild-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    Console().print(f"results: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    report(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
