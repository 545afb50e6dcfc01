"""`driftline bench data-drift`: the data-drift judge's false alarms, delays, memory and cost, CUSUM beside ADWIN.

In process, no Kafka. Each part runs the trainer's own judge (:class:`~driftline.rules.datadrift.DataWatch`)
or its CUSUM (:class:`~driftline.rules.meanshift.MeanShift`):

- **false alarms**: features of normal, independent values that never change, long-lived (``LONG`` values
  each) and young (``YOUNG`` values each, as per-device keys mostly are), per 100,000 values of a feature,
  against the rate the run length states;
- **delay**: a feature whose mean moves by a share of its standard deviation after ``BEFORE`` values; how
  many values later each detector alarms (median over ``TRIALS``), and how often within ``HORIZON``;
- **Occupancy**: River's annotated real series (4 sensors, 509 samples, judged value by value), change
  points found and false alarms, as ``bench drift`` scores ADWIN there;
- **per key**: bytes of one key's judge (9 features) in memory and in its checkpoint, and CPU µs per event.
"""

from __future__ import annotations

import gc
import json
import pickle
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from driftline.config import settings_from_dict
from driftline.config.streams import StreamConfig
from driftline.rules.datadrift import DataWatch
from driftline.rules.meanshift import RUN_LENGTH
from driftline_lab.drift_streams import OCCUPANCY, OCCUPANCY_SAMPLES, occupancy_points

DETECTORS = ("CUSUM", "ADWIN")
SHIFTS = (0.1, 0.25, 0.5, 1.0)
#: Occupancy's margin around an annotated point, as ``bench drift`` counts it (TCPD's 5, plus ADWIN's clock of 32).
MARGIN_BEFORE, MARGIN_AFTER = 5, 37


@dataclass
class Plan:
    long: int = 400_000
    long_features: int = 10
    young: int = 20_000
    young_features: int = 200
    before: int = 10_000
    horizon: int = 20_000
    trials: int = 40
    keys: int = 500

    @classmethod
    def quick(cls) -> Plan:
        return cls(long=40_000, long_features=2, young=5_000, young_features=10, before=2_000, horizon=4_000,
                   trials=3, keys=50)  # fmt: skip


def stream_of(detector: str, features: int | list[str], **drift: Any) -> StreamConfig:
    """A stream of number features (``f0``, ``f1``... or the names given) judged by ``detector``."""
    names = [f"f{i}" for i in range(features)] if isinstance(features, int) else features
    stream = {"task": "binary", "features": {name: {} for name in names}, "drift": {"data": detector, **drift}}
    return settings_from_dict({"streams": {"s": stream}}, "bench data-drift").streams["s"]


def watch_of(stream: StreamConfig) -> DataWatch:
    watch = DataWatch.of(stream.drift, stream.features)
    assert watch is not None
    return watch


