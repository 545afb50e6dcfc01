"""`driftline bench monitor`: the monitor's CPU per outcome against the trainer's per event, in one process.

The trainer's :class:`~driftline.trainer.core.TrainerCore` turns River's Phishing events (one
stream, ``logistic``, every event labelled) into outcome bytes, as ``driftline trainer`` writes
them; the monitor's handler work is then timed on those bytes: decode
(:func:`~driftline.monitor.decode.decode_outcome`) and :meth:`MonitorState.observe`. The
trainer's is timed on the event bytes: parse, ``on_event``, encode. No Kafka: the loop costs both
about the same per record, so the ratio is that of the services' own work. Rounds alternate which
goes first, each on fresh state; min and median of the rounds are reported, and the monitor's parts
(decode against pydantic's ``parse``, dedupe, scores) beside them.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from river import datasets

from driftline.config import settings_from_dict
from driftline.config.settings import Settings
from driftline.contracts import Outcome, SensorEvent, parse
from driftline.monitor.decode import decode_outcome
from driftline.monitor.state import MonitorState
from driftline.rules.dedupe import RecentIds
from driftline.rules.scores import Scores
from driftline.trainer.core import TrainerCore

T0 = datetime(2024, 1, 1, tzinfo=UTC)
#: The monitor's figures must stay at least this many times the trainer's per CPU-second (issue 20).
TARGET = 3.0


@dataclass
class Plan:
    events: int = 20_000
    rounds: int = 5

    @classmethod
    def quick(cls) -> Plan:
        return cls(events=2_000, rounds=2)


def bench_settings(state_dir: Path) -> Settings:
    features = {name: {} for name in next(iter(datasets.Phishing()))[0]}
    return settings_from_dict(
        {
            "state_dir": str(state_dir),
            "trainer": {"snapshot_every": 0},
            "streams": {"bench": {"task": "binary", "model": "logistic", "features": features}},
        },
        "bench",
    )


def event_bytes(n: int, prefix: str = "e") -> list[bytes]:
    """``n`` labelled Phishing events of one device, a millisecond apart, as the events topic holds them."""
    rows = list(datasets.Phishing())
    return [
        SensorEvent(
            event_id=f"{prefix}{i}",
            device_id="d0",
            stream="bench",
            ts=T0 + timedelta(milliseconds=i),
            features=rows[i % len(rows)][0],
            label=rows[i % len(rows)][1],
        ).to_bytes()
        for i in range(n)
    ]


def trainer_work(core: TrainerCore) -> Callable[[bytes], bytes | None]:
    """What the trainer's handler does with one event record, Kafka aside."""

    def handle(raw: bytes) -> bytes | None:
        outcome = core.on_event(parse(SensorEvent, raw))
        return outcome.to_bytes() if outcome is not None else None

    return handle


def monitor_work(state: MonitorState) -> Callable[[bytes], None]:
    """What the monitor's handler does with one outcome record, Kafka aside."""

    def handle(raw: bytes) -> None:
        state.observe(decode_outcome(raw), "p0")

    return handle


def cpu_us(handle: Callable[[Any], Any], items: Iterable[Any], n: int) -> float:
    """CPU µs per item of ``handle`` over ``items``."""
    began = time.process_time()
    for item in items:
        handle(item)
    return (time.process_time() - began) / n * 1e6


def monitor_parts(settings: Settings, outcomes: list[bytes]) -> dict[str, float]:
    """CPU µs per outcome of each part of the monitor's work, on fresh state."""
    n = len(outcomes)
    views = [decode_outcome(raw) for raw in outcomes]
    parsed = [parse(Outcome, raw) for raw in outcomes]
    ids = RecentIds(100_000)
    scores = Scores("binary", 1000)
    state = MonitorState(settings, dedupe=False)
    return {
        "monitor: decode (msgspec)": cpu_us(decode_outcome, outcomes, n),
        "monitor: parse (pydantic), before": cpu_us(lambda raw: parse(Outcome, raw), outcomes, n),
        "monitor: dedupe (RecentIds.seen), off by default": cpu_us(lambda v: ids.seen(v.outcome_id), views, n),
        "monitor: scores (Scores.update)": cpu_us(lambda o: scores.update(o.label, o.prediction, o.proba), parsed, n),
        "monitor: observe (MonitorState.observe)": cpu_us(lambda v: state.observe(v, "p0"), views, n),
    }


