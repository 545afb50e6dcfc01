"""Models that survive: kill -9, clean restarts, three instances losing one, tampered checkpoints.

Events go through the collector's HTTP API into the real broker; trainers run as real
`driftline trainer` processes where they are killed. What they committed is read back with
kafka-python (read_committed), the way an outside consumer sees it, and compared with an
uninterrupted run on the same events.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka_helpers import TopicReader, make_consumer, produce
from river import datasets
from typer.testing import CliRunner

from conftest import unique_topics
from driftline.cli import app
from driftline.collector.app import create_app
from driftline.collector.auth import hash_token
from driftline.collector.intake import Ingestor
from driftline.collector.publisher import Publisher
from driftline.config import load_settings
from driftline.config.settings import Settings
from driftline.contracts import ControlAck, ControlCommand, Outcome
from driftline.httpserver import BackgroundServer, exposed_total
from driftline.kafkaio.topics import ensure_topics
from driftline.monitor.service import MonitorService
from driftline.processes import free_port, http_ok, wait_until
from driftline.trainer.runner import TrainerRunner

ROWS = list(datasets.Phishing())
FEATURES = list(ROWS[0][0])
DEVICES = ("d1", "d2", "d3")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
#: Rows no device streams: the probes that compare two models.
PROBES = [x for x, _ in ROWS[-100:]]
STREAMED = ROWS[:-100]
#: In the kill -9 test device d3's labels are flipped for these rows (A -> B -> A), and its drift judge is quick
#: (cold resets): two drifts fill its library, and after the second its first model is recalled. So the
#: checkpoints the lives restore hold a library, a trial, and a recalled model.
FLIPPED = range(400, 750)
RECURRING_DRIFT = {"warmup": 100, "debounce": 100, "on_alert": "cold_reset", "library": 3, "recall_window": 50}


def write_config(
    tmp_path: Path,
    bootstrap: str,
    name: str,
    topics: dict[str, Any],
    monitor: dict[str, Any] | None = None,
    drift: dict[str, Any] | None = None,
    **trainer: Any,
) -> Path:
    """A config file of one labelled per-device stream, with the given topics, trainer, monitor and drift settings."""
    lines = [
        f'state_dir = "{tmp_path / "state"}"',
        "[kafka]",
        f'bootstrap_servers = "{bootstrap}"',
        "[checkpoints]",
        'secret = "a key shared by every instance of the test"',
        "[topics]",
        *(f'{role} = {{ name = "{t["name"]}", partitions = {t["partitions"]} }}' for role, t in topics.items()),
        "[trainer]",
        f'group_id = "trainer-{name}-{uuid.uuid4().hex[:6]}"',
        *(f"{key} = {json.dumps(value)}" for key, value in trainer.items()),
        "[monitor]",
        f'group_id = "monitor-{name}-{uuid.uuid4().hex[:6]}"',
        "port = 0",
        *(f"{key} = {json.dumps(value)}" for key, value in (monitor or {}).items()),
        *(f'[devices.{d}]\ntoken_sha256 = "{hash_token("token-" + d)}"' for d in DEVICES),
        "[streams.phish]",
        'task = "binary"',
        'scope = "device"',
        'model = "logistic"',
        "features = { " + ", ".join(f"{f} = {{}}" for f in FEATURES) + " }",
        *(["[streams.phish.drift]"] if drift else []),
        *(f"{key} = {json.dumps(value)}" for key, value in (drift or {}).items()),
    ]
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def topics_with(events: dict[str, Any], partitions: int = 3) -> dict[str, Any]:
    """Fresh topics of one run, reading the given events and labels topics."""
    topics = unique_topics()
    topics["events"], topics["labels"] = events["events"], events["labels"]
    topics["checkpoints"]["partitions"] = partitions
    return topics


def post_events(
    settings: Settings, rows: list[tuple[dict, Any]], first: int = 0, flipped: dict[str, range] | None = None
) -> int:
    """Every device posts ``rows`` (labels inline) through the collector's HTTP API; returns events accepted.

    ``flipped``: device -> the rows whose (boolean) label it posts negated.
    """
    publisher = Publisher(settings.kafka.bootstrap_servers, send_timeout_s=30)
    accepted = 0
    try:
        with BackgroundServer(create_app(Ingestor(settings, publisher))) as server, httpx.Client() as client:
            for device in DEVICES:
                batch = [
                    {
                        "event_id": f"e{first + i}",
                        "device_id": device,
                        "stream": "phish",
                        "ts": (T0 + timedelta(seconds=first + i)).isoformat(),
                        "features": x,
                        "label": (not y) if i in (flipped or {}).get(device, ()) else y,
                    }
                    for i, (x, y) in enumerate(rows)
                ]
                for start in range(0, len(batch), 250):
                    response = client.post(
                        f"{server.url}/v1/streams/phish/events",
                        json=batch[start : start + 250],
                        headers={"X-Device-Id": device, "Authorization": f"Bearer token-{device}"},
                        timeout=60,
                    )
                    assert response.status_code in (200, 202), response.text
                    accepted += len(batch[start : start + 250])
    finally:
        publisher.close()
    return accepted


class ServiceProcess:
    """`driftline trainer` (or `monitor`) as a process of its own, to be killed with SIGKILL."""

    def __init__(
        self, config: Path, instance: str, log: Path, crash_at: str | None = None, service: str = "trainer"
    ) -> None:
        self.port = free_port()
        env = {**os.environ, f"DRIFTLINE_{service.upper()}__INSTANCE_ID": instance}
        env.pop("DRIFTLINE_CRASH_AT", None)
        if crash_at:
            env["DRIFTLINE_CRASH_AT"] = crash_at
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "driftline.cli", service, "-c", str(config), "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def models(self) -> dict[str, dict[str, Any]]:
        try:
            return {m["model_key"]: m for m in httpx.get(f"{self.url}/models", timeout=5).json()}
        except httpx.HTTPError:
            return {}

    def wait_exit(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


def committed_outcomes(settings: Settings, expected: int, idle_s: float = 3.0) -> list[Outcome]:
    reader = TopicReader(
        settings.kafka.bootstrap_servers, settings.topics.outcomes.name, Outcome, settings.topics.outcomes.partitions
    )
    try:
        reader.count(expected, timeout=240)
        return reader.drain(idle_s)  # and nothing more after them
    finally:
        reader.close()


def comparable(outcome: Outcome) -> dict[str, Any]:
    """The outcome less the wall clock: when it was made, how long it took, when its drift events were detected."""
    return outcome.model_dump(mode="json", exclude={"ts": True, "predict_ms": True, "learn_ms": True,
                                                    "drift": {"__all__": {"ts"}}})  # fmt: skip


def probe(url: str, keys: list[str]) -> list[Any]:
    with httpx.Client() as client:
        return [
            client.post(f"{url}/predict", json={"model_key": key, "features": x}, timeout=10).json()
            for key in keys
            for x in PROBES
        ]


@contextmanager
def monitor(settings: Settings) -> Iterator[MonitorService]:
    with MonitorService(settings, settings.kafka.bootstrap_servers, port=0) as service:
        yield service


def prequential_counts(service: MonitorService, total: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while sum(service.state.accepted.values()) < total and time.monotonic() < deadline:
        time.sleep(0.2)
    with service.state.lock:
        return {
            "accepted": dict(service.state.accepted),
            "labels": {key: dict(series.labels) for key, series in service.state.series.items()},
            "dropped": dict(service.state.dropped),
        }


def took_over(log: Path) -> int:
    """How many lives logging to ``log`` have taken over (restored) their partitions so far."""
    return log.read_text().count("took over p0") if log.exists() else 0


def exit_while_counting(process: ServiceProcess, counter: str, log: Path, stalled_s: float = 60.0) -> int | None:
    """The exit code of ``process``, set to crash at a point it reaches after some work: waited for as long as
    it works (``counter`` on its /metrics rises); a process that stops counting for ``stalled_s`` fails.

    How long the work takes depends on the machine; a process that stops counting (stuck, or done without
    reaching its crash point) is the failure to report, with what it counted.
    """
    counted, since = -1.0, time.monotonic()
    while (code := process.process.poll()) is None:
        try:
            now = exposed_total(httpx.get(f"{process.url}/metrics", timeout=5).text, counter)
        except httpx.HTTPError:
            now = counted  # not serving yet (or just killed)
        if now > counted:
            counted, since = now, time.monotonic()
        elif time.monotonic() - since > stalled_s:
            pytest.fail(f"{counter} stuck at {counted} for {stalled_s:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return code


class Processes:
    """Every trainer process a test starts, killed at the end whatever happened."""

    def __init__(self) -> None:
        self.started: list[ServiceProcess] = []

    def start(
        self, config: Path, instance: str, log: Path, crash_at: str | None = None, service: str = "trainer"
    ) -> ServiceProcess:
        process = ServiceProcess(config, instance, log, crash_at, service)
        self.started.append(process)
        return process


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    yield started
    for process in started.started:
        process.kill()


@pytest.fixture
def events_topics(bootstrap: str, tmp_path: Path) -> dict[str, Any]:
    """Events and labels topics filled through the collector, shared by an interrupted and a reference run."""
    topics = unique_topics("rec")
    config = write_config(tmp_path, bootstrap, "post", topics)
    settings = load_settings(config)
    ensure_topics(bootstrap, settings.topics)
    return {**topics, "settings": settings}


def test_kill_9_at_random_points_gives_the_uninterrupted_run_exactly(
    bootstrap: str, tmp_path: Path, events_topics: dict[str, Any], processes: Processes
) -> None:
    total = post_events(events_topics["settings"], STREAMED, flipped={"d3": FLIPPED})
    assert total == len(STREAMED) * len(DEVICES)

    # The interrupted run: small batches and frequent commits so every life gets somewhere.
    knobs = {"max_poll_records": 40, "commit_interval_s": 0.05, "checkpoint_every_events": 300}
    # The monitor commits after every fetched batch (at most 500 outcomes), not every 50 ms: checkpoints come
    # only with commits, and a quick monitor handled all 3,450 outcomes in two commits, so two checkpoints,
    # and never reached the third one it is to be killed at. Now one comes every 500 to 999 outcomes.
    monitor_knobs = {"commit_interval_s": 0.001, "checkpoint_every_events": 500}
    faulty = write_config(
        tmp_path, bootstrap, "faulty", topics_with(events_topics), monitor_knobs, RECURRING_DRIFT, **knobs
    )
    faulty_settings = load_settings(faulty)
    ensure_topics(bootstrap, faulty_settings.topics)
    # Six lives end in kill -9: at crash points (the process kills itself there) and from outside
    # once a random share of the outcomes is committed. Counts are small so every life gets there.
    rng = random.Random(20261130)
    plan: list[tuple[str, Any]] = [
        ("crash", "checkpoint:1"),  # chunks written, manifest not: a checkpoint half written
        ("crash", f"commit:{rng.randint(2, 3)}"),  # outcomes produced, their transaction open
        ("outside", rng.uniform(0.25, 0.40)),
        ("crash", f"checkpoint:{rng.randint(1, 2)}"),
        ("outside", rng.uniform(0.55, 0.70)),
        ("crash", f"commit:{rng.randint(2, 3)}"),
    ]
    logs = tmp_path / "trainer.log"
    outcomes_topic = faulty_settings.topics.outcomes
    progress = TopicReader(bootstrap, outcomes_topic.name, Outcome, outcomes_topic.partitions)
    try:
        for kind, point in plan:
            if kind == "outside":
                lives_so_far = took_over(logs)
                life = processes.start(faulty, "fault", logs)
                # Killed at work: once it restored its partitions, and the share is committed. The lives
                # before it may have committed the share already; killed before it took over, this life
                # would restore nothing (a loaded CI run killed one that early).
                assert wait_until(lambda n=lives_so_far: took_over(logs) > n, timeout=120, step=0.1) is not None
                progress.until(lambda seen, share=point: len(seen) >= share * total, timeout=120)
                life.kill()
                continue
            life = processes.start(faulty, "fault", logs, crash_at=point)
            code = life.wait_exit(timeout=90)
            assert code == -signal.SIGKILL, f"life with {point} ended with {code}; log: {logs.read_text()[-3000:]}"
            if point.startswith("checkpoint"):
                # The half-written checkpoint's transaction is aborted: every stored checkpoint verifies.
                result = CliRunner().invoke(app, ["checkpoints", "verify", "-c", str(faulty)])
                assert result.exit_code == 0 and "REFUSED" not in result.output, result.output
        lives_so_far = took_over(logs)
        final = processes.start(faulty, "fault", logs)
        # The last planned life may have committed every outcome already: the count alone would not wait for
        # the final life, whose API the probes below need (a loaded run probed it before it listened).
        assert (
            wait_until(lambda: took_over(logs) > lives_so_far and http_ok(f"{final.url}/healthz"), 120, 0.1) is not None
        ), logs.read_text()[-3000:]
        progress.count(total, timeout=240)
        faulty_outcomes = progress.drain(3.0)  # and nothing more after them
    finally:
        progress.close()
    keys = [f"phish/{d}" for d in DEVICES]
    faulty_probes = probe(final.url, keys)
    faulty_models = final.models()
    assert final.stop() == 0
    assert took_over(logs) >= len(plan) + 1  # every life restored its partitions

    # The uninterrupted run on the same events.
    reference = write_config(tmp_path, bootstrap, "reference", topics_with(events_topics), drift=RECURRING_DRIFT)
    reference_settings = load_settings(reference)
    ensure_topics(bootstrap, reference_settings.topics)
    with TrainerRunner(reference_settings, bootstrap, port=0) as runner:
        reference_outcomes = committed_outcomes(reference_settings, total)
        reference_probes = probe(runner.url, keys)
        reference_models = {m["model_key"]: m for m in httpx.get(f"{runner.url}/models").json()}

    per_event = Counter((o.device_id, o.event_id) for o in faulty_outcomes if o.label is not None)
    assert len(per_event) == total and set(per_event.values()) == {1}, "exactly one labelled outcome per event"
    assert len(faulty_outcomes) == total
    by_id = {o.outcome_id: comparable(o) for o in reference_outcomes}
    assert {o.outcome_id: comparable(o) for o in faulty_outcomes} == by_id
    assert faulty_probes == reference_probes  # predictions and probabilities, bit for bit (JSON keeps floats exact)
    assert faulty_probes[0]["proba"] and len(faulty_probes) == 100 * len(DEVICES)
    for key in keys:
        assert faulty_models[key]["learned"] == reference_models[key]["learned"] == len(STREAMED)
        library = ("model_version", "recalled_from", "library")
        expected = (4, 1, [2, 3]) if key == "phish/d3" else (1, None, [])
        assert tuple(faulty_models[key][f] for f in library) == tuple(reference_models[key][f] for f in library)
        assert tuple(reference_models[key][f] for f in library) == expected  # d3: its first model recalled

    # The monitor sees the same prequential counts on both, also when it is killed -9 midway.
    with monitor(reference_settings) as service:
        expected = prequential_counts(service, total)
    log = tmp_path / "monitor.log"
    killed = processes.start(faulty, socket.gethostname(), log, crash_at="checkpoint:3", service="monitor")
    code = exit_while_counting(killed, "driftline_monitor_outcomes_total", log)
    assert code == -signal.SIGKILL, log.read_text()[-3000:]
    with monitor(faulty_settings) as service:  # the same instance id: it takes the killed one's place
        assert prequential_counts(service, total) == expected
    assert expected["labels"] == {("phish", "logistic"): {"prequential": total}}


def untimed(models: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """/models without the candidates' times per event, which the probes themselves move."""
    return {
        key: {**m, "figures": [{k: v for k, v in f.items() if not k.endswith("_us")} for f in m["figures"]]}
        for key, m in models.items()
    }


