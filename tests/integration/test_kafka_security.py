"""Every Kafka client of the ledger over TLS, and over SASL, on real servers.

Tansu speaks neither TLS to clients we can trust nor SASL we can provision (its memory store
starts without users, and creating one needs an authenticated client). So this module runs
a Tansu of its own that advertises the port of a proxy in front of it: the proxy terminates
TLS (a CA and certificates made by ``trustme``) and, for SASL, authenticates each connection
(PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, see tests/kafka_sasl.py) before anything reaches the
broker. Clients learn the broker's address from its metadata, so after bootstrapping they
come back to the proxy: the listener they use is TLS (and SASL) only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import trustme
from aiokafka.errors import KafkaConnectionError

from events.journal_rules import JournalRunRequest
from services.api.readiness import Check, check_broker
from services.config import Settings
from services.embedded import embedded_kafka, free_port
from services.ingest.app import run_ingest
from services.journal.run import create_journal_run
from services.kafka_io import create_topics, publish_values
from services.operations.replay import ReplayStart, replay
from services.operations.republish import republish
from services.operations.status import status_report
from services.samples import seed001_expected, seed001_lines
from tests.helpers import consume_all, process_env, wait_until
from tests.integration.db import billing_event_count, scalar
from tests.integration.ledger_setup import set_up
from tests.integration.relay import relay_outbox
from tests.kafka_sasl import SaslGate
from tests.tcp_proxy import TcpProxy

T = TypeVar("T")
USER, PASSWORD = "ledger", "c0rrect-h0rse-never-logged"
MALFORMED = b'{"event_id": "not json'


@dataclass(frozen=True)
class Pki:
    """A CA, the listener's certificate for 127.0.0.1, and a client certificate."""

    ca: Path
    client_cert: Path
    client_key: Path
    server: trustme.LeafCert
    authority: trustme.CA

    def listener(self, *, client_certificates: bool) -> ssl.SSLContext:
        """The listener's TLS; with ``client_certificates``, a client must present one signed
        by the CA (mutual TLS)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server.configure_cert(context)
        if client_certificates:
            self.authority.configure_trust(context)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = trustme.CA()
    folder = tmp_path_factory.mktemp("pki")
    client = ca.issue_cert("ledger-client@example.test")
    pki = Pki(folder / "ca.pem", folder / "client.pem", folder / "client.key",
              ca.issue_cert("127.0.0.1"), ca)
    ca.cert_pem.write_to_path(str(pki.ca))
    client.cert_chain_pems[0].write_to_path(str(pki.client_cert))
    client.private_key_pem.write_to_path(str(pki.client_key))
    return pki


@pytest.fixture(scope="module")
def tansu_behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """``(inner bootstrap, outer port)``: Tansu listens on the inner address and tells its
    clients to use 127.0.0.1:outer, where each test's proxy listens."""
    outer = free_port()
    with embedded_kafka(tmp_path_factory.mktemp("tansu-behind-proxy"),
                        advertised_port=outer) as inner:
        yield inner, outer


@dataclass
class Listener:
    """The one way to the broker in a test: the proxy on the advertised port."""

    bootstrap: str
    gate: SaslGate | None


@pytest.fixture
async def listen(
    tansu_behind_proxy: tuple[str, int],
) -> AsyncIterator[Any]:
    """``await listen(ssl=..., gate=...)`` opens the listener for this test."""
    inner, outer = tansu_behind_proxy
    host, _, port = inner.rpartition(":")
    proxies: list[TcpProxy] = []

    async def start(*, tls: ssl.SSLContext | None, gate: SaslGate | None = None) -> Listener:
        proxy = TcpProxy(host, int(port), port=outer, ssl=tls, gate=gate)
        await proxy.start()
        proxies.append(proxy)
        return Listener(f"127.0.0.1:{outer}", gate)

    yield start
    for proxy in proxies:
        await proxy.cut()


