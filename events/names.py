"""The name of every event type the ledger writes itself, in one place.

The billing types it consumes are named by the contract's table (``events.billing``); what
each type's ``data`` is, and where it comes from, is the registry's
(``events.catalogue``). Code that writes, folds or relays an event names it by one of these
constants, never by a string of its own.
"""

from __future__ import annotations

__all__ = [
    "API_KEY_CREATED",
    "API_KEY_REVOKED",
    "JOURNAL_ENTRY_CANCELLED",
    "JOURNAL_ENTRY_CREATED",
    "JOURNAL_ENTRY_REVERSED",
    "JOURNAL_ENTRY_TRANSFER_STATUS_CHANGED",
    "JOURNAL_RUN_CANCELLED",
    "JOURNAL_RUN_COMPLETED",
    "MESSAGE_REJECTED",
    "ORG_CREATED",
    "PERIOD_CREATED",
    "PERIOD_STATUS_CHANGED",
    "REJECTED_MESSAGE_RESOLVED",
    "REJECTED_MESSAGE_RETRIED",
    "SETTINGS_CHANGED",
]

# Outbound: published to ledger.journal-entries (docs/contract.md §2).
JOURNAL_RUN_COMPLETED = "journal_run.completed"
JOURNAL_ENTRY_CREATED = "journal_entry.created"
JOURNAL_ENTRY_CANCELLED = "journal_entry.cancelled"
JOURNAL_ENTRY_REVERSED = "journal_entry.reversed"
JOURNAL_RUN_CANCELLED = "journal_run.cancelled"
JOURNAL_ENTRY_TRANSFER_STATUS_CHANGED = "journal_entry.transfer_status_changed"

# The operator's commands.
SETTINGS_CHANGED = "settings.changed"
ORG_CREATED = "org.created"
PERIOD_CREATED = "period.created"
PERIOD_STATUS_CHANGED = "period.status_changed"
API_KEY_CREATED = "api_key.created"
API_KEY_REVOKED = "api_key.revoked"

# Refused inbound messages, and their repair by a DLQ replay.
MESSAGE_REJECTED = "message.rejected"
REJECTED_MESSAGE_RESOLVED = "rejected_message.resolved"
REJECTED_MESSAGE_RETRIED = "rejected_message.retried"