def run_rounds(plan: Plan, folder: Path, say: Callable[[str], None], tick: Callable[[], None]) -> dict[str, Any]:
    settings = bench_settings(folder)
    say(f"monitor bench: {plan.events:,} Phishing events through the trainer, for their outcomes")
    events = event_bytes(plan.events)
    outcomes = [o for o in map(trainer_work(TrainerCore(settings)), events) if o is not None]
    n = len(outcomes)
    figures: dict[str, list[float]] = {}

    def note(name: str, us: float) -> None:
        figures.setdefault(name, []).append(us)

    for r in range(plan.rounds):
        trainer = trainer_work(TrainerCore(bench_settings(folder / f"round{r}")))
        monitor = monitor_work(MonitorState(settings, dedupe=False))
        fresh = event_bytes(plan.events, prefix=f"r{r}-")
        sides = [("trainer", trainer, fresh), ("monitor", monitor, outcomes)]
        for name, handle, items in sides if r % 2 == 0 else reversed(sides):
            note(name, cpu_us(handle, items, len(items)))
        for name, us in monitor_parts(settings, outcomes).items():
            note(name, us)
        tick()
    ratios = [t / m for t, m in zip(figures["trainer"], figures["monitor"], strict=True)]
    return {
        "outcomes": n,
        "events": plan.events,
        "rounds": plan.rounds,
        "us": {name: {"min": min(v), "median": statistics.median(v)} for name, v in figures.items()},
        "ratio": {"min": min(ratios), "median": statistics.median(ratios), "max": max(ratios)},
    }


def run(plan: Plan, out: Path, command: str, say: Callable[[str], None], progress) -> Path:
    """Measure and write monitor.json and monitor.md into ``out``; returns the markdown file."""
    began = time.perf_counter()
    tick = progress(plan.rounds)
    with tempfile.TemporaryDirectory(prefix="driftline-bench-monitor-") as folder:
        found = run_rounds(plan, Path(folder), say, tick)
    summary = {
        "command": command,
        "machine": f"{platform.node() or 'this machine'} ({os.cpu_count()} cores, Python {platform.python_version()})",
        "date": time.strftime("%Y-%m-%d"),
        "seconds": round(time.perf_counter() - began, 1),
        **found,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "monitor.json").write_text(json.dumps(summary, indent=2) + "\n")
    path = out / "monitor.md"
    path.write_text(report(summary))
    return path


def table(summary: dict[str, Any]) -> list[str]:
    us = summary["us"]
    lines = ["| work | µs per record, min | median | records per CPU-second (min µs) |", "| --- | ---: | ---: | ---: |"]
    for name, f in us.items():
        what = {
            "trainer": "trainer: parse + on_event + encode, per event",
            "monitor": "monitor: decode + observe, per outcome",
        }
        lines.append(f"| {what.get(name, name)} | {f['min']:.1f} | {f['median']:.1f} | {1e6 / f['min']:,.0f} |")
    return lines


def report(summary: dict[str, Any]) -> str:
    ratio = summary["ratio"]
    verdict = "meets" if ratio["median"] >= TARGET else "misses"
    return "\n".join(
        [
            "# The monitor against the trainer, per CPU-second",
            "",
            f"Made by `{summary['command']}` on {summary['machine']}, {summary['date']}, {summary['seconds']} s. In "
            "process, no Kafka.",
            "",
            f"{summary['events']:,} of River's Phishing events (one stream, `logistic`, every event labelled) through "
            f"`TrainerCore`, then their {summary['outcomes']:,} outcome records through the monitor's handler work; "
            f"{summary['rounds']} rounds, alternating which goes first, each on fresh state. The monitor's parts are "
            "timed apart on the same outcomes.",
            "",
            *table(summary),
            "",
            f"**Monitor outcomes per CPU-second / trainer events per CPU-second:** {ratio['median']:.1f}x at the "
            f"median of rounds (min {ratio['min']:.1f}x, max {ratio['max']:.1f}x): {verdict} the {TARGET:.0f}x target.",
            "",
        ]
    )