def reconfigured(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with ``changes``, validated as if loaded from the environment."""
    return Settings(_env_file=None, **(settings.model_dump() | changes))


@dataclass
class Secured:
    settings: Settings
    gate: SaslGate | None

    async def authenticated(self, step: Awaitable[T]) -> T:
        """Run ``step``; with SASL, it must have logged in (and nothing else can reach the
        broker: the gate drops a connection that sends anything before logging in)."""
        before = len(self.gate.logins) if self.gate else 0
        result = await step
        if self.gate is not None:
            logins = self.gate.logins[before:]
            mechanism = self.settings.kafka_sasl_mechanism
            assert logins, "the step never authenticated"
            assert {(lg.mechanism, lg.username, lg.ok) for lg in logins} == {
                (mechanism, USER, True)}
        return result


@pytest.fixture(params=["mutual TLS", "SASL_SSL with SCRAM-SHA-512"])
async def secured(
    request: pytest.FixtureRequest, settings: Settings, pki: Pki, listen: Any
) -> Secured:
    """This test's settings on a TLS-only listener: with a client certificate, or with SASL
    (SCRAM-SHA-512) on top of TLS."""
    if request.param == "mutual TLS":
        listener = await listen(tls=pki.listener(client_certificates=True))
        return Secured(reconfigured(
            settings, kafka_bootstrap=listener.bootstrap, kafka_security_protocol="SSL",
            kafka_ssl_cafile=pki.ca, kafka_ssl_certfile=pki.client_cert,
            kafka_ssl_keyfile=pki.client_key), None)
    listener = await listen(tls=pki.listener(client_certificates=False),
                            gate=SaslGate(USER, PASSWORD, ("SCRAM-SHA-512",)))
    return Secured(reconfigured(
        settings, kafka_bootstrap=listener.bootstrap, kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username=USER,
        kafka_sasl_password=PASSWORD, kafka_ssl_cafile=pki.ca), listener.gate)


async def _set_up(pool: asyncpg.Pool) -> None:
    setup = seed001_expected()["setup"]
    await set_up(pool, settings={"settlement": setup["settings"]["settlement"],
                                 "multi_org": "true"}, orgs=(setup["org"],))


async def _journal_runs(pool: asyncpg.Pool) -> list[str]:
    made = []
    for run in seed001_expected()["runs"]:
        request = run["request"]
        result = await create_journal_run(pool, JournalRunRequest(
            types=tuple(request["types"]), org=request["org"], period=request["period"]))
        made.append(result["number"])
    return made


async def test_billing_events_reach_the_journal_topic_over_a_tls_only_listener(
    secured: Secured, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s = secured.settings
    await _set_up(pool)

    sent = await secured.authenticated(
        publish_values(s, s.topic_billing, [*seed001_lines(), MALFORMED]))
    assert sent == 4

    stop = asyncio.Event()
    ingest = asyncio.create_task(run_ingest(s, pool, stop))
    try:
        async def stored_and_refused() -> bool:
            return (await billing_event_count(pool) == 3
                    and await scalar(pool, "SELECT count(*) FROM rejected_messages") == 1)

        await wait_until(stored_and_refused, message="3 events stored, 1 refused")
    finally:
        stop.set()
        await asyncio.wait_for(ingest, timeout=60)
    dlq = await consume_all(s, s.topic_dlq, expected=1, timeout=10)  # the DLQ producer's copy
    assert [(r.value, dict(r.headers)["ledger-error"]) for r in dlq] == [
        (MALFORMED, b"invalid_json")]

    assert await _journal_runs(pool) == ["JR-00000001", "JR-00000002"]
    outbox = {r["event_id"]: r["event_type"] for r in await pool.fetch(
        "SELECT event_id::text, event_type FROM outbox")}
    assert len(outbox) == 5

    await relay_outbox(s, pool)

    journal = await consume_all(s, s.topic_journal, expected=5, timeout=10)
    assert {r.key for r in journal} == {b"US"}
    read_back = {dict(r.headers)["event_type"].decode(): 0 for r in journal}
    for record in journal:
        read_back[dict(record.headers)["event_type"].decode()] += 1
    assert read_back == {"journal_entry.created": 3, "journal_run.completed": 2}
    assert sorted(outbox.values()) == sorted(
        dict(r.headers)["event_type"].decode() for r in journal)

    if secured.gate is not None:
        assert secured.gate.logins and all(lg.ok for lg in secured.gate.logins)
        assert secured.gate.refused_before_login == 0
    assert PASSWORD not in caplog.text


async def test_operations_reach_the_broker_over_a_tls_only_listener(
    secured: Secured, pool: asyncpg.Pool
) -> None:
    """Topic admin, publish, replay (its consumer and DLQ producer), status, readiness and
    republish: each one connects (and with SASL, logs in) on its own."""
    s = secured.settings
    await _set_up(pool)
    assert await secured.authenticated(
        create_topics(s, [s.topic_billing, s.topic_dlq, s.topic_journal], 2)) == {}
    for value in [*seed001_lines(), MALFORMED]:  # one record per batch: exact end offsets
        assert await secured.authenticated(publish_values(s, s.topic_billing, [value])) == 1

    report = await secured.authenticated(replay(s, pool, ReplayStart(from_beginning=True),
                                                idle_ms=200))
    assert (report.read, report.stored, report.duplicates, report.rejected) == (4, 3, 0, 1)

    status = await secured.authenticated(status_report(s, pool))
    assert status["lag"] == 4  # no ingest group offsets stored: all of it is lag

    assert await secured.authenticated(check_broker(s)) == Check("broker", True)

    await _journal_runs(pool)
    result = await secured.authenticated(
        republish(pool, s, s.topic_journal, run="JR-00000001"))
    assert result["republished"] == 3
    journal = await consume_all(s, s.topic_journal, expected=3, timeout=10)
    assert sorted(dict(r.headers)["event_type"] for r in journal) == [
        b"journal_entry.created", b"journal_entry.created", b"journal_run.completed"]


async def test_the_tls_listener_refuses_plaintext_untrusted_and_certificateless_clients(
    settings: Settings, pki: Pki, listen: Any
) -> None:
    listener = await listen(tls=pki.listener(client_certificates=True))
    mutual = reconfigured(settings, kafka_bootstrap=listener.bootstrap,
                          kafka_security_protocol="SSL", kafka_ssl_cafile=pki.ca,
                          kafka_ssl_certfile=pki.client_cert, kafka_ssl_keyfile=pki.client_key)
    assert await check_broker(mutual) == Check("broker", True)

    plaintext = reconfigured(settings, kafka_bootstrap=listener.bootstrap)
    untrusted = reconfigured(mutual, kafka_ssl_cafile=None)  # the system's CAs only
    certificateless = reconfigured(mutual, kafka_ssl_certfile=None, kafka_ssl_keyfile=None)
    for refused in (plaintext, untrusted, certificateless):
        check = await check_broker(refused)
        assert (check.ok, check.code) == (False, "broker_unreachable")
    assert "CERTIFICATE_VERIFY_FAILED" in (await check_broker(untrusted)).message

    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(publish_values(plaintext, settings.topic_billing, [b"{}"]), 30)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
async def test_sasl_plaintext_logs_in_with_the_configured_mechanism(
    mechanism: str, settings: Settings, listen: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    listener = await listen(tls=None, gate=SaslGate(USER, PASSWORD, (mechanism,)))
    secured = Secured(reconfigured(
        settings, kafka_bootstrap=listener.bootstrap, kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism=mechanism, kafka_sasl_username=USER, kafka_sasl_password=PASSWORD,
    ), listener.gate)
    s = secured.settings
    assert await secured.authenticated(publish_values(s, s.topic_billing, [b'{"n": 1}'])) == 1
    assert await secured.authenticated(check_broker(s)) == Check("broker", True)
    assert [r.value for r in await consume_all(s, s.topic_billing, expected=1, timeout=10)] == [
        b'{"n": 1}']
    assert PASSWORD not in caplog.text


async def test_sasl_refuses_a_wrong_password_and_a_client_that_does_not_log_in(
    settings: Settings, listen: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gate = SaslGate(USER, PASSWORD, ("SCRAM-SHA-512",))
    listener = await listen(tls=None, gate=gate)
    wrong = reconfigured(
        settings, kafka_bootstrap=listener.bootstrap, kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username=USER,
        kafka_sasl_password="not-" + PASSWORD)
    check = await check_broker(wrong)
    assert (check.ok, check.code) == (False, "broker_unreachable")
    assert "SaslAuthenticationFailed" in check.message
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(publish_values(wrong, settings.topic_billing, [b"{}"]), 30)
    assert gate.logins and not [lg for lg in gate.logins if lg.ok]

    anonymous = reconfigured(settings, kafka_bootstrap=listener.bootstrap)
    assert not (await check_broker(anonymous)).ok
    assert gate.refused_before_login >= 1
    assert "not-" + PASSWORD not in caplog.text


async def _ledger(settings: Settings, *args: str) -> tuple[int, Any, str]:
    """``ledger ARGS --json`` as a subprocess with ``settings`` as its LEDGER_* environment:
    its exit code, its JSON document and everything it printed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *args, "--json", env=process_env(settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, json.loads(out), (out + err).decode()


async def test_the_cli_takes_tls_and_sasl_from_the_environment(
    settings: Settings, pki: Pki, listen: Any, tmp_path: Path
) -> None:
    gate = SaslGate(USER, PASSWORD, ("SCRAM-SHA-256",))
    listener = await listen(tls=pki.listener(client_certificates=False), gate=gate)
    secured = reconfigured(
        settings, kafka_bootstrap=listener.bootstrap, kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256", kafka_sasl_username=USER,
        kafka_sasl_password=PASSWORD, kafka_ssl_cafile=pki.ca)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(seed001_lines()) + b"\n")

    code, document, _ = await _ledger(secured, "publish", str(events))
    assert (code, document) == (0, {"published": 3, "topic": secured.topic_billing})
    assert {(lg.mechanism, lg.username, lg.ok) for lg in gate.logins} == {
        ("SCRAM-SHA-256", USER, True)}
    assert len(await consume_all(secured, secured.topic_billing, expected=3, timeout=10)) == 3

    wrong = reconfigured(secured, kafka_sasl_password="not-" + PASSWORD)
    code, document, printed = await _ledger(wrong, "publish", str(events))
    assert (code, document["error"]["code"]) == (1, "unavailable")
    assert "SaslAuthenticationFailed" in printed
    assert "not-" + PASSWORD not in printed
