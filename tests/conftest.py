"""Shared fixtures: one real Kafka broker per test run, for all its workers, started from the project's own jars
(and a second, started when first asked for, that the tests which stop a broker share)."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from driftline.config import Settings, settings_from_dict
from driftline.kafkaio.broker import JVM_OPTIONS_VARIABLE, LocalBroker, archive_classes, fetch_jars
from driftline.kafkaio.topics import ensure_topics
from session_kafka import SessionKafka, shared_broker

# The suite starts dozens of short-lived brokers (each worker's, each stack's, each benchmark's): the JVM's
# first JIT tier alone starts one with 40% less CPU, and no test measures a broker's speed. Subprocesses inherit it.
os.environ.setdefault(JVM_OPTIONS_VARIABLE, "-XX:TieredStopAtLevel=1")

REPO = Path(__file__).resolve().parents[1]
#: The features of :func:`category_rows`: a text category and a number.
CATEGORY_FEATURES = {"noise": {}, "mode": {"type": "category"}}
#: Each classification preset with the task it is for (softmax is the multiclass one): the tasks of category_rows.
CLASSIFICATION_PRESETS = {"logistic": "binary", "hoeffding": "binary", "forest": "binary", "naive_bayes": "binary",
                          "softmax": "multiclass"}  # fmt: skip


#: The test files that take longest, longest first, as measured on a fresh clone on a 2-core machine. The workers
#: take files in collection order (pyproject.toml's addopts), so these start first and no long file is left to run
#: alone at the end while the other worker idles. Every other file follows in pytest's order.
LONGEST_FILES = (
    "integration/test_stack.py",
    "integration/test_bench_throughput.py",
    "integration/test_chaos.py",
    "integration/test_trainer_recovery.py",
    "integration/test_model_transfer.py",
    "integration/test_bench_soak.py",
    "integration/test_kafka_faults.py",
    "integration/test_bench_latency.py",
    "integration/test_bench_scale.py",
    "integration/test_install.py",
    "integration/test_fuzz.py",
    "integration/test_challenger_cli.py",
    "unit/test_bench_drift.py",
    "integration/test_collector_workers.py",
    "integration/test_kafka_security.py",
    "integration/test_status_cli.py",
    "integration/test_cli.py",
    "unit/test_bench_hotpath.py",
    "integration/test_trainer_categories.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of :data:`LONGEST_FILES` first, in its order; each file's tests keep theirs."""
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    tests = REPO / "tests"
    items.sort(key=lambda item: rank.get(item.path.relative_to(tests).as_posix(), len(rank)))


def category_rows(task: str, n: int, seed: int = 7) -> list[tuple[dict[str, Any], Any]]:
    """``n`` events whose one signal is the text feature ``mode``; ``noise``, a number beside it, says nothing.

    binary: ``eco`` or ``boost``, true for ``boost``; multiclass: ``eco``, ``boost`` or ``off``, the class the
    value upper-cased; regression: ``eco`` or ``boost``, -10 or +10 give or take 0.1.
    """
    rng = random.Random(seed)
    values = ["eco", "boost", "off"] if task == "multiclass" else ["eco", "boost"]
    rows = []
    for _ in range(n):
        mode = rng.choice(values)
        if task == "binary":
            label: Any = mode == "boost"
        elif task == "multiclass":
            label = mode.upper()
        else:
            label = (10.0 if mode == "boost" else -10.0) + rng.gauss(0.0, 0.1)
        rows.append(({"noise": rng.gauss(0.0, 1.0), "mode": mode}, label))
    return rows


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker | SessionKafka]:
    """A real Apache Kafka (KRaft, one node) on a free loopback port for the whole session: one for every xdist
    worker of the run (:mod:`session_kafka`)."""
    archive_classes(fetch_jars())  # made by `./run test` first; here too, for a plain `pytest`
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run:
        with shared_broker(tmp_path_factory.getbasetemp().parent, run) as shared:
            yield shared
        return
    broker = LocalBroker(data_dir=tmp_path_factory.mktemp("kafka"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def bootstrap(kafka_broker: LocalBroker | SessionKafka) -> str:
    return kafka_broker.bootstrap_servers


@pytest.fixture(scope="session")
def stoppable_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A second real Kafka for the tests that stop and restart one (stopping the session broker would
    break the others): started once, shared, and running again after each test (see ``stoppable_kafka``).
    Tests isolate themselves on it as on the session broker, by topics of their own."""
    broker = LocalBroker(data_dir=tmp_path_factory.mktemp("stoppable-kafka"))
    yield broker
    broker.stop()


@pytest.fixture
def stoppable_kafka(stoppable_broker: LocalBroker) -> Iterator[LocalBroker]:
    """:func:`stoppable_broker`, running at the start of the test, and running again after it, whatever the
    test left it as."""
    stoppable_broker.start()
    yield stoppable_broker
    stoppable_broker.start()


def unique_topics(prefix: str = "t") -> dict[str, Any]:
    """Topic names private to one test, so tests sharing the broker never see each other's records."""
    run = uuid.uuid4().hex[:8]
    roles = ("events", "labels", "outcomes", "drift", "control", "acks", "deadletter", "checkpoints", "label_requests")
    return {
        role: {"name": f"{prefix}-{run}.{role}", "partitions": 3 if role in ("events", "labels", "checkpoints") else 1}
        for role in roles
    }


@pytest.fixture
def make_settings(bootstrap: str, tmp_path: Path):
    """Build Settings for a test against the session broker, with fresh topics created."""

    def build(streams: dict[str, Any], **extra: Any) -> Settings:
        data = {
            "kafka": {"bootstrap_servers": bootstrap},
            "topics": unique_topics(),
            "trainer": {"group_id": f"trainer-{uuid.uuid4().hex[:8]}", "port": 0},
            "monitor": {"group_id": f"monitor-{uuid.uuid4().hex[:8]}", "port": 0, **extra.pop("monitor", {})},
            "state_dir": str(tmp_path / "state"),
            "streams": streams,
            **extra,
        }
        settings = settings_from_dict(data, "test")
        ensure_topics(bootstrap, settings.topics)
        return settings

    return build
