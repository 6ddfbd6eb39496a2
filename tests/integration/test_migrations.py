"""Migrations carry a running ledger's data forward."""

from __future__ import annotations

import re

import asyncpg

from projections.pending import BILLING_DOCUMENT_TYPES
from services.store.migrate import checksum, migrate, migration_files
from tests.integration.db import rows, scalar


async def test_membership_moves_from_the_pending_column_to_journaled_transactions(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
                           "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        for version, name, sql in migration_files():
            if version < 4:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version, name) "
                                   "VALUES ($1, $2)", version, name)
        await conn.execute("""
            INSERT INTO pending_transactions (type, id, subtype, date, status, amount, currency,
                debit_account, credit_account, document_number, event_position, journal_entry)
            VALUES ('invoice_item', 'I1', NULL, '2024-04-02', 'posted', 10.00, 'USD', 'AR',
                    'Rev', 'INV-1', 1, 'JE-00000001'),
                   ('invoice_item', 'I2', NULL, '2024-04-03', 'posted', 5.00, 'USD', 'AR',
                    'Rev', 'INV-1', 1, NULL),
                   ('payment_application', 'PA1', ' Reclassification', '2024-04-03',
                    'processed', 5.00, 'USD', 'Cash', 'AR', 'P-1', 2, NULL)""")

        assert await migrate(conn) == [name for version, name, _ in migration_files()
                                       if version >= 4]
        # rows applied before checksums existed get theirs on this first migrate
        recorded = await conn.fetch("SELECT name, checksum FROM schema_migrations ORDER BY 1")
        assert [(r["name"], r["checksum"]) for r in recorded] == [
            (name, checksum(sql)) for _, name, sql in migration_files()]

        journaled = await conn.fetch("SELECT type, id, journal_entry FROM journaled_transactions")
        assert [tuple(r) for r in journaled] == [("invoice_item", "I1", "JE-00000001")]
        waiting = await conn.fetch("SELECT id, amount, exclusion_reason "
                                   "FROM unjournaled_transactions ORDER BY id")
        assert [tuple(r) for r in waiting] == [("I2", 5, None), ("PA1", 5, "reclassification")]
        columns = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = 'pending_transactions' "
            "AND column_name = 'journal_entry'")
        assert columns == 0
    finally:
        await conn.close()


async def test_payloads_are_compressed_with_lz4_where_the_server_has_it(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                await conn.execute("CREATE TEMP TABLE lz4_probe (j jsonb COMPRESSION lz4)")
                has_lz4 = True
        except asyncpg.FeatureNotSupportedError:
            has_lz4 = False
    methods = await rows(
        pool, "SELECT attrelid::regclass::text AS tbl, attcompression::text FROM pg_attribute "
              "WHERE attname = 'payload' AND attrelid IN ('events'::regclass, 'outbox'::regclass) "
              "ORDER BY 1")
    wanted = "l" if has_lz4 else ""
    assert [(r["tbl"], r["attcompression"]) for r in methods] == [
        ("events", wanted), ("outbox", wanted)]


async def test_the_type_index_leaves_out_exactly_the_billing_document_types(
    pool: asyncpg.Pool,
) -> None:
    definition = await scalar(
        pool, "SELECT indexdef FROM pg_indexes WHERE indexname = 'events_type_position_idx' "
              "AND schemaname = current_schema()")
    where = definition.split(" WHERE ", 1)[1]
    assert where.startswith("(event_type <> ALL (ARRAY[")
    assert sorted(re.findall(r"'([a-z_.]+)'::text", where)) == sorted(BILLING_DOCUMENT_TYPES)
    plan = await rows(pool, "EXPLAIN SELECT position FROM events WHERE event_type = "
                            "'journal_entry.created' AND position BETWEEN 1 AND 1000000")
    assert any("events_type_position_idx" in r["QUERY PLAN"] for r in plan)


async def test_exclusion_reasons_are_brought_up_to_the_rules_of_0009_in_place(
    database_url: str,
) -> None:
    """A ledger upgraded in place: the lines of credit_memo.unapplied events and revenue items
    under another spelling of "recognize upon invoicing" get the reason a rebuild would give."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
                           "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        for version, name, sql in migration_files():
            if version < 9:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version, name) "
                                   "VALUES ($1, $2)", version, name)
        await conn.execute("""
            INSERT INTO events (stream, version, event_id, event_type, payload, body_hash)
            VALUES ('CM-1', 1, gen_random_uuid(), 'credit_memo.applied', '{}', ''),
                   ('CM-1', 2, gen_random_uuid(), 'credit_memo.unapplied', '{}', ''),
                   ('REV-1', 1, gen_random_uuid(), 'revenue.recognized', '{}', '')""")
        await conn.execute("""
            INSERT INTO pending_transactions (type, id, subtype, date, status, amount, currency,
                debit_account, credit_account, document_number, recognition_rule,
                event_position, exclusion_reason)
            VALUES ('credit_memo_application_item', 'CMA1', NULL, '2024-04-02', 'posted', 4,
                    'USD', 'Credit Memo', 'AR', 'CM-1', NULL, 1, NULL),
                   ('credit_memo_application_item', 'CMA2', NULL, '2024-04-09', 'posted', -4,
                    'USD', 'Credit Memo', 'AR', 'CM-1', NULL, 2, NULL),
                   ('credit_memo_application_item', 'CMA3', 'reclassification', '2024-04-09',
                    'posted', 4, 'USD', 'Credit Memo', 'Credit Memo', 'CM-1', NULL, 2,
                    'reclassification'),
                   ('revenue_event_item', 'R1', NULL, '2024-04-30', 'posted', 9, 'USD',
                    '', 'Revenue', 'REV-1', 'RECOGNIZE_UPON_INVOICING', 3, NULL),
                   ('revenue_event_item', 'R2', NULL, '2024-04-30', 'posted', 9, 'USD',
                    'Revenue', 'Revenue', 'REV-1', 'recognize-upon-invoicing', 3, NULL),
                   ('revenue_event_item', 'R3', NULL, '2024-04-30', 'posted', 9, 'USD',
                    'Deferred', 'Revenue', 'REV-1', 'Recognize_upon_invoicing', 3, NULL),
                   ('revenue_event_item', 'R4', NULL, '2024-04-30', 'posted', 9, 'USD',
                    '', 'Revenue', 'REV-1', 'Recognize upon invoicing', 3,
                    'revenue_upon_invoicing_blank_account')""")

        assert await migrate(conn) == [name for version, name, _ in migration_files()
                                       if version >= 9]

        reasons = await conn.fetch("SELECT id, exclusion_reason FROM pending_transactions "
                                   "ORDER BY id")
        assert [tuple(r) for r in reasons] == [
            ("CMA1", None),
            ("CMA2", "unapplied_credit_memo"),
            ("CMA3", "reclassification"),
            ("R1", "revenue_upon_invoicing_blank_account"),
            ("R2", "revenue_same_accounts"),
            ("R3", None),
            ("R4", "revenue_upon_invoicing_blank_account"),
        ]
        arguments = await conn.fetch(
            "SELECT pronargs FROM pg_proc WHERE proname = 'transaction_exclusion_reason' "
            "AND pronamespace = current_schema()::regnamespace")
        assert [r["pronargs"] for r in arguments] == [6]  # the old rules are gone
    finally:
        await conn.close()
