"""``/metrics`` costs nothing to scrape: its store gauges come from the partitions and the
backlogs (consumer offsets, unsent outbox rows, the DLQ), never from the transactions or
the log, and the lag is read through one long-lived Kafka client. Also the DLQ gauge and
the publisher's send failures. Real PostgreSQL and Tansu."""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from aiokafka.errors import KafkaError
from prometheus_client import REGISTRY

from events.journal_rules import JournalRunRequest
from services.config import Settings
from services.embedded import embedded_kafka
from services.journal.run import create_journal_run
from services.kafka_io import producer
from services.operations.dlq import replay_rejected
from services.publisher import relay_once
from services.samples import invoices, to_lines
from tests.helpers import produce, wait_until
from tests.integration.billing import status_changed, store_lines, txn
from tests.integration.conftest import IngestRunner
from tests.integration.db import billing_event_count, scalar
from tests.integration.http_api import metric_values, serving, serving_app
from tests.integration.ledger_setup import set_up

#: Every table whose size grows with the history: a scrape must not need any of them.
HISTORY = ("events", "pending_transactions", "journaled_transactions", "journal_entries",
           "journal_entry_lines", "journal_runs")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_scrape_reads_no_history_and_keeps_one_kafka_client(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    await set_up(pool)
    assert settings.kafka_bootstrap
    stored = to_lines(invoices(3, org=None, seed=7))
    await ingest.feed([*stored, b"{not json"], stored=3)

    async def refused() -> bool:
        return await scalar(pool, "SELECT count(*) FROM rejected_messages") == 1

    await wait_until(refused, message="the bad message refused")
    await ingest.stop()
    for value in to_lines(invoices(2, org=None, seed=8)):  # one batch each: exact ends
        await produce(settings.kafka_bootstrap, settings.topic_billing, [value])
    await create_journal_run(pool, JournalRunRequest(types=("invoice_item",),
                                                     period="Apr-2024"))
    backlog = await scalar(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    assert backlog >= 2  # the run and its entries wait for the publisher

    async with serving_app(settings, pool) as (api, app):
        holder = await asyncpg.connect(settings.database_dsn())
        try:
            # Another session holds every history table: a statement on any of them would
            # wait, the refresh would time out, and the lag would be dropped.
            locked = holder.transaction()
            await locked.start()
            await holder.execute(f"LOCK TABLE {', '.join(HISTORY)} IN ACCESS EXCLUSIVE MODE")
            failures = sample("ledger_store_gauges_refresh_failures_total")
            for _ in range(3):
                scraped = await metric_values(api)
                lag = {labels: v for (name, labels), v in scraped.items()
                       if name == "ledger_consumer_lag"}
                assert sum(lag.values()) == 2, lag
                assert scraped[("ledger_outbox_backlog", ())] == backlog
                assert scraped[("ledger_dlq_messages", ())] == 1
            assert sample("ledger_store_gauges_refresh_failures_total") == failures
            await locked.rollback()
        finally:
            await holder.close()
        assert app.state.end_offsets.clients_started == 1  # one client for every scrape


async def test_the_dlq_gauge_counts_refused_messages_not_yet_repaired(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    invoice = next(invoices(1, org=None, seed=55, prefix="LATE"))
    line_id = invoice["data"]["transactions"][0]["id"]
    early = [json.dumps(status_changed([("invoice_item", line_id, "posted")])).encode(),
             b"not json"]
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, early, keys=[b"K"] * 2)
    ingest.start()

    async def refused() -> bool:
        return await scalar(pool, "SELECT count(*) FROM rejected_messages") == 2

    await wait_until(refused, message="both refused")
    async with serving(settings, pool) as api:
        assert (await metric_values(api))[("ledger_dlq_messages", ())] == 2
        await produce(settings.kafka_bootstrap, settings.topic_billing, to_lines([invoice]),
                      keys=[b"K"])

        async def arrived() -> bool:
            return await billing_event_count(pool) == 1

        await wait_until(arrived, message="the transaction arrived")
        repaired = await replay_rejected(pool, max_bytes=settings.max_message_bytes)
        assert (repaired["stored"], repaired["still_rejected"]) == (1, 1)
        assert (await metric_values(api))[("ledger_dlq_messages", ())] == 1


async def test_a_send_the_broker_does_not_acknowledge_is_counted_and_stays_unsent(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await set_up(pool)
    await store_lines(pool, [txn("invoice_item", "P1", date(2024, 4, 2), "10")])
    await create_journal_run(pool, JournalRunRequest(types=("invoice_item",),
                                                     period="Apr-2024"))
    failures = sample("ledger_publisher_send_failures_total")
    with ExitStack() as broker:
        bootstrap = broker.enter_context(embedded_kafka(tmp_path / "kafka"))
        own_broker = settings.model_copy(update={"kafka_bootstrap": bootstrap})
        async with producer(own_broker, request_timeout_ms=1000) as relay:
            assert await relay_once(pool, relay, settings.topic_journal) == 2
            assert sample("ledger_publisher_send_failures_total") == failures

            await store_lines(pool, [txn("invoice_item", "P2", date(2024, 4, 3), "20")])
            await create_journal_run(pool, JournalRunRequest(types=("invoice_item",),
                                                             period="Apr-2024"))
            broker.close()  # the broker is gone: the next send is never acknowledged
            with pytest.raises(KafkaError):
                await relay_once(pool, relay, settings.topic_journal)
            assert sample("ledger_publisher_send_failures_total") == failures + 1
            assert await scalar(
                pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 2
