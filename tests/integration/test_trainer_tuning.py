"""Online tuning behind a real broker: the trainer serves the candidate River's selector chose, and keeps it.

A stream's search space holds a learning rate far too small, a good one and a middling one. The
trainer's outcomes are compared with River's own selector fed the same events in the same order:
the model name each outcome carries is the candidate that selector served at that event, and after
a restart (state from the checkpoint topic) the trainer goes on exactly as an uninterrupted selector.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from kafka_helpers import TopicReader, produce
from river import datasets
from test_trainer_recovery import Processes

from driftline.config.settings import Settings
from driftline.contracts import Outcome, SensorEvent
from driftline.learning.model_input import ModelInput
from driftline.trainer.runner import TrainerRunner
from driftline.tuning import build_tuned, serving

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = list(datasets.Phishing())
FIRST, SECOND = 800, 250
PROBES = [x for x, _ in ROWS[-50:]]
GRID = {"LogisticRegression.optimizer": ["optim.SGD(0.00001)", "optim.SGD(0.1)", "optim.SGD(0.001)"]}
GOOD = "optimizer=optim.SGD(0.1)"


def tuned_stream() -> dict[str, Any]:
    return {
        "task": "binary",
        "model": "logistic",
        "tuning": {"grid": GRID, "burn_in": 50, "epsilon": 0.2},
        "features": {name: {"missing": "keep"} for name in ROWS[0][0]},
    }


def events(first: int, last: int) -> list[SensorEvent]:
    return [
        SensorEvent(event_id=f"e{i}", device_id="d1", stream="phish", ts=T0 + timedelta(seconds=i), features=x, label=y)
        for i, (x, y) in enumerate(ROWS[first:last], start=first)
    ]


def in_order(outcomes: list[Outcome]) -> list[Outcome]:
    return sorted(outcomes, key=lambda o: int(o.event_id[1:]))


def tuning_of(url: str) -> dict[str, Any]:
    (model,) = httpx.get(f"{url}/models", timeout=10).json()
    return model


def probe(url: str) -> list[Any]:
    with httpx.Client() as client:
        return [
            client.post(f"{url}/predict", json={"model_key": "phish", "features": x}, timeout=10).json() for x in PROBES
        ]


def oracle_run(settings: Settings) -> list[tuple[str, Any]]:
    """River's selector built from the same config, predicting then learning each event: (served name, prediction)."""
    oracle = build_tuned("logistic", settings.streams["phish"].tuning, "binary")  # type: ignore[arg-type]
    expected: list[tuple[str, Any]] = []
    inputs = ModelInput()
    for x, y in ROWS[: FIRST + SECOND]:
        encoded = inputs.encode(x).numbers
        expected.append((f"logistic [{serving(oracle)}]", oracle.predict_one(encoded)))
        oracle.learn_one(encoded, y)
    return expected


def test_a_tuned_stream_serves_the_candidate_chosen_online_and_keeps_it_across_a_restart(
    make_settings, bootstrap
) -> None:
    settings = make_settings({"phish": tuned_stream()})
    expected = oracle_run(settings)

    reader = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    produce(bootstrap, settings.topics.events.name, (("phish", e) for e in events(0, FIRST)))
    with TrainerRunner(settings, bootstrap, port=0) as runner:
        first = in_order(reader.count(FIRST))
        before = tuning_of(runner.url)
        probes = probe(runner.url)
        gauge = httpx.get(f"{runner.url}/metrics", timeout=10).text

    assert [(o.model_name, o.prediction) for o in first] == expected[:FIRST]
    assert {o.model_name for o in first[-100:]} == {f"logistic [{GOOD}]"}  # chosen online, not configured
    assert before["model_name"] == f"logistic [{GOOD}]" and before["tuning"]["serving"] == GOOD
    ranked = sorted(before["tuning"]["candidates"], key=lambda c: c["score"], reverse=True)
    assert ranked[0]["name"] == GOOD and sum(c["learned"] for c in ranked) >= FIRST
    assert {p["model_name"] for p in probes} == {f"logistic [{GOOD}]"}
    line = f'driftline_trainer_tuning_serving{{candidate="{GOOD}",model_key="phish",stream="phish"}} 1.0'
    assert line in gauge

    with TrainerRunner(settings, bootstrap, port=0) as runner:
        assert probe(runner.url) == probes  # the restored selector serves the same candidate, the same way
        produce(bootstrap, settings.topics.events.name, (("phish", e) for e in events(FIRST, FIRST + SECOND)))
        everything = in_order(reader.count(FIRST + SECOND))
        after = tuning_of(runner.url)
    reader.close()

    # Restored with its policy's random state: it goes on as the uninterrupted selector does.
    assert [o.event_id for o in everything] == [f"e{i}" for i in range(FIRST + SECOND)]  # nothing learned twice
    assert [(o.model_name, o.prediction) for o in everything[FIRST:]] == expected[FIRST:]
    assert after["learned"] == FIRST + SECOND and after["tuning"]["serving"] == GOOD


