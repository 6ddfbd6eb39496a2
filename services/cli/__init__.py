"""The ``ledger`` command line (docs/contract.md §3); the commands are assembled in ``app.py``.

This package imports nothing on purpose. The ingest's parse workers are spawned processes,
and spawn runs the parent's main script again in each child: the ``ledger`` script imports
``main`` from here, so an import of the CLI here would load Typer, Rich, FastAPI and every
command into every worker (about 20 MB and half a second each).
"""

from __future__ import annotations


def main() -> None:
    """The ``ledger`` console script."""
    from services.cli.app import app

    app()
