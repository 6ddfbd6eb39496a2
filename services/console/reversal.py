"""The entry page's reverse button (docs/domain.md §3, "Reversal"): the command that
``ledger journal-entries reverse JE [--date D]`` and ``POST /v1/journal-entries/{je}/reverse``
call, ``services.journal.reversal.reverse_entry``.

TODO(reversal): that command is built on the ``reversal`` branch. Until it is merged the
import below finds nothing: the button is not shown, the page says "Reversal is not
available", and a post is refused with ``reversal_not_available``. Once merged it is found
and used; then replace the ``try`` with a plain import and drop ``REVERSAL_AVAILABLE``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from services.errors import Conflict

try:
    from services.journal.reversal import reverse_entry as _reverse_entry
except ImportError:  # not merged yet
    _reverse_entry = None

REVERSAL_AVAILABLE = _reverse_entry is not None


async def reverse_entry(pool: asyncpg.Pool, number: str, on: date | None) -> dict[str, Any]:
    """Reverse a transferred entry, dated ``on`` (default: today); returns the
    ``journal_entry.reversed`` data (``number``, ``reversed_by``, ...)."""
    if _reverse_entry is None:
        raise Conflict("reversal_not_available",
                       f"{number} cannot be reversed here yet: this ledger has no reversal")
    done = await _reverse_entry(pool, number, on)
    return dict(done.reversed.model_dump(mode="json"))
