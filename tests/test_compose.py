"""docker-compose.yml, Dockerfile and requirements.lock: the production stack is wired
consistently (read statically: no Docker engine runs the tests; the database roles the stack
creates are exercised on real PostgreSQL in tests/integration/test_runtime_role.py)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from services.config import Settings
from services.ingest.app import build_broker
from tests import wheel_check

ROOT = Path(__file__).resolve().parents[1]
#: An interpolation compose refuses to start without: ``${NAME:?message}``.
REQUIRED_VARIABLE = re.compile(r"^\$\{(?P<name>[A-Z][A-Z0-9_]*):\?[^}]+\}$")
#: libpq variables asyncpg reads (PGPASSWORD keeps the password out of the URL).
LIBPQ_VARIABLES = {"PGPASSWORD"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


@pytest.fixture(scope="module")
def roles() -> dict[str, str]:
    """The psql variables init-roles.sh passes to roles.sql (owner, app, schema, ...)."""
    script = (ROOT / "deploy" / "postgres" / "init-roles.sh").read_text()
    return dict(re.findall(r"-v (\w+)=(\S+)", script))


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


def command_text(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else shlex.join(command)


def seconds(duration: str) -> float:
    """A compose duration (``90s``, ``1m30s``, ``1h``) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def byte_count(size: str) -> int:
    """A compose byte value (``512m``, ``2g``, ``1gb``) in bytes."""
    match = re.fullmatch(r"(\d+)([bkmg]?)b?", str(size).lower())
    assert match, size
    return int(match[1]) * 1024 ** "bkmg".index(match[2] or "b")  # type: ignore[no-any-return]


def required_variables(value: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", value))


# --- the services ---------------------------------------------------------------------------

def test_the_stack_and_its_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"kafka", "postgres", "migrate", "grants", "ledger"}
    for name in ("kafka", "postgres", "ledger"):  # the long-running ones
        check = services[name]["healthcheck"]
        assert check["test"], name
        assert check.get("retries", 0) >= 3, name
        assert services[name]["restart"] == "unless-stopped", name
    for name in ("migrate", "grants"):  # one-shots: run once per `up`, never restarted
        assert services[name]["restart"] == "no", name


