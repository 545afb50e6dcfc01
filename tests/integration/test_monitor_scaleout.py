"""Two `driftline monitor` processes share the outcomes partitions; one is killed, the other takes its partitions over.

Outcomes of eight model keys are written straight to a four-partition outcomes topic (as the
trainer writes them: one partition per model key). Both monitors join one group and split the
partitions; each checkpoints its own. One is killed with SIGKILL, more outcomes come (one carrying
a data drift the trainer detected), and the survivor restores the dead one's partitions from its
checkpoints and replays. At the end the survivor's /metrics must equal, sample for sample, what a
single monitor makes of the same outcomes: no outcome counted twice or missed, the drift counted once.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from kafka_helpers import make_producer
from monitor_fixtures import wait_for
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from conftest import unique_topics
from driftline.config import load_settings
from driftline.contracts import DriftEvent, Outcome
from driftline.kafkaio.checkpoints import store_for
from driftline.kafkaio.topics import ensure_topics
from driftline.monitor.exposition import registry_for
from driftline.monitor.service import build_state
from driftline.monitor.synthetic import START, outcomes
from driftline.processes import ManagedProcess, free_ports, http_ok

pytestmark = pytest.mark.kafka

PARTITIONS = 4
KEYS = [f"rooms/d{i}" for i in range(8)]
FIRST, SECOND = 150, 150  # outcomes per model key before and after the kill
#: Samples that are one process's own, not the outcomes': its loop's restarts, the webhook's alerts.
OWN = ("driftline_monitor_kafka_recoveries", "driftline_webhook_alerts")


def partition_of(key: str) -> int:
    return KEYS.index(key) % PARTITIONS


def drift_at(key: str, i: int) -> DriftEvent:
    return DriftEvent(
        drift_id=f"{key}:v1:data:humidity:drift:{i}",
        drift_kind="data",
        stream="rooms",
        model_key=key,
        model_name="logistic",
        model_version=1,
        detector="ADWIN",
        feature="humidity",
        position=i,
        statistic=21.5,
        ts=START,  # a fixed time: the reference must agree
    )


def batch(first: int, n: int) -> list[Outcome]:
    """Outcomes ``first``..``first + n`` of every key; the second half's key d3 carries a data drift."""
    found = []
    for seed, key in enumerate(KEYS):
        for o in outcomes(first + n, stream="rooms", model_key=key, device_id=key[-2:], seed=seed, prefix="e"):
            if int(o.event_id[1:]) < first:
                continue
            if key == "rooms/d3" and o.event_id == f"e{FIRST + 40}":
                o = o.model_copy(update={"drift": [drift_at(key, FIRST + 40)]})
            found.append(o)
    return found


def produce(bootstrap: str, topic: str, batch: list[Outcome]) -> None:
    producer = make_producer(bootstrap, linger_ms=20)
    futures = [
        producer.send(topic, key=o.model_key.encode(), value=o.to_bytes(), partition=partition_of(o.model_key))
        for o in batch
    ]
    producer.flush()
    for future in futures:
        future.get(timeout=30)
    producer.close()


def write_config(tmp_path: Path, bootstrap: str) -> Path:
    topics = unique_topics("scale")
    topics["outcomes"]["partitions"] = PARTITIONS
    lines = [
        f'state_dir = "{tmp_path / "state"}"',
        "[kafka]",
        f'bootstrap_servers = "{bootstrap}"',
        "[checkpoints]",
        'secret = "a key both monitors share"',
        "[topics]",
        *(f'{role} = {{ name = "{t["name"]}", partitions = {t["partitions"]} }}' for role, t in topics.items()),
        "[monitor]",
        f'group_id = "monitor-{topics["outcomes"]["name"]}"',
        'webhook_token = "test-token-123"',
        "port = 0",
        # Checkpoints every 100 outcomes of a partition: the survivor restores the dead one's, then replays.
        "checkpoint_every_events = 100",
        "session_timeout_ms = 6000",
        "[streams.rooms]",
        'task = "binary"',
        'scope = "device"',
        "features = { temperature = {}, humidity = {} }",
    ]
    path = tmp_path / "monitors.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def scraped(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The monitor's own samples on ``url``/metrics, keyed by name and labels."""
    return figures(httpx.get(f"{url}/metrics", timeout=5).text)


