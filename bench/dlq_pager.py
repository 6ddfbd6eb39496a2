"""Page through the whole DLQ listing as ``ledger dlq list --after ... --limit N`` would, in
one process (``bench.memory`` measures it from outside): one keyset page per query.

    python -m bench.dlq_pager --database-url URL [--limit 1000]

Prints ``{"messages", "pages", "seconds"}`` and the time of the first, last, median and
slowest page queries (keyset pages cost the same however deep).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from services.operations.dlq import list_rejected
from services.store.pool import create_pool


async def page_through(url: str, limit: int) -> dict[str, Any]:
    pool = await create_pool(url, max_size=1)
    try:
        started = time.perf_counter()
        messages = 0
        page_ms: list[float] = []
        after = 0
        while True:
            asked = time.perf_counter()
            page = await list_rejected(pool, after=after, limit=limit)
            page_ms.append(1000 * (time.perf_counter() - asked))
            if not page:
                break
            messages += len(page)
            after = page[-1]["position"]
        pages = page_ms[:-1] or page_ms  # the last query found nothing
        return {"messages": messages, "pages": len(page_ms) - 1,
                "seconds": time.perf_counter() - started,
                "first_page_ms": pages[0], "last_page_ms": pages[-1],
                "median_page_ms": statistics.median(pages), "max_page_ms": max(pages)}
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(page_through(args.database_url, args.limit))))


if __name__ == "__main__":
    main()
