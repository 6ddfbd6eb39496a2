"""Properties of journal runs over random transaction sets (docs/domain.md §1 and §3).

For any mix of types, currencies, signed amounts, accounts, segments, statuses and dates over
April and May, and any sequence of runs and entry cancellations:

- every entry balances, and its debit total is the sum of its members' absolute amounts;
- a run takes only pending, eligible transactions of its types and target, each into exactly
  one entry whose type, currency, stamped debit account and segments are its own;
- after a final run over each period, journaled + held/excluded = ingested, and the journaled
  ones are exactly those the pure rules (``events.exclusions``) call eligible.

Each example gets a fresh schema: the event log is append-only, so it cannot be reset.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import exclusion_reason, status_eligible
from events.journal_rules import JournalRunRequest
from services.journal.entries import cancel_entry
from services.journal.run import create_journal_run
from services.store.pool import create_pool
from tests.integration.billing import eligible_status, store_lines, txn
from tests.integration.ledger_setup import set_up
from tests.servers import create_schema, drop_schema, with_query_params

TYPES = ("invoice_item", "taxation_item", "credit_memo_item_charge",
         "credit_memo_application_item", "electronic_payment_application",
         "external_refund_application", "revenue_event_item", "unrealized_fx_gain_loss")
ACCOUNTS = ("Accounts Receivable", "Revenue", "Cash", "Deferred Revenue", "")
APRIL, MAY = (date(2024, 4, 1), date(2024, 4, 30)), (date(2024, 5, 1), date(2024, 5, 31))
DAYS = st.dates(min_value=APRIL[0], max_value=MAY[1])


@dataclass(frozen=True)
class Txn:
    id: str
    type: str
    day: date
    amount: Decimal
    status: str
    debit: str
    credit: str
    currency: str
    segments: dict[str, str]
    subtype: str | None
    period: str | None
    rule: str | None

    @property
    def eligible(self) -> bool:
        return status_eligible(self.type, self.status) and exclusion_reason(
            self.type, self.subtype, self.debit, self.credit, self.rule) is None

    def line(self) -> dict[str, Any]:
        return txn(self.type, self.id, self.day, self.amount, status=self.status,
                   debit=self.debit, credit=self.credit, currency=self.currency,
                   segments=self.segments, subtype=self.subtype, period=self.period,
                   rule=self.rule)


@st.composite
def transaction(draw: st.DrawFn, n: int) -> Txn:
    type_id = draw(st.sampled_from(TYPES))
    revenue = type_id == "revenue_event_item"
    accounts = ACCOUNTS if revenue else ACCOUNTS[:-1]  # only revenue may leave one blank
    application = type_id.endswith("application") or type_id.endswith("application_item")
    return Txn(
        id=f"T{n:03d}",
        type=type_id,
        day=draw(DAYS),
        amount=Decimal(draw(st.integers(-100_000, 100_000))).scaleb(-2),
        status=draw(st.sampled_from([eligible_status(type_id)] * 3 + ["draft", "canceled"])),
        debit=draw(st.sampled_from(accounts)),
        credit=draw(st.sampled_from(accounts)),
        currency=draw(st.sampled_from(["USD", "EUR", "JPY"])),
        segments=draw(st.sampled_from([{}, {"region": "NA"}, {"region": "EMEA"},
                                       {"region": "NA", "product": "core"}])),
        subtype=draw(st.sampled_from([None, "reclassification", "invoice"]))
        if application else None,
        period=draw(st.sampled_from(["Apr-2024", "May-2024"])) if revenue else None,
        rule=draw(st.sampled_from([None, "Recognize upon invoicing", "Ratable"]))
        if revenue else None,
    )


@st.composite
def transactions(draw: st.DrawFn) -> list[Txn]:
    count = draw(st.integers(0, 30))
    return [draw(transaction(n)) for n in range(count)]


@st.composite
def request(draw: st.DrawFn) -> JournalRunRequest:
    kind = draw(st.sampled_from(["period", "date", "range"]))
    if kind == "period":
        types = draw(st.sampled_from([("all",), ("billing",), ("cash", "revenue"),
                                      ("unrealized_fx",)]))
        return JournalRunRequest(types=types, period=draw(st.sampled_from(["Apr-2024",
                                                                           "May-2024"])))
    types = draw(st.sampled_from([("billing",), ("cash",), ("invoice_item", "cash")]))
    start, end = draw(st.sampled_from([APRIL, MAY]))
    first = draw(st.dates(min_value=start, max_value=end))
    if kind == "date":
        return JournalRunRequest(types=types, date=first)
    return JournalRunRequest(types=types, start=first,
                             end=draw(st.dates(min_value=first, max_value=end)))


OPERATIONS = st.lists(st.one_of(request(), st.just("cancel first entry")), max_size=5)


@asynccontextmanager
async def fresh_ledger(pg_url: str) -> AsyncIterator[asyncpg.Pool]:
    schema = f"t_{uuid.uuid4().hex}"
    await create_schema(pg_url, schema)
    pool = await create_pool(with_query_params(pg_url, search_path=schema), max_size=2,
                             run_migrations=True)
    try:
        await set_up(pool)
        yield pool
    finally:
        await pool.close()
        await drop_schema(pg_url, schema)


async def journaled(conn: asyncpg.Pool, run: str) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT p.*, j.number AS entry, j.transaction_type, j.currency AS entry_currency, "
        "j.debit_account AS entry_debit, j.segments AS entry_segments "
        "FROM pending_transactions p JOIN journaled_transactions x USING (type, id) "
        "JOIN journal_entries j ON x.journal_entry = j.number "
        "WHERE j.journal_run = $1", run))


async def check_run(pool: asyncpg.Pool, result: dict[str, Any], by_id: dict[str, Txn],
                    before: set[str]) -> None:
    """What one run took: pending before, eligible, of its types and target, grouped right."""
    members = await journaled(pool, result["number"])
    assert len(members) == result["transaction_count"]
    start, end = (date.fromisoformat(result["target"][k]) for k in ("start_date", "end_date"))
    for row in members:
        t = by_id[row["id"]]
        assert t.eligible and t.id in before and t.type in result["transaction_types"]
        if t.type == "revenue_event_item":
            assert t.period == result["target"]["period"]
        else:
            assert start <= t.day <= end
        assert (row["transaction_type"], row["entry_currency"], row["entry_debit"],
                json.loads(row["entry_segments"])) == (t.type, t.currency, t.debit, t.segments)
    entries = await pool.fetch("SELECT number, total_debit, total_credit, transaction_count "
                               "FROM journal_entries WHERE journal_run = $1", result["number"])
    assert sorted(e["number"] for e in entries) == result["journal_entry_numbers"]
    for entry in entries:
        mine = [by_id[r["id"]] for r in members if r["entry"] == entry["number"]]
        lines = await pool.fetch("SELECT side, amount FROM journal_entry_lines "
                                 "WHERE journal_entry = $1", entry["number"])
        debit = sum((r["amount"] for r in lines if r["side"] == "debit"), Decimal(0))
        credit = sum((r["amount"] for r in lines if r["side"] == "credit"), Decimal(0))
        assert debit == credit == entry["total_debit"] == entry["total_credit"]
        assert debit == sum((abs(t.amount) for t in mine), Decimal(0))
        assert entry["transaction_count"] == len(mine) > 0


async def pending_ids(pool: asyncpg.Pool) -> set[str]:
    rows = await pool.fetch("SELECT id FROM unjournaled_transactions")
    return {r["id"] for r in rows}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(txns=transactions(), operations=OPERATIONS)
async def test_runs_balance_and_journal_each_eligible_transaction_exactly_once(
    pg_url: str, txns: list[Txn], operations: list[JournalRunRequest | str]
) -> None:
    by_id = {t.id: t for t in txns}
    async with fresh_ledger(pg_url) as pool:
        await store_lines(pool, [t.line() for t in txns])
        runs = 0
        for operation in [*operations, JournalRunRequest(types=("all",), period="Apr-2024"),
                          JournalRunRequest(types=("all",), period="May-2024")]:
            if isinstance(operation, str):
                first = await pool.fetchval("SELECT min(number) FROM journal_entries "
                                            "WHERE status = 'created'")
                if first is not None:
                    await cancel_entry(pool, first)
                continue
            before = await pending_ids(pool)
            result = await create_journal_run(pool, operation)
            runs += 1
            assert result["number"] == f"JR-{runs:08d}"
            await check_run(pool, result, by_id, before)

        eligible = {t.id for t in txns if t.eligible}
        now_journaled = {r["id"] for r in await pool.fetch(
            "SELECT id FROM journaled_transactions")}
        left = await pending_ids(pool)
        assert now_journaled == eligible
        assert left == set(by_id) - eligible
        assert len(now_journaled) + len(left) == len(txns)
        numbers = [r["number"] for r in await pool.fetch(
            "SELECT number FROM journal_entries ORDER BY number")]
        assert numbers == [f"JE-{n:08d}" for n in range(1, len(numbers) + 1)]

