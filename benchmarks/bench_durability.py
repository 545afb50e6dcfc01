"""What durability costs: the trainer with exactly-once and checkpoints on vs off, checkpoint size and time,
and recovery (process start to first outcome) from a checkpoint of about 50 MB.

Run: ``.venv/bin/python benchmarks/bench_durability.py [--events N] [--rounds R] [--big-keys K]``;
writes benchmarks/results/durability.md. Not a test: figures depend on the machine. The contenders
run as `driftline trainer` processes on one local broker, on the same pre-filled events, in
alternating order round by round; each row gives min and median.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.progress import Progress
from river import datasets

from driftline.config import settings_from_dict
from driftline.contracts import SensorEvent
from driftline.kafkaio.broker import LocalBroker
from driftline.kafkaio.checkpoints import store_for
from driftline.kafkaio.clients import deliver, end_offset, make_consumer, make_producer
from driftline.kafkaio.topics import ensure_topics
from driftline.processes import free_port, http_ok
from driftline.rules import metric_names as names

RESULTS = Path(__file__).parent / "results" / "durability.md"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = list(datasets.Phishing())
SECRET = "benchmark checkpoint key, 32 bytes or so"


def stream(scope: str) -> dict[str, Any]:
    return {"task": "binary", "scope": scope, "model": "logistic", "features": {name: {} for name in ROWS[0][0]}}


def topics(run: str, events: str, partitions: int) -> dict[str, Any]:
    names = ("outcomes", "drift", "control", "deadletter", "checkpoints")
    return {
        "events": {"name": events, "partitions": partitions},
        "labels": {"name": f"{events}.labels", "partitions": partitions},
        **{role: {"name": f"{run}.{role}", "partitions": partitions if role == "checkpoints" else 1} for role in names},
    }


def fill(bootstrap: str, topic: str, devices: list[str], per_device: int, scope: str) -> int:
    records = []
    for d, device in enumerate(devices):
        for i in range(per_device):
            x, y = ROWS[(d + i) % len(ROWS)]
            event = SensorEvent(
                event_id=f"e{i}", device_id=device, stream="bench", ts=T0 + timedelta(seconds=i), features=x, label=y
            )
            key = "bench" if scope == "stream" else f"bench/{device}"
            records.append((topic, key.encode(), event.to_bytes()))
    for start in range(0, len(records), 50_000):
        deliver(make_producer(bootstrap), records[start : start + 50_000], timeout=120)
    return len(records)


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    first_outcome_s: float
    metrics: str


class Trainer:
    """A `driftline trainer` process with its own topics, group and state folder."""

    def __init__(self, bootstrap: str, tmp: Path, topic_set: dict[str, Any], scope: str, **trainer: Any) -> None:
        self.port = free_port()
        self.settings = settings_from_dict(
            {
                "kafka": {"bootstrap_servers": bootstrap},
                "topics": topic_set,
                "checkpoints": {"secret": SECRET},
                "streams": {"bench": stream(scope)},
                "state_dir": str(tmp),
            }
        )
        ensure_topics(bootstrap, self.settings.topics)
        self.env = {
            **os.environ,
            "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "DRIFTLINE_STATE_DIR": str(tmp),
            "DRIFTLINE_TOPICS": json.dumps(topic_set),
            "DRIFTLINE_CHECKPOINTS__SECRET": SECRET,
            "DRIFTLINE_STREAMS": json.dumps({"bench": stream(scope)}),
            "DRIFTLINE_TRAINER__PORT": str(self.port),
            "DRIFTLINE_TRAINER__SNAPSHOT_EVERY": "0",
            "DRIFTLINE_TRAINER__GROUP_ID": f"bench-{uuid.uuid4().hex[:8]}",
            **{
                f"DRIFTLINE_TRAINER__{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in trainer.items()
            },
        }
        self.config = tmp / "empty.toml"
        self.config.write_text("")
        self.log = tmp / "trainer.log"

    def run(self, expected: int, after_start: Any = None) -> Run:
        """Start the process, wait for ``expected`` committed outcomes, stop it; time and CPU of it all."""
        # Only outcomes committed after this start count: read from the current end.
        consumer: Consumer = make_consumer(self.settings.kafka.bootstrap_servers, None)
        spec = self.settings.topics.outcomes
        ends = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
        for tp in ends:
            tp.offset = end_offset(consumer, tp)
        consumer.assign(ends)
        began = time.perf_counter()
        with self.log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "driftline.cli", "trainer", "-c", str(self.config)],
                stdout=out, stderr=subprocess.STDOUT, env=self.env,
            )  # fmt: skip
        if after_start is not None:
            after_start()
        seen, first = 0, None
        deadline = time.monotonic() + 600
        while seen < expected and time.monotonic() < deadline and process.poll() is None:
            messages = [m for m in consumer.consume(5000, timeout=0.2) if m.error() is None]
            if messages and first is None:
                first = time.perf_counter() - began
            seen += len(messages)
        wall = time.perf_counter() - began
        consumer.close()
        metrics = ""
        if http_ok(f"http://127.0.0.1:{self.port}/metrics"):
            metrics = httpx.get(f"http://127.0.0.1:{self.port}/metrics").text
        process.send_signal(signal.SIGTERM)
        _, _status, usage = os.wait4(process.pid, 0)
        if seen < expected:
            raise RuntimeError(f"trainer committed {seen} of {expected} outcomes; see {self.log}")
        return Run(wall, usage.ru_utime + usage.ru_stime, first or wall, metrics)


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=30_000, help="events of the throughput runs")
    parser.add_argument("--keys", type=int, default=10, help="per-device model keys of the throughput runs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-keys", type=int, default=13_000, help="model keys of the ~50 MB checkpoint")
    args = parser.parse_args()
    console = Console()
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp_dir, LocalBroker(data_dir=Path(tmp_dir) / "kafka") as broker:
        tmp, bootstrap = Path(tmp_dir), broker.bootstrap_servers
        devices = [f"d{i}" for i in range(args.keys)]
        base = topics("fill", f"events-{uuid.uuid4().hex[:6]}", 6)
        ensure_topics(bootstrap, settings_from_dict({"topics": base}).topics)
        total = fill(bootstrap, base["events"]["name"], devices, args.events // args.keys, "device")
        contenders = {
            # Checkpoints more often than the default (10,000), so the runs write several.
            "exactly-once + checkpoints every 2,000 events": {
                "exactly_once": True,
                "checkpoints": True,
                "checkpoint_every_events": 2000,
            },
            "at-least-once, no checkpoints": {"exactly_once": False, "checkpoints": False},
        }
        results: dict[str, list[Run]] = {name: [] for name in contenders}
        with Progress(console=console) as progress:
            task = progress.add_task("throughput rounds", total=args.rounds * len(contenders))
            for r in range(args.rounds):
                order = list(contenders) if r % 2 == 0 else list(reversed(contenders))
                for name in order:
                    run = f"r{r}-{uuid.uuid4().hex[:6]}"
                    folder = tmp / run
                    folder.mkdir()
                    trainer = Trainer(
                        bootstrap, folder, topics(run, base["events"]["name"], 6), "device", **contenders[name]
                    )
                    results[name].append(trainer.run(total))
                    progress.advance(task)

        def row(name: str) -> str:
            runs = results[name]
            rates = [total / r.wall_s for r in runs]
            per_cpu = [total / r.cpu_s for r in runs]
            return (
                f"| {name} | {min(rates):,.0f} / {statistics.median(rates):,.0f} | "
                f"{min(per_cpu):,.0f} / {statistics.median(per_cpu):,.0f} | "
                f"{min(r.wall_s for r in runs):.1f} / {statistics.median(r.wall_s for r in runs):.1f} | "
                f"{min(r.cpu_s for r in runs):.1f} / {statistics.median(r.cpu_s for r in runs):.1f} |"
            )

        on, off = (results[name] for name in contenders)
        ratio = statistics.median(b.wall_s / a.wall_s for a, b in zip(on, off, strict=True))
        cpu_ratio = statistics.median(b.cpu_s / a.cpu_s for a, b in zip(on, off, strict=True))
        checkpoints = [metric(r.metrics, names.TRAINER_CHECKPOINTS) for r in on]
        sizes = [metric(r.metrics, names.TRAINER_CHECKPOINT_BYTES) for r in on]
        seconds = [
            metric(r.metrics, f"{names.TRAINER_CHECKPOINT_SECONDS}_sum")
            / max(metric(r.metrics, f"{names.TRAINER_CHECKPOINT_SECONDS}_count"), 1)
            for r in on
        ]

        # Recovery from a big checkpoint: many per-device models in one partition.
        console.print(f"recovery: {args.big_keys:,} model keys in one partition ...")
        big = topics("big", f"events-big-{uuid.uuid4().hex[:6]}", 1)
        ensure_topics(bootstrap, settings_from_dict({"topics": big}).topics)
        big_devices = [f"m{i}" for i in range(args.big_keys)]
        big_total = fill(bootstrap, big["events"]["name"], big_devices, 1, "device")
        folder = tmp / "big"
        folder.mkdir()
        trainer = Trainer(bootstrap, folder, topics("big-run", big["events"]["name"], 1), "device")
        trainer.run(big_total)  # learns every key; the clean stop writes the checkpoint
        store = store_for(trainer.settings, bootstrap)
        checkpoint = store.load(trainer.env["DRIFTLINE_TRAINER__GROUP_ID"], "p0")
        store.close()
        assert checkpoint is not None
        big_size = len(checkpoint.state)
        recoveries = []
        for r in range(args.rounds):
            one_more = SensorEvent(
                event_id=f"late-{r}", device_id="m0", stream="bench", ts=T0 + timedelta(days=1), features=ROWS[r][0],
                label=ROWS[r][1],
            )  # fmt: skip

            def post(event: SensorEvent = one_more) -> None:
                deliver(make_producer(bootstrap), [(big["events"]["name"], b"bench/m0", event.to_bytes())])

            recoveries.append(trainer.run(1, after_start=post).first_outcome_s)
            big_total += 1

        lines = [
            "# Durability: what exactly-once and checkpoints cost, and how fast a trainer recovers",
            "",
            f"`python benchmarks/bench_durability.py --events {args.events} --keys {args.keys} --rounds {args.rounds} "
            f"--big-keys {args.big_keys}` on {platform.node() or 'this machine'} ({os.cpu_count()} cores, "
            f"Python {platform.python_version()}), {time.strftime('%Y-%m-%d')}. One local Kafka broker, the trainer "
            "as its own `driftline trainer` process, the `logistic` preset, Phishing features, every event labelled.",
            "",
            f"## Throughput: {total:,} pre-filled events, {args.keys} per-device model keys over 6 partitions",
            "",
            "Wall time runs from process start (interpreter, imports, group join included) to the last outcome "
            "read back; CPU is the trainer process's own (user + system). Contenders alternate round by round.",
            "",
            "| trainer | events/s (min / median) | events per CPU-second (min / median) | wall s | CPU s |",
            "| --- | ---: | ---: | ---: | ---: |",
            *(row(name) for name in contenders),
            "",
            f"Median ratio of wall time, on / off, pair by pair: {1 / ratio:.2f}; of CPU time: {1 / cpu_ratio:.2f}.",
            "",
            "## Checkpoints during those runs",
            "",
            f"- checkpoints written per run (min / median): {min(checkpoints):.0f} / "
            f"{statistics.median(checkpoints):.0f}",
            f"- size of the last one (bytes, median): {statistics.median(sizes):,.0f}",
            f"- time to snapshot and produce one (ms, median of run means): {statistics.median(seconds) * 1000:.1f}",
            "",
            f"## Recovery from a checkpoint of {big_size / 1e6:.1f} MB ({args.big_keys:,} model keys in one partition)",
            "",
            "From process start to the first committed outcome of an event sent right after the start: the "
            "process must start, join the group, read and verify the checkpoint, unpickle every model, and then "
            "handle the event.",
            "",
            f"- seconds, min / median / max over {len(recoveries)} restarts: "
            f"{min(recoveries):.1f} / {statistics.median(recoveries):.1f} / {max(recoveries):.1f} (target: at most 10)",
            "",
        ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    console.print("\n".join(lines))


if __name__ == "__main__":
    main()
