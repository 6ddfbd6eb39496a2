"""``/v1/journal-entries``: read, page through a run's, cancel, record transfer status (as
Zuora's Summary Journal Entries operations), reverse and download transaction detail
(ledger-only), and refuse to delete."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from services.api.csv_stream import csv_response
from services.api.deps import AppSettings, Pool
from services.api.errors import ERROR_RESPONSES
from services.api.models import (
    BasicInformation,
    ErrorAnswer,
    JournalEntriesPage,
    JournalEntry,
    JournalEntryAnswer,
    JournalEntryCancellation,
    JournalEntryReversal,
    TransferStatusChange,
)
from services.errors import Conflict, RejectedInput
from services.journal import entries as entry_commands
from services.journal import views
from services.journal.reversal import reverse_entry

router = APIRouter(prefix="/v1/journal-entries", tags=["Journal entries"],
                   responses=ERROR_RESPONSES)

#: Zuora's defaults for this listing.
DEFAULT_PAGE_SIZE = 8
MAX_PAGE_SIZE = 40


@router.get("/journal-runs/{jr}", response_model=JournalEntriesPage,
            summary="List the journal entries of a journal run")
async def entries_of_run(
    jr: str,
    pool: Pool,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)] = (
        DEFAULT_PAGE_SIZE),
) -> JournalEntriesPage:
    """Entries in number order, ``pageSize`` at a time; ``nextPage`` is the path of the next
    page, absent on the last."""
    await views.get_run(pool, jr)  # 404 for an unknown run, not an empty page
    found = await views.list_entry_views(pool, run=jr, limit=page_size + 1,
                                         offset=(page - 1) * page_size)
    next_page = None
    if len(found) > page_size:
        next_page = (f"/v1/journal-entries/journal-runs/{quote(jr)}"
                     f"?page={page + 1}&pageSize={page_size}")
    return JournalEntriesPage(
        journal_entries=[JournalEntry.of(view) for view in found[:page_size]],
        next_page=next_page,
    )


@router.get("/{je}", response_model=JournalEntryAnswer, summary="Get a journal entry")
async def get_entry(je: str, pool: Pool) -> JournalEntryAnswer:
    return JournalEntryAnswer.of(await views.get_entry_view(pool, je))


@router.put("/{je}/cancel", response_model=JournalEntryCancellation,
            summary="Cancel a journal entry")
async def cancel_entry(je: str, pool: Pool) -> JournalEntryCancellation:
    """Its transactions go back to pending; refused (409) once transferred (Yes,
    Processing) or already cancelled."""
    return JournalEntryCancellation.of(await entry_commands.cancel_entry(pool, je))


@router.post("/{je}/reverse", response_model=JournalEntryAnswer,
             summary="Reverse a transferred journal entry (ledger-only)")
async def reverse(
    je: str, pool: Pool, body: Annotated[JournalEntryReversal | None, Body()] = None
) -> JournalEntryAnswer:
    """Offset an entry already in the GL (transferredToAccounting Yes) by a new entry of
    the same run with every item on the other side, dated ``reversalDate`` (default today);
    the entry's transactions go back to pending. Answers with the new entry. Refused: 409
    ``entry_not_transferred`` (cancel it instead), 409 when it is cancelled, already
    reversed or itself a reversal, 400 when the date falls in a closed period
    (``reversal_period_closed``) or in no dated period."""
    reversal = await reverse_entry(pool, je, body.reversal_date if body else None)
    return JournalEntryAnswer.of(await views.get_entry_view(pool, reversal.entry.number))


@router.put("/{je}/basic-information", response_model=TransferStatusChange,
            summary="Update the transfer status of a journal entry")
async def update_basic_information(
    je: str, body: BasicInformation, pool: Pool
) -> TransferStatusChange:
    """``transferredToAccounting`` is the entry's transfer status, set by the GL
    integration; frozen (409) once the entry is cancelled. The ledger keeps no notes and
    derives an entry's items from its transactions: ``notes`` and ``journalEntryItems``
    are refused (400), and nothing is changed."""
    if body.journal_entry_items is not None:
        raise RejectedInput(
            "journal_entry_items_not_updatable",
            "an entry's items are the sums of its transactions and cannot be edited: cancel "
            "the entry and run again",
        )
    if body.notes is not None:
        raise RejectedInput("journal_entry_notes_unsupported",
                            "the ledger keeps no notes on journal entries")
    if body.transferred_to_accounting is None:
        raise RejectedInput("transferred_to_accounting_required",
                            "name the entry's new transferredToAccounting")
    status = body.transferred_to_accounting.strip().lower()
    return TransferStatusChange.of(await entry_commands.set_transfer_status(pool, je, status))


@router.delete("/{je}", status_code=409, response_model=ErrorAnswer,
               summary="Delete a journal entry (refused: entries are kept for audit)")
async def delete_entry(je: str, pool: Pool) -> ErrorAnswer:
    """Always 409 ``journal_entry_not_deletable`` for an entry that exists (404 otherwise):
    the log is append-only; cancel the entry to release its transactions."""
    entry = await views.get_entry(pool, je)
    hint = "" if entry.status == "cancelled" else "; cancel it to release its transactions"
    raise Conflict("journal_entry_not_deletable",
                   f"{je} is {entry.status}: journal entries are kept for audit and never "
                   f"deleted{hint}")


@router.get(
    "/{je}/transaction-details",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}},
                     "description": "Every transaction of the entry, streamed."}},
    summary="Download the transaction detail of a journal entry (CSV)",
)
async def transaction_details(je: str, pool: Pool, settings: AppSettings) -> Response:
    """Only a created entry has detail (409 once cancelled). A client that takes no data
    for ``LEDGER_API_EXPORT_IDLE_TIMEOUT_MS``, or is still reading after
    ``LEDGER_API_EXPORT_TIMEOUT_MS``, loses the download (the connection is closed before
    the end of the body)."""
    return await csv_response(pool, je, time_limit=settings.api_export_timeout_ms / 1000,
                              idle_limit=settings.api_export_idle_timeout_ms / 1000)
