"""The ``ledger`` command line as an operator runs it: subprocesses, ``--json``, exit codes.

Every subprocess costs about a second of startup, so independent commands run concurrently
(``Ledger.many``) and each test walks through a whole operator session.
"""

from __future__ import annotations

import asyncio
import csv
import json
import signal
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from events.journal_rules import JournalRunRequest
from services.config import Settings
from services.ingest.app import run_ingest
from services.journal.run import create_journal_run
from services.samples import invoices, seed001_lines, to_lines
from tests.helpers import consume_all, process_env, produce, wait_until
from tests.integration.audit import run_unstamped, unstamped
from tests.integration.db import billing_event_count, rows, scalar
from tests.integration.http_api import bearer
from tests.integration.ledger_setup import set_up


class Ledger:
    """``python -m services.cli ... --json`` with the test's ``LEDGER_*`` environment (and
    ``LEDGER_ACTOR`` when ``actor`` is given)."""

    def __init__(self, settings: Settings, actor: str | None = None) -> None:
        self.env = process_env(settings, **({"LEDGER_ACTOR": actor} if actor else {}))

    async def __call__(self, *args: str, code: int = 0) -> Any:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", *args, "--json", env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == code, (args, proc.returncode, out, err.decode()[-2000:])
        document = json.loads(out)  # exactly one JSON document, nothing else on stdout
        if code != 0:
            assert set(document) == {"error"}
            assert set(document["error"]) == {"code", "message"}
            assert document["error"]["message"]
        return document

    async def many(self, *calls: tuple[Any, ...]) -> list[Any]:
        """Run independent commands at once; a call is ``(*args)`` or ``(*args, code)``."""
        return list(await asyncio.gather(*(
            self(*c[:-1], code=c[-1]) if isinstance(c[-1], int) else self(*c) for c in calls
        )))


def error_code(document: Any) -> str:
    code: str = document["error"]["code"]
    return code


async def event_data(pool: asyncpg.Pool, event_type: str, number: str) -> dict[str, Any]:
    """The ``data`` of the outbound event a command wrote (what Kafka consumers receive)."""
    payload = await scalar(
        pool,
        "SELECT payload FROM outbox WHERE event_type = $1 AND payload -> 'data' ->> 'number' = $2",
        event_type, number,
    )
    data: dict[str, Any] = json.loads(payload)["data"]
    return data


async def ingest_seed001(settings: Settings, pool: asyncpg.Pool) -> None:
    assert settings.kafka_bootstrap
    values = seed001_lines()
    await produce(settings.kafka_bootstrap, settings.topic_billing, values,
                  keys=[b"US"] * len(values))
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(settings, pool, stop))
    try:
        async def stored() -> bool:
            return await billing_event_count(pool) == 3

        await wait_until(stored, message="seed 001 stored")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


def period(name: str, start: str, end: str, status: str = "open") -> dict[str, Any]:
    return {"org": "US", "name": name, "start_date": start, "end_date": end,
            "fiscal_year": 2024, "fiscal_quarter": 2, "status": status, "open_ended": False}


#: The operator session's LEDGER_ACTOR: recorded as who ran, cancelled, transferred.
CONTROLLER = "controller@example.com"
APR = period("Apr-2024", "2024-04-01", "2024-04-30")
#: ``ledger status`` partitions once seed 001 is stored: its three records are keyed US, which
#: the default partitioner puts in partition 0 of the four; nothing consumed from the others.
SEED001_PARTITIONS = [
    {"partition": 0, "stored_offset": 3, "end_offset": 3, "lag": 0},
    *({"partition": p, "stored_offset": None, "end_offset": 0, "lag": 0} for p in (1, 2, 3)),
]
MAY = period("May-2024", "2024-05-01", "2024-05-31")
OPEN_ENDED = {"org": "US", "name": "Open-Ended", "start_date": None, "end_date": None,
              "fiscal_year": None, "fiscal_quarter": None, "status": "open", "open_ended": True}


