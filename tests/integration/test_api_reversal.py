"""Reversal, the runs list, and who and when over the HTTP API (docs/contract.md §4): real
HTTP with API keys, the key's name recorded as the actor, and what the journal topic then
carries."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from services.commands.periods import change_period_status
from services.config import Settings
from tests.helpers import consume_all
from tests.integration.audit import parse_stamp, unstamped
from tests.integration.billing import store_lines, txn
from tests.integration.db import scalar
from tests.integration.http_api import bearer, serving
from tests.integration.ledger_setup import MONTHS_2024, set_up
from tests.integration.relay import relay_outbox
from tests.integration.test_api import ZUORA_TIMESTAMP, item, ok, refusal

GL_KEY = "gl-integration"
US = [{"organizationName": "US"}]
AR, REVENUE = "Accounts Receivable", "Revenue"
APRIL = date(2024, 4, 9)


def run_body(period: str) -> dict[str, Any]:
    return {"accountingPeriodName": period, "transactionTypes": [{"type": "Invoice Item"}],
            "organizationLabels": US}


async def published(settings: Settings, pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Relay the outbox to the journal topic and read every event back, in order."""
    expected = int(await scalar(pool, "SELECT count(*) FROM outbox"))
    await relay_outbox(settings, pool)
    assert settings.kafka_bootstrap
    records = await consume_all(settings.kafka_bootstrap, settings.topic_journal, expected)
    assert len(records) == expected
    return [json.loads(r.value) for r in records]


