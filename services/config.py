"""Configuration from the environment (``LEDGER_`` prefix, ``.env`` read too).

Unset URLs mean "start the embedded server": that is how ``ledger demo`` and a first
try on a laptop work without any infrastructure.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting must not echo the input, which holds secrets
    # (the SASL password, a database URL's password).
    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    database_url: str | None = None
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

    # Every Kafka client of the ledger (ingest, DLQ, publisher, replay, republish, admin,
    # status, readiness) connects with these: services/kafka_security.py.
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

    @model_validator(mode="after")
    def _kafka_security_is_usable(self) -> Settings:
        """Refuse at start a Kafka TLS/SASL setup that could only fail at the first
        connection, or would be silently ignored; each problem names its setting."""
        problems = kafka_security_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _env(field: str) -> str:
    return f"LEDGER_{field.upper()}"


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
            problems.append(f"{_env(field)} is required when LEDGER_KAFKA_SECURITY_PROTOCOL "
                            f"is {protocol}")
        elif given and not uses_sasl:
            problems.append(f"{_env(field)} is set but LEDGER_KAFKA_SECURITY_PROTOCOL is "
                            f"{protocol}: only SASL_PLAINTEXT and SASL_SSL use it")
    files = {"kafka_ssl_cafile": settings.kafka_ssl_cafile,
             "kafka_ssl_certfile": settings.kafka_ssl_certfile,
             "kafka_ssl_keyfile": settings.kafka_ssl_keyfile}
    for field, path in files.items():
        if path is None:
            continue
        if not uses_tls:
            problems.append(f"{_env(field)} is set but LEDGER_KAFKA_SECURITY_PROTOCOL is "
                            f"{protocol}: only SSL and SASL_SSL use it")
        elif not path.is_file():
            problems.append(f"{_env(field)}: no such file {path}")
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


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides winning (CLI flags, tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]
