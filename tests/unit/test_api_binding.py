"""The HTTP API binds loopback unless ``LEDGER_HTTP_HOST`` says otherwise (docs/contract.md
§1): a laptop's ledger is not on the network by accident."""

from __future__ import annotations

from typing import cast

import asyncpg
import pytest

from services.api.server import api_server
from services.config import Settings

NO_POOL = cast(asyncpg.Pool, None)  # the app touches its pool only when serving requests


def test_the_api_binds_loopback_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_HTTP_HOST", raising=False)
    default = Settings(_env_file=None)
    assert (default.http_host, api_server(default, NO_POOL).config.host) == (
        "127.0.0.1", "127.0.0.1")
    monkeypatch.setenv("LEDGER_HTTP_HOST", "0.0.0.0")
    monkeypatch.setenv("LEDGER_HTTP_PORT", "9090")
    told = api_server(Settings(_env_file=None), NO_POOL).config
    assert (told.host, told.port) == ("0.0.0.0", 9090)
