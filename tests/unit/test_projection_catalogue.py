"""Every projection has one shape: a name ``ledger projections rebuild`` takes, tables no
other projection owns, and statements for the event types it folds."""

from __future__ import annotations

import pytest

import projections
from events import EVENT_LINE_TYPES
from services.operations.rebuild import select


def test_the_projections_a_rebuild_names_in_the_order_they_apply() -> None:
    assert [p.name for p in projections.ALL] == [
        "ledger", "journal", "pending_transactions", "rejected_messages", "api_keys"]


def test_each_table_belongs_to_one_projection() -> None:
    tables = [t for p in projections.ALL for t in p.tables]
    assert len(tables) == len(set(tables)) == 10


def test_billing_documents_fold_by_range_and_commands_in_log_order() -> None:
    pending = projections.pending.PROJECTION
    (lines, changes) = pending.range_statements
    assert lines.types == {t for t, carried in EVENT_LINE_TYPES.items() if carried}
    assert changes.types == {"transactions.status_changed"}
    assert set(pending.handlers) == {"journal_entry.created", "journal_entry.cancelled",
                                     "journal_entry.reversed"}
    assert pending.rebuild_without == ("pending_transactions_pkey",
                                       "journaled_transactions_pkey")
    assert not any(p.range_statements for p in projections.ALL
                   if p.name not in ("pending_transactions", "rejected_messages"))


def test_an_event_type_may_feed_several_projections() -> None:
    handled = [t for p in projections.ALL for t in p.handlers]
    assert handled.count("journal_entry.created") == 2  # the entry, and its transactions
    assert handled.count("org.created") == 1


def test_a_rebuild_of_an_unknown_projection_names_it() -> None:
    assert [p.name for p in select(["journal", "api_keys"])] == ["journal", "api_keys"]
    with pytest.raises(ValueError, match="unknown projection\\(s\\): nope"):
        select(["journal", "nope"])
