"""A posted transaction's facts never change: a line whose (type, id) is already stored, or that
an event names twice, refuses the whole event as ``duplicate_transaction`` (docs/contract.md
§2), naming the line; the stored facts stay as they were and the ingest goes on."""

from __future__ import annotations

import copy
import json
import uuid
from decimal import Decimal
from typing import Any

import asyncpg

from services.config import Settings
from services.samples import SAMPLE_NAMESPACE, invoices
from tests.helpers import consume_all, wait_until
from tests.integration.conftest import IngestRunner
from tests.integration.db import rows, scalar


def invoice(prefix: str, seed: int, lines: int = 1) -> dict[str, Any]:
    return next(invoices(1, lines=lines, org="US", seed=seed, prefix=prefix))


def another_event(event: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of ``event`` as a different event (its own id and document number)."""
    other = copy.deepcopy(event)
    other["event_id"] = str(uuid.uuid5(SAMPLE_NAMESPACE, name))
    other["data"]["document"]["number"] = name
    return other


async def test_a_line_stored_before_or_named_twice_refuses_its_event(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    first = invoice("DT", 91, lines=2)
    kept_line = first["data"]["transactions"][1]
    # A later document re-sends line 1 of the first with another amount (line 0 is new).
    restated = another_event(first, "DT-RESTATED")
    restated["data"]["transactions"][0]["id"] = "DT-RESTATED-0"
    restated["data"]["transactions"][1]["amount"] = "1.00"
    # A document that names its one line twice.
    twice = invoice("DT-TWICE", 92)
    twice["data"]["transactions"].append(dict(twice["data"]["transactions"][0]))
    after = invoice("DT-AFTER", 93)
    values = [json.dumps(e).encode() for e in (first, restated, twice, after)]

    await ingest.feed(values, stored=2, keys=[b"US"] * 4)

    async def both_refused() -> bool:
        return await scalar(pool, "SELECT count(*) FROM rejected_messages") == 2

    await wait_until(both_refused, message="two refusals recorded")
    refused = await rows(pool, 'SELECT error_code, error_field, error_detail, value '
                               'FROM rejected_messages ORDER BY "offset"')
    twice_id = twice["data"]["transactions"][0]["id"]
    assert [(r["error_code"], r["error_field"], r["error_detail"]) for r in refused] == [
        ("duplicate_transaction", "data.transactions[1].id",
         f"transaction invoice_item {kept_line['id']} is already stored; posted facts never "
         "change"),
        ("duplicate_transaction", "data.transactions[1].id",
         f"transaction invoice_item {twice_id} is already stored; posted facts never change"),
    ]
    assert [bytes(r["value"]) for r in refused] == values[1:3]

    # Nothing of a refused event was stored: not the event, not its new line, not its amount.
    stored_ids = {str(r["event_id"]) for r in await rows(
        pool, "SELECT event_id FROM events WHERE event_type = 'invoice.posted'")}
    assert stored_ids == {first["event_id"], after["event_id"]}
    pending = {r["id"]: r["amount"] for r in await rows(
        pool, "SELECT id, amount FROM pending_transactions")}
    assert pending == {line["id"]: Decimal(line["amount"]) for e in (first, after)
                       for line in e["data"]["transactions"]}

    assert settings.kafka_bootstrap
    dlq = await consume_all(settings.kafka_bootstrap, settings.topic_dlq, 2)
    assert [(r.value, dict(r.headers)["ledger-error"]) for r in dlq] == [
        (values[1], b"duplicate_transaction"), (values[2], b"duplicate_transaction")]
