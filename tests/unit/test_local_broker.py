"""The local broker's pure parts."""

from __future__ import annotations

from pathlib import Path

from driftline.kafkaio.broker import _cluster_id


def test_cluster_ids_never_start_with_a_dash() -> None:
    ids = [_cluster_id() for _ in range(2000)]  # about 1 in 64 raw draws starts with "-"
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)


def test_the_pom_is_well_formed_and_asks_for_kafka_4() -> None:
    import xml.etree.ElementTree as ET

    from driftline.kafkaio.broker import POM

    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(POM).getroot()  # Maven refuses a malformed pom, e.g. "--" inside a comment
    assert root.find("m:properties/m:kafka.version", ns).text.startswith("4.")
    artifacts = {d.findtext("m:artifactId", namespaces=ns) for d in root.iterfind("m:dependencies/m:dependency", ns)}
    assert "kafka_2.13" in artifacts


def test_the_default_broker_stays_plaintext_and_the_secure_one_authorises(tmp_path: Path) -> None:
    from driftline.kafkaio.broker import LocalBroker

    plain = "\n".join(LocalBroker(tmp_path / "plain")._listeners())
    assert "PLAINTEXT:PLAINTEXT" in plain and "authorizer" not in plain and "SASL" not in plain
    secure = LocalBroker(tmp_path / "secure", users={"trainer": "pw"}, tls=True)
    lines = "\n".join(secure._listeners())
    assert "CLIENT:SASL_SSL" in lines and "StandardAuthorizer" in lines
    assert "allow.everyone.if.no.acl.found=false" in lines and "super.users=User:admin" in lines
    assert secure.security_for("trainer") == {
        "protocol": "SASL_SSL", "username": "trainer", "password": "pw", "ca_file": str(secure.ca_file)
    }  # fmt: skip
    assert secure.security_for(None)["protocol"] == "SSL"  # TLS without credentials: refused by the broker
    assert "pw" not in repr(secure)


def test_a_broker_reads_the_class_archive_when_there_is_one_and_only_a_throw_away_broker_writes_it(
    tmp_path: Path,
) -> None:
    from driftline.kafkaio.broker import LocalBroker, class_archive

    jars = tmp_path / "jars"
    jars.mkdir()
    broker = LocalBroker(tmp_path / "kafka")
    assert not any("SharedArchive" in arg for arg in broker._java("kafka.Kafka", jars=jars))  # none made yet
    class_archive(jars).write_bytes(b"")
    for main in ("kafka.Kafka", "kafka.tools.StorageTool"):
        assert f"-XX:SharedArchiveFile={class_archive(jars)}" in broker._java(main, jars=jars)
    broker._archive_to = tmp_path / "new.jsa"  # archive_classes' broker: writes at its exit, reads nothing
    assert f"-XX:ArchiveClassesAtExit={tmp_path / 'new.jsa'}" in broker._java("kafka.Kafka", jars=jars)
    assert not any("Archive" in arg for arg in broker._java("kafka.tools.StorageTool", jars=jars))
