"""Properties of random journal histories (docs/domain.md §1-§3), on real PostgreSQL.

A history starts from one of six tenant settings (invoice or invoice item settlement, with
or without harmonization; Multi-Org on, with orgs US and EU beside the unlabeled scope, or
off, with the unlabeled scope alone; periods Apr-2024 and May-2024 in every scope, then the
open-ended period) and interleaves, at random:

- transactions arriving late, between runs: eleven types (legacy ones included), labelled
  US, EU or not at all, dated on a period's first or last day, the day before the first
  period, in the open-ended period or anywhere between (a revenue event item names
  Apr-2024, May-2024 or an undefined Jun-2024), pending, held or excluded; and status
  changes that hold or release them;
- journal runs of a scope: a period, a specific date, a start..end range touching a
  boundary, or no target (the scope's earliest open period); now and then a target or a
  category the rules refuse (the open-ended period, a day outside the periods, a range
  across two, credit_balance under Multi-Org, ...);
- entry and run cancels, transfer status changes, reversals of transferred entries dated in
  any period (their own, a later one, a closed one, none);
- closing, marking pending close and reopening periods, which moves the default target;

and ends with a run of every category over every period of every scope. An oracle
(``journal_oracle``) replays the history with the pure rules and says what each command
must answer. After every step:

1. every entry balances: total debit = total credit = the sum of its debit lines = the sum
   of its credit lines, and its lines are its transactions' amounts per (account, side)
   after the sign flip; a reversal mirrors its original exactly with the sides swapped
   (same run, org, type, currency, segments) and holds no transaction;
2. a run takes exactly the transactions the oracle calls pending for its scope, types and
   target window at that moment (ingested, status-eligible, not excluded, in no active
   entry): nothing it should not and everything it should, boundary days included, one
   entry per (type, currency, stamped debit account, segments), read back from each
   entry's transaction detail; a command the rules refuse answers with the rule's code;
3. a transaction is in at most one active entry (created, not cancelled, not reversed;
   reversals hold none): each run takes only what no active entry holds, and the active
   entries' counts add up to what the oracle says is held. After the final runs, from
   every active entry's transaction detail: no transaction is in two, every eligible one
   of a defined period is in exactly one, and none of the open-ended period (never a run
   target) or before the first period is in any;
4. every currency's period summary, of every period of every scope, balances (total debit
   = total credit) and equals per account the lines of the scope's non-cancelled entries
   dated in the period (a reversed entry in its own period, its reversal in the reversal
   date's); its pending, held and excluded counts, amounts and reasons are the period's
   transactions no active entry holds;
5. runs and entries (reversals included) are numbered gaplessly, and a refused command
   takes no number and writes nothing: every run and entry reads back as the oracle says
   (target, types, status, transfer status, entries).

Each example gets a fresh schema (the event log is append-only, so it cannot be reset). A
failing example prints its history: each drawn step, and what the ledger answered.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from events.journal_rules import JournalRunRequest
from events.periods import OPEN_ENDED_NAME
from services.commands.periods import change_period_status
from services.errors import LedgerError
from services.journal.entries import cancel_entry, cancel_run, export_entry_csv, set_transfer_status
from services.journal.reversal import reverse_entry
from services.journal.run import create_journal_run
from services.journal.views import list_entries, list_runs
from services.period_summary import period_summary
from services.store.pool import create_pool
from tests.integration.billing import status_changed, store
from tests.integration.journal_histories import (
    CONFIGS,
    Arrive,
    CancelEntry,
    CancelRun,
    ChangeStatus,
    Journal,
    PeriodStatus,
    Reverse,
    Step,
    Transfer,
    arrivals,
    steps,
)
from tests.integration.journal_model import (
    PERIOD_NAMES,
    PERIODS,
    RUN_FACTS,
    Config,
    Key,
    Refusal,
    entry_facts,
    entry_number,
    run_number,
    summary_facts,
)
from tests.integration.journal_oracle import Ledger
from tests.integration.ledger_setup import set_up
from tests.servers import create_schema, drop_schema, with_query_params

T = TypeVar("T")


# --- the ledger under test, and what it answers -------------------------------------------


@asynccontextmanager
async def fresh_ledger(pg_url: str, config: Config) -> AsyncIterator[asyncpg.Pool]:
    schema = f"t_{uuid.uuid4().hex}"
    await create_schema(pg_url, schema)
    pool = await create_pool(with_query_params(pg_url, search_path=schema), max_size=2,
                             run_migrations=True)
    try:
        await set_up(pool, settings=config.changes(), orgs=config.orgs,
                     periods=[(name, start, end) for name, start, end in PERIODS])
        yield pool
    finally:
        await pool.close()
        await drop_schema(pg_url, schema)


async def answer(call: Awaitable[T]) -> T | LedgerError:
    try:
        return await call
    except LedgerError as error:
        return error


def same_outcome(got: object, expected: object) -> None:
    """Refused exactly when the oracle says, with the code it names."""
    if isinstance(expected, Refusal):
        assert isinstance(got, LedgerError), f"expected {expected}, the ledger answered {got}"
        assert got.code == expected.code, f"expected {expected}, refused {got.code}: {got}"
    elif isinstance(got, LedgerError):
        raise AssertionError(f"expected {expected}, refused {got.code}: {got}")


def key_of(row: dict[str, str]) -> Key:
    return (row["transaction_type"], row["transaction_id"])


async def members_of(pool: asyncpg.Pool, number: str) -> list[dict[str, str]]:
    """The transactions a created entry holds, from its transaction detail CSV."""
    chunks: list[bytes] = []

    async def write(chunk: bytes) -> None:
        chunks.append(chunk)

    await export_entry_csv(pool, number, write)
    return list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))


async def perform(pool: asyncpg.Pool, ledger: Ledger, step: Step) -> str:
    """Do the step on the ledger and on the oracle; check what it answered (property 2 for a
    run) and say it, for the example's history."""
    match step:
        case Arrive(txns):
            await store(pool, *(t.message() for t in txns))
            ledger.arrive(list(txns))
            return f"{len(txns)} stored"
        case ChangeStatus(t, status):
            await store(pool, status_changed([(t.type, t.id, status)], org=t.org))
            ledger.status[t.key] = status
            return "stored"
        case Journal(request):
            return await perform_run(pool, ledger, request)
        case CancelEntry(number):
            expected_release = ledger.cancel_entry(number)
            got = await answer(cancel_entry(pool, number))
            same_outcome(got, expected_release)
            if isinstance(got, dict):
                assert got["released_transaction_count"] == expected_release
            return str(expected_release if isinstance(expected_release, Refusal)
                       else f"released {expected_release}")
        case CancelRun(number):
            expected_cancel = ledger.cancel_run(number)
            got = await answer(cancel_run(pool, number))
            same_outcome(got, expected_cancel)
            if isinstance(got, dict) and not isinstance(expected_cancel, Refusal):
                assert (got["cancelled_entries"], got["kept_entries"],
                        got["status"]) == expected_cancel
            return str(expected_cancel)
        case Transfer(number, status):
            expected_from = ledger.transfer(number, status)
            got = await answer(set_transfer_status(pool, number, status))
            same_outcome(got, expected_from)
            if isinstance(got, dict):
                assert (got["from"], got["to"]) == (expected_from, status)
            return str(expected_from if isinstance(expected_from, Refusal)
                       else f"was {expected_from}")
        case Reverse(number, day):
            released = len(ledger.entries[number].members)
            expected_reversal = ledger.reverse(number, day)
            reversal = await answer(reverse_entry(pool, number, day))
            same_outcome(reversal, expected_reversal)
            if isinstance(expected_reversal, Refusal) or isinstance(reversal, LedgerError):
                return str(expected_reversal)
            assert reversal.reversed.released_transaction_count == released
            assert reversal.entry.number == expected_reversal.number
            return (f"{expected_reversal.number} in {expected_reversal.period}, "
                    f"released {released}")
        case PeriodStatus(org, name, to):
            expected_change = ledger.change_period(org or "", name, to)
            got = await answer(change_period_status(pool, org=org, name=name, to=to))
            same_outcome(got, expected_change)
            return str(expected_change or "done")
    raise AssertionError(f"unknown step {step!r}")


