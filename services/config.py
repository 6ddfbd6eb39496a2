"""Configuration from the environment (``LEDGER_`` prefix, ``.env`` read too).

Unset URLs mean "start the embedded server": that is how ``ledger demo`` and a first
try on a laptop work without any infrastructure. Because an unset URL has that effect, a
mistyped one must not go unnoticed: ``load_settings`` refuses every ``LEDGER_*`` variable
that is not a setting (docs/contract.md §1), and every invalid value, naming the variable.

Secrets (the database URL, which carries its password, and the SASL password) are
``SecretStr``: they print as ``**********`` in a repr, a log line or a ``model_dump``;
code that connects asks for ``get_secret_value()``.
"""

from __future__ import annotations

import difflib
import os
import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from services.errors import RejectedInput

PREFIX = "LEDGER_"

#: ``LEDGER_*`` names that are not settings but belong to the test and benchmark harnesses
#: (they choose the servers a test or bench run uses); known, so they are not refused.
HARNESS_VARIABLES = frozenset({
    "LEDGER_TEST_DATABASE_URL",
    "LEDGER_TEST_KAFKA_BOOTSTRAP",
    "LEDGER_BENCH_DATABASE_URL",
    "LEDGER_BENCH_KAFKA_BOOTSTRAP",
})


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting must not echo the input, which holds secrets
    # (the SASL password, a database URL's password).
    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    #: Secret: the URL carries the password (see ``database_dsn`` and ``redacted_url``).
    database_url: SecretStr | None = None
    kafka_bootstrap: str | None = None
    data_dir: Path = Path(".ledger")

    topic_billing: str = "billing.events"
    topic_dlq: str = "billing.events.dlq"
    topic_journal: str = "ledger.journal-entries"
    consumer_group: str = "ledger-ingest"
    http_port: int = 8080
    #: Address the HTTP API binds: loopback unless told otherwise (compose sets 0.0.0.0).
    http_host: str = "127.0.0.1"
    #: Who the CLI records as the actor of a command (default: the OS user).
    actor: str | None = None
    #: ``true`` serves ``/metrics`` without a token.
    metrics_public: bool = False

    # Every Kafka client of the ledger (ingest, DLQ, publisher, replay, admin, status).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None

    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: Partitions for the topics the ledger creates itself (operators may pre-create them).
    topic_partitions: int = Field(default=4, gt=0)

    max_message_bytes: int = Field(default=1_048_576, gt=0)
    batch_max_records: int = Field(default=1000, gt=0)
    batch_timeout_ms: int = Field(default=200, ge=0)
    #: Worker processes that check inbound messages (0: check them in the ingest process).
    parse_workers: int = Field(default=1, ge=0)
    session_timeout_ms: int = Field(default=10_000, gt=0)
    heartbeat_interval_ms: int = Field(default=3_000, gt=0)
    db_retry_max_seconds: float = Field(default=30.0, gt=0)
    db_pool_size: int = Field(default=4, gt=0)

    # Isolation: each part of ``ledger serve`` has its own pool (``db_pool_size`` is the
    # ingest's and the CLI's), so slow downloads or heavy reports cannot starve the ingest.
    #: Connections of the outbox publisher's pool (it relays with one at a time).
    publisher_pool_size: int = Field(default=2, gt=0)
    #: Connections of the HTTP API's pool.
    api_pool_size: int = Field(default=8, gt=0)
    #: PostgreSQL cancels an API statement running longer (0: no limit).
    api_statement_timeout_ms: int = Field(default=30_000, ge=0)
    #: An API request waits at most this long for a connection, then answers 503.
    api_pool_timeout_ms: int = Field(default=2_000, gt=0)
    #: A transaction-detail download (CSV) takes at most this long in all, slow reader
    #: included; its COPY is exempt from ``api_statement_timeout_ms``.
    api_export_timeout_ms: int = Field(default=600_000, gt=0)
    #: A download whose client takes no data for this long is cut, its connection freed.
    api_export_idle_timeout_ms: int = Field(default=30_000, gt=0)

    # The month-end console (``/console``, services/console).
    #: Signs its session cookies and form tokens. Unset: a random secret made once and kept
    #: in the database, so every server on it shares the secret.
    console_secret: SecretStr | None = None
    #: How long a console sign-in lasts.
    console_session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    #: ``true``: always mark the session cookie ``Secure`` (behind a proxy that ends TLS);
    #: it is ``Secure`` anyway when the request itself came over HTTPS.
    console_cookie_secure: bool = False


    def database_dsn(self) -> str:
        """The PostgreSQL URL with its password, for connecting (never for printing)."""
        if self.database_url is None:
            raise RuntimeError("LEDGER_DATABASE_URL is unset and no embedded server was started")
        return self.database_url.get_secret_value()


    @field_validator("database_url", "kafka_bootstrap")
    @classmethod
    def _set_means_not_empty(cls, value: SecretStr | str | None) -> SecretStr | str | None:
        """``LEDGER_DATABASE_URL=`` (say, from an unset shell variable) is a mistake, not a
        request for the embedded server: that is asked for by leaving the variable unset."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is not None and not text.strip():
            raise ValueError("set but empty (unset it to use the embedded server)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _kafka_security_is_usable(self) -> Settings:
        """Refuse at start a Kafka TLS/SASL setup that could only fail at the first
        connection, or would be silently ignored; each problem names its setting."""
        problems = kafka_security_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self



def kafka_security_problems(settings: Settings) -> list[str]:
    """What is wrong with the Kafka security settings, one sentence per problem."""
    protocol = settings.kafka_security_protocol
    uses_sasl = protocol in ("SASL_PLAINTEXT", "SASL_SSL")
    uses_tls = protocol in ("SSL", "SASL_SSL")
    problems: list[str] = []
    if protocol != "PLAINTEXT" and not settings.kafka_bootstrap:
        problems.append(f"LEDGER_KAFKA_SECURITY_PROTOCOL={protocol} needs LEDGER_KAFKA_BOOTSTRAP "
                        "(the embedded broker speaks PLAINTEXT only)")
    sasl = {"kafka_sasl_mechanism": settings.kafka_sasl_mechanism,
            "kafka_sasl_username": settings.kafka_sasl_username,
            "kafka_sasl_password": settings.kafka_sasl_password}
    for field, value in sasl.items():
        given = value is not None and (
            value.get_secret_value() if isinstance(value, SecretStr) else value) != ""
        if uses_sasl and not given:
            problems.append(f"{variable_name(field)} is required when "
                            f"LEDGER_KAFKA_SECURITY_PROTOCOL is {protocol}")
        elif given and not uses_sasl:
            problems.append(f"{variable_name(field)} is set but LEDGER_KAFKA_SECURITY_PROTOCOL is "
                            f"{protocol}: only SASL_PLAINTEXT and SASL_SSL use it")
    files = {"kafka_ssl_cafile": settings.kafka_ssl_cafile,
             "kafka_ssl_certfile": settings.kafka_ssl_certfile,
             "kafka_ssl_keyfile": settings.kafka_ssl_keyfile}
    for field, path in files.items():
        if path is None:
            continue
        if not uses_tls:
            problems.append(f"{variable_name(field)} is set but LEDGER_KAFKA_SECURITY_PROTOCOL is "
                            f"{protocol}: only SSL and SASL_SSL use it")
        elif not path.is_file():
            problems.append(f"{variable_name(field)}: no such file {path}")
    if (settings.kafka_ssl_certfile is None) != (settings.kafka_ssl_keyfile is None):
        problems.append("LEDGER_KAFKA_SSL_CERTFILE and LEDGER_KAFKA_SSL_KEYFILE go together: "
                        "a client certificate needs its private key")
    if uses_tls and not problems:
        problems += _tls_files_problems(settings)
    return problems


def _tls_files_problems(settings: Settings) -> list[str]:
    """Load the CA and the client certificate once, so a bad file is refused now."""
    context = ssl.create_default_context()
    if settings.kafka_ssl_cafile is not None:
        try:
            context.load_verify_locations(cafile=settings.kafka_ssl_cafile)
        except (ssl.SSLError, OSError, ValueError) as error:
            return [f"LEDGER_KAFKA_SSL_CAFILE: cannot load {settings.kafka_ssl_cafile} as PEM "
                    f"certificates ({error})"]
    if settings.kafka_ssl_certfile is not None:
        try:
            # An encrypted key would prompt on the terminal: refuse it instead.
            context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile,
                                    password=lambda: b"")
        except (ssl.SSLError, OSError, ValueError) as error:
            return [f"LEDGER_KAFKA_SSL_CERTFILE / LEDGER_KAFKA_SSL_KEYFILE: cannot load "
                    f"{settings.kafka_ssl_certfile} with its key {settings.kafka_ssl_keyfile} "
                    f"(PEM, the key unencrypted and matching the certificate) ({error})"]
    return []



def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


#: Settings whose values are never shown, not even in an error message.
SECRET_SETTINGS = frozenset(
    name for name, field in Settings.model_fields.items() if _is_secret(field.annotation))


class SettingRefused(RejectedInput):
    """A ``LEDGER_*`` variable that is not a setting, or a setting with an invalid value."""


def variable_name(field: str) -> str:
    """The environment variable of a setting: ``http_port`` -> ``LEDGER_HTTP_PORT``."""
    return f"{PREFIX}{field.upper()}"


def known_variables() -> frozenset[str]:
    """Every ``LEDGER_*`` name the ledger or its harnesses read."""
    return frozenset(variable_name(f) for f in Settings.model_fields) | HARNESS_VARIABLES


def unknown_variables(names: Iterable[str]) -> dict[str, str]:
    """Each ``LEDGER_*`` name (any case, as pydantic-settings reads them) that is not a known
    variable, with the closest known name."""
    known = known_variables()
    found: dict[str, str] = {}
    for name in names:
        upper = name.upper()
        if upper.startswith(PREFIX) and upper not in known:
            closest = difflib.get_close_matches(upper, known, n=1, cutoff=0.0)
            found[name] = closest[0] if closest else ""
    return found


def refuse_unknown_variables(environ: Mapping[str, str], env_file: Path | None) -> None:
    """Raise ``SettingRefused`` (code ``setting_unknown``) naming every ``LEDGER_*`` variable
    of the environment or of ``env_file`` that is not known, and its closest known name."""
    names = list(environ)
    if env_file is not None and env_file.is_file():
        names += [name for name in dotenv_values(env_file) if name not in environ]
    unknown = unknown_variables(names)
    if not unknown:
        return
    where = f" (from the environment or {env_file})" if env_file is not None else ""
    listed = "; ".join(f"{name} is not a setting (did you mean {closest}?)"
                       for name, closest in sorted(unknown.items()))
    raise SettingRefused(
        "setting_unknown",
        f"{listed}{where}: an unknown LEDGER_* variable is refused so that a typo never "
        "falls back to a default such as an empty embedded ledger",
    )


def _invalid_values(error: ValidationError) -> SettingRefused:
    """One line per invalid setting, naming its variable; a secret's value is never shown."""
    problems = []
    for detail in error.errors():
        field = str(detail["loc"][0]) if detail["loc"] else ""
        message = detail["msg"].removeprefix("Value error, ")
        # A model-level rule (the Kafka security settings) names its variables itself.
        problem = f"{variable_name(field)}: {message}" if field else message
        if field and field not in SECRET_SETTINGS and detail.get("input") is not None:
            problem += f" (got {detail['input']!r})"
        problems.append(problem)
    return SettingRefused("setting_invalid", "; ".join(problems))


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and ``.env``, with explicit overrides winning.

    Refuses (``SettingRefused``, exit 2) an unknown ``LEDGER_*`` variable and an invalid
    value, before anything starts: no embedded server, no connection.
    """
    env_file = Settings.model_config.get("env_file")
    refuse_unknown_variables(os.environ, Path(str(env_file)) if env_file else None)
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise _invalid_values(error) from None
    except SettingsError as error:  # a value pydantic-settings could not even decode
        raise SettingRefused("setting_invalid", str(error)) from None


def redacted_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages that must show a URL)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
