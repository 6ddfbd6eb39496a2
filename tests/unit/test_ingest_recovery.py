"""A failure to store is classified by what it says: transient ones are retried with backoff,
a refusal of a message's content is searched for by splitting the batch, anything else is
raised. No database here: the failures are built as asyncpg and aiokafka raise them."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
)
from prometheus_client import REGISTRY

from services.ingest import recovery
from services.ingest.classify import Parsed
from services.ingest.failures import (
    Failure,
    classify_failure,
    failure_reason,
    unstorable_detail,
)
from services.ingest.records import InboundRecord
from services.ingest.recovery import retry_transient, store_isolating


def postgres(sqlstate: str, message: str = "refused") -> asyncpg.PostgresError:
    """The exception asyncpg raises for a server error with this SQLSTATE."""
    error = asyncpg.PostgresError.new({"C": sqlstate, "M": message, "S": "ERROR"})
    assert isinstance(error, asyncpg.PostgresError)
    return error


@pytest.mark.parametrize("sqlstate", [
    "08000", "08003", "08006",  # connection exception (lost, refused, failure)
    "40001", "40P01",  # serialization failure, deadlock
    "53100", "53200", "53300",  # disk full, out of memory, too many connections
    "57014", "57P01", "57P03",  # query cancelled, admin shutdown, cannot connect now
    "58030",  # I/O error
])
def test_transient_sqlstates_are_retried(sqlstate: str) -> None:
    assert classify_failure(postgres(sqlstate)) is Failure.TRANSIENT
    assert failure_reason(postgres(sqlstate)) == sqlstate[:2]


@pytest.mark.parametrize("sqlstate", [
    "22001", "22003", "22023", "22P02", "22P05",  # data exceptions
    "23502", "23503", "23514", "23P01",  # not null, foreign key, check, exclusion
    "54000", "54001",  # program limit exceeded (index row size), statement too complex
])
def test_refusals_of_content_are_searched_for(sqlstate: str) -> None:
    assert classify_failure(postgres(sqlstate)) is Failure.CONTENT


@pytest.mark.parametrize("sqlstate", [
    "23505",  # unique violation: the writer judged again already; still there, it's a bug
    "42P01", "42703", "42883",  # undefined table, column, function
    "25P02", "0A000", "P0001", "XX000", "XX001",  # aborted transaction, ..., internal, corrupt
    "ZZ999",  # a class nobody knows
])
def test_everything_else_is_a_bug(sqlstate: str) -> None:
    assert classify_failure(postgres(sqlstate)) is Failure.BUG


@pytest.mark.parametrize(("error", "reason"), [
    (ConnectionResetError("reset by peer"), "connection"),
    (ConnectionRefusedError("refused"), "connection"),
    (TimeoutError(), "connection"),
    (OSError("network is unreachable"), "connection"),
    (asyncpg.InterfaceError("cannot perform operation: connection is closed"), "connection"),
    (KafkaConnectionError("no broker"), "kafka"),
    (KafkaTimeoutError(), "kafka"),
    (NotLeaderForPartitionError(), "kafka"),
])
def test_failures_without_sqlstate_that_are_transient(error: Exception, reason: str) -> None:
    assert classify_failure(error) is Failure.TRANSIENT
    assert failure_reason(error) == reason


@pytest.mark.parametrize("error", [
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    MessageSizeTooLargeError(),
    RuntimeError("the second batch could not be parsed"),
    ValueError("bad"),
    KeyError("x"),
])
def test_failures_without_sqlstate_that_are_bugs(error: Exception) -> None:
    assert classify_failure(error) is Failure.BUG


def test_an_unstorable_detail_is_the_databases_message_with_its_sqlstate() -> None:
    error = postgres("54000", 'index row size 6032 exceeds btree version 4 maximum 2704 for '
                              'index "events_stream_version_key"')
    assert unstorable_detail(error) == (
        'the database refused it: index row size 6032 exceeds btree version 4 maximum 2704 '
        'for index "events_stream_version_key" (SQLSTATE 54000)')
    quoting = unstorable_detail(postgres("22P02", "invalid input: " + "x" * 5000))
    assert quoting.endswith("... (5015 characters) (SQLSTATE 22P02)")
    assert len(quoting) < 600


# -- the search for the message at fault ----------------------------------------------------

def batch(size: int) -> list[Parsed]:
    return [Parsed(InboundRecord("billing.events", 0, offset, None, b"{}"))
            for offset in range(size)]


class Store:
    """A store that refuses (with ``failure``) any part holding one of the ``refused``
    offsets, and records each transaction it was asked for as the offsets in it."""

    def __init__(self, refused: set[int], failure: Exception | None = None) -> None:
        self.refused = refused
        self.failure = failure or postgres("54000", "index row size 6032 exceeds maximum 2704")
        self.tried: list[list[int]] = []
        self.stored: list[int] = []
        self.unstorable: list[tuple[int, str]] = []

    async def __call__(self, part: Sequence[Parsed]) -> int:
        offsets = [p.record.offset for p in part]
        self.tried.append(offsets)
        if any(p.error is None and p.record.offset in self.refused for p in part):
            raise self.failure
        for p in part:
            if p.error is not None:
                self.unstorable.append((p.record.offset, p.error.code))
            else:
                self.stored.append(p.record.offset)
        return len(part)


async def test_a_batch_none_refuses_is_one_transaction() -> None:
    store = Store(refused=set())
    assert await store_isolating(batch(20), store) == [20]
    assert store.tried == [list(range(20))]


@pytest.mark.parametrize("guilty", [0, 7, 13, 19])
async def test_the_message_at_fault_is_found_and_its_neighbours_stored_in_order(
    guilty: int,
) -> None:
    store = Store(refused={guilty})
    results = await store_isolating(batch(20), store)

    assert store.stored == [n for n in range(20) if n != guilty]  # in order, each once
    assert store.unstorable == [(guilty, "unstorable")]
    assert sum(results) == 20
    # the whole, two halves per level (log2(20) < 5 levels), and the refusal: not 20
    assert len(store.tried) <= 1 + 2 * 5 + 1


async def test_the_search_finds_every_message_at_fault() -> None:
    store = Store(refused={3, 4, 17})
    await store_isolating(batch(20), store)
    assert store.stored == [n for n in range(20) if n not in {3, 4, 17}]
    assert store.unstorable == [(3, "unstorable"), (4, "unstorable"), (17, "unstorable")]


async def test_the_unstorable_message_carries_the_databases_message() -> None:
    seen: list[Parsed] = []

    async def store(part: Sequence[Parsed]) -> None:
        if part[0].error is None:
            raise postgres("22023", "injected: document POISON cannot be stored")
        seen.extend(part)

    await store_isolating(batch(1), store)
    assert seen[0].error is not None
    assert (seen[0].error.code, seen[0].error.detail) == (
        "unstorable",
        "the database refused it: injected: document POISON cannot be stored (SQLSTATE 22023)")


async def test_a_message_refused_again_as_unstorable_is_raised_not_searched_for_ever() -> None:
    failure = postgres("22P05", "unsupported Unicode escape sequence")

    async def store(part: Sequence[Parsed]) -> None:
        raise failure  # even the refusal cannot be stored

    with pytest.raises(asyncpg.PostgresError) as raised:
        await store_isolating(batch(4), store)
    assert raised.value is failure


@pytest.mark.parametrize("failure", [postgres("XX000", "internal"), postgres("08006")])
async def test_a_failure_that_is_not_about_content_is_raised_from_the_search(
    failure: Exception,
) -> None:
    """A bug or an outage met while searching is raised as it is; the parts stored before it
    stay stored (their offsets with them), which a retry recognises as duplicates."""
    store = Store(refused={10})
    calls = 0

    async def store_then_fail(part: Sequence[Parsed]) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:  # whole batch refused, first half stored, then the second half fails
            raise failure
        return await store(part)

    with pytest.raises(type(failure)):
        await store_isolating(batch(20), store_then_fail)
    assert store.stored == list(range(10))


# -- retries -------------------------------------------------------------------------------

@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff waits asked for, without waiting them."""
    asked: list[float] = []

    async def no_wait(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr(recovery, "sleep", no_wait)
    return asked


def retries_counted(reason: str) -> float:
    return REGISTRY.get_sample_value("ledger_ingest_retries_total", {"reason": reason}) or 0.0


async def test_transient_failures_are_retried_with_backoff_and_counted(
    waits: list[float],
) -> None:
    failures: list[Exception] = [postgres("57P01", "terminating connection")] * 3 + [
        ConnectionResetError("reset")] * 5
    heard: list[BaseException] = []
    before = retries_counted("57"), retries_counted("connection")

    async def attempt() -> str:
        if failures:
            raise failures.pop(0)
        return "stored"

    assert await retry_transient(attempt, max_delay=2.0, on_retry=heard.append) == "stored"
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    assert len(heard) == 8
    assert (retries_counted("57") - before[0], retries_counted("connection") - before[1]) == (
        3, 5)


async def test_a_bug_or_a_refused_content_is_not_retried(waits: list[float]) -> None:
    for failure in (RuntimeError("bug"), postgres("42P01"), postgres("22023")):
        async def attempt(failure: Exception = failure) -> None:
            raise failure

        with pytest.raises(type(failure)):
            await retry_transient(attempt, max_delay=1.0)
    assert waits == []


async def test_a_command_gives_up_after_its_attempts(waits: list[float]) -> None:
    tries = 0

    async def attempt() -> None:
        nonlocal tries
        tries += 1
        raise postgres("08006", "connection failure")

    with pytest.raises(asyncpg.PostgresError):
        await retry_transient(attempt, max_delay=30.0, attempts=recovery.COMMAND_ATTEMPTS)
    assert tries == recovery.COMMAND_ATTEMPTS == 9
    assert sum(waits) == pytest.approx(25.5)