async def perform_run(pool: asyncpg.Pool, ledger: Ledger, request: JournalRunRequest) -> str:
    """Property 2: the run takes exactly what the oracle says is pending for it."""
    plan = ledger.plan(request)
    got = await answer(create_journal_run(pool, request))
    same_outcome(got, plan)
    if isinstance(plan, Refusal) or isinstance(got, LedgerError):
        return str(plan)
    expected = ledger.expected_groups(plan)
    should = frozenset().union(*expected.values())
    first = ledger.next_entry()
    made: dict[str, frozenset[Key]] = {}
    for number in got["journal_entry_numbers"]:
        rows = await members_of(pool, number)
        made[number] = frozenset(key_of(row) for row in rows)
        for row in rows:  # the detail is the transaction as it arrived
            t = ledger.txns[key_of(row)]
            assert (row["transaction_type"], Decimal(row["amount"]), row["currency"],
                    row["debit_account"], row["credit_account"]) == (
                t.type, t.amount, t.currency, t.debit, t.credit)
    took = frozenset().union(*made.values())
    assert took == should, (f"{got['number']} ({plan}) took {sorted(took - should)} it "
                            f"should not, missed {sorted(should - took)}")
    assert sorted(made.values(), key=sorted) == sorted(expected.values(), key=sorted), (
        "grouped otherwise than one entry per (type, currency, debit account, segments)")
    assert got["journal_entry_numbers"] == [entry_number(first + n)
                                            for n in range(len(expected))]
    run = ledger.record_run(plan, made)
    assert {k: got[k] for k in RUN_FACTS} == run.facts()
    return f"{run.number} took {len(took)} into {len(made)} entries"


