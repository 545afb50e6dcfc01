"""The local broker's pure parts."""

from __future__ import annotations

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
