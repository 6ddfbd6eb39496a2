"""Settings refuse what they do not know, name the variable, and keep secrets secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.config import (
    HARNESS_VARIABLES,
    SettingRefused,
    Settings,
    known_variables,
    load_settings,
    redacted_url,
    refuse_unknown_variables,
    unknown_variables,
)

PASSWORD = "pw-4213-never-shown"


def test_every_setting_and_the_harness_variables_are_known() -> None:
    known = known_variables()
    assert {"LEDGER_DATABASE_URL", "LEDGER_KAFKA_BOOTSTRAP", "LEDGER_LOG_FORMAT",
            "LEDGER_KAFKA_SASL_PASSWORD", "LEDGER_TEST_DATABASE_URL",
            "LEDGER_TEST_KAFKA_BOOTSTRAP"} <= known
    assert len(known) == len(Settings.model_fields) + len(HARNESS_VARIABLES)
    assert unknown_variables([*known, "PATH", "HOME", "LEDGERX"]) == {}


def test_an_unknown_name_gets_the_closest_known_one_in_any_case() -> None:
    assert unknown_variables(["LEDGER_DATABSE_URL", "ledger_kafka_bootstap",
                              "LEDGER_HTTP_PORT", "ledger_http_port"]) == {
        "LEDGER_DATABSE_URL": "LEDGER_DATABASE_URL",
        "ledger_kafka_bootstap": "LEDGER_KAFKA_BOOTSTRAP",
    }


def test_the_env_file_is_checked_too(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LEDGER_TOPIC_BILING=billing.events\nOTHER_TOOL=1\n")
    with pytest.raises(SettingRefused) as refused:
        refuse_unknown_variables({"LEDGER_HTTP_PORT": "8080"}, env_file)
    assert refused.value.code == "setting_unknown"
    assert refused.value.exit_code == 2
    assert "LEDGER_TOPIC_BILING is not a setting (did you mean LEDGER_TOPIC_BILLING?)" in (
        refused.value.message)
    refuse_unknown_variables({"LEDGER_HTTP_PORT": "8080"}, tmp_path / "absent.env")


def test_an_invalid_value_names_its_variable_and_never_shows_a_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer's .env
    monkeypatch.setenv("LEDGER_HTTP_PORT", "abc")
    monkeypatch.setenv("LEDGER_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("LEDGER_KAFKA_SECURITY_PROTOCOL", "SASL_PLAIN")
    monkeypatch.setenv("LEDGER_DATABASE_URL", " ")
    with pytest.raises(SettingRefused) as refused:
        load_settings()
    assert refused.value.code == "setting_invalid"
    problems = refused.value.message.split("; ")
    assert [p.split(":", 1)[0] for p in problems] == [
        "LEDGER_DATABASE_URL", "LEDGER_HTTP_PORT", "LEDGER_KAFKA_SECURITY_PROTOCOL"]
    assert "(got 'abc')" in problems[1]
    assert problems[0] == ("LEDGER_DATABASE_URL: set but empty (unset it to use the embedded "
                           "server)")
    assert PASSWORD not in refused.value.message


def test_secrets_print_as_stars(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"postgresql://ledger:{PASSWORD}@db:5432/ledger")
    monkeypatch.setenv("LEDGER_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("LEDGER_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("LEDGER_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("LEDGER_KAFKA_SASL_USERNAME", "ledger")
    monkeypatch.setenv("LEDGER_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("LEDGER_LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.log_level == "DEBUG"
    for shown in (repr(settings), str(settings), str(settings.model_dump()),
                  settings.model_dump_json()):
        assert PASSWORD not in shown
        assert "db:5432" not in shown  # the whole URL is the secret
    assert settings.database_dsn() == f"postgresql://ledger:{PASSWORD}@db:5432/ledger"


def test_a_url_shown_in_a_message_has_its_password_masked() -> None:
    assert redacted_url(f"postgresql://ledger:{PASSWORD}@db:5432/ledger?search_path=s") == (
        "postgresql://ledger:***@db:5432/ledger?search_path=s")
    unix = "postgresql://postgres@/postgres?host=/tmp/socket"
    assert redacted_url(unix) == unix


def test_a_refused_kafka_setup_never_echoes_a_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"postgresql://ledger:{PASSWORD}@db:5432/ledger")
    monkeypatch.setenv("LEDGER_KAFKA_SASL_PASSWORD", PASSWORD)  # but PLAINTEXT: refused
    with pytest.raises(SettingRefused) as refused:
        load_settings()
    assert refused.value.code == "setting_invalid"
    assert refused.value.message == (
        "LEDGER_KAFKA_SASL_PASSWORD is set but LEDGER_KAFKA_SECURITY_PROTOCOL is PLAINTEXT: "
        "only SASL_PLAINTEXT and SASL_SSL use it")