def test_kafka_is_single_node_kraft(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
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
    # The host listener is the one the host reaches, on the port published.
    host_listener = next(name for name, (host, _) in advertised.items() if host == "localhost")
    assert [str(p) for p in kafka["ports"]] == [
        f"127.0.0.1:{advertised[host_listener][1]}:{listen[host_listener][1]}"]


def test_postgres_16_creates_the_ledger_roles_on_first_start(
    services: dict[str, dict[str, Any]], roles: dict[str, str]
) -> None:
    postgres = services["postgres"]
    assert postgres["image"].split(":")[1].startswith("16")
    e = env(postgres)
    check = healthcheck_text(postgres)
    assert "pg_isready" in check
    assert f"-U {e['POSTGRES_USER']}" in check
    assert f"-d {e['POSTGRES_DB']}" in check
    # Over TCP: the image's init scripts run on a server listening on its socket only.
    assert "-h 127.0.0.1" in check

    mounts = dict(str(v).split(":")[:2] for v in postgres["volumes"])
    assert mounts["./deploy/postgres"] == "/etc/ledger/postgres"
    init = {source: target for source, target in mounts.items()
            if target.startswith("/docker-entrypoint-initdb.d/")}
    # One script, and a .sh: a .sql file there would run without the psql variables.
    assert list(init) == ["./deploy/postgres/init-roles.sh"]
    assert init["./deploy/postgres/init-roles.sh"].endswith(".sh")
    assert (ROOT / "deploy" / "postgres" / "init-roles.sh").stat().st_mode & 0o111

    script = (ROOT / "deploy" / "postgres" / "init-roles.sh").read_text()
    assert "-f /etc/ledger/postgres/roles.sql" in script
    assert (ROOT / "deploy" / "postgres" / "roles.sql").is_file()
    assert "ON_ERROR_STOP=1" in script
    # The passwords it reads are the ones compose hands the container, from the env file.
    for name in re.findall(r"\$\{(\w+):\?", script):
        assert REQUIRED_VARIABLE.match(e[name]), name
    assert {"owner", "app", "schema"} <= set(roles)
    assert roles["owner"] != roles["app"]


def test_migrate_and_grants_run_as_the_owner_before_the_ledger_starts(
    services: dict[str, dict[str, Any]], roles: dict[str, str]
) -> None:
    pg = env(services["postgres"])
    migrate = services["migrate"]
    assert command_text(migrate) == "ledger migrate"
    assert migrate["image"] == services["ledger"]["image"]
    assert migrate["build"] == services["ledger"]["build"]
    m = env(migrate)
    url = urlsplit(m["LEDGER_DATABASE_URL"])
    assert (url.username, url.password) == (roles["owner"], None)
    assert (url.hostname, url.port, url.path) == ("postgres", 5432, f"/{pg['POSTGRES_DB']}")
    assert m["PGPASSWORD"] == pg["DB_OWNER_PASSWORD"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}

    grants = services["grants"]
    assert grants["image"] == services["postgres"]["image"]  # it has psql
    assert grants["entrypoint"] == ["psql"]
    args = command_text(grants)
    assert "-v ON_ERROR_STOP=1" in args
    assert f"-v app={roles['app']}" in args
    assert f"-v schema={roles['schema']}" in args
    assert "-f /etc/ledger/postgres/grants.sql" in args
    assert (ROOT / "deploy" / "postgres" / "grants.sql").is_file()
    assert "./deploy/postgres:/etc/ledger/postgres:ro" in grants["volumes"]
    g = env(grants)
    assert (g["PGHOST"], g["PGDATABASE"], g["PGUSER"]) == (
        "postgres", pg["POSTGRES_DB"], roles["owner"])
    assert g["PGPASSWORD"] == pg["DB_OWNER_PASSWORD"]
    assert grants["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}


def test_ledger_runs_as_the_runtime_role(
    services: dict[str, dict[str, Any]], roles: dict[str, str]
) -> None:
    ledger = services["ledger"]
    assert ledger["build"] in (".", {"context": "."})
    assert command_text(ledger) == "ledger serve"

    e = env(ledger)
    settings = {k for k in e if k.startswith("LEDGER_")}
    assert set(e) - settings <= LIBPQ_VARIABLES
    unknown = {k for k in settings
               if k.removeprefix("LEDGER_").lower() not in Settings.model_fields}
    assert not unknown, f"not Settings fields: {unknown}"

    pg = env(services["postgres"])
    url = urlsplit(e["LEDGER_DATABASE_URL"])
    assert url.scheme in ("postgresql", "postgres")
    assert (url.hostname, url.port or 5432) == ("postgres", 5432)
    assert (url.username, url.password) == (roles["app"], None)
    assert e["PGPASSWORD"] == pg["DB_APP_PASSWORD"]
    assert url.path.lstrip("/") == pg["POSTGRES_DB"]

    assert e["LEDGER_KAFKA_BOOTSTRAP"] == "kafka:9092"
    advertised = listeners(env(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"])
    assert ("kafka", 9092) in advertised.values()

    assert ledger["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
        "grants": {"condition": "service_completed_successfully"},
    }


def test_ledger_listens_in_its_network_and_is_published_on_loopback_only(
    services: dict[str, dict[str, Any]],
) -> None:
    ledger = services["ledger"]
    e = env(ledger)
    assert e["LEDGER_HTTP_HOST"] == "0.0.0.0"
    port = e.get("LEDGER_HTTP_PORT", "8080")
    assert port == "8080"
    assert [str(p) for p in ledger["ports"]] == [f"127.0.0.1:{port}:{port}"]
    assert f"http://localhost:{port}/readyz" in healthcheck_text(ledger)
    for name, service in services.items():
        for published in service.get("ports", []):
            assert str(published).startswith("127.0.0.1:"), (name, published)


def test_ledger_and_migrate_log_json(services: dict[str, dict[str, Any]]) -> None:
    for name in ("ledger", "migrate"):
        e = env(services[name])
        assert e["LEDGER_LOG_FORMAT"] == "json", name
        parsed = Settings.model_validate({"log_format": e["LEDGER_LOG_FORMAT"],
                                          "http_host": e.get("LEDGER_HTTP_HOST", "127.0.0.1")})
        assert parsed.log_format == "json"


def test_the_ledger_may_take_longer_to_stop_than_its_graceful_stop(
    services: dict[str, dict[str, Any]],
) -> None:
    """SIGTERM asks the ingest to finish its batches (FastStream waits up to its graceful
    timeout for handlers in flight), then drains the store pipeline while the publisher and
    the API stop: twice the graceful timeout before compose kills it."""
    broker = build_broker(Settings(_env_file=None, kafka_bootstrap="kafka:9092"))
    graceful = broker.config.graceful_timeout
    assert graceful is not None and graceful > 0
    grace = seconds(services["ledger"]["stop_grace_period"])
    assert grace >= 2 * graceful
    for name in ("kafka", "postgres"):  # a controlled shutdown, a shutdown checkpoint
        assert seconds(services[name]["stop_grace_period"]) >= 30, name


def test_every_service_has_cpu_and_memory_limits(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        limits = service["deploy"]["resources"]["limits"]
        assert 0 < float(limits["cpus"]) <= 4, name
        assert 64 * 2**20 <= byte_count(limits["memory"]) <= 4 * 2**30, name
    assert byte_count(services["ledger"]["deploy"]["resources"]["limits"]["memory"]) >= 2**30
    # The broker's JVM heap defaults to 1 GiB: the container needs more than that.
    assert byte_count(services["kafka"]["deploy"]["resources"]["limits"]["memory"]) > 2**30


# --- secrets --------------------------------------------------------------------------------

def test_no_password_is_written_in_the_compose_file(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    secrets = 0
    for name, service in services.items():
        for key, value in env(service).items():
            if re.search(r"PASSWORD|SECRET|TOKEN", key):
                assert REQUIRED_VARIABLE.match(value), f"{name}.{key} is not ${{VAR:?...}}"
                secrets += 1
            if "://" in value:
                assert urlsplit(value).password is None, f"{name}.{key} has a password"
    assert secrets == 6  # superuser; owner for postgres, migrate, grants; app for both
    text = (ROOT / "docker-compose.yml").read_text()
    # Every interpolation is a required one: nothing falls back to a default secret.
    assert re.findall(r"\$\{[^}]*\}", text) == re.findall(r"\$\{[A-Z0-9_]+:\?[^}]+\}", text)


def test_the_env_file_example_names_every_required_variable_and_sets_none() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    required = required_variables(text)
    assert required == {"POSTGRES_PASSWORD", "DB_OWNER_PASSWORD", "DB_APP_PASSWORD"}
    example = (ROOT / "deploy" / ".env.example").read_text()
    entries = dict(line.split("=", 1) for line in example.splitlines()
                   if line and not line.startswith("#"))
    assert set(entries) == required
    assert set(entries.values()) == {""}  # placeholders: compose refuses to start until set
    # Not LEDGER_ names: the ledger refuses LEDGER_ variables that are not settings.
    assert not any(name.startswith("LEDGER_") for name in required)
    assert "--env-file deploy/.env" in text and "--env-file deploy/.env" in example
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored  # deploy/.env, once filled in, is never committed


# --- the image and its pinned dependencies ---------------------------------------------------

def lock_pins() -> dict[str, str]:
    """{canonical name: version} of requirements.lock; every requirement there is a pin."""
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if not line or line.startswith(("#", " ")):  # comments, hashes, "via" notes
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+) \\", line)
        assert match, f"not an exact pin with hashes: {line!r}"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def test_the_lock_pins_every_runtime_dependency_and_nothing_else() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = lock_pins()
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {spec}"
    extra_only = {canonicalize_name(Requirement(spec).name)
                  for specs in project["optional-dependencies"].values() for spec in specs}
    runtime = {canonicalize_name(Requirement(spec).name) for spec in project["dependencies"]}
    assert not (extra_only - runtime) & set(pins), "dev or embedded packages in the lock"
    assert canonicalize_name(project["name"]) not in pins
    text = (ROOT / "requirements.lock").read_text()
    assert text.count("--hash=sha256:") >= len(pins)
    # Resolved for the image's Python.
    assert "pip-compile with Python 3.11" in text
    assert "#    make lock" in text


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (comments and blank lines left out), one list per stage;
    a continued line (``\\``) is joined to one instruction."""
    stages: list[list[str]] = []
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_the_dockerfile_builds_the_wheel_then_installs_the_lock_and_the_wheel_alone() -> None:
    builder, image = dockerfile_stages()
    # The builder makes the wheel from what `make wheel-check` builds it from.
    assert builder[0] == "FROM python:3.11-slim AS wheel"
    copied = {word.rstrip("/").removeprefix("./") for line in builder
              if line.startswith("COPY ") for word in line.split()[1:-1]}
    assert copied == set(wheel_check.SOURCES)
    [build] = [line for line in builder if line.startswith("RUN ")]
    assert build.startswith("RUN pip wheel ") and "--no-deps" in build
    assert "--wheel-dir /wheels ." in build

    assert image[0] == "FROM python:3.11-slim"
    copy_lock = image.index("COPY requirements.lock ./")
    install_lock = image.index("RUN pip install --require-hashes --no-deps -r requirements.lock")
    copy_wheel = image.index("COPY --from=wheel /wheels/ /tmp/wheels/")
    [install_ledger] = [i for i, line in enumerate(image)
                        if line.startswith("RUN pip install --no-deps /tmp/wheels/")]
    assert image[install_ledger].split()[4] == "/tmp/wheels/billing_ledger-*.whl"
    assert "pip check" in image[install_ledger]
    # The dependency layer comes before the wheel, so a code change reuses it; the image
    # holds no source tree, only what the wheel installs.
    assert copy_lock < install_lock < copy_wheel < install_ledger
    assert [line for line in image if line.startswith("COPY")] == [
        "COPY requirements.lock ./", "COPY --from=wheel /wheels/ /tmp/wheels/"]
    assert not [line for line in builder + image
                if "pip install" in line and "--no-deps" not in line]
    assert 'CMD ["ledger", "serve"]' in image
    assert "EXPOSE 8080" in image
    assert "USER ledger" in image
    # pyproject's [project] readme must be in the build context the wheel is built from.
    assert "README.md" in copied


def test_make_lock_regenerates_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlock:\n", 1)[1].split("\n\n", 1)[0]
    assert "pip-compile" in recipe
    assert "--generate-hashes" in recipe
    assert "--output-file requirements.lock pyproject.toml" in recipe
