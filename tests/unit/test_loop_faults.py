"""Which failures the loop waits out, and the probe behind /healthz, without a broker."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from driftline.checkpoint import CheckpointError
from driftline.kafkaio.health import KafkaProbe
from driftline.kafkaio.loop import PartitionsLost, recoverable
from driftline.processes import free_port


def test_kafka_faults_are_waited_out_and_nothing_else() -> None:
    assert recoverable(KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down")))
    assert recoverable(KafkaException(KafkaError(KafkaError._FENCED, "fenced by a newer producer epoch")))
    assert recoverable(PartitionsLost("partitions lost to the group: events[0]"))
    assert not recoverable(CheckpointError("checkpoint g/p0: signature does not match"))
    assert not recoverable(ZeroDivisionError("a bug"))


def test_the_probe_names_an_unreachable_cluster() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"  # nothing listens there
    probe = KafkaProbe(bootstrap, interval_s=0.1, timeout_s=0.3).start()
    try:
        assert probe.checked.wait(10)
        problem = probe.problem()
    finally:
        probe.stop()
    assert problem is not None and problem.startswith(f"Kafka unreachable at {bootstrap} for ")
