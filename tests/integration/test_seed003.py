"""Seed 003: Multi-Org with invoice settlement harmonization (docs/domain.md §2).

Account U-2 has INV-1 (-100, org US) and three legacy settlement transactions: IIA-1 (-20),
IA-1 (-30) and CBA-1 (-40). Upstream labels every message with org US; the ledger still puts
the legacy ones in the unlabeled scope, lists them for reconciliation and never journals
them while Multi-Org is on.
"""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from events.journal_rules import JournalRunRequest
from events.transaction_types import TRANSACTION_TYPES, Category
from services.config import Settings
from services.errors import RejectedInput
from services.journal.run import create_journal_run
from services.journal.views import list_entries
from services.reports import pending_report, unlabeled_report
from tests.integration.conftest import IngestRunner
from tests.integration.db import scalar
from tests.integration.ledger_setup import set_up

SEED003_SETTINGS = {"settlement": "invoice_settlement", "harmonization": "true",
                    "multi_org": "true"}

#: (event type, transaction id, line type, date, amount, debit account, credit account)
SEED003 = [
    ("invoice.posted", "INV-1", "invoice_item", "2024-04-10", "-100",
     "Accounts Receivable", "Sales Revenue"),
    ("adjustment.processed", "IIA-1", "invoice_item_adjustment_invoice", "2024-04-12", "-20",
     "Sales Revenue", "Accounts Receivable"),
    ("adjustment.processed", "IA-1", "invoice_adjustment", "2024-04-15", "-30",
     "Sales Revenue", "Accounts Receivable"),
    ("adjustment.processed", "CBA-1", "credit_balance_adjustment_applied", "2024-04-20", "-40",
     "Customer Credit Balance", "Accounts Receivable"),
]


def seed003_messages() -> list[bytes]:
    """One message per transaction, every one labeled org US as upstream sends it."""
    messages = []
    for i, (event_type, tid, line_type, day, amount, debit, credit) in enumerate(SEED003):
        status = "posted" if line_type == "invoice_item" else "processed"
        messages.append(json.dumps({
            "event_id": str(uuid.UUID(int=0x003_000 + i)),
            "event_type": event_type,
            "occurred_at": f"{day}T09:00:00Z",
            "org": "US",
            "schema_version": 1,
            "data": {
                "document": {"number": tid, "account_number": "U-2", "currency": "USD"},
                "transactions": [{"id": tid, "type": line_type, "date": day, "status": status,
                                  "amount": amount, "debit_account": debit,
                                  "credit_account": credit}],
            },
        }).encode())
    return messages


async def ingest_seed003(settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner) -> None:
    await set_up(pool, settings=SEED003_SETTINGS, orgs=("US",))
    values = seed003_messages()
    await ingest.feed(values, stored=4, keys=[b"US"] * len(values))


def multi_org_billing_types() -> tuple[str, ...]:
    return tuple(t.id for t in TRANSACTION_TYPES.values()
                 if t.category is Category.BILLING and not t.legacy)


async def test_seed003_invoice_in_us_scope_adjustments_unlabeled_and_never_journaled(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    await ingest_seed003(settings, pool, ingest)
    # stored as sent: the label is on every row; the scope is the ledger's judgement
    assert await scalar(pool, "SELECT count(*) FROM pending_transactions WHERE org = 'US'") == 4

    unlabeled = await unlabeled_report(pool)
    assert [(r["id"], r["transaction_type"], r["period"], r["amount"], r["date"], r["state"],
             r["reason"], r["org_label"], r["account_number"]) for r in unlabeled] == [
        ("CBA-1", "credit_balance_adjustment_applied", "Apr-2024", "-40.00", "2024-04-20",
         "held", "legacy_type_under_multi_org", "US", "U-2"),
        ("IA-1", "invoice_adjustment", "Apr-2024", "-30.00", "2024-04-15",
         "held", "legacy_type_under_multi_org", "US", "U-2"),
        ("IIA-1", "invoice_item_adjustment_invoice", "Apr-2024", "-20.00", "2024-04-12",
         "held", "legacy_type_under_multi_org", "US", "U-2"),
    ]

    pending = await pending_report(pool)
    assert [(r["org"], r["transaction_type"], r["period"], r["state"], r["reason"], r["count"],
             r["amount"]) for r in pending] == [
        (None, "credit_balance_adjustment_applied", "Apr-2024", "held",
         "legacy_type_under_multi_org", 1, "-40.00"),
        (None, "invoice_adjustment", "Apr-2024", "held", "legacy_type_under_multi_org", 1,
         "-30.00"),
        (None, "invoice_item_adjustment_invoice", "Apr-2024", "held",
         "legacy_type_under_multi_org", 1, "-20.00"),
        ("US", "invoice_item", "Apr-2024", "pending", None, 1, "-100.00"),
    ]
    assert await pending_report(pool, "US") == [r for r in pending if r["org"] == "US"]

    run = await create_journal_run(
        pool, JournalRunRequest(types=("billing",), org="US", period="Apr-2024"))
    assert set(run["transaction_types"]) == set(multi_org_billing_types())
    assert (run["number"], run["org"], run["transaction_count"], run["status"],
            run["journal_entry_numbers"]) == ("JR-00000001", "US", 1, "completed",
                                              ["JE-00000001"])
    [entry] = await list_entries(pool, run="JR-00000001")
    assert entry == {
        "number": "JE-00000001",
        "journal_run": "JR-00000001",
        "org": "US",
        "accounting_period": "Apr-2024",
        "journal_entry_date": "2024-04-30",
        "transaction_type": "invoice_item",
        "currency": "USD",
        "segments": {},
        # a negative amount flips the sides: revenue is debited, receivables credited
        "lines": [{"account": "Sales Revenue", "side": "debit", "amount": "100.00"},
                  {"account": "Accounts Receivable", "side": "credit", "amount": "100.00"}],
        "total_debit": "100.00",
        "total_credit": "100.00",
        "transaction_count": 1,
        "status": "created",
        "transfer_status": "no",
        "reverses": None,
    }
    # the invoice has left the pending set; the three adjustments are still unlabeled
    assert [r["transaction_type"] for r in await pending_report(pool, "US")] == []
    assert [r["id"] for r in await unlabeled_report(pool)] == ["CBA-1", "IA-1", "IIA-1"]


@pytest.mark.parametrize(
    "types",
    [("invoice_item_adjustment_invoice",), ("Invoice Adjustment",),
     ("invoice_item", "credit_balance_adjustment_applied")],
)
async def test_seed003_legacy_type_under_multi_org_is_refused(
    settings: Settings, pool: asyncpg.Pool, types: tuple[str, ...]
) -> None:
    await set_up(pool, settings=SEED003_SETTINGS, orgs=("US",))
    with pytest.raises(RejectedInput) as refused:
        await create_journal_run(pool, JournalRunRequest(types=types, org="US",
                                                         period="Apr-2024"))
    assert refused.value.code == "legacy_type_under_multi_org"
    assert refused.value.exit_code == 2
    # a refused request writes nothing and consumes no number
    assert await scalar(pool, "SELECT count(*) FROM journal_runs") == 0
    assert await scalar(pool, "SELECT count(*) FROM outbox") == 0


