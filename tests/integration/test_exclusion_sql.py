"""The exclusion rules exist twice: as pure functions (events.exclusions) for people and
reports, and as the SQL function ``transaction_exclusion_reason`` that fills
``pending_transactions.exclusion_reason`` for set-based runs. This keeps the two equal over
every combination that matters."""

from __future__ import annotations

import itertools

import asyncpg

from events import TRANSACTION_TYPES, exclusion_reason

SUBTYPES = [None, "reclassification", " Reclassification ", "unapplied", "invoice_item"]
ACCOUNTS = [("Cash", "Revenue"), ("", ""), ("Cash", ""), (" ", "Revenue"),
            ("Deferred", "Deferred"), ("Deferred ", " Deferred")]
RULES = [None, "Recognize upon invoicing", "recognize  upon   invoicing",
         " RECOGNIZE UPON INVOICING", "Recognize daily over time"]


async def test_sql_exclusion_rules_match_the_pure_rules(pool: asyncpg.Pool) -> None:
    cases = list(itertools.product(sorted(TRANSACTION_TYPES), SUBTYPES, ACCOUNTS, RULES))
    found = await pool.fetch(
        "SELECT c.n, transaction_exclusion_reason(c.type, c.subtype, c.debit, c.credit, c.rule) "
        "AS reason FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], "
        "$6::text[]) AS c(n, type, subtype, debit, credit, rule)",
        list(range(len(cases))), [c[0] for c in cases], [c[1] for c in cases],
        [c[2][0] for c in cases], [c[2][1] for c in cases], [c[3] for c in cases],
    )
    stored = {f"T{r['n']}": r["reason"] for r in found}
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
