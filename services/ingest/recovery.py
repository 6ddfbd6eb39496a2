"""What the writers of inbound messages (the ingest, ``ledger replay``, ``ledger dlq replay``)
do when a batch cannot be stored, by the failure's class (``services.ingest.failures``):
retry a transient one with backoff, split a batch refused for its content down to the one
message at fault, and raise anything else. One place, so the three cannot drift apart.
"""

from __future__ import annotations

import logging
from asyncio import sleep
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from events.errors import UNSTORABLE, ContractError
from services import metrics
from services.ingest.classify import Parsed
from services.ingest.failures import (
    Failure,
    classify_failure,
    failure_reason,
    unstorable_detail,
)

__all__ = ["COMMAND_ATTEMPTS", "FIRST_DELAY", "retry_transient", "store_isolating"]

log = logging.getLogger("ledger.ingest")

R = TypeVar("R")

#: Seconds before the first retry; each next wait doubles, up to the caller's maximum.
FIRST_DELAY = 0.1
#: Tries a one-off command (``ledger replay``, ``ledger dlq replay``) gives a batch before it
#: fails: about 25 s of waits with the default maximum, where the ingest waits for ever.
COMMAND_ATTEMPTS = 9


async def retry_transient(
    attempt: Callable[[], Awaitable[R]],
    *,
    max_delay: float,
    attempts: int | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
) -> R:
    """Run ``attempt`` until it succeeds, waiting (with backoff) after a transient failure.

    Nothing is skipped while the database is away: the whole attempt runs again, and what
    it had committed before failing is recognised as already stored. Any other failure is
    raised at once. ``attempts`` bounds the tries (None: forever, as the ingest does);
    each retry is counted in ``ledger_ingest_retries_total`` by reason.
    """
    delay = FIRST_DELAY
    tried = 0
    while True:
        tried += 1
        try:
            return await attempt()
        except Exception as error:
            if classify_failure(error) is not Failure.TRANSIENT:
                raise
            if attempts is not None and tried >= attempts:
                raise
            metrics.INGEST_RETRIES.labels(failure_reason(error)).inc()
            if on_retry is not None:
                on_retry(error)
            log.warning("batch not stored (%s: %s); retrying in %.1fs",
                        type(error).__name__, error, delay)
            await sleep(delay)  # backoff, not synchronisation
            delay = min(delay * 2, max_delay)


async def store_isolating(
    parsed: Sequence[Parsed], store: Callable[[Sequence[Parsed]], Awaitable[R]]
) -> list[R]:
    """Store ``parsed`` with ``store`` (one transaction per call); return each call's result.

    A batch the database refuses for its content is split in two halves, stored in order,
    each in its own transaction (and so with its own offsets: every partition's records of
    the first half come before its records of the second). A refused half is split again,
    until the refused part is one message: that one is stored as refused, ``unstorable``
    with the database's message, and goes wherever ``store`` sends refusals. A message
    among n costs about 2·log2(n) transactions; the common case, none refused, costs one.

    A transient or unknown failure is raised as it is, from wherever the search was: what
    was stored before it stays stored, and a retry finds it already there.
    """
    try:
        return [await store(parsed)]
    except Exception as error:
        if classify_failure(error) is not Failure.CONTENT:
            raise
        if len(parsed) == 1:
            return [await store([_unstorable(parsed[0], error)])]  # refused again: raised
        if not parsed:
            raise  # nothing to split: the refusal is not about a message
        log.info("a batch of %d was refused for its content (%s); splitting it",
                 len(parsed), failure_reason(error))
    middle = len(parsed) // 2
    first = await store_isolating(parsed[:middle], store)
    return first + await store_isolating(parsed[middle:], store)


def _unstorable(item: Parsed, error: BaseException) -> Parsed:
    detail = unstorable_detail(error)
    log.warning("message %s refused by the database; it goes to the DLQ as %s: %s",
                item.record.source, UNSTORABLE, detail)
    return Parsed(item.record, error=ContractError(UNSTORABLE, detail))
