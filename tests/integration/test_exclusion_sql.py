"""The exclusion rules exist twice: as pure functions (events.exclusions) for people and
reports, and as a generated column of pending_transactions for set-based runs. This keeps
the two equal over every combination that matters."""

from __future__ import annotations

import itertools
from datetime import date

import asyncpg

from events import TRANSACTION_TYPES, exclusion_reason

SUBTYPES = [None, "reclassification", " Reclassification ", "unapplied", "invoice_item"]
ACCOUNTS = [("Cash", "Revenue"), ("", ""), ("Cash", ""), (" ", "Revenue"),
            ("Deferred", "Deferred"), ("Deferred ", " Deferred")]
RULES = [None, "Recognize upon invoicing", "recognize  upon   invoicing",
         " RECOGNIZE UPON INVOICING", "Recognize daily over time"]


async def test_generated_exclusion_column_matches_the_pure_rules(pool: asyncpg.Pool) -> None:
    cases = list(itertools.product(sorted(TRANSACTION_TYPES), SUBTYPES, ACCOUNTS, RULES))
    rows = [
        (type_id, f"T{i}", subtype, date(2024, 4, 1), "posted", 1, "USD", debit, credit,
         "D-1", rule, 1)
        for i, (type_id, subtype, (debit, credit), rule) in enumerate(cases)
    ]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "pending_transactions",
            records=rows,
            columns=["type", "id", "subtype", "date", "status", "amount", "currency",
                     "debit_account", "credit_account", "document_number", "recognition_rule",
                     "event_position"],
        )
        stored = {r["id"]: r["exclusion_reason"] for r in
                  await conn.fetch("SELECT id, exclusion_reason FROM pending_transactions")}
    mismatches = []
    for i, (type_id, subtype, (debit, credit), rule) in enumerate(cases):
        expected = exclusion_reason(type_id, subtype, debit, credit, rule)
        if stored[f"T{i}"] != (expected.value if expected else None):
            mismatches.append((type_id, subtype, debit, credit, rule, stored[f"T{i}"], expected))
    assert mismatches == []
    assert len(cases) == 30 * 5 * 6 * 5
    application_types = 9  # payment/refund application (items), credit memo application item
    assert sum(1 for v in stored.values() if v == "reclassification") == (
        application_types * 2 * 6 * 5
    )
