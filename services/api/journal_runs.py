"""``/v1/journal-runs``: create, read, cancel (and refuse to delete) journal runs.

Every rule is the command handlers': the body is only translated into the
``JournalRunRequest`` the CLI builds too.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from events.journal_rules import JournalRunRequest
from services.api.deps import Pool, one_org
from services.api.errors import ERROR_RESPONSES
from services.api.models import ErrorAnswer, JournalRun, JournalRunCancellation, JournalRunCreate
from services.errors import Conflict
from services.journal import entries as entry_commands
from services.journal import views
from services.journal.run import create_journal_run

router = APIRouter(prefix="/v1/journal-runs", tags=["Journal runs"], responses=ERROR_RESPONSES)


def run_request(body: JournalRunCreate) -> JournalRunRequest:
    """The handler's request: the same start and end date is a specific-date target."""
    start, end = body.target_start_date, body.target_end_date
    single_date = start is not None and start == end
    return JournalRunRequest(
        types=tuple(t.type for t in body.transaction_types),
        org=one_org([o.organization_name for o in body.organization_labels], "a journal run"),
        period=body.accounting_period_name,
        date=start if single_date else None,
        start=None if single_date else start,
        end=None if single_date else end,
        journal_entry_date=body.journal_entry_date,
    )


def run_answer(run: dict[str, Any]) -> JournalRun:
    return JournalRun.model_validate(run | {"journal_run_number": run["number"]})


@router.post("", response_model=JournalRun, summary="Create a journal run")
async def create_run(body: JournalRunCreate, pool: Pool) -> JournalRun:
    """Journal the pending transactions of one scope, types and target, in one transaction.
    A refused request writes nothing and consumes no number."""
    return run_answer(await create_journal_run(pool, run_request(body)))


@router.get("/{jr}", response_model=JournalRun, summary="Get a journal run")
async def get_run(jr: str, pool: Pool) -> JournalRun:
    return run_answer(await views.get_run(pool, jr))


@router.put("/{jr}/cancel", response_model=JournalRunCancellation,
            summary="Cancel a journal run")
async def cancel_run(jr: str, pool: Pool) -> JournalRunCancellation:
    """Cancel every entry that may be; entries transferred (yes, processing) are kept and
    the run stays completed."""
    return JournalRunCancellation.model_validate(await entry_commands.cancel_run(pool, jr))


@router.delete("/{jr}", status_code=409, response_model=ErrorAnswer,
               summary="Delete a journal run (refused: runs are kept for audit)")
async def delete_run(jr: str, pool: Pool) -> ErrorAnswer:
    """Always 409 ``journal_run_not_deletable`` for a run that exists (404 otherwise): the
    ledger's log is append-only, so a run, cancelled or not, stays on record. Cancel it
    to release its transactions."""
    run = await views.get_run(pool, jr)
    hint = "" if run["status"] == "cancelled" else "; cancel it to release its transactions"
    raise Conflict("journal_run_not_deletable",
                   f"{jr} is {run['status']}: journal runs are kept for audit and never "
                   f"deleted{hint}")