# --- the properties after every step -----------------------------------------------------


async def check_ledger(pool: asyncpg.Pool, ledger: Ledger) -> None:
    """Properties 1, 3 (at most one), 4 and 5, after every step."""
    runs = await list_runs(pool)
    assert [r["number"] for r in runs] == [run_number(n + 1) for n in range(len(runs))]
    assert [{k: r[k] for k in RUN_FACTS} for r in runs] == [
        run.facts() for run in ledger.runs.values()]
    entries = await list_entries(pool)
    assert [e["number"] for e in entries] == [entry_number(n + 1)
                                              for n in range(len(entries))]
    by_number = {e["number"]: e for e in entries}
    for entry in entries:
        check_balanced(entry)
        if entry["reverses"] is not None:
            check_mirrors(entry, by_number[entry["reverses"]])
    assert len(entries) == len(ledger.entries)
    for entry, expected in zip(entries, ledger.entries.values(), strict=True):
        got, want = entry_facts(entry), expected.facts()
        assert got == want, f"{entry['number']}: {differences(got, want)}"
    assert sum(e["transaction_count"] for e in entries if e["status"] == "created") == len(
        ledger.holder)
    for scope in ledger.config.scopes:
        for name in (*PERIOD_NAMES, OPEN_ENDED_NAME):
            got = summary_facts(await period_summary(pool, name, scope or None))
            for currency, sums in got["currencies"].items():
                debit, credit = sums["total"]
                assert debit == credit, f"{name} of {scope or 'unlabeled'}: {currency} {sums}"
            want = ledger.summary(scope, name)
            assert got == want, (f"summary of {name} of {scope or 'unlabeled'}: "
                                 f"{differences(got, want)}")


def differences(got: dict[str, Any], want: dict[str, Any]) -> str:
    """What the ledger shows (first) against what the oracle says, key by key."""
    return "; ".join(f"{key} {got.get(key)!r} != {want.get(key)!r}"
                     for key in sorted(got.keys() | want.keys()) if got.get(key) != want.get(key))


