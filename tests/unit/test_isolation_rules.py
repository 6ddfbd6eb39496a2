"""Pure rules of the isolation work: which errors mean "PostgreSQL is away" (503, not 500),
and the consumer lag a scrape reports (never below zero, whatever the broker says)."""

from __future__ import annotations

import asyncpg
import pytest

from services.api.store_gauges import lag_by_partition
from services.api.unavailable import is_away


@pytest.mark.parametrize("error", [
    ConnectionRefusedError(111, "Connect call failed ('10.0.0.5', 5432)"),
    ConnectionResetError(104, "Connection reset by peer"),
    TimeoutError(),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
    asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.InterfaceError("pool is closed"),
    asyncpg.InterfaceError("pool is closing"),
    asyncpg.InterfaceError("connection is closed"),
])
def test_these_mean_the_database_is_away(error: BaseException) -> None:
    assert is_away(error)


@pytest.mark.parametrize("error", [
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    asyncpg.exceptions.UniqueViolationError("duplicate key value"),
    asyncpg.exceptions.SerializationError("could not serialize access"),
    ValueError("a bug"),
])
def test_these_are_not_outages(error: BaseException) -> None:
    assert not is_away(error)


def test_lag_is_end_minus_stored_per_partition_and_never_negative() -> None:
    stored = {0: 10, 1: 5, 3: 4}
    ends = {0: 7, 1: 9, 2: 3}  # partition 0: an end offset below the stored one (Tansu)
    assert lag_by_partition(stored, ends) == {0: 0, 1: 4, 2: 3, 3: 0}
