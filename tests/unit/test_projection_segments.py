"""Which projection statements a range of known event types needs."""

from __future__ import annotations

from projections.segments import carries


def test_unknown_types_run_every_statement() -> None:
    assert carries(None, "journal_entry.created") is True


def test_a_statement_for_types_the_range_lacks_is_skipped() -> None:
    batch = {"invoice.posted", "payment.applied"}
    assert carries(batch, "journal_entry.created", "journal_entry.cancelled") is False
    assert carries(batch, "message.rejected") is False
    assert carries(set(), "invoice.posted") is False


def test_one_shared_type_is_enough() -> None:
    batch = {"invoice.posted", "message.rejected"}
    assert carries(batch, "message.rejected") is True
    assert carries(batch, "credit_memo.posted", "invoice.posted") is True