def check_balanced(entry: dict[str, Any]) -> None:
    """Property 1: total debit = total credit = the sum of each side's lines."""
    debit = sum((Decimal(ln["amount"]) for ln in entry["lines"] if ln["side"] == "debit"),
                Decimal(0))
    credit = sum((Decimal(ln["amount"]) for ln in entry["lines"] if ln["side"] == "credit"),
                 Decimal(0))
    assert Decimal(entry["total_debit"]) == Decimal(entry["total_credit"]) == debit == credit, (
        entry)


def check_mirrors(reversal: dict[str, Any], original: dict[str, Any]) -> None:
    """Property 1: a reversal is its original with every line on the other side."""
    swap = {"debit": "credit", "credit": "debit"}
    assert original["status"] == "reversed"
    assert sorted((ln["account"], swap[ln["side"]], Decimal(ln["amount"]))
                  for ln in original["lines"]) == sorted(
        (ln["account"], ln["side"], Decimal(ln["amount"])) for ln in reversal["lines"])
    same = ("journal_run", "org", "transaction_type", "currency", "segments")
    assert {k: reversal[k] for k in same} == {k: original[k] for k in same}
    assert Decimal(reversal["total_debit"]) == Decimal(original["total_credit"])
    assert reversal["transaction_count"] == 0


async def check_final(pool: asyncpg.Pool, ledger: Ledger) -> None:
    """Property 3 after the final runs, from every active entry's transaction detail."""
    held: Counter[Key] = Counter()
    holder: dict[Key, str] = {}
    for entry in await list_entries(pool):
        if entry["status"] == "created":
            for row in await members_of(pool, entry["number"]):
                held[key_of(row)] += 1
                holder[key_of(row)] = entry["number"]
    assert [i for i, n in held.items() if n > 1] == [], "in more than one active entry"
    assert holder == ledger.holder
    for t in ledger.txns.values():
        home = ledger.home(t)
        if home in PERIOD_NAMES and ledger.eligible(t):
            assert held[t.key] == 1, f"{t} is eligible in {home} but journaled {held[t.key]}x"
        if home not in PERIOD_NAMES:
            assert held[t.key] == 0, f"{t} is in no defined period but journaled"


# --- the test ----------------------------------------------------------------------------


@pytest.mark.timeout(900)  # hypothesis gives up shrinking a failure after five minutes
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(config=CONFIGS, data=st.data())
async def test_every_history_journals_each_eligible_transaction_once_and_balances(
    pg_url: str, config: Config, data: st.DataObject
) -> None:
    ledger = Ledger(config)
    note(f"settings: {config}")
    async with fresh_ledger(pg_url, config) as pool:
        step: Step = data.draw(arrivals(ledger, 1, 24), label="arrivals")
        for n in range(data.draw(st.integers(2, 24), label="steps") + 1):
            if n:
                step = data.draw(steps(ledger), label=f"step {n}")
            await take(pool, ledger, step)
        for org in config.run_scopes:
            for name in PERIOD_NAMES:
                step = Journal(JournalRunRequest(types=("all",), org=org or None, period=name))
                note(f"Final: {step!r}")
                await take(pool, ledger, step)
        await check_final(pool, ledger)


async def take(pool: asyncpg.Pool, ledger: Ledger, step: Step) -> None:
    """One step of the history, noted with what it answered, then the properties that hold
    after every step."""
    answered = await perform(pool, ledger, step)
    note(f"    => {answered}")
    event(kind_of(step, answered))
    await check_ledger(pool, ledger)


def kind_of(step: Step, answered: str) -> str:
    """What the step did, for ``--hypothesis-show-statistics``."""
    name = type(step).__name__
    if answered.startswith("refused"):
        return f"{name} {answered}"
    if isinstance(step, Journal):
        return f"{name} took {'none' if ' took 0 ' in answered else 'some'}"
    return f"{name} done"
