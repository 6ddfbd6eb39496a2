"""Seed 001's payment P-00000003 through Kafka, journal runs for April and May
(docs/domain.md §4)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import asyncpg

from events.journal_rules import JournalRunRequest
from services.config import Settings
from services.journal.run import create_journal_run
from services.journal.views import get_entry, list_entries
from services.samples import seed001_expected, seed001_lines
from tests.helpers import consume_all
from tests.integration.conftest import IngestRunner
from tests.integration.db import rows
from tests.integration.ledger_setup import set_up
from tests.integration.relay import relay_outbox


def comparable(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "transaction_type": entry["transaction_type"],
        "currency": entry["currency"],
        "journal_entry_date": entry["journal_entry_date"],
        "transaction_count": entry["transaction_count"],
        "lines": sorted(
            (line["account"], line["side"], Decimal(line["amount"])) for line in entry["lines"]
        ),
    }


async def test_seed001_april_and_may_give_exactly_the_documented_entries(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    expected = seed001_expected()
    setup = expected["setup"]
    await set_up(
        pool,
        settings={"settlement": setup["settings"]["settlement"], "multi_org": "true"},
        orgs=(setup["org"],),
    )
    values = seed001_lines()
    await ingest.feed(values, stored=3, keys=[b"US"] * len(values))

    made: list[dict[str, Any]] = []
    for run in expected["runs"]:
        request = run["request"]
        result = await create_journal_run(
            pool,
            JournalRunRequest(types=tuple(request["types"]), org=request["org"],
                              period=request["period"]),
        )
        assert result["transaction_count"] == run["transaction_count"]
        assert result["status"] == "completed"
        entries = await list_entries(pool, run=result["number"])
        assert sorted(map(comparable, entries), key=str) == sorted(
            (comparable(e) for e in run["entries"]), key=str
        )
        for entry in entries:
            assert Decimal(entry["total_debit"]) == Decimal(entry["total_credit"])
            assert entry["status"] == "created" and entry["transfer_status"] == "no"
            assert entry["org"] == "US"
        made.append(result)

    assert [r["number"] for r in made] == ["JR-00000001", "JR-00000002"]
    assert made[0]["journal_entry_numbers"] == ["JE-00000001", "JE-00000002"]
    assert made[1]["journal_entry_numbers"] == ["JE-00000003"]

    excluded = await rows(
        pool,
        "SELECT id FROM unjournaled_transactions ORDER BY id",
    )
    assert [r["id"] for r in excluded] == sorted(expected["excluded"])

    assert settings.kafka_bootstrap
    await relay_outbox(settings, pool)
    # The relay has stopped: read the topic to its end, where a duplicate would show.
    published = await consume_all(settings.kafka_bootstrap, settings.topic_journal, 5)
    assert len(published) == 5
    assert {r.key for r in published} == {b"US"}
    messages = [json.loads(r.value) for r in published]
    assert [m["event_type"] for m in messages] == [
        "journal_entry.created", "journal_entry.created", "journal_run.completed",
        "journal_entry.created", "journal_run.completed",
    ]
    for message in messages:
        assert set(message) == {"event_id", "event_type", "occurred_at", "org",
                                "schema_version", "data"}
        if message["event_type"] == "journal_entry.created":
            assert message["data"] == await get_entry(pool, message["data"]["number"])
