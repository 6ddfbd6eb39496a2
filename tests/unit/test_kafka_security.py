"""Kafka TLS and SASL settings: refused up front when unusable, and handed to every client.

The clients are built here but never connected (the bootstrap address is a dead port): these
tests read the options each factory gave its client. tests/integration/test_kafka_security.py
runs the same clients over a real TLS listener and real SASL authentication.
"""

from __future__ import annotations

import logging
import re
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from faststream.kafka.security import parse_security
from pydantic import ValidationError

from services.config import Settings
from services.ingest.app import build_broker
from services.kafka_io import admin_client, consumer, producer
from services.kafka_security import client_options, faststream_security

PASSWORD = "pa55-w0rd-never-shown"
DEAD = "127.0.0.1:9"  # never contacted


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA file and a client certificate with its key, as operators hand them over."""
    ca = trustme.CA()
    client = ca.issue_cert("ledger-client@example.test")
    folder = tmp_path_factory.mktemp("pem")
    files = {"ca": folder / "ca.pem", "cert": folder / "client.pem", "key": folder / "client.key",
             "other_key": folder / "other.key", "garbage": folder / "garbage.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    client.cert_chain_pems[0].write_to_path(str(files["cert"]))
    client.private_key_pem.write_to_path(str(files["key"]))
    ca.issue_cert("someone-else").private_key_pem.write_to_path(str(files["other_key"]))
    files["garbage"].write_text("not a certificate\n")
    return files


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def sasl_ssl(pem: dict[str, Path], mechanism: str = "SCRAM-SHA-512") -> Settings:
    return settings(kafka_bootstrap=DEAD, kafka_security_protocol="SASL_SSL",
                    kafka_sasl_mechanism=mechanism, kafka_sasl_username="ledger",
                    kafka_sasl_password=PASSWORD, kafka_ssl_cafile=pem["ca"],
                    kafka_ssl_certfile=pem["cert"], kafka_ssl_keyfile=pem["key"])


def refusal(**values: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        settings(**values)
    return str(caught.value)


# --- refused up front, naming the setting ---------------------------------------------------

@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_a_sasl_protocol_needs_mechanism_username_and_password(protocol: str) -> None:
    message = refusal(kafka_bootstrap=DEAD, kafka_security_protocol=protocol)
    for name in ("LEDGER_KAFKA_SASL_MECHANISM", "LEDGER_KAFKA_SASL_USERNAME",
                 "LEDGER_KAFKA_SASL_PASSWORD"):
        assert f"{name} is required when LEDGER_KAFKA_SECURITY_PROTOCOL is {protocol}" in message


def test_an_empty_sasl_password_counts_as_missing() -> None:
    message = refusal(kafka_bootstrap=DEAD, kafka_security_protocol="SASL_PLAINTEXT",
                      kafka_sasl_mechanism="PLAIN", kafka_sasl_username="ledger",
                      kafka_sasl_password="")
    assert "LEDGER_KAFKA_SASL_PASSWORD is required" in message
    assert "LEDGER_KAFKA_SASL_USERNAME" not in message


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL"])
def test_sasl_credentials_without_a_sasl_protocol_are_refused_not_ignored(
    protocol: str, pem: dict[str, Path]
) -> None:
    message = refusal(kafka_bootstrap=DEAD, kafka_security_protocol=protocol,
                      kafka_sasl_username="ledger", kafka_sasl_password=PASSWORD)
    for name in ("LEDGER_KAFKA_SASL_USERNAME", "LEDGER_KAFKA_SASL_PASSWORD"):
        assert (f"{name} is set but LEDGER_KAFKA_SECURITY_PROTOCOL is {protocol}: only "
                "SASL_PLAINTEXT and SASL_SSL use it") in message


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_tls_files_without_a_tls_protocol_are_refused_not_ignored(
    protocol: str, pem: dict[str, Path]
) -> None:
    sasl = ({"kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "u",
             "kafka_sasl_password": PASSWORD} if protocol.startswith("SASL") else {})
    message = refusal(kafka_bootstrap=DEAD, kafka_security_protocol=protocol,
                      kafka_ssl_cafile=pem["ca"], **sasl)
    assert (f"LEDGER_KAFKA_SSL_CAFILE is set but LEDGER_KAFKA_SECURITY_PROTOCOL is {protocol}: "
            "only SSL and SASL_SSL use it") in message


@pytest.mark.parametrize("given", ["cert", "key"])
def test_a_client_certificate_and_its_key_go_together(given: str, pem: dict[str, Path]) -> None:
    field = {"cert": "kafka_ssl_certfile", "key": "kafka_ssl_keyfile"}[given]
    message = refusal(kafka_bootstrap=DEAD, kafka_security_protocol="SSL", **{field: pem[given]})
    assert ("LEDGER_KAFKA_SSL_CERTFILE and LEDGER_KAFKA_SSL_KEYFILE go together: a client "
            "certificate needs its private key") in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.pem"
    message = refusal(kafka_bootstrap=DEAD, kafka_security_protocol="SSL",
                      kafka_ssl_cafile=missing)
    assert f"LEDGER_KAFKA_SSL_CAFILE: no such file {missing}" in message


def test_a_file_that_is_not_a_certificate_is_refused(pem: dict[str, Path]) -> None:
    message = refusal(kafka_bootstrap=DEAD, kafka_security_protocol="SSL",
                      kafka_ssl_cafile=pem["garbage"])
    assert f"LEDGER_KAFKA_SSL_CAFILE: cannot load {pem['garbage']} as PEM certificates" in message


def test_a_key_that_does_not_match_the_certificate_is_refused(pem: dict[str, Path]) -> None:
    message = refusal(kafka_bootstrap=DEAD, kafka_security_protocol="SSL",
                      kafka_ssl_certfile=pem["cert"], kafka_ssl_keyfile=pem["other_key"])
    assert "LEDGER_KAFKA_SSL_CERTFILE / LEDGER_KAFKA_SSL_KEYFILE: cannot load" in message


def test_tls_or_sasl_needs_a_configured_broker_not_the_embedded_one() -> None:
    message = refusal(kafka_security_protocol="SSL")
    assert ("LEDGER_KAFKA_SECURITY_PROTOCOL=SSL needs LEDGER_KAFKA_BOOTSTRAP (the embedded "
            "broker speaks PLAINTEXT only)") in message


def test_the_environment_is_checked_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_KAFKA_BOOTSTRAP", DEAD)
    monkeypatch.setenv("LEDGER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("LEDGER_KAFKA_SASL_PASSWORD", PASSWORD)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)
    message = str(caught.value)
    assert "LEDGER_KAFKA_SASL_MECHANISM is required" in message
    assert "LEDGER_KAFKA_SASL_USERNAME is required" in message
    assert PASSWORD not in message  # the refusal does not echo the input


def test_a_refusal_never_shows_the_password(pem: dict[str, Path]) -> None:
    message = refusal(kafka_bootstrap=DEAD, kafka_security_protocol="SASL_SSL",
                      kafka_sasl_mechanism="PLAIN", kafka_sasl_username="ledger",
                      kafka_sasl_password=PASSWORD, kafka_ssl_cafile=pem["garbage"])
    assert "LEDGER_KAFKA_SSL_CAFILE: cannot load" in message
    assert PASSWORD not in message


# --- the options every client gets ----------------------------------------------------------

def test_plaintext_is_the_default_and_adds_nothing() -> None:
    plain = settings(kafka_bootstrap=DEAD)
    assert client_options(plain) == {"bootstrap_servers": DEAD, "security_protocol": "PLAINTEXT"}
    assert faststream_security(plain) is None


def test_tls_trusts_the_configured_ca_and_checks_the_host_name(
    pem: dict[str, Path]
) -> None:
    options = client_options(settings(
        kafka_bootstrap=DEAD, kafka_security_protocol="SSL", kafka_ssl_cafile=pem["ca"],
        kafka_ssl_certfile=pem["cert"], kafka_ssl_keyfile=pem["key"]))
    assert set(options) == {"bootstrap_servers", "security_protocol", "ssl_context"}
    assert options["security_protocol"] == "SSL"
    context: ssl.SSLContext = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [
        c["subject"] for c in _ca_only(pem["ca"]).get_ca_certs()]


def _ca_only(cafile: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=cafile)
    return context


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_options_and_the_faststream_security_object_agree(
    mechanism: str, protocol: str, pem: dict[str, Path]
) -> None:
    secured = settings(kafka_bootstrap=DEAD, kafka_security_protocol=protocol,
                       kafka_sasl_mechanism=mechanism, kafka_sasl_username="ledger",
                       kafka_sasl_password=PASSWORD,
                       **({"kafka_ssl_cafile": pem["ca"]} if protocol == "SASL_SSL" else {}))
    options = client_options(secured)
    assert {k: v for k, v in options.items() if k != "ssl_context"} == {
        "bootstrap_servers": DEAD, "security_protocol": protocol, "sasl_mechanism": mechanism,
        "sasl_plain_username": "ledger", "sasl_plain_password": PASSWORD}
    assert ("ssl_context" in options) == (protocol == "SASL_SSL")
    # FastStream turns its security object into the same aiokafka options.
    from_faststream = parse_security(faststream_security(secured))
    assert {k: v for k, v in from_faststream.items() if k != "ssl_context"} == {
        k: v for k, v in options.items() if k not in ("bootstrap_servers", "ssl_context")}
    assert (from_faststream["ssl_context"] is None) == (protocol == "SASL_PLAINTEXT")


def _client_security(client: Any) -> dict[str, Any]:
    """What an aiokafka client (``AIOKafkaClient`` inside each) will connect with."""
    inner = client._client if hasattr(client, "_client") else client.client
    return {
        "bootstrap": inner._bootstrap_servers,
        "security_protocol": inner._security_protocol,
        "ssl": isinstance(inner._ssl_context, ssl.SSLContext),
        "sasl_mechanism": inner._sasl_mechanism,
        "username": inner._sasl_plain_username,
        "password": inner._sasl_plain_password,
    }


EXPECTED = {"bootstrap": DEAD, "security_protocol": "SASL_SSL", "ssl": True,
            "sasl_mechanism": "SCRAM-SHA-512", "username": "ledger", "password": PASSWORD}


async def test_every_aiokafka_factory_hands_over_tls_and_sasl(pem: dict[str, Path]) -> None:
    """Producers (DLQ, publisher, republish, publish), consumers (replay, status, demo read
    back) and admin clients (topics) are all made by these three factories."""
    secured = sasl_ssl(pem)
    clients = {"producer": producer(secured, linger_ms=1),
               "consumer": consumer(secured, group_id=None),
               "admin": admin_client(secured)}
    assert {name: _client_security(c) for name, c in clients.items()} == {
        name: EXPECTED for name in clients}
    for client in clients.values():
        assert PASSWORD not in repr(client)


async def test_the_ingest_broker_hands_over_tls_and_sasl_to_its_producer_and_consumers(
    pem: dict[str, Path]
) -> None:
    broker = build_broker(sasl_ssl(pem, "PLAIN"))
    wanted = {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN",
              "sasl_plain_username": "ledger", "sasl_plain_password": PASSWORD}
    producer_side = broker._connection_kwargs  # producer and admin client (topic creation)
    consumer_side = broker.config.broker_config.builder.keywords  # every subscriber's consumer
    for side in (producer_side, consumer_side):
        assert {k: side[k] for k in wanted} == wanted
        assert isinstance(side["ssl_context"], ssl.SSLContext)
    assert PASSWORD not in repr(broker)


def test_the_password_stays_out_of_repr_dumps_and_logs(
    pem: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    secured = sasl_ssl(pem)
    caplog.set_level(logging.DEBUG)
    client_options(secured)
    faststream_security(secured)
    shown = [repr(secured), str(secured), secured.model_dump_json(), str(secured.model_dump()),
             repr(faststream_security(secured)), caplog.text]
    assert not [text for text in shown if PASSWORD in text]
    assert secured.kafka_sasl_password is not None
    assert secured.kafka_sasl_password.get_secret_value() == PASSWORD


def test_no_kafka_client_is_made_outside_the_factories() -> None:
    """Every aiokafka client and FastStream broker comes from ``services.kafka_io`` or
    ``build_broker`` (both take the Settings), so none can skip TLS/SASL. The AsyncAPI
    broker only renders a document and never connects."""
    constructors = re.compile(r"\b(AIOKafkaProducer|AIOKafkaConsumer|AIOKafkaAdminClient|"
                              r"AIOKafkaClient|KafkaBroker|create_conn)\(")
    root = Path(__file__).resolve().parents[2]
    made = sorted(
        f"{path.relative_to(root)}:{match.group(1)}"
        for path in (root / "services").rglob("*.py")
        for match in constructors.finditer(path.read_text())
    )
    assert made == [
        "services/asyncapi.py:KafkaBroker",
        "services/ingest/app.py:KafkaBroker",
        "services/kafka_io.py:AIOKafkaAdminClient",
        "services/kafka_io.py:AIOKafkaConsumer",
        "services/kafka_io.py:AIOKafkaProducer",
        "services/kafka_io.py:create_conn",
    ]
