"""``ledger demo --json`` as a newcomer runs it, against the test session's servers.

The demo isolates itself (schema ``demo_*``; on a configured broker, topics and group
suffixed with the same tag), so the test checks its JSON, then with ``--keep`` reads the
journal topic and the schema it left behind itself, and drops them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from events.transaction_types import resolve_type_names
from services.commands.api_keys import token_hash
from services.config import Settings
from services.samples import seed001_expected
from services.samples.documents import demo_events
from tests.helpers import consume_all, settings_env, wait_until
from tests.integration.console_client import sign_in
from tests.integration.registry import off_the_registry, types_in
from tests.servers import drop_schema, with_query_params

#: (run, org, period, transactions, entries): eligible lines of demo_events() per org and
#: month, grouped by (type, currency, debit account, segments); checked independently below.
RUNS = [
    ("JR-00000001", "US", "Apr-2024", 134, 26),
    ("JR-00000002", "US", "May-2024", 139, 23),
    ("JR-00000003", "EU", "Apr-2024", 131, 22),
    ("JR-00000004", "EU", "May-2024", 137, 24),
]
ENTRIES = sum(r[4] for r in RUNS)  # 95
EVENTS = 468  # 3 seed 001 + 3 x (80 invoices + 72 payment events + 3 adjustments)


def run_demo(settings: Settings, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "demo", "--json", *args],
        env={**os.environ, **settings_env(settings)},
        capture_output=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)  # nothing but the JSON document
    return result


def comparable(entry: dict[str, Any]) -> tuple[Any, ...]:
    lines = sorted((x["account"], x["side"], Decimal(x["amount"])) for x in entry["lines"])
    return (entry["transaction_type"], entry["currency"], entry["journal_entry_date"],
            entry["transaction_count"], tuple(lines))


def expected_groups(org: str, month: int) -> tuple[int, int]:
    """(transactions, entries) of a billing+cash run, computed from the sample documents."""
    eligible = {"invoice_item", "electronic_payment_application_item",
                "external_payment_application_item"}
    count, groups = 0, set()
    for event in demo_events():
        if event["org"] != org:
            continue
        document = event["data"]["document"]
        for line in event["data"]["transactions"]:
            if (line["type"] not in eligible or line.get("subtype") == "reclassification"
                    or int(line["date"][5:7]) != month):
                continue
            count += 1
            groups.add((line["type"], line.get("currency", document["currency"]),
                        line["debit_account"], json.dumps(line.get("segments") or {},
                                                          sort_keys=True)))
    return count, len(groups)


def test_the_expected_counts_follow_from_the_sample_documents() -> None:
    month = {"Apr-2024": 4, "May-2024": 5}
    assert [expected_groups(org, month[period]) for _, org, period, *_ in RUNS] == [
        (n, e) for *_, n, e in RUNS]


async def test_demo_runs_the_whole_pipeline_and_reports_exact_counts(
    settings: Settings, pg_url: str
) -> None:
    result = run_demo(settings, "--keep")
    schema = result["schema"]
    try:
        assert (result["published"], result["stored"]) == (EVENTS, EVENTS)
        runs = [(r["number"], r["org"], r["target"]["period"], r["transaction_count"],
                 len(r["journal_entry_numbers"])) for r in result["runs"]]
        assert runs == RUNS
        types = resolve_type_names(("billing", "cash"), "invoice_item_settlement", False)
        assert all(r["status"] == "completed" and r["transaction_types"] == types
                   for r in result["runs"])

        entries = result["entries"]
        assert len(entries) == ENTRIES
        assert [e["number"] for e in entries] == [f"JE-{n:08d}" for n in range(1, ENTRIES + 1)]
        assert all(Decimal(e["total_debit"]) == Decimal(e["total_credit"]) for e in entries)

        expected = seed001_expected()["runs"]
        for run_number, documented in zip(("JR-00000001", "JR-00000002"), expected,
                                          strict=True):
            seed_entries = [e for e in entries
                            if e["journal_run"] == run_number and e["segments"] == {}]
            assert sorted(map(comparable, seed_entries)) == sorted(
                map(comparable, documented["entries"]))

        held = [r for r in result["pending"] if r["reason"] == "legacy_type_under_multi_org"]
        assert {r["org"] for r in held} == {None} and sum(r["count"] for r in held) == 9
        excluded = [r for r in result["pending"] if r["state"] == "excluded"]
        assert sum(r["count"] for r in excluded) == 2  # seed 001's reclassifications

        # April's month-end close check per org: the totals are the sums of that run's
        # entries; nothing pending or held; seed 001's April reclassification excluded
        summaries = {s["org"]: s for s in result["summaries"]}
        assert list(summaries) == ["US", "EU"]
        for run_number, org, period, _n, entry_count in (RUNS[0], RUNS[2]):
            summary = summaries[org]
            mine = [e for e in entries if e["journal_run"] == run_number]
            assert (summary["period"], summary["entry_count"]) == (period, entry_count)
            (currency,) = summary["currencies"]
            total = sum((Decimal(e["total_debit"]) for e in mine), Decimal(0))
            assert (currency["total_debit"], currency["total_credit"]) == (
                f"{total:.2f}", f"{total:.2f}")
            assert (summary["pending"]["count"], summary["held"]["count"]) == (0, 0)
        assert summaries["US"]["excluded"]["currencies"] == [
            {"currency": "USD", "count": 1, "amount": "-10.00"}]
        assert summaries["EU"]["excluded"]["count"] == 0


        # the first entry, transferred, is reversed on May 1st by the next entry number
        reversal = result["reversal"]
        first, new = entries[0], reversal["entry"]
        assert (reversal["transferred"]["number"], reversal["transferred"]["to"]) == (
            "JE-00000001", "yes")
        assert {k: v for k, v in reversal["reversed"].items() if k not in ("at", "by")} == {
            "number": "JE-00000001", "reversed_by": f"JE-{ENTRIES + 1:08d}",
            "released_transaction_count": first["transaction_count"]}
        swap = {"debit": "credit", "credit": "debit"}
        assert new == first | {
            "number": f"JE-{ENTRIES + 1:08d}", "accounting_period": "May-2024",
            "journal_entry_date": "2024-05-01", "transaction_count": 0,
            "reverses": "JE-00000001",
            "total_debit": first["total_credit"], "total_credit": first["total_debit"],
            "lines": sorted(({**x, "side": swap[x["side"]]} for x in first["lines"]),
                            key=lambda x: x["side"] != "debit")}

        assert result["journal_events"] == {
            "journal_entry.created": ENTRIES + 1, "journal_run.completed": len(RUNS),
            "journal_entry.transfer_status_changed": 1, "journal_entry.reversed": 1}

        # Read the kept journal topic ourselves: the same events, bodies equal to the JSON.
        assert settings.kafka_bootstrap
        records = await consume_all(settings.kafka_bootstrap, result["topics"]["journal"],
                                    ENTRIES + len(RUNS) + 3)
        messages = [json.loads(r.value) for r in records]
        assert Counter(m["event_type"] for m in messages) == result["journal_events"]
        created = {m["data"]["number"]: m["data"] for m in messages
                   if m["event_type"] == "journal_entry.created"}
        assert created == {e["number"]: e for e in [*entries, new]}
        us = [m["event_type"] for m in messages if m["org"] == "US"]  # one key: in order
        assert us[-3:] == ["journal_entry.transfer_status_changed", "journal_entry.reversed",
                           "journal_entry.created"]

        assert result["console"]["url"] == (
            f"http://{settings.http_host}:{settings.http_port}/console/")
        conn = await asyncpg.connect(with_query_params(pg_url, search_path=schema))
        try:
            assert await conn.fetchval("SELECT count(*) FROM journal_entries") == ENTRIES + 1
            assert await conn.fetchval(
                "SELECT status FROM journal_entries WHERE number = 'JE-00000001'") == "reversed"
            assert await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
            assert await conn.fetchval(  # the key printed is a viewer key of this data
                "SELECT role FROM api_keys WHERE token_hash = $1 AND revoked_at IS NULL",
                token_hash(result["console"]["viewer_key"])) == "viewer"
            # every event the demo wrote is a registered type, written as its model writes it
            assert await off_the_registry(conn) == []
            assert await types_in(conn) >= {"settings.changed", "org.created",
                                            "period.created", "api_key.created",
                                            "invoice.posted", "journal_entry.reversed"}
        finally:
            await conn.close()
    finally:
        await drop_schema(pg_url, schema)


async def test_without_keep_the_demo_leaves_no_schema_behind(
    settings: Settings, pg_url: str
) -> None:
    result = run_demo(settings)
    assert len(result["entries"]) == ENTRIES and not result["kept"]
    assert result["reversal"]["entry"]["reverses"] == "JE-00000001"
    conn = await asyncpg.connect(pg_url)
    try:
        assert not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", result["schema"])
    finally:
        await conn.close()


async def test_demo_serve_keeps_the_console_up_on_its_data_until_interrupted(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    out, err = tmp_path / "stdout", tmp_path / "stderr"  # files: the JSON is large
    with out.open("wb") as stdout, err.open("wb") as stderr:
        demo = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "demo", "--json", "--serve",
            env={**os.environ, **settings_env(settings)}, stdout=stdout, stderr=stderr)
    try:
        base = f"http://{settings.http_host}:{settings.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            async def up() -> bool:
                assert demo.returncode is None, err.read_text()
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(up, timeout=120, interval=0.2, message="the demo's console")
            result = json.loads(out.read_text())  # printed before serving
            assert result["console"]["url"] == f"{base}/console/" and result["serving"]
            signed = await sign_in(client, result["console"]["viewer_key"])
            assert signed.status_code == 303, signed.text
            periods = await client.get("/console/periods")
            assert periods.status_code == 200
            assert periods.text.count(">Apr-2024</a>") == 3  # US, EU and unlabeled
        demo.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(demo.wait(), timeout=60) == 0, err.read_text()
    finally:
        if demo.returncode is None:
            demo.kill()
            await demo.wait()
    conn = await asyncpg.connect(pg_url)
    try:  # without --keep, its schema is gone once it stops
        assert not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", result["schema"])
    finally:
        await conn.close()
