"""The wheel carries every file of the packages: what ``ledger`` reads at run time (samples,
migrations, ...) is there in a non-editable install too. ``make wheel-check`` goes further:
it installs the wheel in a fresh venv and runs ``ledger demo`` (too slow for every run)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests import wheel_check


def test_the_wheel_holds_every_file_of_the_packages(tmp_path: Path) -> None:
    wheel = wheel_check.build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        inside = set(archive.namelist())
    shipped = wheel_check.shipped_files()
    assert {"services/samples/seed001-payment.jsonl", "services/samples/seed001-expected.json",
            "services/store/migrations/0001_event_store.sql", "services/py.typed"} <= shipped
    assert sorted(shipped - inside) == []
