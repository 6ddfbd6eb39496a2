"""``ledger schema`` writes a JSON Schema per event for integrators."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from events import INBOUND_EVENT_TYPES, OUTBOUND_EVENT_TYPES
from services.cli.app import app


def test_schema_writes_one_schema_per_inbound_and_outbound_event(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["schema", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)["written"]
    names = {Path(p).name.removesuffix(".schema.json") for p in written}
    for event_type in INBOUND_EVENT_TYPES:
        assert f"billing.{event_type}" in names
    for event_type in OUTBOUND_EVENT_TYPES:
        assert f"journal.{event_type}" in names
    assert "envelope" in names
    entry = json.loads((tmp_path / "journal.journal_entry.created.schema.json").read_text())
    assert set(entry["properties"]) == {
        "event_id", "event_type", "occurred_at", "org", "schema_version", "data",
    }
    data_ref = entry["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
    assert {"number", "lines", "total_debit", "total_credit", "transfer_status"} <= set(
        entry["$defs"][data_ref]["properties"]
    )
