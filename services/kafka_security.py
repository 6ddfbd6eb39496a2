"""How every Kafka client of the ledger connects: bootstrap servers, TLS and SASL.

``client_options`` turns the settings into the keyword arguments every aiokafka client is
built with (producers, consumers, admin clients, the readiness probe's connection), and
``faststream_security`` is the same choice in FastStream's terms, for the ingest's broker.
Client factories take the ``Settings`` rather than a bare bootstrap address, so no client
can be made that skips TLS or SASL (docs/contract.md §1).

The settings were checked when they were loaded (``services.config``): a SASL protocol has
its mechanism and credentials, the TLS files exist and load. The SASL password leaves its
``SecretStr`` only here, straight into the client's options; it is never logged (aiokafka's
own debug log of the authentication request is redacted below).
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from services.config import Settings

_FASTSTREAM_SASL: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


class _RedactSaslTokens(logging.Filter):
    """aiokafka logs every request it sends at DEBUG, ``SaslAuthenticate`` too, whose PLAIN
    token is ``user NUL user NUL password``: log that request without its bytes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(map(_is_sasl_token, record.args)):
            record.args = tuple("SaslAuthenticateRequest(<redacted>)" if _is_sasl_token(arg)
                                else arg for arg in record.args)
        return True


def _is_sasl_token(arg: object) -> bool:
    return type(arg).__name__.startswith("SaslAuthenticateRequest")


logging.getLogger("aiokafka.conn").addFilter(_RedactSaslTokens())


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The client TLS context for SSL and SASL_SSL (None otherwise): the system's trusted
    CAs unless ``kafka_ssl_cafile`` names others, the broker's host name checked, and the
    client certificate when one is configured."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context: ssl.SSLContext = create_ssl_context(
        cafile=settings.kafka_ssl_cafile,
        certfile=settings.kafka_ssl_certfile,
        keyfile=settings.kafka_ssl_keyfile,
    )
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection options for an aiokafka client: ``bootstrap_servers``,
    ``security_protocol`` and, as the protocol needs them, ``ssl_context`` and
    ``sasl_mechanism`` / ``sasl_plain_username`` / ``sasl_plain_password``.

    The result holds the SASL password in clear: hand it to a client, never log it.
    """
    if not settings.kafka_bootstrap:
        raise ValueError("kafka_bootstrap must be resolved before a Kafka client is made")
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        password = settings.kafka_sasl_password
        if not (settings.kafka_sasl_mechanism and settings.kafka_sasl_username and password):
            raise ValueError(f"{protocol} needs the SASL mechanism, username and password")
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": password.get_secret_value(),
        }
    return options


def faststream_security(settings: Settings) -> BaseSecurity | None:
    """``client_options`` as FastStream's ``security=`` object (None for PLAINTEXT); the
    broker turns it back into the same aiokafka options for its consumers, producer and
    admin client."""
    options = client_options(settings)
    protocol = options["security_protocol"]
    context = options.get("ssl_context")
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    sasl = _FASTSTREAM_SASL[options["sasl_mechanism"]]
    return sasl(
        options["sasl_plain_username"],
        options["sasl_plain_password"],
        ssl_context=context,
        use_ssl=protocol == "SASL_SSL",
    )
