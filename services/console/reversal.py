"""The entry page's reverse button (docs/domain.md §3, "Reversal").

TODO(reversal): reversal is being built on the ``reversal`` branch. Once merged,
``REVERSAL_AVAILABLE`` becomes True and ``reverse_entry`` calls its command (the one
``ledger journal-entries reverse JE [--date D]`` and ``POST /v1/journal-entries/{je}/reverse``
call) and returns its answer. Until then the button is not shown and the page says
"reversal not available"; a post is refused with ``reversal_not_available``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from services.errors import Conflict

REVERSAL_AVAILABLE = False


async def reverse_entry(pool: asyncpg.Pool, number: str, on: date | None) -> dict[str, Any]:
    raise Conflict("reversal_not_available",
                   f"{number} cannot be reversed here yet: this ledger has no reversal")
