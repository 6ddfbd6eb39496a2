"""The month-end console: web pages for controllers and operators at ``/console/``, served
by the API server (same app, same port).

Pages read through the functions the CLI and the HTTP API call; actions are the same
commands. Signing in takes an API key (its role decides: viewers look, operators act), and
gives a signed session cookie; every form carries a one-time CSRF token. Templates
(Jinja2, escaped by default), CSS and the one small script are package data: nothing is
loaded from anywhere else.
"""

from __future__ import annotations

from importlib import resources

import asyncpg
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.config import Settings
from services.console.pages import ConsoleState
from services.console.routes import dlq, entries, login, overview, periods, runs, wizard
from services.console.security import SecretSource
from services.console.sessions import ConsoleHeaders, ConsoleSessions

__all__ = ["ConsoleHeaders", "install_console"]

PREFIX = "/console"


def install_console(app: FastAPI, settings: Settings, pool: asyncpg.Pool) -> ConsoleSessions:
    """Add the console's routes and assets to ``app``; return its session check, for the
    app's key middleware (``services.api.auth.RequireApiKey(console=...)``)."""
    secrets = SecretSource(settings, pool)
    app.state.console = ConsoleState(settings, pool, secrets)
    # the wizard's /runs/new before the run page's /runs/{jr}
    for module in (login, overview, periods, wizard, runs, entries, dlq):
        app.include_router(module.router, prefix=PREFIX, include_in_schema=False)
    static = resources.files("services.console") / "static"
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(static)), name="console-static")
    return ConsoleSessions(pool, secrets)
