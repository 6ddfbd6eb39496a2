"""``GET /metrics`` over real HTTP after known work: seed 001 through Kafka, two runs, cancels,
the outbox relayed. Collectors are process-global, so the test asserts deltas."""

from __future__ import annotations

import asyncio

import asyncpg

from services.config import Settings
from services.publisher import run_publisher
from services.samples import seed001_lines
from tests.helpers import produce, wait_until
from tests.integration.conftest import IngestRunner
from tests.integration.db import billing_event_count, scalar
from tests.integration.http_api import metric_values, serving
from tests.integration.ledger_setup import set_up

Samples = dict[tuple[str, tuple[str, ...]], float]

EXPECTED_NAMES = {
    "ledger_ingest_events_total", "ledger_ingest_rejected_messages_total",
    "ledger_ingest_duplicate_messages_total", "ledger_ingest_batch_seconds_bucket",
    "ledger_ingest_batch_seconds_count", "ledger_ingest_batch_seconds_sum",
    "ledger_consumer_lag", "ledger_outbox_backlog", "ledger_outbox_published_events_total",
    "ledger_journal_run_seconds_count", "ledger_journal_run_transactions_bucket",
    "ledger_journal_entries_created_total", "ledger_journal_entries_cancelled_total",
}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(f"{k}={v}" for k, v in sorted(labels.items()))), 0.0)


def lag(samples: Samples, topic: str) -> dict[str, float]:
    """Partition -> lag, for one topic."""
    found = {}
    for (name, labels), v in samples.items():
        if name == "ledger_consumer_lag" and f"topic={topic}" in labels:
            found[next(x for x in labels if x.startswith("partition="))[10:]] = v
    return found


async def test_metrics_after_seed001_two_runs_cancels_and_the_relay(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    await set_up(pool, settings={"settlement": "invoice_item_settlement", "multi_org": "true"},
                 orgs=("US",), unlabeled_periods=False)
    assert settings.kafka_bootstrap
    values = [*seed001_lines(), b"{not json"]
    for v in values:  # one producer batch each: Tansu's end offsets are exact then
        await produce(settings.kafka_bootstrap, settings.topic_billing, [v], keys=[b"US"])

    async with serving(settings, pool) as api:
        before = await metric_values(api)
        assert sum(lag(before, settings.topic_billing).values()) == 4  # nothing stored yet
        assert value(before, "ledger_outbox_backlog") == 0

        ingest.start()

        async def stored() -> bool:
            return await billing_event_count(pool) == 3 and await scalar(
                pool, "SELECT count(*) FROM rejected_messages") == 1

        await wait_until(stored, message="seed 001 stored and the bad message refused")
        for period in ("Apr-2024", "May-2024"):
            answer = await api.post("/v1/journal-runs", json={
                "accountingPeriodName": period, "transactionTypes": [{"type": "cash"}],
                "organizationLabels": [{"organizationName": "US"}]})
            assert answer.status_code == 200, answer.text
        refused = await api.post("/v1/journal-runs", json={
            "accountingPeriodName": "Open-Ended", "transactionTypes": [{"type": "cash"}],
            "organizationLabels": [{"organizationName": "US"}]})
        assert refused.status_code == 400  # not observed as a run

        after_runs = await metric_values(api)
        assert set(EXPECTED_NAMES) <= {name for name, _ in after_runs}

        def delta(name: str, **labels: str) -> float:
            return value(after_runs, name, **labels) - value(before, name, **labels)

        for event_type in ("payment.processed", "payment.applied", "payment.unapplied"):
            assert delta("ledger_ingest_events_total", event_type=event_type) == 1
        assert delta("ledger_ingest_rejected_messages_total", code="invalid_json") == 1
        assert delta("ledger_ingest_batch_seconds_count") >= 1
        assert delta("ledger_ingest_batch_seconds_sum") > 0
        assert delta("ledger_journal_run_seconds_count") == 2
        assert delta("ledger_journal_run_transactions_count") == 2
        assert delta("ledger_journal_run_transactions_sum") == 5  # 3 in April, 2 in May
        assert delta("ledger_journal_run_transactions_bucket", le="1.0") == 0
        assert delta("ledger_journal_run_transactions_bucket", le="10.0") == 2
        assert delta("ledger_journal_entries_created_total") == 3
        assert delta("ledger_journal_entries_cancelled_total") == 0
        # 3 journal_entry.created + 2 journal_run.completed wait in the outbox
        assert value(after_runs, "ledger_outbox_backlog") == 5
        lags = lag(after_runs, settings.topic_billing)
        assert lags and set(lags.values()) == {0.0}

        assert (await api.put("/v1/journal-entries/JE-00000003/cancel")).status_code == 200
        assert (await api.put("/v1/journal-runs/JR-00000001/cancel")).status_code == 200
        after_cancels = await metric_values(api)
        assert (value(after_cancels, "ledger_journal_entries_cancelled_total")
                - value(before, "ledger_journal_entries_cancelled_total")) == 3
        # + 3 journal_entry.cancelled + 1 journal_run.cancelled
        assert value(after_cancels, "ledger_outbox_backlog") == 9

        stop = asyncio.Event()
        relay = asyncio.create_task(run_publisher(pool, settings,
                                                  settings.topic_journal, stop))
        try:
            async def relayed() -> bool:
                samples = await metric_values(api)
                return value(samples, "ledger_outbox_backlog") == 0

            await wait_until(relayed, message="outbox relayed")
        finally:
            stop.set()
            await relay
        done = await metric_values(api)
        assert (value(done, "ledger_outbox_published_events_total")
                - value(before, "ledger_outbox_published_events_total")) == 9


async def test_metrics_text_names_every_collector_with_help(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    async with serving(settings, pool) as api:
        answer = await api.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    for family in ("ledger_ingest_events", "ledger_ingest_rejected_messages",
                   "ledger_ingest_batch_seconds", "ledger_consumer_lag", "ledger_outbox_backlog",
                   "ledger_journal_run_seconds", "ledger_journal_run_transactions",
                   "ledger_journal_entries_created", "ledger_journal_entries_cancelled",
                   "ledger_ingest_retries", "ledger_ingest_unstorable"):
        assert f"# HELP {family}" in answer.text, family
