"""Inputs of the memory benchmark (``bench.memory``), made at scale without holding them.

- a JSON Lines file of valid ``invoice.posted`` events (~1 KB each, three lines), written
  as it is generated, keyed over orgs that spread evenly over the partitions;
- journal events in the log and the outbox: one ``journal_entry.created`` from a real
  journal run, copied set-based under new ids and numbers;
- refused messages: ``message.rejected`` events (invoices of an org that does not exist,
  refused ``unknown_org``) inserted set-based, and their ``rejected_messages`` rows folded
  by the projection's own SQL. Their event ids are the ids the ingest gives a refusal of
  that source (uuid5, computed here and copied in), so a DLQ replay resolves them.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg

import projections.rejected
from bench.journal_run import append_batch, stored_form
from bench.workloads import balanced_orgs
from events.journal_rules import JournalRunRequest
from services.commands.orgs import create_org
from services.commands.periods import create_period
from services.commands.settings import set_settings
from services.ingest.records import InboundRecord, rejection_event_id
from services.journal.run import create_journal_run
from services.samples import invoices

#: Lines per generated invoice: three make an event of about 1 KB.
LINES = 3
#: Rows per set-based INSERT (one transaction each).
CHUNK = 200_000
APRIL = (date(2024, 4, 1), date(2024, 4, 30))
DLQ_TOPIC = "billing.events"
DLQ_PARTITIONS = 4
#: The org the refused invoices name: it does not exist until the benchmark creates it.
LATE_ORG = "LATE"


def write_events_file(path: Path, target_bytes: int,
                      on_written: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Write invoices to ``path`` until it holds ``target_bytes``; (events, bytes)."""
    orgs = balanced_orgs()
    streams = [invoices(10**9, lines=LINES, org=org, seed=n + 1, prefix="MEM")
               for n, org in enumerate(orgs)]
    events = written = 0
    with path.open("wb", buffering=1 << 20) as out:
        for stream in itertools.cycle(streams):
            line = json.dumps(next(stream), separators=(",", ":")).encode() + b"\n"
            out.write(line)
            events += 1
            written += len(line)
            if on_written is not None and events % 100_000 == 0:
                on_written(written)
            if written >= target_bytes:
                return events, written
    raise AssertionError("unreachable")


# -- journal events ----------------------------------------------------------------------

_COPY_ENTRIES = """
INSERT INTO events (stream, version, event_id, event_type, org, payload, body_hash)
SELECT 'bench-entry:' || g, 1, c.id, 'journal_entry.created', c.org, c.payload,
       sha256(convert_to(c.payload::text, 'UTF8'))
FROM generate_series($1::bigint, $2::bigint) AS g
CROSS JOIN (SELECT payload FROM events WHERE position = $3) AS t
CROSS JOIN LATERAL (SELECT gen_random_uuid() AS id,
                           'ORG' || lpad((g % 8)::text, 2, '0') AS org) AS k
CROSS JOIN LATERAL (SELECT jsonb_set(jsonb_set(jsonb_set(t.payload,
    '{event_id}', to_jsonb(k.id::text)), '{org}', to_jsonb(k.org)),
    '{data,number}', to_jsonb('JE-B' || lpad(g::text, 9, '0'))) AS payload,
    k.id, k.org) AS c
"""

_OUTBOX = """
INSERT INTO outbox (event_id, event_type, key, payload, event_position, sent_at)
SELECT event_id, event_type, coalesce(org, 'unlabeled'), payload - 'internal', position, now()
FROM events WHERE event_type = 'journal_entry.created' AND position > $1
ORDER BY position
"""


async def load_journal_events(pool: asyncpg.Pool, count: int,
                              on_loaded: Callable[[int], None] | None = None) -> int:
    """A real run over a few invoices, then ``count`` copies of its largest entry event in
    the log and the outbox (sent); return the first copy's position."""
    await set_settings(pool, {"settlement": "invoice_item_settlement", "multi_org": "true"})
    await create_org(pool, "US")
    await create_period(pool, org="US", name="Apr-2024", start=APRIL[0], end=APRIL[1],
                        fiscal_year=2024, fiscal_quarter=2)
    await append_batch(pool, stored_form(invoices(50, lines=LINES, org="US", seed=3)))
    await create_journal_run(pool, JournalRunRequest(types=("billing",), org="US",
                                                     period="Apr-2024"))
    template = await pool.fetchval(
        "SELECT position FROM events WHERE event_type = 'journal_entry.created' "
        "ORDER BY octet_length(payload::text) DESC LIMIT 1")
    head = int(await pool.fetchval("SELECT max(position) FROM events"))
    for first in range(1, count + 1, CHUNK):
        await pool.execute(_COPY_ENTRIES, first, min(first + CHUNK - 1, count), template)
        if on_loaded is not None:
            on_loaded(min(first + CHUNK - 1, count))
    await pool.execute(_OUTBOX, head)
    await pool.execute("VACUUM ANALYZE events")
    await pool.execute("VACUUM ANALYZE outbox")
    return head + 1