def test_a_clean_restart_keeps_every_model_and_serves_at_once(
    bootstrap: str, tmp_path: Path, events_topics: dict[str, Any]
) -> None:
    total = post_events(events_topics["settings"], STREAMED[:300])
    config = write_config(tmp_path, bootstrap, "restart", topics_with(events_topics))
    settings = load_settings(config)
    ensure_topics(bootstrap, settings.topics)
    keys = [f"phish/{d}" for d in DEVICES]
    with TrainerRunner(settings, bootstrap, port=0) as runner:
        committed_outcomes(settings, total, idle_s=0.5)
        reset = ControlCommand(
            command_id="r1", action="reset", stream="phish", model_key="phish/d2", mode="cold", issuer="test"
        )
        produce(bootstrap, settings.topics.control.name, [("phish", reset)])
        acks = TopicReader(bootstrap, settings.topics.acks.name, ControlAck)
        assert [(a.model_key, a.status, a.model_version) for a in acks.count(1)] == [("phish/d2", "applied", 2)]
        acks.close()
        before = {m["model_key"]: m for m in httpx.get(f"{runner.url}/models").json()}
        probes = probe(runner.url, keys)
    began = time.monotonic()
    with TrainerRunner(settings, bootstrap, port=0) as runner:
        took = time.monotonic() - began
        after = {m["model_key"]: m for m in httpx.get(f"{runner.url}/models").json()}
        assert probe(runner.url, keys) == probes  # /predict answers as soon as start() returns
    assert untimed(after) == untimed(before) and {m["learned"] for m in after.values()} == {300}
    assert {key: m["model_version"] for key, m in after.items()} == {"phish/d1": 1, "phish/d2": 2, "phish/d3": 1}
    assert took < 20, f"the restarted trainer took {took:.1f}s to get its partitions back"