async def test_operator_session_settings_periods_runs_entries_and_errors(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    ledger = Ledger(settings, actor=CONTROLLER)
    # -- setting the ledger up --------------------------------------------------------------
    assert await ledger("settings", "set", "settlement=invoice_item_settlement",
                        "multi_org=true") == {
        "settlement": "invoice_item_settlement", "harmonization": False, "multi_org": True}
    assert await ledger("orgs", "create", "US") == {"name": "US"}
    q2 = ("--fiscal-year", "2024", "--fiscal-quarter", "2")
    assert await ledger("periods", "create", "--org", "US", "--name", "Apr-2024",
                        "--start", "2024-04-01", "--end", "2024-04-30", *q2) == APR
    gap, dup_org, no_org, bad_date, bad_setting, shown, created_may = await ledger.many(
        ("periods", "create", "--org", "US", "--name", "Jul-2024", "--start", "2024-07-01",
         "--end", "2024-07-31", *q2, 2),
        ("orgs", "create", "US", 4),
        ("periods", "list", "--org", "EU", 3),
        ("periods", "create", "--org", "US", "--name", "X", "--start", "2024-13-01",
         "--end", "2024-13-31", *q2, 2),
        ("settings", "set", "multi_org=false", 2),
        ("settings", "show"),
        ("periods", "create", "--org", "US", "--name", "May-2024", "--start", "2024-05-01",
         "--end", "2024-05-31", *q2),
    )
    assert error_code(gap) == "period_not_contiguous"
    assert error_code(dup_org) == "org_exists"
    assert error_code(no_org) == "org_unknown"
    assert error_code(bad_date) == "date_invalid"
    assert error_code(bad_setting) == "multi_org_one_way"
    assert shown == {"settlement": "invoice_item_settlement", "harmonization": False,
                     "multi_org": True}
    assert created_may == MAY

    await ingest_seed001(settings, pool)

    # -- a journal run, and everything that reads it back ------------------------------------
    since = datetime.now(UTC)
    run = await ledger("journal-runs", "create", "--org", "US", "--types", "cash",
                       "--period", "Apr-2024")
    assert run == await event_data(pool, "journal_run.completed", "JR-00000001")
    assert run_unstamped(run, CONTROLLER, since) == {
        "number": "JR-00000001", "org": "US",
        "target": {"period": "Apr-2024", "start_date": "2024-04-01", "end_date": "2024-04-30"},
        "journal_entry_date": "2024-04-30",
        # "cash" under Multi-Org: the application items only (the legacy types are refused)
        "transaction_types": ["electronic_payment_application_item",
                              "external_payment_application_item",
                              "electronic_refund_application_item",
                              "external_refund_application_item"],
        "status": "completed", "journal_entry_numbers": ["JE-00000001", "JE-00000002"],
        "transaction_count": 3,
    }
    (shown_run, runs, entries, je1, je404, jr404, open_ended, legacy, outside, dry,
     listed, usage, unlabeled) = await ledger.many(
        ("journal-runs", "show", "JR-00000001"),
        ("journal-runs", "list"),
        ("journal-entries", "list", "--run", "JR-00000001"),
        ("journal-entries", "show", "JE-00000001"),
        ("journal-entries", "show", "JE-00000099", 3),
        ("journal-runs", "show", "JR-00000099", 3),
        ("journal-runs", "create", "--org", "US", "--types", "cash", "--period", "Open-Ended",
         2),
        ("journal-runs", "create", "--org", "US", "--types", "external_credit_balance_payment",
         "--period", "Apr-2024", 2),
        ("journal-runs", "create", "--org", "US", "--types", "cash", "--date", "2024-03-31",
         2),
        ("journal-runs", "create", "--org", "US", "--types", "cash", "--period", "May-2024",
         "--dry-run"),
        ("periods", "list", "--org", "US"),
        ("journal-runs", "create", "--org", "US", "--period", "Apr-2024", 2),
        ("unlabeled",),
    )
    assert shown_run == run and runs == [run]
    assert [e["number"] for e in entries] == ["JE-00000001", "JE-00000002"]
    for entry in entries:
        assert entry == await event_data(pool, "journal_entry.created", entry["number"])
        assert entry["total_debit"] == entry["total_credit"]
    assert je1 == entries[0]
    assert error_code(je404) == "journal_entry_not_found"
    assert error_code(jr404) == "journal_run_not_found"
    assert error_code(open_ended) == "target_open_ended"
    assert error_code(legacy) == "legacy_type_under_multi_org"
    assert error_code(outside) == "target_outside_periods"
    assert (dry["number"], dry["status"], dry["transaction_count"]) == (None, "dry_run", 2)
    assert [e["number"] for e in dry["entries"]] == [None]
    assert listed == [APR, MAY, OPEN_ENDED]
    assert usage == {"error": {"code": "usage", "message": "Missing option '--types'."}}
    assert unlabeled == []  # seed 001 is all org US, and of types Multi-Org supports
    # refused and dry runs wrote nothing and took no number
    assert await scalar(pool, "SELECT count(*) FROM journal_runs") == 1

    # -- after the run: transfer, cancel, export, and the conflicts ----------------------------
    transferred, cancelled = await ledger.many(
        ("journal-entries", "transfer", "JE-00000002", "--status", "yes"),
        ("journal-entries", "cancel", "JE-00000001"),
    )
    assert unstamped(transferred, CONTROLLER, since) == {
        "number": "JE-00000002", "from": "no", "to": "yes"}
    assert unstamped(cancelled, CONTROLLER, since) == {
        "number": "JE-00000001", "journal_run": "JR-00000001", "released_transaction_count": 1}
    assert transferred == await event_data(pool, "journal_entry.transfer_status_changed",
                                           "JE-00000002")
    assert cancelled == await event_data(pool, "journal_entry.cancelled", "JE-00000001")
    csv_file = tmp_path / "je2.csv"
    (again, kept, frozen, exported, not_created, bad_status, no_file, entry2,
     pending_close, close_may_first) = await ledger.many(
        ("journal-entries", "cancel", "JE-00000001", 4),
        ("journal-entries", "cancel", "JE-00000002", 4),
        ("journal-entries", "transfer", "JE-00000001", "--status", "yes", 4),
        ("journal-entries", "export", "JE-00000002", "-o", str(csv_file)),
        ("journal-entries", "export", "JE-00000001", "-o", str(tmp_path / "je1.csv"), 4),
        ("journal-entries", "transfer", "JE-00000002", "--status", "maybe", 2),
        ("journal-entries", "export", "JE-00000002", 2),
        ("journal-entries", "show", "JE-00000002"),
        ("periods", "pending-close", "Apr-2024", "--org", "US"),
        ("periods", "close", "May-2024", "--org", "US", 2),
    )
    assert error_code(again) == "journal_entry_already_cancelled"
    assert error_code(kept) == "journal_entry_transferred"
    assert error_code(frozen) == "journal_entry_cancelled"
    assert exported == {"number": "JE-00000002", "file": str(csv_file), "transaction_count": 2}
    with csv_file.open(newline="") as handle:
        detail = list(csv.DictReader(handle))
    assert len(detail) == 2 and {r["journal_entry"] for r in detail} == {"JE-00000002"}
    assert error_code(not_created) == "journal_entry_not_created"
    assert error_code(bad_status) == "transfer_status_invalid"
    assert error_code(no_file) == "export_json_needs_output"
    assert (entry2["status"], entry2["transfer_status"]) == ("created", "yes")
    assert pending_close == APR | {"status": "pending_close"}

    # -- periods close and reopen; late runs still work after close ---------------------------
    closed = await ledger("periods", "close", "Apr-2024", "--org", "US")
    assert error_code(close_may_first) == "period_earlier_not_closed"
    assert closed == APR | {"status": "closed"}
    rerun, may_run = await ledger.many(
        ("journal-runs", "create", "--org", "US", "--types", "cash", "--period", "Apr-2024"),
        ("journal-runs", "create", "--org", "US", "--types", "cash", "--period", "May-2024",
         "--je-date", "2024-06-01"),
    )
    assert rerun["transaction_count"] == 1  # the transaction JE-00000001 released
    assert may_run["transaction_count"] == 2
    assert may_run["journal_entry_date"] == "2024-06-01"
    assert {rerun["number"], may_run["number"]} == {"JR-00000002", "JR-00000003"}
    assert sorted(rerun["journal_entry_numbers"] + may_run["journal_entry_numbers"]) == [
        "JE-00000003", "JE-00000004"]
    reopened, run_cancelled, pending, status, by_period = await ledger.many(
        ("periods", "reopen", "Apr-2024", "--org", "US"),
        ("journal-runs", "cancel", may_run["number"]),
        ("pending", "--org", "US"),
        ("status",),
        ("journal-entries", "list", "--org", "US", "--period", "Apr-2024"),
    )
    assert reopened == APR
    assert unstamped(run_cancelled, CONTROLLER, since) == {
        "number": may_run["number"], "cancelled_entries": may_run["journal_entry_numbers"],
        "kept_entries": [], "status": "cancelled"}
    assert [e["number"] for e in by_period] == sorted(
        ["JE-00000001", "JE-00000002", *rerun["journal_entry_numbers"]])
    # seed 001's two reclassification records are never picked up; May's two payments are
    # pending again or not, depending on whether the cancel ran before the report
    excluded = [r for r in pending if r["state"] == "excluded"]
    assert [(r["org"], r["transaction_type"], r["period"], r["reason"], r["count"],
             r["amount"]) for r in excluded] == [
        ("US", "electronic_payment_application_item", "Apr-2024", "reclassification", 1, "-10.00"),
        ("US", "electronic_payment_application_item", "May-2024", "reclassification", 1, "10.00"),
    ]
    assert set(status) == {"store_head", "lag", "partitions", "pending", "dlq",
                           "outbox_backlog", "pending_by_org", "last_journal_runs"}
    assert status["dlq"] == 0 and status["lag"] == 0
    assert status["store_head"] >= 3 and status["outbox_backlog"] >= 9
    assert status["partitions"] == SEED001_PARTITIONS

    final_pending, final_status = await ledger.many(("pending",), ("status",))
    assert [(r["state"], r["period"], r["count"]) for r in final_pending] == [
        ("excluded", "Apr-2024", 1), ("excluded", "May-2024", 1), ("pending", "May-2024", 2)]
    head = await scalar(pool, "SELECT max(position) FROM events")
    backlog = await scalar(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    # The two runs were created at once: the later number is the last run of US.
    last = max(rerun, may_run, key=lambda r: r["number"])
    assert final_status == {
        "store_head": head, "lag": 0, "partitions": SEED001_PARTITIONS,
        "pending": 2, "dlq": 0, "outbox_backlog": backlog,
        "pending_by_org": [{"org": "US", "pending": 2}],  # May's two payments, released
        "last_journal_runs": [{
            "org": "US", "number": last["number"],
            "status": "cancelled" if last is may_run else "completed",
            "period": last["target"]["period"], "transaction_count": last["transaction_count"],
        }],
    }
    offsets = await rows(pool, "SELECT partition, next_offset FROM consumer_offsets")
    assert offsets == [{"partition": 0, "next_offset": 3}]


class Serve:
    """``ledger serve ...`` as a child process, its log in a file."""

    def __init__(self, settings: Settings, log: Path, *args: str, **env: str) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", *args],
            env=process_env(settings, **env), stdout=subprocess.DEVNULL, stderr=log.open("wb"),
        )

    async def terminate(self, within: float = 15) -> int:
        """SIGTERM, then wait (polling, not sleeping) for the exit code."""
        self.proc.send_signal(signal.SIGTERM)

        async def exited() -> bool:
            return self.proc.poll() is not None

        try:
            await wait_until(exited, timeout=within, message="serve exits after SIGTERM")
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def text(self) -> str:
        return self.log.read_text(errors="replace")


async def the_api_answers(settings: Settings, pool: asyncpg.Pool, run: dict[str, Any]) -> None:
    """The API part of a ``ledger serve`` process: anonymous probes, and a journal run read
    with a viewer key; no key is 401, a viewer writing is 403."""
    viewer = await bearer(pool, "viewer")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}",
                                 timeout=30) as client:
        assert (await client.get("/healthz")).status_code == 200
        anonymous = await client.get(f"/v1/journal-runs/{run['number']}")
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"] == "Bearer"
        assert [r["code"] for r in anonymous.json()["reasons"]] == ["unauthorized"]
        shown = await client.get(f"/v1/journal-runs/{run['number']}", headers=viewer)
        assert shown.status_code == 200, shown.text
        body = shown.json()
        assert (body["success"], body["number"], body["status"], body["accountingPeriodName"],
                body["transactionCount"], body["journalEntryNumbers"]) == (
            True, run["number"], "Completed", "Apr-2024", 3000, run["journal_entry_numbers"])
        refused = await client.post("/v1/journal-runs", headers=viewer, json={})
        assert refused.status_code == 403
        assert [r["code"] for r in refused.json()["reasons"]] == ["forbidden"]


