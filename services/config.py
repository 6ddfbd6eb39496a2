"""Configuration from the environment (``LEDGER_`` prefix, ``.env`` read too).

Unset URLs mean "start the embedded server": that is how ``ledger demo`` and a first
try on a laptop work without any infrastructure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=".env", extra="ignore")

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


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides winning (CLI flags, tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]