def test_three_instances_lose_one_and_the_survivors_continue_its_models(
    bootstrap: str, tmp_path: Path, events_topics: dict[str, Any], processes: Processes
) -> None:
    half = len(STREAMED) // 2
    first = post_events(events_topics["settings"], STREAMED[:half])
    config = write_config(tmp_path, bootstrap, "group", topics_with(events_topics), checkpoint_every_events=200)
    settings = load_settings(config)
    ensure_topics(bootstrap, settings.topics)
    logs = tmp_path / "group.log"
    instances = {name: processes.start(config, name, logs) for name in ("a", "b", "c")}
    try:
        committed_outcomes(settings, first, idle_s=0.5)
        # The outcomes can all be committed while a late joiner still moves partitions: wait for the
        # group to settle, every key held by one instance, before choosing whom to kill.
        every_key = {f"phish/{d}" for d in DEVICES}
        held: dict[str, set[str]] = {}

        def settled() -> bool:
            held.update({name: set(p.models()) for name, p in instances.items()})
            return set().union(*held.values()) == every_key and sum(map(len, held.values())) == len(every_key)

        assert wait_until(settled, timeout=60, step=0.2) is not None, f"the group never settled: {held}"
        victim = next(name for name, keys in held.items() if keys)
        instances.pop(victim).kill()
        second = post_events(events_topics["settings"], STREAMED[half:], first=half)
        outcomes = committed_outcomes(settings, first + second)
        assert len(outcomes) == first + second
        answers = {key: probe(p.url, [key]) for p in instances.values() for key in p.models()}
        learned = {k: m["learned"] for p in instances.values() for k, m in p.models().items()}
    finally:
        for process in instances.values():
            process.stop()
    assert learned == {f"phish/{d}": len(STREAMED) for d in DEVICES}

    reference = write_config(tmp_path, bootstrap, "single", topics_with(events_topics))
    reference_settings = load_settings(reference)
    ensure_topics(bootstrap, reference_settings.topics)
    with TrainerRunner(reference_settings, bootstrap, port=0) as runner:
        committed_outcomes(reference_settings, first + second, idle_s=0.5)
        expected = {key: probe(runner.url, [key]) for key in answers}
    assert answers == expected


