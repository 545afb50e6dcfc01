"""kafka.security and the HTTP tokens: what reaches the clients, and what never reaches a printout."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from driftline.config import settings_from_dict
from driftline.config.base import ConfigError
from driftline.config.settings import Settings
from driftline.httpserver import is_loopback
from driftline.kafkaio.acls import bindings, grants
from driftline.kafkaio.clients import Cluster, cluster, consumer_config, producer_config

PASSWORD = "pa55-word-nobody-may-see"


def scram(**extra: object) -> dict[str, object]:
    return {"protocol": "SASL_SSL", "username": "trainer", "password": PASSWORD, **extra}


def configured(security: dict[str, object]) -> Settings:
    return settings_from_dict({"kafka": {"bootstrap_servers": "k1:9093,k2:9093", "security": security}})


def test_every_client_gets_the_security_settings(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    servers = cluster(
        configured(scram(ca_file=str(ca), client_settings={"ssl.endpoint.identification.algorithm": "https"}))
    )
    for config in (producer_config(servers), consumer_config(servers, "g", **{"client.id": "x"})):
        assert config["bootstrap.servers"] == "k1:9093,k2:9093" and type(config["bootstrap.servers"]) is str
        assert config["security.protocol"] == "sasl_ssl" and config["sasl.mechanism"] == "SCRAM-SHA-512"
        assert config["sasl.username"] == "trainer" and config["sasl.password"] == PASSWORD
        assert config["ssl.ca.location"] == str(ca)
        assert config["ssl.endpoint.identification.algorithm"] == "https"
    # A plain string (the default local broker) gets nothing added.
    assert "security.protocol" not in producer_config("127.0.0.1:9092")


def test_the_cluster_prints_as_its_servers_and_survives_pickling() -> None:
    servers = cluster(configured(scram()))
    assert isinstance(servers, Cluster) and f"{servers}" == "k1:9093,k2:9093"
    assert PASSWORD not in repr(servers) and PASSWORD not in str(servers)
    assert pickle.loads(pickle.dumps(servers)).security["sasl.password"] == PASSWORD


def test_the_password_comes_from_a_file_or_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "kafka.password"
    secret.write_text(PASSWORD + "\n")
    from_file = cluster(configured({"protocol": "SASL_SSL", "username": "u", "password_file": str(secret)}))
    assert from_file.security["sasl.password"] == PASSWORD
    monkeypatch.setenv("DRIFTLINE_KAFKA__SECURITY__PASSWORD", PASSWORD)
    from_env = cluster(configured({"protocol": "SASL_PLAINTEXT", "username": "u"}))
    assert from_env.security["sasl.password"] == PASSWORD


def test_secrets_never_show_in_dumps_or_errors(tmp_path: Path) -> None:
    settings = settings_from_dict(
        {
            "kafka": {"security": scram(client_settings={"ssl.key.password": PASSWORD})},
            "trainer": {"api_token": PASSWORD},
            "monitor": {"port": 0, "webhook_token": PASSWORD},
            "checkpoints": {"secret": PASSWORD},
            "collector": {"mqtt": {"password": PASSWORD}},
        }
    )
    for text in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert PASSWORD not in text
    with pytest.raises(ConfigError) as error:
        settings_from_dict({"trainer": {"api_token": ["x", PASSWORD]}})
    assert PASSWORD not in str(error.value)
    with pytest.raises(ConfigError, match=r"password_file: cannot read .*nope") as missing:
        cluster(configured({"protocol": "SASL_SSL", "username": "u", "password_file": str(tmp_path / "nope")}))
    assert PASSWORD not in str(missing.value)


@pytest.mark.parametrize(
    ("security", "problem"),
    [
        ({"protocol": "SASL_SSL", "password": "x"}, "needs a username"),
        ({"protocol": "SASL_SSL", "username": "u"}, "needs a password or a password_file"),
        (scram(password_file="/p"), "not both"),
        (scram(client_settings={"sasl.password": "x"}), "may not set sasl.password"),
    ],
)
def test_incoherent_security_is_refused_naming_the_key(security: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"kafka\.security.*{problem}"):
        configured(security)


def test_a_missing_ca_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"kafka\.security\.ca_file"):
        cluster(configured(scram(ca_file=str(tmp_path / "absent.pem"))))


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "collector.internal"))


def test_only_the_collector_writes_events_and_only_the_trainer_outcomes() -> None:
    settings = settings_from_dict({})
    t = settings.topics
    writers = {
        topic: {g.role for g in grants(settings) if g.operation == "write" and g.name == topic}
        for topic in (t.events.name, t.labels.name, t.outcomes.name, t.control.name, t.acks.name)
    }
    assert writers == {
        t.events.name: {"collector"},
        t.labels.name: {"collector"},
        t.outcomes.name: {"trainer"},
        t.control.name: {"monitor", "operator"},
        t.acks.name: {"trainer"},
    }
    assert {b.principal for b in bindings(settings, {"trainer": "svc-trainer"})} >= {"User:svc-trainer"}
