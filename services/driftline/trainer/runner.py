"""A trainer with its HTTP endpoint, running in background threads: for the CLI, the stack and tests."""

from __future__ import annotations

import threading
import time

from driftline.config.settings import Settings
from driftline.httpserver import BackgroundServer
from driftline.kafkaio.health import KafkaProbe
from driftline.trainer.api import api_token, create_app
from driftline.trainer.handler import TrainerService


class TrainerRunner:
    """``with TrainerRunner(settings, bootstrap) as runner:`` trains until the block ends."""

    def __init__(self, settings: Settings, bootstrap: str, port: int | None = None) -> None:
        t = settings.trainer
        # Refused before anything starts: a trainer beyond loopback without a token would serve anyone.
        token = api_token(settings)
        self.service = TrainerService(settings, bootstrap)
        self.server = BackgroundServer(
            create_app(self.service.core, self.problem, token, t.max_body_bytes),
            t.host,
            t.port if port is None else port,
            access_log=t.access_log,
        )
        self.probe = KafkaProbe(self.service.bootstrap)  # with the service's Kafka credentials
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.service.run, args=(self._stop,), name="trainer", daemon=True)

    @property
    def core(self):
        return self.service.core

    def problem(self) -> str | None:
        """None while the trainer loop runs (or was stopped on purpose), else why it died or waits."""
        if self.service.error is not None:
            return f"trainer loop stopped: {type(self.service.error).__name__}: {self.service.error}"
        if self._thread.ident is not None and not self._thread.is_alive() and not self._stop.is_set():
            return "trainer loop stopped"
        return self.probe.problem() or self.service.loop_fault()

    def stopped(self) -> str | None:
        """Why the trainer loop stopped for good, if it did (a Kafka fault is waited out, not this)."""
        problem = self.problem()
        return problem if problem and problem.startswith("trainer loop stopped") else None

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, timeout: float = 60.0) -> TrainerRunner:
        self.probe.start()
        self.server.start()
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.service.ready.wait(0.2):
            if (problem := self.stopped()) or time.monotonic() > deadline:
                problem = problem or self.problem()
                self.stop()
                raise RuntimeError(problem or "trainer got no partitions assigned in time")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.server.stop()
        self.probe.stop()

    def __enter__(self) -> TrainerRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
