"""The floor the ingest is compared with: aiokafka in, ``json.loads``, COPY out. Nothing else.

Per ``getmany`` batch, in one transaction: COPY the raw rows (event_id, event_type, org,
payload) into ``--table`` and upsert the per-partition next offsets into ``--offsets-table``.
No validation, no dedup, no projections: what any Kafka→PostgreSQL pipe has to pay at least.

    python -m bench.bare_pipe --bootstrap HOST:PORT --topic T --group G --database-url URL

Runs until SIGTERM/SIGINT. ``create_tables`` makes the two tables (the benchmark calls it
before timing, so the pipe's start-up is not charged with DDL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import uuid
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from services.kafka_io import FETCH_MAX_BYTES, FETCH_PARTITION_BYTES

COLUMNS = ("event_id", "event_type", "org", "payload")


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


async def create_tables(conn: asyncpg.Connection, table: str, offsets_table: str) -> None:
    """The raw table (recorded_at gives the first→last span exactly) and the offsets table."""
    await conn.execute(
        f"""
        CREATE TABLE {_ident(table)} (
            event_id    uuid  NOT NULL,
            event_type  text  NOT NULL,
            org         text,
            payload     jsonb NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE TABLE {_ident(offsets_table)} (
            group_id    text    NOT NULL,
            topic       text    NOT NULL,
            partition   integer NOT NULL,
            next_offset bigint  NOT NULL,
            PRIMARY KEY (group_id, topic, partition)
        );
        """
    )


def upsert_offsets_sql(offsets_table: str) -> str:
    return f"""
    INSERT INTO {_ident(offsets_table)} (group_id, topic, partition, next_offset)
    SELECT $1, $2, p, o FROM unnest($3::int[], $4::bigint[]) AS x(p, o)
    ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset
    """


async def pipe(args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Consume until ``stop``; return the number of rows written."""
    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=args.heartbeat_interval_ms,
        max_partition_fetch_bytes=FETCH_PARTITION_BYTES,  # the same fetch limits as the ingest
        fetch_max_bytes=FETCH_MAX_BYTES,
    )
    conn = await asyncpg.connect(args.database_url)
    upsert = upsert_offsets_sql(args.offsets_table)
    written = 0
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(
                timeout_ms=args.batch_timeout_ms, max_records=args.max_records
            )
            if not batches:
                continue
            rows: list[tuple[Any, ...]] = []
            partitions: list[int] = []
            offsets: list[int] = []
            for tp, records in batches.items():
                for record in records:
                    value = record.value or b""
                    obj = json.loads(value)
                    rows.append(
                        (uuid.UUID(obj["event_id"]), obj["event_type"], obj.get("org"),
                         value.decode("utf-8"))
                    )
                partitions.append(tp.partition)
                offsets.append(records[-1].offset + 1)
            async with conn.transaction():
                await conn.copy_records_to_table(args.table, records=rows, columns=COLUMNS)
                await conn.execute(upsert, args.group, args.topic, partitions, offsets)
            written += len(rows)
    finally:
        await consumer.stop()
        await conn.close()
    return written


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_pipe", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--table", default="bench_raw")
    parser.add_argument("--offsets-table", default="bench_offsets")
    parser.add_argument("--max-records", type=int, default=2000)
    parser.add_argument("--batch-timeout-ms", type=int, default=200)
    parser.add_argument("--session-timeout-ms", type=int, default=2000)
    parser.add_argument("--heartbeat-interval-ms", type=int, default=300)
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    written = await pipe(args, stop)
    print(f"bare pipe: {written} rows written to {args.table}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