def process_config(settings: Settings, tmp_path: Path) -> Path:
    """The test's settings as a config file for `driftline trainer` processes, committing and checkpointing often."""
    stream = tuned_stream()
    lines = [
        f'state_dir = "{settings.state_dir}"',
        "[kafka]",
        f'bootstrap_servers = "{settings.kafka.bootstrap_servers}"',
        "[checkpoints]",
        'secret = "a key every life of the trainer shares"',
        "[topics]",
        *(f'{role} = {{ name = "{topic.name}", partitions = {topic.partitions} }}' for role, topic in settings.topics),
        "[trainer]",
        f'group_id = "trainer-tuning-{uuid.uuid4().hex[:6]}"',
        "max_poll_records = 40",
        "commit_interval_s = 0.05",
        "checkpoint_every_events = 150",
        "[streams.phish]",
        'task = "binary"',
        'model = "logistic"',
        "features = { " + ", ".join(f'{name} = {{ missing = "keep" }}' for name in stream["features"]) + " }",
        "[streams.phish.tuning]",
        "grid = { " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in GRID.items()) + " }",
        *(f"{key} = {json.dumps(value)}" for key, value in stream["tuning"].items() if key != "grid"),
    ]
    path = tmp_path / "tuned.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_tuned_trainer_killed_9_times_over_commits_the_uninterrupted_selector_s_outcomes(
    make_settings, bootstrap, tmp_path: Path
) -> None:
    """The selector's state (candidates, scores, the policy's random state) travels in checkpoints with offsets."""
    settings = make_settings({"phish": tuned_stream()})
    expected = oracle_run(settings)
    config = process_config(settings, tmp_path)
    produce(bootstrap, settings.topics.events.name, (("phish", e) for e in events(0, FIRST + SECOND)))
    log = tmp_path / "trainer.log"
    outcomes = TopicReader(bootstrap, settings.topics.outcomes.name, Outcome)
    processes = Processes()
    try:
        # A checkpoint half written, then a transaction left open, then killed from outside midway.
        for point in ("checkpoint:2", "commit:2"):
            life = processes.start(config, "tuned", log, crash_at=point)
            assert life.wait_exit(timeout=90) == -signal.SIGKILL, log.read_text()[-3000:]
        committed_before = len(outcomes.drain(1.0))
        assert committed_before < FIRST + SECOND - 200, "the crashes came too late to leave work for the others"
        life = processes.start(config, "tuned", log)
        outcomes.until(lambda seen: len(seen) >= committed_before + 100, timeout=120)
        life.kill()
        final = processes.start(config, "tuned", log)
        outcomes.count(FIRST + SECOND, timeout=180)
        committed = in_order(outcomes.drain(2.0))
        served = final.models()["phish"]
        assert final.stop() == 0
    finally:
        outcomes.close()
        for process in processes.started:
            process.kill()
    # Every life after the first restored the selector from a checkpoint the one before committed.
    assert log.read_text().count(" from checkpoint ") >= 3

    assert Counter(o.event_id for o in committed) == Counter(f"e{i}" for i in range(FIRST + SECOND))
    assert [(o.model_name, o.prediction) for o in committed] == expected
    assert served["tuning"]["serving"] == GOOD and served["learned"] == FIRST + SECOND
