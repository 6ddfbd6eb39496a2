"""Every PostgreSQL advisory lock the ledger takes, in one place so no two collide.

All are transaction-scoped (``pg_advisory_xact_lock``): a pooled connection's release runs
``pg_advisory_unlock_all()``, so session locks would silently vanish.
"""

#: Applying migrations (two processes starting together).
MIGRATIONS = 0x1ED6E2
#: Operator commands that validate and then append (settings, orgs, periods).
ADMIN = 0x1ED6E3
#: Held SHARED by every transaction that appends to the log, EXCLUSIVELY by a rebuild.
LOG_WRITERS = 0x1ED6E4
#: Held by the one outbox relay that is sending.
OUTBOX_RELAY = 0x1ED6E5
#: Journal runs, cancels and transfers on one scope: ``hashtextextended('journal-scope:' ||
#: scope, 0)`` (a 64-bit key per scope, so scopes do not block each other).
