"""Signed cookies and one-time form tokens for the console.

- The **session cookie** carries the API key's name, the SHA-256 of its token (never the
  token), a random session id and, in the signature, when it was issued. It is signed with
  itsdangerous (HMAC-SHA1 over a key derived from the secret and a per-use salt) and
  expires after ``LEDGER_CONSOLE_SESSION_HOURS``. Signing is not encryption: the hash is
  readable, which is harmless (the key cannot be derived from it, and only the signer can
  make a cookie that carries it).
- A **CSRF token** is signed too, and bound to one session id (or, on the sign-in form, to
  the random nonce of the pre-session cookie): a token from another session is refused. It
  carries a random id that is spent when a form is posted (``services.store.console_state``),
  so a replayed post is refused in every server.
- The **secret** is ``LEDGER_CONSOLE_SECRET`` when set; else a random one the first server
  creates and keeps in the database, shared by every server on it. Whoever can read that
  table can sign sessions: set the setting where database readers must not act in the
  console.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from itsdangerous import BadSignature, URLSafeTimedSerializer

from services.config import Settings
from services.store.console_state import shared_secret

#: The session cookie, the sign-in form's pre-session cookie, the one-shot message cookie.
SESSION_COOKIE = "ledger_console"
LOGIN_COOKIE = "ledger_console_login"
FLASH_COOKIE = "ledger_console_flash"
COOKIE_PATH = "/console"
#: How long a sign-in form stays usable, and a message waits to be shown.
LOGIN_SECONDS = 3600
FLASH_SECONDS = 120
#: The form field every console form carries its CSRF token in.
CSRF_FIELD = "csrf_token"
#: Where the signed-in session is kept in the ASGI scope (for the CSRF check).
SESSION_SCOPE = "ledger.console_session"


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: who (the key), which session (to sign out, to bind forms), and
    until when."""

    key_name: str
    token_hash: str
    session_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class CsrfToken:
    """A checked form token: the id to spend, and until when spending it matters."""

    token_id: str
    expires_at: datetime


class Signing:
    """Everything the console signs, with one secret and a salt per purpose."""

    def __init__(self, secret: str, session_seconds: float) -> None:
        self.session_seconds = session_seconds
        self._sessions = URLSafeTimedSerializer(secret, salt="ledger-console-session")
        self._csrf = URLSafeTimedSerializer(secret, salt="ledger-console-csrf")
        self._login = URLSafeTimedSerializer(secret, salt="ledger-console-login")
        self._flash = URLSafeTimedSerializer(secret, salt="ledger-console-flash")

    # -- sessions ------------------------------------------------------------------------

    def new_session(self, key_name: str, token_hash: str) -> tuple[str, Session]:
        """(the cookie's value, the session it stands for)."""
        session_id = secrets.token_urlsafe(16)
        value = self._sessions.dumps({"k": key_name, "h": token_hash, "s": session_id})
        expires = datetime.now(UTC) + timedelta(seconds=self.session_seconds)
        return value, Session(key_name, token_hash, session_id, expires)

    def read_session(self, value: str | None) -> Session | None:
        """The session of a cookie that is ours, intact and not expired; else None."""
        data, issued = self._loads(self._sessions, value, self.session_seconds)
        if not isinstance(data, dict) or issued is None:
            return None
        try:
            return Session(str(data["k"]), str(data["h"]), str(data["s"]),
                           issued + timedelta(seconds=self.session_seconds))
        except KeyError:
            return None

    # -- form tokens ---------------------------------------------------------------------

    def csrf_token(self, bound_to: str) -> str:
        """A new one-time token for a form of ``bound_to`` (a session id or sign-in nonce)."""
        return self._csrf.dumps({"b": bound_to, "j": secrets.token_urlsafe(16)})

    def read_csrf(self, token: str | None, bound_to: str) -> CsrfToken | None:
        """The token's id if it is ours, intact, not expired and bound to ``bound_to``."""
        data, issued = self._loads(self._csrf, token, self.session_seconds)
        if not isinstance(data, dict) or issued is None or data.get("b") != bound_to:
            return None
        token_id = data.get("j")
        if not isinstance(token_id, str):
            return None
        return CsrfToken(token_id, issued + timedelta(seconds=self.session_seconds))

    # -- the sign-in form's nonce ----------------------------------------------------------

    def new_login_nonce(self) -> tuple[str, str]:
        """(the pre-session cookie's value, the nonce the sign-in form's token is bound to)."""
        nonce = secrets.token_urlsafe(16)
        return self._login.dumps(nonce), nonce

    def read_login_nonce(self, value: str | None) -> str | None:
        nonce, _ = self._loads(self._login, value, LOGIN_SECONDS)
        return nonce if isinstance(nonce, str) else None

    # -- one-shot messages -----------------------------------------------------------------

    def flash(self, kind: str, text: str) -> str:
        return self._flash.dumps([kind, text])

    def read_flash(self, value: str | None) -> tuple[str, str] | None:
        data, _ = self._loads(self._flash, value, FLASH_SECONDS)
        if isinstance(data, list) and len(data) == 2 and all(isinstance(x, str) for x in data):
            return data[0], data[1]
        return None

    @staticmethod
    def _loads(
        serializer: URLSafeTimedSerializer, value: str | None, max_age: float
    ) -> tuple[Any, datetime | None]:
        if not value:
            return None, None
        try:
            data, issued = serializer.loads(value, max_age=int(max_age),
                                            return_timestamp=True)
        except BadSignature:  # SignatureExpired is one too
            return None, None
        return data, issued


class SecretSource:
    """The signing secret, read once: from the settings, else from (or into) the database."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool
        self._signing: Signing | None = None
        self._lock = asyncio.Lock()

    async def signing(self) -> Signing:
        if self._signing is None:
            async with self._lock:
                if self._signing is None:
                    configured = self.settings.console_secret
                    secret = (configured.get_secret_value() if configured is not None
                              else await shared_secret(self.pool))
                    self._signing = Signing(secret,
                                            self.settings.console_session_hours * 3600)
        return self._signing


def same_origin(headers: dict[str, str], scheme: str, host: str) -> bool:
    """Whether a POST comes from a page of this server: its ``Origin`` (or, when a browser
    sends none, its ``Referer``) is this scheme and host. Neither sent: refused."""
    mine = f"{scheme}://{host}".lower()
    origin = headers.get("origin")
    if origin is not None:
        return origin.lower() == mine
    referer = headers.get("referer")
    if referer is not None:
        return referer.lower() == mine or referer.lower().startswith(mine + "/")
    return False
