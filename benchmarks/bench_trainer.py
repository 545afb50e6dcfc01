"""Trainer throughput: events/s of the pure core per model preset, and end to end through a real Kafka.

Run: ``.venv/bin/python benchmarks/bench_trainer.py [--events N]``; writes benchmarks/results/trainer.md.
Not a test: figures depend on the machine; compare rows measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import track
from river import datasets

from driftline.config import settings_from_dict
from driftline.config.settings import Settings
from driftline.contracts import Outcome, SensorEvent
from driftline.kafkaio.broker import LocalBroker
from driftline.kafkaio.clients import deliver, make_consumer, make_producer
from driftline.kafkaio.topics import ensure_topics
from driftline.processes import ManagedProcess, free_port, http_ok
from driftline.trainer.core import TrainerCore

RESULTS = Path(__file__).parent / "results" / "trainer.md"
PRESETS = ["logistic", "naive_bayes", "hoeffding", "forest"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_events(n: int, stream: str) -> list[SensorEvent]:
    rows = list(datasets.Phishing())
    return [
        SensorEvent(
            event_id=f"e{i}",
            device_id="bench",
            stream=stream,
            ts=T0 + timedelta(milliseconds=i),
            features=rows[i % len(rows)][0],
            label=rows[i % len(rows)][1],
        )
        for i in range(n)
    ]


def settings_for(model: str, **extra: object) -> Settings:
    x, _ = next(iter(datasets.Phishing()))
    stream = {"task": "binary", "model": model, "features": {name: {} for name in x}}
    return settings_from_dict({"streams": {"bench": stream}, "trainer": {"snapshot_every": 0}, **extra})


def bench_core(events: list[SensorEvent], model: str) -> float:
    core = TrainerCore(settings_for(model))
    began = time.perf_counter()
    for event in events:
        core.on_event(event)
    return len(events) / (time.perf_counter() - began)


def bench_kafka(events: list[SensorEvent], model: str) -> tuple[float, float]:
    """(events/s produced with acks=all, events/s from trainer start to the last outcome read).

    The trainer runs as its own process (`driftline trainer`), as in production, so the reading
    consumer here does not share its interpreter.
    """
    with tempfile.TemporaryDirectory() as tmp, LocalBroker(data_dir=Path(tmp) / "kafka") as broker:
        settings = settings_for(model, kafka={"bootstrap_servers": broker.bootstrap_servers}, state_dir=tmp)
        ensure_topics(broker.bootstrap_servers, settings.topics)
        began = time.perf_counter()
        deliver(
            make_producer(broker.bootstrap_servers),
            [(settings.topics.events.name, b"bench", event.to_bytes()) for event in events],
            timeout=120,
        )
        produced = len(events) / (time.perf_counter() - began)

        config = Path(tmp) / "empty.toml"
        config.write_text("")
        port = free_port()
        env = {
            **os.environ,
            "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "DRIFTLINE_STATE_DIR": tmp,
            "DRIFTLINE_TRAINER__PORT": str(port),
            "DRIFTLINE_TRAINER__SNAPSHOT_EVERY": "0",
            "DRIFTLINE_STREAMS": json.dumps({"bench": settings.streams["bench"].model_dump(mode="json")}),
        }
        trainer = ManagedProcess(
            "trainer",
            [sys.executable, "-m", "driftline.cli", "trainer", "--config", str(config)],
            Path(tmp) / "trainer.log",
            ready=lambda: http_ok(f"http://127.0.0.1:{port}/healthz"),
            env=env,
        )
        consumer = make_consumer(broker.bootstrap_servers, "bench")
        consumer.subscribe([settings.topics.outcomes.name])
        with trainer:
            began = time.perf_counter()
            seen, last = 0, None
            while seen < len(events):
                messages = [m for m in consumer.consume(5000, timeout=0.5) if m.error() is None]
                seen += len(messages)
                last = messages[-1] if messages else last
            elapsed = time.perf_counter() - began
        assert last is not None and Outcome.model_validate_json(last.value()).learned
        consumer.close()
        return produced, len(events) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="events per measurement")
    args = parser.parse_args()
    console = Console()
    events = make_events(args.events, "bench")
    rows = []
    for model in track(PRESETS, description="core, per preset", console=console):
        rows.append((model, bench_core(events, model)))
    console.print("through Kafka (logistic): starting a local broker ...")
    produced, end_to_end = bench_kafka(events, "logistic")

    lines = [
        "# Trainer throughput",
        "",
        f"`python benchmarks/bench_trainer.py --events {args.events}` on {platform.node() or 'this machine'} "
        f"({platform.processor() or platform.machine()}, Python {platform.python_version()}), "
        f"{time.strftime('%Y-%m-%d')}. Phishing features (9 numbers), every event labelled "
        "(predict, then learn).",
        "",
        "| path | model | events/s |",
        "| --- | --- | ---: |",
        *(f"| core (no Kafka) | {model} | {rate:,.0f} |" for model, rate in rows),
        f"| produce to Kafka, acks=all | - | {produced:,.0f} |",
        f"| Kafka → `driftline trainer` process → outcomes topic, one model key | logistic | {end_to_end:,.0f} |",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    console.print("\n".join(lines))


if __name__ == "__main__":
    main()