def figures(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("driftline_") and not family.name.startswith(OWN)
        for s in family.samples
    }


def counted(found: dict) -> float:
    return sum(v for (name, _), v in found.items() if name == "driftline_monitor_outcomes_total")


def held(found: dict) -> set[str]:
    """The partitions a monitor holds: each shows its dropped-outcome counters."""
    return {dict(labels)["partition"] for (name, labels) in found if name == "driftline_monitor_outcomes_dropped_total"}


@pytest.fixture
def monitors(tmp_path: Path, bootstrap: str) -> Iterator[tuple[Path, dict[str, tuple[ManagedProcess, str]]]]:
    config = write_config(tmp_path, bootstrap)
    ensure_topics(bootstrap, load_settings(config).topics)
    started = {}
    for name, port in zip(("a", "b"), free_ports(2), strict=True):
        url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "driftline.cli", "monitor", "-c", str(config), "--port", str(port)]
        env = {**os.environ, "DRIFTLINE_MONITOR__INSTANCE_ID": f"monitor-{name}"}
        ready = partial(http_ok, f"{url}/healthz")
        started[name] = (ManagedProcess(f"monitor {name}", argv, tmp_path / f"{name}.log", ready, env=env), url)
    try:
        yield config, started
    finally:
        for process, _ in started.values():
            process.stop()


def test_the_survivor_of_two_monitors_counts_every_outcome_once(monitors, bootstrap: str) -> None:
    config, started = monitors
    settings = load_settings(config)
    topic = settings.topics.outcomes.name
    first = batch(0, FIRST)
    produce(bootstrap, topic, first)
    for process, _ in started.values():
        process.start(timeout=120)
    urls = {name: url for name, (_, url) in started.items()}

    def shared() -> bool:
        views = {name: scraped(url) for name, url in urls.items()}
        parts = {name: held(v) for name, v in views.items()}
        split = all(parts.values()) and set().union(*parts.values()) == {str(p) for p in range(PARTITIONS)}
        return split and not parts["a"] & parts["b"] and sum(map(counted, views.values())) == len(first)

    # Both hold partitions, none twice, and between them every outcome is counted once.
    wait_for(shared, "the two monitors sharing the partitions and counting the first outcomes", timeout=90)
    dead_held = held(scraped(urls["a"]))
    # Once a checkpoint of each of its partitions is committed (every 100 outcomes), kill one mid-stream.
    store = store_for(settings, bootstrap)
    try:
        wait_for(
            lambda: all(store.load(settings.monitor.group_id, f"p{p}") is not None for p in dead_held),
            "a checkpoint of every partition the first monitor holds",
        )
    finally:
        store.close()
    started["a"][0].kill()
    second = batch(FIRST, SECOND)
    produce(bootstrap, topic, second)
    total = len(first) + len(second)
    wait_for(lambda: counted(scraped(urls["b"])) == total, "the survivor counting every outcome", timeout=90)
    survivor = scraped(urls["b"])
    assert held(survivor) == {str(p) for p in range(PARTITIONS)} and dead_held

    # A single monitor on the same outcomes: its state fed partition by partition, rendered the same way.
    reference = build_state(settings)
    for o in first + second:
        reference.observe(o, f"p{partition_of(o.model_key)}")
    expected = figures(generate_latest(registry_for(reference)).decode())
    assert survivor.keys() == expected.keys()
    differ = {k: (survivor[k], v) for k, v in expected.items() if not math.isclose(survivor[k], v, rel_tol=1e-9)}
    assert not differ
    data = {k: v for k, v in survivor.items() if k[0] == "driftline_drift_detected_total" and ("kind", "data") in k[1]}
    assert sum(data.values()) == 1  # the data drift one outcome carried, counted once
