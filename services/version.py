"""The ledger's version, read from the installed package's metadata.

``pyproject.toml`` is the one place it is written; the CLI (``ledger --version``), the
OpenAPI and AsyncAPI documents read it here. A change to any name of docs/contract.md comes
with a new version and an entry in CHANGELOG.md.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["ledger_version"]

DISTRIBUTION = "billing-ledger"


def ledger_version() -> str:
    """``0.2.0``; ``0+unknown`` when running from a source tree that was never installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"