async def test_an_operator_reverses_a_transferred_entry_and_a_viewer_may_not(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await set_up(pool, settings={"settlement": "invoice_item_settlement", "multi_org": "true"},
                 orgs=("US",), periods=MONTHS_2024, unlabeled_periods=False)
    await store_lines(pool, [
        txn("invoice_item", "I-1", APRIL, "100.00"), txn("invoice_item", "I-2", APRIL, "-20.50"),
        txn("invoice_item", "I-3", APRIL, "5.00", segments={"region": "EU"}),
    ], org="US")
    viewer = await bearer(pool, "viewer")
    since = datetime.now(UTC)
    async with serving(settings, pool, name=GL_KEY) as api:
        run = await ok(await api.post("/v1/journal-runs", json=run_body("Apr-2024")))
        assert (run["journalEntryNumbers"], run["createdBy"], run["cancelledBy"]) == (
            ["JE-00000001", "JE-00000002"], GL_KEY, None)
        assert ZUORA_TIMESTAMP.match(run["createdOn"])
        reverse = "/v1/journal-entries/JE-00000002/reverse"
        may_10 = {"reversalDate": "2024-05-10"}
        assert refusal(await api.post(reverse, json=may_10)) == (409, "entry_not_transferred")
        assert refusal(await api.post(reverse, json=may_10, headers=viewer)) == (
            403, "forbidden")

        transferred = await ok(await api.put("/v1/journal-entries/JE-00000002/basic-information",
                                             json={"transferredToAccounting": "Yes"}))
        assert unstamped(transferred, GL_KEY, since) == {
            "success": True, "number": "JE-00000002", "transferredToAccounting": "Yes"}
        await change_period_status(pool, org="US", name="Apr-2024", to="closed")
        assert refusal(await api.post(reverse, json={"reversalDate": "2024-04-30"})) == (
            400, "reversal_period_closed")
        assert refusal(await api.post(reverse, json={"reversal_date": "2024-05-10"})) == (
            400, "request_invalid")  # camelCase only, nothing unknown
        assert refusal(await api.post(reverse, headers=viewer)) == (403, "forbidden")
        assert await scalar(pool, "SELECT value FROM counters WHERE name = 'journal_entry'") == 2

        answer = await ok(await api.post(reverse, json=may_10))
        assert answer == {
            "success": True, "number": "JE-00000003", "accountingPeriodName": "May-2024",
            "journalEntryDate": "2024-05-10", "transactionType": "Invoice Item",
            "currency": "USD", "aggregateCurrency": False,
            "journalEntryItems": [item(AR, "20.50", "Debit"), item(REVENUE, "100.00", "Debit"),
                                  item(AR, "100.00", "Credit"), item(REVENUE, "20.50", "Credit")],
            "segments": [], "status": "Created", "transferredToAccounting": "No",
            "organizationLabel": "US", "timePeriodStart": "2024-04-01",
            "timePeriodEnd": "2024-04-30", "notes": None, "transferredBy": None,
            "transferDateTime": None, "journalRun": "JR-00000001", "transactionCount": 0,
            "totalDebit": "120.50", "totalCredit": "120.50", "reverses": "JE-00000002",
            "reversalEntry": None, "reversedBy": None, "reversedOn": None,
            "cancelledBy": None, "cancelledOn": None,
        }
        original = await ok(await api.get("/v1/journal-entries/JE-00000002", headers=viewer))
        assert (original["status"], original["transferredToAccounting"],
                original["transferredBy"], original["reversalEntry"], original["reversedBy"],
                original["reverses"]) == ("Created", "Yes", GL_KEY, "JE-00000003", GL_KEY, None)
        assert ZUORA_TIMESTAMP.match(original["reversedOn"])
        assert [i["type"] for i in original["journalEntryItems"]] == [
            "Debit", "Debit", "Credit", "Credit"]
        assert refusal(await api.post(reverse, json=may_10)) == (
            409, "journal_entry_already_reversed")
        assert refusal(await api.post("/v1/journal-entries/JE-00000003/reverse")) == (
            409, "journal_entry_is_reversal")
        assert refusal(await api.put("/v1/journal-entries/JE-00000003/cancel")) == (
            409, "journal_entry_is_reversal")
        assert refusal(await api.post("/v1/journal-entries/JE-00000009/reverse")) == (
            404, "journal_entry_not_found")
        await ok(await api.put("/v1/journal-entries/JE-00000001/basic-information",
                               json={"transferredToAccounting": "Yes"}))
        no_date = await api.post("/v1/journal-entries/JE-00000001/reverse")  # today
        assert refusal(no_date) == (400, "reversal_date_open_ended")

    events = await published(settings, pool)
    assert [(e["event_type"], e["data"]["number"]) for e in events] == [
        ("journal_entry.created", "JE-00000001"), ("journal_entry.created", "JE-00000002"),
        ("journal_run.completed", "JR-00000001"),
        ("journal_entry.transfer_status_changed", "JE-00000002"),
        ("journal_entry.reversed", "JE-00000002"), ("journal_entry.created", "JE-00000003"),
        ("journal_entry.transfer_status_changed", "JE-00000001"),
    ]
    run_data, transfer, reversed_ = (events[2]["data"], events[3]["data"], events[4]["data"])
    assert (run_data["created_by"], transfer["by"], reversed_["by"]) == (GL_KEY,) * 3
    assert unstamped(reversed_, GL_KEY, since) == {
        "number": "JE-00000002", "reversed_by": "JE-00000003", "released_transaction_count": 2}
    assert since <= parse_stamp(run_data["created_at"]) <= parse_stamp(transfer["at"])
    assert events[5]["data"]["reverses"] == "JE-00000002"


async def test_runs_are_listed_page_by_page_and_filtered(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await set_up(pool, settings={"settlement": "invoice_item_settlement", "multi_org": "true"},
                 orgs=("US", "EU"), periods=MONTHS_2024, unlabeled_periods=False)
    await store_lines(pool, [txn("invoice_item", "I-1", APRIL, "10.00")], org="US")
    await store_lines(pool, [txn("invoice_item", "E-1", APRIL, "7.00")], org="EU")
    async with serving(settings, pool, name=GL_KEY) as api:
        for org, period in (("US", "Apr-2024"), ("EU", "Apr-2024"), ("US", "May-2024")):
            body = run_body(period) | {"organizationLabels": [{"organizationName": org}]}
            await ok(await api.post("/v1/journal-runs", json=body))
        await ok(await api.put("/v1/journal-runs/JR-00000002/cancel"))

        viewer = await bearer(pool, "viewer")  # reading the list is a viewer's right
        first = await ok(await api.get("/v1/journal-runs", params={"pageSize": 2},
                                       headers=viewer))
        second = await ok(await api.get(first["nextPage"], headers=viewer))
        everything = await ok(await api.get("/v1/journal-runs", headers=viewer))
        assert [r["number"] for r in first["journalRuns"]] == ["JR-00000001", "JR-00000002"]
        assert first["nextPage"] == "/v1/journal-runs?page=2&pageSize=2"
        assert [r["number"] for r in second["journalRuns"]] == ["JR-00000003"]
        assert "nextPage" not in second and "nextPage" not in everything
        assert everything["journalRuns"] == first["journalRuns"] + second["journalRuns"]
        one = await ok(await api.get("/v1/journal-runs/JR-00000001"))
        assert everything["journalRuns"][0] == {k: v for k, v in one.items() if k != "success"}
        cancelled = everything["journalRuns"][1]
        assert (cancelled["status"], cancelled["cancelledBy"]) == ("Cancelled", GL_KEY)
        assert ZUORA_TIMESTAMP.match(cancelled["cancelledOn"])
        assert [r["transactionCount"] for r in everything["journalRuns"]] == [1, 1, 0]

        async def numbers(**query: Any) -> list[str]:
            page = await ok(await api.get("/v1/journal-runs", params=query))
            return [r["number"] for r in page["journalRuns"]]

        assert await numbers(orgName="US") == ["JR-00000001", "JR-00000003"]
        assert await numbers(orgName="US", accountingPeriodName="Apr-2024") == ["JR-00000001"]
        assert await numbers(status="Completed") == ["JR-00000001", "JR-00000003"]
        assert await numbers(status="cancelled", orgName="EU") == ["JR-00000002"]
        assert await numbers(orgName="XX") == []
        filtered = await ok(await api.get("/v1/journal-runs", params={
            "status": "Completed", "pageSize": 1}))
        assert filtered["nextPage"] == "/v1/journal-runs?status=Completed&page=2&pageSize=1"
        assert [r["number"] for r in (await ok(await api.get(filtered["nextPage"])))[
            "journalRuns"]] == ["JR-00000003"]
        assert refusal(await api.get("/v1/journal-runs", params={"status": "done"})) == (
            400, "journal_run_status_invalid")
        for bad in ({"pageSize": 0}, {"pageSize": 101}, {"page": 0}):
            assert refusal(await api.get("/v1/journal-runs", params=bad)) == (
                400, "request_invalid")

