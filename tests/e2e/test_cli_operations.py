"""Operators' commands as an operator runs them: ``ledger ... --json`` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import asyncpg

from events.journal_rules import JournalRunRequest
from services.config import Settings
from services.journal.run import create_journal_run
from services.samples import seed001_lines
from tests.helpers import process_env, produce
from tests.integration.ledger_setup import set_up


def ledger(settings: Settings, *args: str) -> tuple[int, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", *args, "--json"],
        env=process_env(settings), capture_output=True, timeout=120, check=False,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None


async def test_replay_verify_rebuild_dlq_and_republish_from_the_command_line(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await set_up(pool, settings={"settlement": "invoice_item_settlement", "multi_org": "true"},
                 orgs=("US",))
    values = [*seed001_lines(), b"{not json"]
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, values, keys=[b"US"] * 4)

    code, report = ledger(settings, "replay", "--from-beginning")
    assert code == 0
    assert report == {"read": 4, "new": 3, "duplicate": 0, "rejected": 1, "skipped_older": 0}
    code, again = ledger(settings, "replay", "--from-offset", "0:0")
    assert (code, again["new"], again["duplicate"]) == (0, 0, 4)
    code, refused = ledger(settings, "replay", "--from-offset", "zero")
    assert code == 2 and refused["error"]["code"] == "replay_offset_invalid"

    run = await create_journal_run(pool, JournalRunRequest(types=("cash",), org="US",
                                                           period="Apr-2024"))
    assert run["transaction_count"] == 3

    code, dlq = ledger(settings, "dlq", "list")
    assert code == 0 and [r["error_code"] for r in dlq] == ["invalid_json"]
    code, verified = ledger(settings, "verify")
    assert (code, verified["ok"], verified["violations"]) == (0, True, [])
    code, rebuilt = ledger(settings, "projections", "rebuild")
    assert code == 0 and rebuilt["rebuilt"] == ["ledger", "journal", "pending_transactions",
                                                "rejected_messages", "api_keys"]
    code, unknown = ledger(settings, "projections", "rebuild", "nope")
    assert code == 2 and unknown["error"]["code"] == "projection_unknown"

    await pool.execute("UPDATE journal_entry_lines SET amount = amount + 1 WHERE side = 'debit' "
                       "AND journal_entry = 'JE-00000001'")
    code, broken = ledger(settings, "verify")
    assert code == 1
    assert {v["check"] for v in broken["violations"]} == {
        "entries_balance", "entry_totals", "projections_match_log"}

    code, sent = ledger(settings, "republish", "--run", "JR-00000001")
    assert (code, sent["republished"]) == (0, 3)
    code, missing = ledger(settings, "republish", "--run", "JR-00000042")
    assert code == 3 and missing["error"]["code"] == "journal_run_not_found"