def test_a_tampered_checkpoint_is_refused_and_never_loaded(
    bootstrap: str, tmp_path: Path, events_topics: dict[str, Any], processes: Processes
) -> None:
    total = post_events(events_topics["settings"], STREAMED[:50])
    config = write_config(tmp_path, bootstrap, "tamper", topics_with(events_topics, partitions=1))
    settings = load_settings(config)
    ensure_topics(bootstrap, settings.topics)
    with TrainerRunner(settings, bootstrap, port=0):
        committed_outcomes(settings, total, idle_s=0.5)
    # Overwrite one unit's manifest with forged offsets, keeping the old signature.
    consumer = make_consumer(bootstrap, settings.topics.checkpoints.name, group_id=None, consumer_timeout_ms=3000)
    manifests = {r.key: json.loads(r.value) for r in consumer if r.value and r.key.count(b"/") == 1}
    consumer.close()
    name, manifest = next(iter(manifests.items()))
    manifest["offsets"] = dict.fromkeys(manifest["offsets"], 0)
    from kafka_helpers import make_producer

    producer = make_producer(bootstrap)
    producer.send(settings.topics.checkpoints.name, key=name, value=json.dumps(manifest).encode(), partition=0).get(10)
    producer.close()

    result = CliRunner().invoke(app, ["checkpoints", "verify", "-c", str(config)])
    assert result.exit_code == 1 and f"REFUSED  checkpoint {name.decode()}: signature does not match" in result.output
    runner = TrainerRunner(settings, bootstrap, port=0)
    with pytest.raises(RuntimeError, match=rf"CheckpointError: checkpoint {name.decode()}: signature does not match"):
        runner.start(timeout=60)
    assert runner.core.slots == {}  # nothing of it was loaded
    log = tmp_path / "refused.log"
    assert processes.start(config, "tamper", log).wait_exit(timeout=90) == 1
    refusal = f"error: trainer loop stopped: CheckpointError: checkpoint {name.decode()}: signature does not match"
    assert refusal in log.read_text() and "Traceback" not in log.read_text(), log.read_text()[-2000:]
