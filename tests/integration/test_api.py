"""The HTTP API over real HTTP: uvicorn in the test's loop, httpx, the same handlers as the
CLI underneath (docs/contract.md §4)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from services.api.readiness import readiness
from services.commands.orgs import create_org
from services.commands.settings import set_settings
from services.config import Settings
from services.embedded import free_port
from services.samples import seed001_expected, seed001_lines
from services.store.pool import create_pool
from tests.integration.audit import unstamped
from tests.integration.billing import store_lines, txn
from tests.integration.conftest import IngestRunner
from tests.integration.http_api import serving
from tests.integration.ledger_setup import set_up
from tests.servers import create_schema, drop_schema, with_query_params

EPAI = "Electronic Payment Application Item"
US = [{"organizationName": "US"}]
ZUORA_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
#: The name of the operator key the ``api`` client sends: the actor of what it does.
OPERATOR = "month-end-bot"


@pytest.fixture
async def api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(settings, pool, name=OPERATOR) as client:
        yield client


def refusal(answer: httpx.Response) -> tuple[int, str]:
    body = answer.json()
    assert body["success"] is False and len(body["reasons"]) >= 1, body
    assert set(body["reasons"][0]) == {"code", "message"}
    return answer.status_code, body["reasons"][0]["code"]


async def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["success"] is True
    return body


async def seed001_through_kafka(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    """Settings and the org by the command handlers, periods by the API, events by Kafka."""
    setup = seed001_expected()["setup"]
    await set_settings(pool, {"settlement": setup["settings"]["settlement"], "multi_org": "true"})
    await create_org(pool, setup["org"])
    for name, start, end in setup["periods"]:
        await ok(await api.post("/v1/accounting-periods", json={
            "name": name, "startDate": start, "endDate": end, "fiscalYear": 2024,
            "organizationLabels": US}))
    values = seed001_lines()
    await ingest.feed(values, stored=len(values), keys=[b"US"] * len(values))


def item(account: str, amount: str, side: str) -> dict[str, str]:
    """A ``journalEntryItems`` element: Zuora's fields the ledger has (no chart of accounts,
    no home currency yet: homeCurrencyAmount is the amount)."""
    return {"accountingCodeName": account, "amount": amount, "homeCurrencyAmount": amount,
            "type": side}


def run_body(period: str, **more: Any) -> dict[str, Any]:
    return {"accountingPeriodName": period, "transactionTypes": [{"type": EPAI}],
            "organizationLabels": US, **more}


async def test_seed001_runs_by_display_name_entries_and_transaction_detail(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    await seed001_through_kafka(api, settings, pool, ingest)

    april = await ok(await api.post("/v1/journal-runs", json=run_body("Apr-2024")))
    assert ZUORA_TIMESTAMP.match(april.pop("executedOn"))
    assert ZUORA_TIMESTAMP.match(april.pop("createdOn"))
    assert april == {
        "success": True, "journalRunNumber": "JR-00000001", "number": "JR-00000001",
        "status": "Completed", "journalEntryDate": "2024-04-30",
        "targetStartDate": "2024-04-01", "targetEndDate": "2024-04-30",
        "totalJournalEntryCount": 2, "organizationLabels": US,
        "transactionTypes": [{"type": EPAI}], "aggregateCurrency": False,
        "accountingPeriodName": "Apr-2024", "journalEntryNumbers": ["JE-00000001", "JE-00000002"],
        "transactionCount": 3, "transactionTypeIds": ["electronic_payment_application_item"],
        "createdBy": OPERATOR, "cancelledBy": None, "cancelledOn": None,
    }
    may = await ok(await api.post("/v1/journal-runs",
                                  json=run_body("May-2024", journalEntryDate="2024-06-01")))
    assert (may["number"], may["journalEntryNumbers"], may["transactionCount"],
            may["journalEntryDate"]) == ("JR-00000002", ["JE-00000003"], 2, "2024-06-01")
    got = await ok(await api.get("/v1/journal-runs/JR-00000001"))
    assert ZUORA_TIMESTAMP.match(got.pop("executedOn"))
    assert ZUORA_TIMESTAMP.match(got.pop("createdOn"))
    assert got == {k: v for k, v in april.items() if k != "journalRunNumber"}

    page = await ok(await api.get("/v1/journal-entries/journal-runs/JR-00000001"))
    assert "nextPage" not in page  # Zuora leaves it out on the last page
    by_count = {e["transactionCount"]: e for e in page["journalEntries"]}
    assert {n: e["journalEntryItems"] for n, e in by_count.items()} == {
        1: [item("Payments - 10002.000.00", "10.00", "Debit"),  # sent as "10": shown at
            item("Unapplied Payments - 10488.000.00", "10.00", "Credit")],  # USD's precision
        2: [item("Unapplied Payments - 10488.000.00", "10.00", "Debit"),
            item("Accounts Receivable", "10.00", "Credit")],
    }
    assert await ok(await api.get("/v1/journal-entries/JE-00000003")) == {
        "success": True, "number": "JE-00000003", "accountingPeriodName": "May-2024",
        "journalEntryDate": "2024-06-01", "transactionType": EPAI, "currency": "USD",
        "aggregateCurrency": False,
        "journalEntryItems": [item("Accounts Receivable", "10.00", "Debit"),
                              item("Unapplied Payments - 10488.000.00", "10.00", "Credit")],
        "segments": [], "status": "Created", "transferredToAccounting": "No",
        "organizationLabel": "US", "timePeriodStart": "2024-05-01",
        "timePeriodEnd": "2024-05-31", "notes": None, "transferredBy": None,
        "transferDateTime": None, "journalRun": "JR-00000002", "transactionCount": 2,
        "totalDebit": "10.00", "totalCredit": "10.00", "reverses": None, "reversalEntry": None,
        "reversedBy": None, "reversedOn": None, "cancelledBy": None, "cancelledOn": None,
    }

    applied = by_count[2]["number"]
    detail = await api.get(f"/v1/journal-entries/{applied}/transaction-details")
    assert detail.status_code == 200
    assert detail.headers["content-type"].startswith("text/csv")
    assert detail.headers["content-disposition"] == f'attachment; filename="{applied}.csv"'
    assert detail.text.splitlines() == [
        "journal_entry,transaction_id,transaction_type,subtype,transaction_date,"
        "document_number,account_number,amount,currency,debit_account,credit_account,"
        "segments,org",
        f"{applied},8a368aeb800478018014b95455a,electronic_payment_application_item,"
        "invoice_item,2024-04-21,P-00000003,A00000001,3.25,USD,"
        "Unapplied Payments - 10488.000.00,Accounts Receivable,{},US",
        f"{applied},8a368aeb800478018f014b9e545f5b,electronic_payment_application_item,"
        "invoice_item,2024-04-21,P-00000003,A00000001,6.75,USD,"
        "Unapplied Payments - 10488.000.00,Accounts Receivable,{},US",
    ]


async def test_refusals_answer_with_the_rule_status_and_code(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await set_up(pool, settings={"settlement": "invoice_item_settlement", "multi_org": "true"},
                 orgs=("US",), unlabeled_periods=False)
    await store_lines(pool, [txn("invoice_item", "I-1", date(2024, 4, 2), "5")], org="US")
    post = "/v1/journal-runs"
    invoice = [{"type": "Invoice Item"}]
    cases: list[tuple[str, str, dict[str, Any] | None, tuple[int, str]]] = [
        ("GET", "/v1/journal-runs/JR-00000099", None, (404, "journal_run_not_found")),
        ("GET", "/v1/journal-entries/JE-00000099", None, (404, "journal_entry_not_found")),
        ("GET", "/v1/journal-entries/journal-runs/JR-00000099", None,
         (404, "journal_run_not_found")),
        ("GET", "/v1/journal-entries/JE-00000099/transaction-details", None,
         (404, "journal_entry_not_found")),
        ("PUT", "/v1/journal-runs/JR-00000099/cancel", None, (404, "journal_run_not_found")),
        ("DELETE", "/v1/journal-runs/JR-00000099", None, (404, "journal_run_not_found")),
        ("POST", post, {"accountingPeriodName": "Open-Ended", "transactionTypes": invoice,
                        "organizationLabels": US}, (400, "target_open_ended")),
        ("POST", post, {"accountingPeriodName": "Apr-2024", "transactionTypes": invoice},
         (400, "org_required")),
        ("POST", post, {"accountingPeriodName": "Apr-2024", "transactionTypes": invoice,
                        "organizationLabels": [{"organizationName": "XX"}]},
         (404, "org_unknown")),
        ("POST", post, {"accountingPeriodName": "Apr-2024", "transactionTypes": invoice,
                        "organizationLabels": [*US, {"organizationName": "EU"}]},
         (400, "organization_labels_multiple")),
        ("POST", post, {"accountingPeriodName": "Apr-2024", "transactionTypes": invoice,
                        "organizationLabels": [{"organizationName": "US",
                                                "organizationId": "EU"}]},
         (400, "organization_label_invalid")),
        ("POST", post, {"accountingPeriodName": "Apr-2024", "transactionTypes": invoice,
                        "organizationLabels": [{"organizationName": "US",
                                                "cascadingDown": True}]},
         (400, "organization_label_unsupported")),
        ("POST", post, {"accountingPeriodName": "Apr-2024",
                        "transactionTypes": [{"type": "Bogus Item"}], "organizationLabels": US},
         (400, "transaction_type_unknown")),
        ("POST", post, {"accountingPeriodName": "Apr-2024", "transactionTypes": [],
                        "organizationLabels": US}, (400, "types_required")),
        ("POST", post, {"targetStartDate": "2024-04-01", "transactionTypes": invoice,
                        "organizationLabels": US}, (400, "target_range_incomplete")),
        ("POST", post, {"accountingPeriodName": "Apr-2024", "targetStartDate": "2024-04-01",
                        "targetEndDate": "2024-04-02", "transactionTypes": invoice,
                        "organizationLabels": US}, (400, "target_ambiguous")),
        ("POST", post, {"targetStartDate": "2024-04-30", "targetEndDate": "2024-05-01",
                        "transactionTypes": invoice, "organizationLabels": US},
         (400, "target_across_periods")),
        ("POST", post, {"targetStartDate": "2024-07-01", "targetEndDate": "2024-07-01",
                        "transactionTypes": invoice, "organizationLabels": US},
         (400, "target_open_ended")),
        ("POST", post, {"accountingPeriodName": "Mar-2024", "transactionTypes": invoice,
                        "organizationLabels": US}, (404, "period_not_found")),
        # bad bodies: the models' refusals, same shape
        ("POST", post, {"accountingPeriodName": "Apr-2024", "organizationLabels": US},
         (400, "request_invalid")),
        ("POST", post, {"accounting_period_name": "Apr-2024", "transactionTypes": invoice},
         (400, "request_invalid")),
        ("POST", post, {"accountingPeriodName": "Apr-2024", "transactionTypes": invoice,
                        "journalEntryDate": "30/04/2024"}, (400, "request_invalid")),
        ("GET", "/v1/journal-entries/journal-runs/JR-00000001?pageSize=41", None,
         (400, "request_invalid")),
        ("GET", "/v1/journal-entries/journal-runs/JR-00000001?page=0", None,
         (400, "request_invalid")),
        ("GET", "/v1/nowhere", None, (404, "route_not_found")),
        ("PATCH", "/v1/journal-runs/JR-00000001", None, (405, "method_not_allowed")),
    ]
    for method, path, body, expected in cases:
        answer = await api.request(method, path, json=body)
        assert refusal(answer) == expected, (method, path, body, answer.text)

    missing = await api.post(post, json={"accountingPeriodName": "Apr-2024"})
    assert missing.json()["reasons"][0]["message"] == "body.transactionTypes: Field required"
    broken = await api.post(post, content=b"{not json", headers={"content-type":
                                                                 "application/json"})
    assert refusal(broken) == (400, "request_invalid")

    # refusals consumed no number; an org is named by organizationId too (its name)
    run = await ok(await api.post(post, json={
        "targetStartDate": "2024-04-02", "targetEndDate": "2024-04-02",
        "transactionTypes": [{"type": "invoice_item"}],
        "organizationLabels": [{"organizationId": "US"}]}))
    assert (run["number"], run["accountingPeriodName"], run["targetStartDate"],
            run["targetEndDate"], run["transactionCount"], run["organizationLabels"]) == (
        "JR-00000001", "Apr-2024", "2024-04-02", "2024-04-02", 1, US)
    entry = "/v1/journal-entries/JE-00000001"

    # transfer status: Zuora's words, case-insensitive; an unknown one is the handler's rule;
    # what the ledger does not keep is refused, and nothing changes
    since = datetime.now(UTC)
    assert unstamped(await ok(await api.put(f"{entry}/basic-information",
                                            json={"transferredToAccounting": "Processing"})),
                     OPERATOR, since) == {
        "success": True, "number": "JE-00000001", "transferredToAccounting": "Processing"}
    for body, expected in [
        ({"transferredToAccounting": "Maybe"}, (400, "transfer_status_invalid")),
        ({"transferredToAccounting": "Yes", "notes": "x"},
         (400, "journal_entry_notes_unsupported")),
        ({"transferredToAccounting": "Yes", "journalEntryItems": [
            {"accountingCodeName": "AR", "type": "Debit"}]},
         (400, "journal_entry_items_not_updatable")),
        ({"transferredToAccounting": "Yes", "approved": True}, (400, "request_invalid")),
        ({}, (400, "transferred_to_accounting_required")),
    ]:
        assert refusal(await api.put(f"{entry}/basic-information", json=body)) == expected
    assert (await ok(await api.get(entry)))["transferredToAccounting"] == "Processing"
    assert refusal(await api.put(f"{entry}/cancel")) == (409, "journal_entry_transferred")
    kept = await ok(await api.put("/v1/journal-runs/JR-00000001/cancel"))
    assert unstamped(kept, OPERATOR, since) == {
        "success": True, "number": "JR-00000001", "cancelledEntries": [],
        "keptEntries": ["JE-00000001"], "status": "Completed"}

    await ok(await api.put(f"{entry}/basic-information", json={"transferredToAccounting": "No"}))
    assert unstamped(await ok(await api.put(f"{entry}/cancel")), OPERATOR, since) == {
        "success": True, "number": "JE-00000001", "journalRun": "JR-00000001",
        "releasedTransactionCount": 1}
    assert refusal(await api.put(f"{entry}/cancel")) == (409, "journal_entry_already_cancelled")
    assert refusal(await api.put(f"{entry}/basic-information",
                                 json={"transferredToAccounting": "Yes"})) == (
        409, "journal_entry_cancelled")
    assert refusal(await api.get(f"{entry}/transaction-details")) == (
        409, "journal_entry_not_created")
    assert refusal(await api.delete(entry)) == (409, "journal_entry_not_deletable")
    assert refusal(await api.delete("/v1/journal-runs/JR-00000001")) == (
        409, "journal_run_not_deletable")
    assert (await ok(await api.get(entry)))["status"] == "Cancelled"  # still on record

    second = await ok(await api.post(post, json={
        "accountingPeriodName": "Apr-2024", "transactionTypes": [{"type": "billing"}],
        "organizationLabels": US}))
    assert (second["number"], second["transactionCount"]) == ("JR-00000002", 1)
    assert (await ok(await api.put("/v1/journal-runs/JR-00000002/cancel")))["status"] == (
        "Cancelled")
    assert (await ok(await api.get("/v1/journal-runs/JR-00000002")))["status"] == "Cancelled"
    assert refusal(await api.put("/v1/journal-runs/JR-00000002/cancel")) == (
        409, "journal_run_already_cancelled")


async def test_entries_of_a_run_page_by_page(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    await set_up(pool)
    # ten debit accounts: ten entries in one run
    await store_lines(pool, [txn("invoice_item", f"I-{i}", date(2024, 4, 3), "1.50",
                                 debit=f"AR-{i}") for i in range(10)])
    run = await ok(await api.post("/v1/journal-runs", json={
        "accountingPeriodName": "Apr-2024", "transactionTypes": [{"type": "Invoice Item"}]}))
    assert run["journalEntryNumbers"] == [f"JE-{n:08d}" for n in range(1, 11)]

    seen: list[str] = []
    path: str | None = "/v1/journal-entries/journal-runs/JR-00000001?pageSize=4"
    pages = 0
    while path is not None:
        page = await ok(await api.get(path))
        pages += 1
        assert len(page["journalEntries"]) == (4 if "nextPage" in page else 2)
        seen += [e["number"] for e in page["journalEntries"]]
        path = page.get("nextPage")
    assert pages == 3 and seen == run["journalEntryNumbers"]
    default = await ok(await api.get("/v1/journal-entries/journal-runs/JR-00000001"))
    assert len(default["journalEntries"]) == 8  # Zuora's default page size
    assert default["nextPage"] == "/v1/journal-entries/journal-runs/JR-00000001?page=2&pageSize=8"
    past_the_end = await ok(await api.get(
        "/v1/journal-entries/journal-runs/JR-00000001?page=9&pageSize=4"))
    assert past_the_end == {"success": True, "journalEntries": []}


async def test_accounting_periods_create_list_close_reopen(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    periods = "/v1/accounting-periods"
    april = await ok(await api.post(periods, json={
        "name": "Apr-2024", "startDate": "2024-04-01", "endDate": "2024-04-30",
        "fiscalYear": 2024, "fiscalQuarter": 2, "notes": "first month"}))
    april_id = april.pop("id")
    assert re.fullmatch(r"[0-9a-f]{32}", april_id)
    operator = await pool.fetchval("SELECT name FROM api_keys WHERE role = 'operator'")
    created_on = april.pop("createdOn")
    assert ZUORA_TIMESTAMP.match(created_on) and april.pop("updatedOn") == created_on
    assert april == {
        "success": True, "name": "Apr-2024", "startDate": "2024-04-01",
        "endDate": "2024-04-30", "fiscalQuarter": 2, "status": "Open", "notes": "first month",
        "createdBy": operator, "updatedBy": operator, "organizationLabels": [], "openEnded": False,
        "fiscalYear": 2024}
    may = await ok(await api.post(periods, json={
        "name": "May-2024", "startDate": "2024-05-01", "endDate": "2024-05-31",
        "fiscalYear": 2024}))
    for body, expected in [
        ({"name": "Jul-2024", "startDate": "2024-07-01", "endDate": "2024-07-31",
          "fiscalYear": 2024}, (400, "period_not_contiguous")),
        ({"name": "May-2024", "startDate": "2024-06-01", "endDate": "2024-06-30",
          "fiscalYear": 2024}, (409, "period_name_taken")),
        ({"name": "Jun-2024", "startDate": "2024-06-01", "endDate": "2024-06-30",
          "fiscalYear": 2024, "organizationLabels": [{"organizationName": "XX"}]},
         (404, "org_unknown")),
        ({"name": "Jun-2024", "startDate": "2024-06-01"}, (400, "request_invalid")),
        ({"name": "Jun-2024", "startDate": "2024-06-01", "endDate": "2024-06-30",
          "fiscalYear": 2024, "notes": "n" * 256}, (400, "request_invalid")),
    ]:
        assert refusal(await api.post(periods, json=body)) == expected, body

    listed = await ok(await api.get(periods))
    assert [(p["id"], p["name"], p["status"], p["openEnded"], p["endDate"], p["fiscalYear"],
             p["fiscalQuarter"], p["fiscal_quarter"]) for p in listed["accountingPeriods"]] == [
        (april_id, "Apr-2024", "Open", False, "2024-04-30", "2024", 2, 2),
        (may["id"], "May-2024", "Open", False, "2024-05-31", "2024", None, None),
        (listed["accountingPeriods"][2]["id"], "Open-Ended", "Open", True, None, None, None,
         None)]
    assert "nextPage" not in listed

    # by id, or by name as before
    assert refusal(await api.put(f"{periods}/{may['id']}/close")) == (
        400, "period_earlier_not_closed")
    assert (await ok(await api.put(f"{periods}/Apr-2024/pending-close")))["status"] == (
        "PendingClose")
    closed = await ok(await api.put(f"{periods}/{april_id}/close"))
    assert (closed["id"], closed["status"], closed["createdOn"]) == (
        april_id, "Closed", created_on)
    assert (await ok(await api.put(f"{periods}/May-2024/close")))["status"] == "Closed"
    assert refusal(await api.put(f"{periods}/{april_id}/reopen")) == (
        400, "period_not_latest_closed")
    assert refusal(await api.put(f"{periods}/Open-Ended/close")) == (400, "period_open_ended")
    assert refusal(await api.put(f"{periods}/Dec-2099/close")) == (404, "period_not_found")
    assert refusal(await api.get(f"{periods}/{'0' * 32}")) == (404, "period_not_found")
    assert (await ok(await api.put(f"{periods}/May-2024/reopen")))["status"] == "Open"
    assert [p["status"] for p in (await ok(await api.get(periods)))["accountingPeriods"]] == [
        "Closed", "Open", "Open"]
    assert (await ok(await api.get(f"{periods}/{april_id}")))["name"] == "Apr-2024"
    assert (await ok(await api.get(f"{periods}/Apr-2024")))["id"] == april_id

    # an org's periods: in the list with their organizationLabels; by name with ?orgName=
    await create_org(pool, "EU")
    eu = await ok(await api.post(periods, json={
        "name": "Apr-2024", "startDate": "2024-04-01", "endDate": "2024-04-30",
        "fiscalYear": 2024, "organizationLabels": [{"organizationName": "EU"}]}))
    assert (eu["name"], eu["organizationLabels"], eu["status"]) == (
        "Apr-2024", [{"organizationName": "EU"}], "Open")
    assert eu["id"] != april_id
    assert (await ok(await api.put(f"{periods}/Apr-2024/close?orgName=EU")))["id"] == eu["id"]
    everything = (await ok(await api.get(periods)))["accountingPeriods"]
    assert [(p["name"], p["organizationLabels"], p["status"]) for p in everything] == [
        ("Apr-2024", [], "Closed"), ("Apr-2024", [{"organizationName": "EU"}], "Closed"),
        ("May-2024", [], "Open"), ("Open-Ended", [], "Open"),
        ("Open-Ended", [{"organizationName": "EU"}], "Open")]
    eu_only = [("EU", "Apr-2024", "Closed"), ("EU", "Open-Ended", "Open")]
    for params, headers in [({"orgName": "EU"}, {}), ({}, {"Zuora-Org-Ids": "EU"})]:
        found = (await ok(await api.get(periods, params=params, headers=headers)))
        assert [(p["organizationLabels"][0]["organizationName"], p["name"], p["status"])
                for p in found["accountingPeriods"]] == eu_only
    assert refusal(await api.get(periods, params={"orgName": "XX"})) == (404, "org_unknown")

    # pages
    first = await ok(await api.get(periods, params={"pageSize": 2}))
    assert [p["id"] for p in first["accountingPeriods"]] == [p["id"] for p in everything[:2]]
    assert first["nextPage"] == "/v1/accounting-periods?page=2&pageSize=2"
    last = await ok(await api.get(first["nextPage"].replace("page=2", "page=3")))
    assert [p["id"] for p in last["accountingPeriods"]] == [everything[4]["id"]]
    assert "nextPage" not in last


async def test_readyz_healthz_and_openapi(api: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
        for client in (api, anonymous):
            assert await ok(await client.get("/healthz")) == {"success": True, "status": "up"}
        # the details only for a caller with a key; anyone learns ready or not
        assert await ok(await api.get("/readyz")) == {
            "success": True, "status": "ready",
            "checks": {"database": "ok", "migrations": "ok", "broker": "ok"}}
        assert await ok(await anonymous.get("/readyz")) == {"success": True, "status": "ready"}
        assert (await anonymous.get("/docs")).status_code == 401
    docs = await api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = (await api.get("/openapi.json")).json()
    assert {"/v1/journal-runs", "/v1/journal-entries/{je}/transaction-details",
            "/v1/accounting-periods/{period_id}/reopen", "/readyz", "/metrics"} <= set(
        spec["paths"])
    schemas = spec["components"]["schemas"]
    assert "executedOn" in schemas["JournalRun"]["properties"]
    assert "journalRunNumber" in schemas["JournalRunCreated"]["properties"]
    assert set(spec["paths"]["/v1/journal-runs"]["post"]["responses"]) == {
        "200", "400", "401", "403", "404", "409", "503"}  # refusals in the error shape; no 422
    # the key, documented: a bearer scheme for every route but the anonymous ones
    assert spec["components"]["securitySchemes"] == {"apiKey": {
        "type": "http", "scheme": "bearer",
        "description": "An API key's token, from `ledger api-keys create`."}}
    assert spec["security"] == [{"apiKey": []}]
    assert [path for path, operations in spec["paths"].items()
            if any(o.get("security") == [] for o in operations.values())] == [
        "/healthz", "/readyz"]


async def test_readyz_is_503_and_says_why_only_to_a_key_holder(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    away = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    async with serving(away, pool, role="viewer") as viewer, httpx.AsyncClient(
            base_url=viewer.base_url) as anonymous:
        answer = await viewer.get("/readyz")
        assert answer.status_code == 503
        body = answer.json()
        assert body["success"] is False
        assert body["checks"] == {"database": "ok", "migrations": "ok",
                                  "broker": "broker_unreachable"}
        assert [r["code"] for r in body["reasons"]] == ["broker_unreachable"]
        assert away.kafka_bootstrap in body["reasons"][0]["message"]

        answer = await anonymous.get("/readyz")
        assert (answer.status_code, answer.json()) == (503, {
            "success": False, "reasons": [{"code": "not_ready", "message": "not ready"}]})

        metrics = await viewer.get("/metrics")  # still answers, without lag samples
        assert metrics.status_code == 200
        assert f'ledger_consumer_lag{{partition="0",topic="{settings.topic_billing}"}}' not in (
            metrics.text)


async def test_readyz_is_503_when_unmigrated_and_the_broker_is_away(
    settings: Settings, pg_url: str, schema_name: str
) -> None:
    schema = f"{schema_name}_bare"
    await create_schema(pg_url, schema)
    pool = await create_pool(with_query_params(pg_url, search_path=schema),
                             check_schema=False)
    away = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}",
                                       "http_port": free_port()})
    try:
        checks = await readiness(away, pool)  # what a key holder would be told
        assert [(c.name, c.code) for c in checks] == [
            ("database", ""), ("migrations", "migrations_pending"),
            ("broker", "broker_unreachable")]
        assert checks[1].message.startswith("not applied yet: 0001_")
        async with serving(away, pool, role=None) as anonymous:  # no key table to hold one
            answer = await anonymous.get("/readyz")
            assert (answer.status_code, answer.json()) == (503, {
                "success": False, "reasons": [{"code": "not_ready", "message": "not ready"}]})
            # a route that needs a key cannot check one without the table: 503, not 401
            refused = await anonymous.get("/v1/journal-runs/JR-00000001",
                                          headers={"Authorization": "Bearer lk_x"})
            assert refusal(refused) == (503, "unavailable")
    finally:
        await pool.close()
        await drop_schema(pg_url, schema)
