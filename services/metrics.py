"""Prometheus collectors of the ledger, served at ``GET /metrics`` by the HTTP API.

Module-level collectors in prometheus-client's default registry: one set per process, so
``ledger serve`` (ingest, publisher and API in one process) exposes everything it does.

- counted where the work commits: events stored and messages refused, unstorable ones
  also on their own (the ingest batch writer), entries created (a completed journal run)
  and cancelled (entry and run cancel); counted as they happen: the ingest's retries of a
  batch after a transient failure;
- timed: an ingest batch (judge, DLQ, store, offsets: one transaction), a journal run;
- state of the shared store, refreshed on every scrape (``services.api.store_gauges``):
  consumer lag per partition, the outbox backlog and the DLQ size, at a cost bounded by the
  partitions and the backlogs, never by the transactions stored. Any process serving
  ``/metrics`` reports the same truth, even one that runs neither the ingest nor the
  publisher;
- HTTP requests by method, route template and status, and their latency
  (``services.api.observe``): labelled by template (``/v1/journal-runs/{jr}``), never by the
  raw path, so a client cannot grow the number of series.

This module does no I/O and imports nothing with I/O, so any part can import it.
"""

from __future__ import annotations

import functools
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import ParamSpec, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from events.errors import UNSTORABLE
from events.journal import JournalRunCompleted

__all__ = [
    "CONSUMER_LAG",
    "DLQ_MESSAGES",
    "EVENTS_INGESTED",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_SECONDS",
    "INGEST_BATCH_SECONDS",
    "INGEST_DUPLICATES",
    "INGEST_RETRIES",
    "INGEST_UNSTORABLE",
    "JOURNAL_ENTRIES_CANCELLED",
    "JOURNAL_ENTRIES_CREATED",
    "JOURNAL_ENTRIES_REVERSED",
    "JOURNAL_RUN_SECONDS",
    "JOURNAL_RUN_TRANSACTIONS",
    "MESSAGES_REJECTED",
    "OUTBOX_BACKLOG",
    "OUTBOX_PUBLISHED",
    "PUBLISHER_SEND_FAILURES",
    "STORE_GAUGES_REFRESH_FAILURES",
    "count_stored_batch",
    "observe_http_request",
    "observe_journal_run",
    "set_consumer_lag",
    "set_store_gauges",
    "times_ingest_batches",
]

P = ParamSpec("P")
T = TypeVar("T")

# -- ingest ----------------------------------------------------------------------------------

EVENTS_INGESTED = Counter(
    "ledger_ingest_events",
    "Billing events stored by the ingest (first delivery only), by event type.",
    ["event_type"],
)
MESSAGES_REJECTED = Counter(
    "ledger_ingest_rejected_messages",
    "Inbound messages refused and sent to the DLQ, by ledger-error code.",
    ["code"],
)
INGEST_DUPLICATES = Counter(
    "ledger_ingest_duplicate_messages",
    "Inbound messages recognised as already stored or already refused (redeliveries).",
)
INGEST_RETRIES = Counter(
    "ledger_ingest_retries",
    "Attempts to store a batch that failed for a transient reason and were retried with "
    "backoff, by reason: the SQLSTATE class (08, 40, 53, 57, 58), connection (no SQLSTATE: "
    "the connection failed) or kafka (the DLQ's broker).",
    ["reason"],
)
INGEST_UNSTORABLE = Counter(
    "ledger_ingest_unstorable",
    "Messages that passed the contract but that the database refused for their content, "
    "found by splitting their batch, and sent to the DLQ as unstorable.",
)
INGEST_BATCH_SECONDS = Histogram(
    "ledger_ingest_batch_seconds",
    "Time to store one ingest batch: judge, DLQ, append, projections and offsets, committed.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CONSUMER_LAG = Gauge(
    "ledger_consumer_lag",
    "Records of the billing topic not stored yet, per partition (log end offset minus the "
    "offset stored with the events; refreshed on scrape).",
    ["topic", "partition"],
)

DLQ_MESSAGES = Gauge(
    "ledger_dlq_messages",
    "Inbound messages refused and not repaired yet: what `ledger dlq list` shows (refreshed "
    "on scrape).",
)

# -- outbox ----------------------------------------------------------------------------------

