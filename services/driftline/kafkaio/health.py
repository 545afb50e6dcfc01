"""Is Kafka reachable? What every service's ``/healthz`` asks, so an orchestrator sees the truth.

A service whose loop is idle notices nothing when the brokers go away: no commit is due, and
librdkafka reconnects quietly. :class:`KafkaProbe` asks the cluster for its metadata on a thread
of its own every few seconds and keeps the answer; ``/healthz`` reads it without waiting.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import KafkaException

from driftline.kafkaio.clients import make_consumer

log = logging.getLogger(__name__)


class KafkaProbe:
    """``problem()`` is None while the last metadata request within ``interval_s`` succeeded.

    >>> probe = KafkaProbe("127.0.0.1:1", interval_s=0.2, timeout_s=0.2).start()
    >>> _ = probe.checked.wait(5)
    >>> probe.problem().startswith("Kafka unreachable at 127.0.0.1:1")
    True
    >>> probe.stop()
    """

    def __init__(self, bootstrap: str, interval_s: float = 2.0, timeout_s: float = 3.0) -> None:
        self.bootstrap = bootstrap
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        #: Set once the first answer (either way) is in.
        self.checked = threading.Event()
        self._error: str | None = None
        self._since = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafka-probe", daemon=True)

    def start(self) -> KafkaProbe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout_s + 5)

    def problem(self) -> str | None:
        error = self._error
        if error is None:
            return None
        return f"Kafka unreachable at {self.bootstrap} for {time.monotonic() - self._since:.0f}s: {error}"

    def _run(self) -> None:
        # Only metadata, no group: this client joins nothing and commits nothing.
        client = make_consumer(self.bootstrap, None, **{"client.id": "driftline-probe"})
        try:
            while True:
                try:
                    client.list_topics(timeout=self.timeout_s)
                    if self._error is not None:
                        log.info("Kafka at %s reachable again", self.bootstrap)
                    self._error = None
                except KafkaException as e:
                    if self._error is None:
                        self._since = time.monotonic()
                        log.warning("Kafka at %s unreachable: %s", self.bootstrap, e.args[0])
                    self._error = str(e.args[0].str() if hasattr(e.args[0], "str") else e)
                self.checked.set()
                if self._stop.wait(self.interval_s):
                    return
        finally:
            client.close()
