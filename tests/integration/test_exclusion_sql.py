"""The exclusion rules exist twice: as pure functions (events.exclusions) for people and
reports, and as the SQL function ``transaction_exclusion_reason`` that fills
``pending_transactions.exclusion_reason`` for set-based runs. This keeps the two equal over
every combination that matters, and keeps the SQL one cheap (inlined into the projection)."""

from __future__ import annotations

import itertools

import asyncpg

from events import TRANSACTION_TYPES, exclusion_reason
from projections.pending import INSERT_LINES

SUBTYPES = [None, "reclassification", " Reclassification ", "unapplied", "invoice_item"]
ACCOUNTS = [("Cash", "Revenue"), ("", ""), ("Cash", ""), (" ", "Revenue"),
            ("Deferred", "Deferred"), ("Deferred ", " Deferred")]
RULES = [
    None, "Recognize upon invoicing", "recognize  upon   invoicing",
    " RECOGNIZE UPON INVOICING", "Recognize daily over time",
    # the spellings docs/domain.md §1 names the same rule
    "RECOGNIZE_UPON_INVOICING", "recognize-upon-invoicing", "Recognize__upon - invoicing\t",
    "recognize\nupon\x0binvoicing",
    # near misses, where a locale could make SQL and Python disagree
    "recognizeuponinvoicing", "recognİze upon invoicing", "recognize\u00a0upon invoicing",
    "recognize\u2003upon invoicing", "recognize\x1cupon invoicing",
]
MATCHING_RULES = 7  # the spellings above that are "recognize upon invoicing"
EVENTS = [None, "credit_memo.applied", "credit_memo.unapplied", "payment.applied"]


async def test_sql_exclusion_rules_match_the_pure_rules(pool: asyncpg.Pool) -> None:
    cases = list(itertools.product(sorted(TRANSACTION_TYPES), SUBTYPES, ACCOUNTS, RULES, EVENTS))
    found = await pool.fetch(
        "SELECT c.n, transaction_exclusion_reason(c.type, c.subtype, c.debit, c.credit, c.rule, "
        "c.event) AS reason FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], "
        "$5::text[], $6::text[], $7::text[]) AS c(n, type, subtype, debit, credit, rule, event)",
        list(range(len(cases))), [c[0] for c in cases], [c[1] for c in cases],
        [c[2][0] for c in cases], [c[2][1] for c in cases], [c[3] for c in cases],
        [c[4] for c in cases],
    )
    stored = {r["n"]: r["reason"] for r in found}
    mismatches = []
    for i, (type_id, subtype, (debit, credit), rule, event) in enumerate(cases):
        expected = exclusion_reason(type_id, subtype, debit, credit, rule, event_type=event)
        if stored[i] != (expected.value if expected else None):
            mismatches.append((type_id, subtype, debit, credit, rule, event, stored[i], expected))
    assert mismatches == []
    per_event = 30 * len(SUBTYPES) * len(ACCOUNTS) * len(RULES)
    assert len(cases) == per_event * len(EVENTS)
    application_types = 9  # payment/refund application (items), credit memo application item
    reclassifications = application_types * 2 * len(ACCOUNTS) * len(RULES)
    counts = {reason: sum(1 for v in stored.values() if v == reason) for reason in (
        "reclassification", "unapplied_credit_memo", "revenue_upon_invoicing_blank_account",
        "revenue_same_accounts")}
    assert counts == {
        "reclassification": reclassifications * len(EVENTS),
        # every line of credit_memo.unapplied, but its reclassification records
        "unapplied_credit_memo": per_event - reclassifications,
        # revenue event items under a matching spelling, outside credit_memo.unapplied:
        # three of the account pairs have a blank side, two the same account on both sides
        "revenue_upon_invoicing_blank_account": len(SUBTYPES) * 3 * MATCHING_RULES * 3,
        "revenue_same_accounts": len(SUBTYPES) * 2 * MATCHING_RULES * 3,
    }


async def test_the_projection_inlines_the_exclusion_function(pool: asyncpg.Pool) -> None:
    # Calling a SQL function per row instead of inlining it costs the ingest and a rebuild
    # about a microsecond a transaction line.
    statement = INSERT_LINES.replace("$1", "1").replace("$2", "2").replace("$3", "NULL")
    plan = "\n".join(r[0] for r in await pool.fetch(f"EXPLAIN (VERBOSE) {statement}"))
    assert "transaction_exclusion_reason(" not in plan  # no call: its CASE is in the plan
    assert "unapplied_credit_memo" in plan and "recognize upon invoicing" in plan