OUTBOX_BACKLOG = Gauge(
    "ledger_outbox_backlog",
    "Outbound journal events not yet acknowledged by Kafka (refreshed on scrape).",
)
OUTBOX_PUBLISHED = Counter(
    "ledger_outbox_published_events",
    "Outbound journal events this process relayed to Kafka and marked sent.",
)

PUBLISHER_SEND_FAILURES = Counter(
    "ledger_publisher_send_failures",
    "Outbox batches the broker did not acknowledge (refused, unreachable, timed out); the "
    "relay sends them again.",
)

# -- journal ---------------------------------------------------------------------------------

JOURNAL_RUN_SECONDS = Histogram(
    "ledger_journal_run_seconds",
    "Duration of a completed journal run, request checked to commit.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
JOURNAL_RUN_TRANSACTIONS = Histogram(
    "ledger_journal_run_transactions",
    "Transactions journaled by a completed journal run.",
    buckets=(0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000),
)
JOURNAL_ENTRIES_CREATED = Counter(
    "ledger_journal_entries_created",
    "Summary journal entries created by journal runs.",
)
JOURNAL_ENTRIES_CANCELLED = Counter(
    "ledger_journal_entries_cancelled",
    "Summary journal entries cancelled (one by one, or by cancelling their run).",
)
JOURNAL_ENTRIES_REVERSED = Counter(
    "ledger_journal_entries_reversed",
    "Summary journal entries reversed (each offset by a new entry; transactions released).",
)

STORE_GAUGES_REFRESH_FAILURES = Counter(
    "ledger_store_gauges_refresh_failures",
    "Scrapes whose store-state refresh failed, in part or whole (the database or the broker "
    "did not answer in time): lag samples dropped, other gauges kept from before.",
)


# -- HTTP API --------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "ledger_http_requests",
    "HTTP requests answered, by method, route template and status (refused ones too).",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "ledger_http_request_seconds",
    "Time to answer an HTTP request, to the last byte of its body, by method and route "
    "template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
             30.0),
)
#: Methods counted by name; any other is ``OTHER`` (a client chooses the method).
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


# -- recording helpers -------------------------------------------------------------------------


def observe_http_request(method: str, route: str, status: int, seconds: float) -> None:
    """One answered request; ``route`` is its template (or a fixed word when none matched)."""
    method = method if method in HTTP_METHODS else "OTHER"
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_REQUEST_SECONDS.labels(method, route).observe(seconds)



def count_stored_batch(
    event_types: Iterable[str], rejection_codes: Iterable[str], duplicates: int
) -> None:
    """After an ingest batch committed: the type of each new event, the code of each
    refusal, and how many were duplicates."""
    for event_type, n in Tally(event_types).items():
        EVENTS_INGESTED.labels(event_type).inc(n)
    for code, n in Tally(rejection_codes).items():
        MESSAGES_REJECTED.labels(code).inc(n)
        if code == UNSTORABLE:
            INGEST_UNSTORABLE.inc(n)
    if duplicates:
        INGEST_DUPLICATES.inc(duplicates)


def times_ingest_batches(store: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Decorate the batch writer: observe each batch stored (a failed attempt is not)."""

    @functools.wraps(store)
    async def timed(*args: P.args, **kwargs: P.kwargs) -> T:
        started = time.perf_counter()
        result = await store(*args, **kwargs)
        INGEST_BATCH_SECONDS.observe(time.perf_counter() - started)
        return result

    return timed


def observe_journal_run(run: JournalRunCompleted, seconds: float) -> None:
    """After a journal run committed: its duration, size and entries. Dry runs and refused
    requests are not observed (they write nothing)."""
    JOURNAL_RUN_SECONDS.observe(seconds)
    JOURNAL_RUN_TRANSACTIONS.observe(run.transaction_count)
    JOURNAL_ENTRIES_CREATED.inc(len(run.journal_entry_numbers))


def set_consumer_lag(topic: str, lag_by_partition: Mapping[int, int] | None) -> None:
    """Lag per partition; ``None`` (unknown) drops every sample rather than keep stale ones,
    and so do partitions no longer reported."""
    CONSUMER_LAG.clear()
    for partition, lag in sorted((lag_by_partition or {}).items()):
        CONSUMER_LAG.labels(topic, str(partition)).set(lag)


def set_store_gauges(outbox_backlog: int, dlq_messages: int) -> None:
    OUTBOX_BACKLOG.set(outbox_backlog)
    DLQ_MESSAGES.set(dlq_messages)
