"""The HTTP API (docs/contract.md §4) and ``/metrics``, served by ``ledger serve``."""

from services.api.app import create_app

__all__ = ["create_app"]