# -- refused messages --------------------------------------------------------------------

_REFUSALS = """
INSERT INTO events (stream, version, event_id, event_type, org, payload, body_hash, metadata)
SELECT 'rejected:' || $1 || '/' || s.partition, s."offset" + 1, s.event_id, 'message.rejected',
       NULL,
       jsonb_build_object(
           'event_id', s.event_id, 'event_type', 'message.rejected',
           'occurred_at', $2::text, 'org', NULL, 'schema_version', 1,
           'data', jsonb_build_object(
               'topic', $1, 'partition', s.partition, 'offset', s."offset",
               'key', encode(convert_to($3, 'UTF8'), 'base64'),
               'value', translate(encode(v.value, 'base64'), E'\\n', ''),
               'headers', '[]'::jsonb, 'error_code', 'unknown_org',
               'error_detail', 'org ''' || $3 || ''' does not exist; create it, then replay',
               'error_field', 'org', 'rejected_at', $2::text)),
       sha256(v.value),
       jsonb_build_object('topic', $1, 'partition', s.partition, 'offset', s."offset")
FROM bench_sources s
CROSS JOIN LATERAL (SELECT convert_to(replace(replace($4, '@N@', lpad(s.n::text, 9, '0')),
                                              '@ID@', md5(s.n::text)::uuid::text),
                                      'UTF8') AS value) AS v
ORDER BY s.n
"""


def _sources(first: int, last: int) -> Iterator[tuple[int, int, int, uuid.UUID]]:
    """(n, partition, offset, rejection event id) of refusals ``first..last``."""
    for n in range(first, last + 1):
        partition, offset = n % DLQ_PARTITIONS, n // DLQ_PARTITIONS
        record = InboundRecord(DLQ_TOPIC, partition, offset, None, b"")
        yield n, partition, offset, rejection_event_id(record)


def refused_invoice_template() -> str:
    """A ~1 KB invoice of ``LATE_ORG``; ``@N@`` in its numbers, ``@ID@`` as its event id."""
    invoice = next(invoices(1, lines=LINES, org=LATE_ORG, seed=5, prefix="DLQ"))
    invoice["event_id"] = "@ID@"
    number = invoice["data"]["document"]["number"]
    text = json.dumps(invoice, separators=(",", ":"))
    return text.replace(number, f"DLQ-{LATE_ORG}-@N@")


async def load_refusals(pool: asyncpg.Pool, count: int,
                        on_loaded: Callable[[int], None] | None = None) -> None:
    """``count`` refused invoices of an org that does not exist (Multi-Org on), in the log
    and the DLQ listing."""
    await set_settings(pool, {"settlement": "invoice_item_settlement", "multi_org": "true"})
    template = refused_invoice_template()
    when = datetime.now(UTC).isoformat()
    for first in range(0, count, CHUNK):
        last = min(first + CHUNK, count) - 1
        async with pool.acquire() as conn, conn.transaction():
            head = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
            await conn.execute("CREATE TEMP TABLE bench_sources (n bigint, partition int, "
                               '"offset" bigint, event_id uuid) ON COMMIT DROP')
            await conn.copy_records_to_table("bench_sources", records=_sources(first, last))
            await conn.execute(_REFUSALS, DLQ_TOPIC, when, LATE_ORG, template)
            high = await conn.fetchval("SELECT max(position) FROM events")
            await projections.rejected.PROJECTION.apply(conn, head + 1, high, None,
                                                        {"message.rejected"})
        if on_loaded is not None:
            on_loaded(last + 1)
    await pool.execute("VACUUM ANALYZE events")
    await pool.execute("VACUUM ANALYZE rejected_messages")
