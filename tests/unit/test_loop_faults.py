"""Which failures the loop waits out, and the probe behind /healthz, without a broker."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from driftline.checkpoint import CheckpointError
from driftline.kafkaio.health import KafkaProbe
from driftline.kafkaio.loop import recoverable
from driftline.kafkaio.rebalance import PartitionsLost
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


def test_a_transaction_call_that_never_returns_is_a_fault_not_a_hang(monkeypatch) -> None:
    import threading

    from driftline.kafkaio import loop as loop_module
    from driftline.kafkaio.loop import StreamLoop
    from driftline.kafkaio.loopconfig import LoopConfig

    monkeypatch.setattr(loop_module, "WEDGED_AFTER_S", 0.2)
    stream = StreamLoop("127.0.0.1:1", LoopConfig(group_id="g", topics=["t"]), handler=None, store=None)  # type: ignore[arg-type]
    released = threading.Event()
    with pytest.raises(KafkaException) as raised:
        stream._bounded(released.wait)  # as librdkafka#5456: blocked past any timeout given
    released.set()
    assert raised.value.args[0].code() == KafkaError._TIMED_OUT and "did not return in" in raised.value.args[0].str()
    assert stream._wedged and recoverable(raised.value)
    stream._bounded(lambda: None)  # a new transactions thread for the next producer