async def unsent(pool: asyncpg.Pool) -> int:
    return int(await scalar(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"))


async def stored_offset_total(pool: asyncpg.Pool, settings: Settings) -> int:
    return int(await scalar(
        pool, "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets "
        "WHERE group_id = $1 AND topic = $2", settings.consumer_group, settings.topic_billing))


async def test_publish_then_serve_ingests_stops_on_sigterm_and_relays_the_outbox(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await set_up(pool)  # unlabeled Apr-2024 and May-2024
    values: list[bytes] = []
    for i, org in enumerate(("US", "EU", "APAC")):
        values += to_lines(invoices(1000, org=org, seed=300 + i, start=date(2024, 4, 1)))
    file = tmp_path / "events.jsonl"
    file.write_bytes(b"\n".join(values) + b"\n")
    ledger = Ledger(settings)
    assert await ledger("publish", str(file)) == {"published": 3000,
                                                 "topic": settings.topic_billing}
    assert error_code(await ledger("publish", str(tmp_path / "missing.jsonl"), code=3)) == (
        "file_not_found")

    # serve --ingest, stopped with SIGTERM while it works through small batches
    first = Serve(settings, tmp_path / "serve-1.log", "--ingest", LEDGER_BATCH_MAX_RECORDS="100")

    async def under_way() -> bool:
        return await billing_event_count(pool) >= 300

    await wait_until(under_way, timeout=60, message="ingest under way")
    assert await first.terminate() == 0, first.text()
    at_stop = await billing_event_count(pool)
    # the batch in hand was finished: its events and its offsets were stored together
    assert await stored_offset_total(pool, settings) == at_stop
    assert "serving: ingest\n" in first.text()

    # serve with no part named: ingest and publisher
    second = Serve(settings, tmp_path / "serve-2.log")
    try:
        async def all_stored() -> bool:
            return await billing_event_count(pool) == 3000

        await wait_until(all_stored, timeout=90, message="all 3,000 events stored")
        run = await create_journal_run(pool, JournalRunRequest(types=("invoice_item",),
                                                               period="Apr-2024"))
        assert run["transaction_count"] == 3000
        outbox = await rows(pool, "SELECT event_id FROM outbox ORDER BY id")
        assert len(outbox) == len(run["journal_entry_numbers"]) + 1

        async def relayed() -> bool:
            return await unsent(pool) == 0

        await wait_until(relayed, timeout=30, message="serve relays the outbox")
        await the_api_answers(settings, pool, run)
    finally:
        code = await second.terminate()
    assert code == 0, second.text()
    assert "serving: ingest, publisher, api" in second.text()
    assert f"HTTP API and /metrics on 127.0.0.1:{settings.http_port}" in second.text()
    assert settings.kafka_bootstrap
    published = await consume_all(settings.kafka_bootstrap, settings.topic_journal, len(outbox))
    assert sorted(json.loads(r.value)["event_id"] for r in published) == sorted(
        str(r["event_id"]) for r in outbox)
    assert await scalar(pool, "SELECT count(DISTINCT event_id) FROM events "
                              "WHERE event_type = 'invoice.posted'") == 3000
    assert await stored_offset_total(pool, settings) == 3000