def alarms_on_normal(detector: str, features: int, values: int, seed: int, advance: Callable[[], None]) -> int:
    """Alarms of one watch over ``features`` stationary normal features of ``values`` values each."""
    rng, watch = random.Random(seed), watch_of(stream_of(detector, features))
    gauss, names, found = rng.gauss, [f"f{i}" for i in range(features)], 0
    step = max(1, values // 20)
    for i in range(values):
        found += len(watch.see({name: gauss(10.0, 2.0) for name in names}, float(i)))
        if i % step == 0:
            advance()
    return found


def delays(detector: str, shift: float, plan: Plan, advance: Callable[[], None]) -> list[int | None]:
    """Per trial, values from the change to the first alarm (None: none within the horizon)."""
    out: list[int | None] = []
    for trial in range(plan.trials):
        rng, watch = random.Random(trial), watch_of(stream_of(detector, 1))
        found = None
        for i in range(plan.before + plan.horizon):
            value = rng.gauss(10.0 + 2.0 * shift * (i >= plan.before), 2.0)
            if watch.see({"f0": value}, float(i)) and i >= plan.before:
                found = i - plan.before
                break
        out.append(found)
        advance()
    return out


def occupancy(detector: str) -> dict[str, Any]:
    """Occupancy judged value by value (blocks of 1) by ``detector``: points found and false alarms."""
    from river.drift.datasets import Occupancy

    watch = watch_of(stream_of(detector, list(OCCUPANCY.values()), data_block=1))
    alarms = [i for i, (_, x) in enumerate(Occupancy()) for _ in watch.see({OCCUPANCY[f]: v for f, v in x.items()}, i)]
    points = occupancy_points()

    def near(i: int, p: int) -> bool:
        return p - MARGIN_BEFORE <= i <= p + MARGIN_AFTER

    return {
        "alarms": len(alarms),
        "found": sum(any(near(i, p) for i in alarms) for p, _ in points),
        "points": len(points),
        "majority_found": sum(any(near(i, p) for i in alarms) for p, k in points if k >= 3),
        "majority": sum(k >= 3 for _, k in points),
        "false_alarms": sum(not any(near(i, p) for p, _ in points) for i in alarms),
    }


def _key_rows() -> list[dict[str, float]]:
    rng = random.Random(1)
    return [{f"f{i}": rng.gauss(10.0, 2.0) for i in range(9)} for _ in range(1_000)]


def _feed(watches: list[DataWatch], rows: list[dict[str, float]]) -> None:
    for watch in watches:
        for i, x in enumerate(rows):
            watch.see(x, float(i))


def per_key(detector: str, keys: int) -> dict[str, float]:
    """One key's judge of 9 features after 1,000 events: bytes in memory and in a checkpoint."""
    stream, rows = stream_of(detector, 9), _key_rows()
    gc.collect()
    tracemalloc.start()
    watches = [watch_of(stream) for _ in range(keys)]
    _feed(watches, rows)
    gc.collect()
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {
        "memory_bytes": memory / keys,
        "checkpoint_bytes": len(pickle.dumps(watches, protocol=pickle.HIGHEST_PROTOCOL)) / keys,
    }


def cpu_per_event(keys: int, rounds: int = 5) -> dict[str, list[float]]:
    """CPU µs per event of each detector's judge over ``keys`` keys of 1,000 events, rounds alternating."""
    rows, out = _key_rows(), {name: [] for name in DETECTORS}
    for round_ in range(rounds):
        for detector in DETECTORS if round_ % 2 == 0 else DETECTORS[::-1]:
            watches = [watch_of(stream_of(detector, 9)) for _ in range(keys)]
            gc.collect()
            began = time.thread_time()
            _feed(watches, rows)
            out[detector].append((time.thread_time() - began) / keys / len(rows) * 1e6)
    return out


def run(plan: Plan, out: Path, command: str, say: Callable[[str], None], progress) -> Path:
    began = time.perf_counter()
    steps = len(DETECTORS) * (2 * 21 + len(SHIFTS) * plan.trials)
    advance = progress(steps)
    result: dict[str, Any] = {"plan": asdict(plan), "run_length": RUN_LENGTH, "detectors": {}}
    for detector in DETECTORS:
        say(f"{detector}: stationary features, shifts, Occupancy, one key's cost")
        long = alarms_on_normal(detector, plan.long_features, plan.long, 1, advance)
        young = sum(
            alarms_on_normal(detector, 1, plan.young, 100 + seed, lambda: None) for seed in range(plan.young_features)
        )
        for _ in range(21):
            advance()
        by_shift = {}
        for shift in SHIFTS:
            found = delays(detector, shift, plan, advance)
            hits = [d for d in found if d is not None]
            by_shift[str(shift)] = {"found": len(hits), "trials": len(found),
                                    "median_delay": statistics.median(hits) if hits else None}  # fmt: skip
        result["detectors"][detector] = {
            "false_per_100k_long": long / (plan.long_features * plan.long) * 1e5,
            "false_per_100k_young": young / (plan.young_features * plan.young) * 1e5,
            "shifts": by_shift,
            "occupancy": occupancy(detector),
            "per_key": per_key(detector, plan.keys),
        }
    say("CPU per event, rounds alternating")
    for detector, runs in cpu_per_event(plan.keys).items():
        result["detectors"][detector]["per_key"]["us_per_event"] = runs
    result["seconds"] = round(time.perf_counter() - began, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "datadrift.json").write_text(json.dumps(result, indent=2) + "\n")
    path = out / "datadrift.md"
    path.write_text(render(plan, result, command))
    return path


def render(plan: Plan, r: dict[str, Any], command: str) -> str:
    d = r["detectors"]
    lines = [
        "# Data drift: false alarms, delays, memory and cost of the judge",
        "",
        f"`{command}` ({r['seconds']:.0f} s). The trainer's data-drift judge (`DataWatch`, blocks of 16 values,"
        " the stream defaults) with each number detector: CUSUM (the default, run length"
        f" {r['run_length']:,} values) and River's ADWIN (the default before). Values are normal and independent"
        " (mean 10, sd 2).",
        "",
        "## False alarms on stationary features, per 100,000 values of a feature",
        "",
        "| detector | long-lived | young |",
        "| --- | ---: | ---: |",
    ]
    for name, x in d.items():
        lines.append(f"| {name} | {x['false_per_100k_long']:.2f} | {x['false_per_100k_young']:.2f} |")
    lines += [
        "",
        f"Long-lived: {plan.long_features} features of {plan.long:,} values. Young: {plan.young_features} features"
        f" of {plan.young:,} values each, as the keys of a per-device stream mostly are. The run length states"
        f" {1e5 / r['run_length']:.2f} per 100,000.",
        "",
        f"## Shifts of the mean: values to the first alarm (median), found within {plan.horizon:,}",
        "",
        "| shift (sd of values) | " + " | ".join(d) + " |",
        "| --- |" + " ---: |" * len(d),
    ]
    for shift in SHIFTS:
        cells = []
        for x in d.values():
            s = x["shifts"][str(shift)]
            delay = "-" if s["median_delay"] is None else f"{s['median_delay']:,.0f}"
            cells.append(f"{delay} ({s['found']}/{s['trials']})")
        lines.append(f"| {shift} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Each trial: {plan.before:,} values, then the shift; {plan.trials} trials per cell.",
        "",
        f"## River's Occupancy series ({OCCUPANCY_SAMPLES} samples, 4 sensors, judged value by value)",
        "",
        "| detector | alarms | change points found | majority points found | false alarms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, x in d.items():
        o = x["occupancy"]
        found = f"{o['found']} / {o['points']} | {o['majority_found']} / {o['majority']}"
        lines.append(f"| {name} | {o['alarms']} | {found} | {o['false_alarms']} |")
    lines += [
        "",
        "Scored as `bench drift` scores it: a point is found by an alarm from 5 samples before to 37 after; a false"
        " alarm is outside every such window. 509 samples are 16 of CUSUM's reference of 32 blocks at blocks"
        " of 16, hence blocks of 1 here.",
        "",
        f"## One model key's judge, 9 features, after 1,000 events ({plan.keys} keys)",
        "",
        "| detector | memory (bytes) | checkpoint (bytes) | CPU µs per event, min / median of 5 rounds |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, x in d.items():
        k = x["per_key"]
        cpu = k["us_per_event"]
        lines.append(f"| {name} | {k['memory_bytes']:,.0f} | {k['checkpoint_bytes']:,.0f}"
                     f" | {min(cpu):.2f} / {statistics.median(cpu):.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"
