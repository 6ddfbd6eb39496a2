"""``ledger migrate``: the one command (with ``serve`` and ``demo``) that changes the schema."""

from __future__ import annotations

import asyncio

from services.cli.output import JSON_OPTION, console, handles_errors, print_json
from services.config import load_settings
from services.embedded import resolved_servers
from services.store.connect import connect
from services.store.migrate import SchemaState, migrate, schema_state


@handles_errors()
def migrate_command(as_json: bool = JSON_OPTION) -> None:
    """Apply the schema migrations the database lacks, recording each file's checksum."""
    settings = load_settings()
    with resolved_servers(settings, kafka=False) as resolved:  # PostgreSQL is all it needs
        applied, state = asyncio.run(_migrate(resolved.database_dsn()))
    if as_json:
        print_json({"applied": applied, "current": state.current})
        return
    for name in applied:
        console.print(f"applied {name}", highlight=False)
    console.print(f"schema at version {state.current}"
                  + ("" if applied else " (up to date, nothing applied)"), highlight=False)


async def _migrate(database_url: str) -> tuple[list[str], SchemaState]:
    conn = await connect(database_url)
    try:
        applied = await migrate(conn)
        return applied, await schema_state(conn)
    finally:
        await conn.close()
