"""Page through the whole DLQ listing as ``ledger dlq list --after ... --limit N`` would, in
one process (``bench.memory`` measures it from outside): one keyset page per query.

    python -m bench.dlq_pager --database-url URL [--limit 1000]

Prints ``{"messages", "pages", "seconds"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from services.operations.dlq import list_rejected
from services.store.pool import create_pool


async def page_through(url: str, limit: int) -> dict[str, float]:
    pool = await create_pool(url, max_size=1)
    try:
        started = time.perf_counter()
        messages = pages = 0
        after = 0
        while page := await list_rejected(pool, after=after, limit=limit):
            messages += len(page)
            pages += 1
            after = page[-1]["position"]
        return {"messages": messages, "pages": pages, "seconds": time.perf_counter() - started}
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
