"""docker-compose.yml and Dockerfile: the production-like stack is wired consistently."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from services.config import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment", {})
    if isinstance(raw, list):  # the "KEY=value" list form
        raw = dict(item.split("=", 1) for item in raw)
    return {key: str(value) for key, value in raw.items()}


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` -> {NAME: (host, port)}."""
    out = {}
    for item in value.split(","):
        name, _, address = item.partition("://")
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


def healthcheck_text(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_three_services_with_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "postgres", "ledger"} <= set(services)
    for name in ("kafka", "postgres", "ledger"):
        check = services[name]["healthcheck"]
        assert check["test"], name
        assert check.get("retries", 0) >= 3, name


def test_kafka_is_single_node_kraft(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    e = env(kafka)
    assert set(e["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node_id = e["KAFKA_NODE_ID"]
    assert "ZOOKEEPER" not in " ".join(e)

    listen = listeners(e["KAFKA_LISTENERS"])
    advertised = listeners(e["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(
        item.split(":") for item in e["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    controller = e["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in listen and controller in protocols
    assert controller not in advertised  # controllers are not advertised to clients
    assert set(listen) <= set(protocols)
    assert set(advertised) <= set(listen)
    # The quorum is this node, on its controller listener.
    assert e["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node_id}@kafka:{listen[controller][1]}"
    # Other containers reach the broker at kafka:9092.
    assert ("kafka", 9092) in advertised.values()
    inter_broker = e["KAFKA_INTER_BROKER_LISTENER_NAME"]
    assert advertised[inter_broker] == ("kafka", 9092)
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert e[key] == "1", key
    assert len(e["CLUSTER_ID"]) == 22  # base64 of a UUID
    check = healthcheck_text(kafka)
    assert "/opt/kafka/bin/" in check
    assert "kafka-broker-api-versions.sh" in check or "kafka-topics.sh" in check
    assert "--bootstrap-server localhost:9092" in check
    assert any(v.endswith(":/var/lib/kafka/data") for v in kafka["volumes"])
    assert e["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"


def test_postgres_16(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].split(":")[1].startswith("16")
    e = env(postgres)
    check = healthcheck_text(postgres)
    assert "pg_isready" in check
    assert f"-U {e['POSTGRES_USER']}" in check


def test_ledger_is_wired_to_kafka_and_postgres(compose: dict[str, Any]) -> None:
    services = compose["services"]
    ledger = services["ledger"]
    assert ledger["build"] in (".", {"context": "."})
    command = ledger["command"]
    assert (command if isinstance(command, str) else " ".join(command)) == "ledger serve"

    e = env(ledger)
    assert all(key.startswith("LEDGER_") for key in e)
    unknown = {k for k in e if k.removeprefix("LEDGER_").lower() not in Settings.model_fields}
    assert not unknown, f"not Settings fields: {unknown}"

    pg = env(services["postgres"])
    url = urlsplit(e["LEDGER_DATABASE_URL"])
    assert url.scheme in ("postgresql", "postgres")
    assert (url.hostname, url.port or 5432) == ("postgres", 5432)
    assert url.username == pg["POSTGRES_USER"]
    assert url.password == pg["POSTGRES_PASSWORD"]
    assert url.path.lstrip("/") == pg["POSTGRES_DB"]

    assert e["LEDGER_KAFKA_BOOTSTRAP"] == "kafka:9092"
    advertised = listeners(env(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"])
    assert ("kafka", 9092) in advertised.values()

    assert ledger["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }
    port = e.get("LEDGER_HTTP_PORT", "8080")
    assert port == "8080"
    assert any(str(p).endswith(f":{port}") for p in ledger["ports"])
    assert f"http://localhost:{port}/healthz" in healthcheck_text(ledger)


def test_dockerfile_builds_the_service() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    assert any(line.startswith("RUN pip install .") for line in lines)
    assert 'CMD ["ledger", "serve"]' in lines
    assert "EXPOSE 8080" in lines
    # pyproject's [project] readme must be in the build context the Dockerfile copies.
    assert any(line.startswith("COPY") and "README.md" in line for line in lines)
