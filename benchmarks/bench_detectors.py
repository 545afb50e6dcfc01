"""False alarms and detection delay of each drift detector, raw and debounced, on known streams.

Concept drift: River's SEA generator (10% label noise) judged by the rule of its first concept;
the error stream of that rule is stationary for SEA alone and jumps (abrupt, width 1) or slides
(gradual, width 2000) when River's ConceptDriftStream switches to SEA variant 3. Data drift: a
Gaussian sensor whose mean shifts by one standard deviation. Each detector is run raw (River's own
``drift_detected``) and through driftline's :class:`DebouncedDetector` at several debounce spans.

Reported: alarms per 100k stationary events (false alarms), the share of changes detected within
5000 events, the median delay, and the alarms raised per change (1 is ideal). For the debounced
concept detectors, which warn as the monitor's do (a native warning zone, else a more sensitive
twin): warnings per 100k stationary events and the detected changes a warning preceded (what a
warm reset needs). Writes a Markdown table to benchmarks/results/detectors.md. Default run: a few
minutes on 2 cores.

    python benchmarks/bench_detectors.py                   # 5 seeds, 20k stationary events each
    python benchmarks/bench_detectors.py --seeds 20 --stationary 100000   # a bigger run
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path

from river.datasets import synth

from driftline.rules.detectors import BINARY_DETECTORS, DETECTORS, DebouncedDetector, make_detector

RESULTS = Path(__file__).resolve().parent / "results" / "detectors.md"
HORIZON = 5000  # a change not detected within this many events counts as missed
SEA_THRESHOLD = 8.0  # SEA variant 0: y = x0 + x1 > 8


def sea_errors(n: int, seed: int, change_at: int | None = None, width: int = 1) -> list[float]:
    """Errors (0/1) of SEA variant 0's rule on SEA with 10% noise, switching to variant 3 at ``change_at``."""
    before = synth.SEA(variant=0, noise=0.1, seed=seed)
    after = synth.SEA(variant=3, noise=0.1, seed=seed + 1000)
    stream: Iterable
    if change_at is None:
        stream = before
    elif width <= 1:
        # ConceptDriftStream overflows math.exp far from a width-1 change: splice the two streams.
        stream = chain(islice(iter(before), change_at), iter(after))
    else:
        stream = synth.ConceptDriftStream(before, after, position=change_at, width=width, seed=seed)
    return [float((x[0] + x[1] > SEA_THRESHOLD) != y) for x, y in islice(iter(stream), n)]


def sensor(n: int, seed: int, change_at: int | None = None, shift: float = 1.0) -> list[float]:
    rng = random.Random(seed)
    return [20.0 + (shift if change_at is not None and i >= change_at else 0.0) + rng.gauss(0, 1) for i in range(n)]


Alarms = tuple[list[int], list[int] | None]  # drift positions; warning positions (None: not judged)


def raw_alarms(name: str, values: list[float]) -> Alarms:
    detector = make_detector(name)
    binary = name in BINARY_DETECTORS
    found = []
    for i, v in enumerate(values):
        detector.update(bool(v) if binary else v)
        if detector.drift_detected:
            found.append(i)
    return found, None


def debounced_alarms(name: str, values: list[float], debounce: int, warnings: bool) -> Alarms:
    detector = DebouncedDetector(name, debounce=debounce, warnings=warnings)
    found: dict[str, list[int]] = {"drift": [], "warning": []}
    for i, v in enumerate(values):
        alarm = detector.update(v)
        if alarm is not None:
            found[alarm.level].append(i)
    return found["drift"], found["warning"] if warnings or name in BINARY_DETECTORS else None


@dataclass
class Tally:
    stationary_events: int = 0
    false_alarms: int = 0
    changes: int = 0
    detected: int = 0
    delays: list[int] = field(default_factory=list)
    alarms_per_change: list[int] = field(default_factory=list)
    warns: bool = False  # whether warnings were judged
    false_warnings: int = 0
    warned_first: int = 0  # detected changes with a warning between the change and the detection

    def stationary(self, n: int, alarms: list[int], warnings: list[int] | None) -> None:
        self.stationary_events += n
        self.false_alarms += len(alarms)
        if warnings is not None:
            self.warns = True
            self.false_warnings += len(warnings)

    def change(self, alarms: list[int], warnings: list[int] | None, change_at: int) -> None:
        self.changes += 1
        self.stationary(change_at, [a for a in alarms if a < change_at], None)
        if warnings is not None:
            self.warns = True
            self.false_warnings += sum(1 for w in warnings if w < change_at)
        after = [a for a in alarms if change_at <= a < change_at + HORIZON]
        self.alarms_per_change.append(len(after))
        if after:
            self.detected += 1
            self.delays.append(after[0] - change_at)
            if warnings is not None and any(change_at <= w < after[0] for w in warnings):
                self.warned_first += 1

    def row(self) -> list[str]:
        rate = 100_000 * self.false_alarms / max(self.stationary_events, 1)
        delay = f"{statistics.median(self.delays):.0f}" if self.delays else "-"
        per_change = f"{statistics.mean(self.alarms_per_change):.2f}" if self.alarms_per_change else "-"
        warn_rate = f"{100_000 * self.false_warnings / max(self.stationary_events, 1):.1f}" if self.warns else "-"
        warned = f"{self.warned_first}/{self.detected}" if self.warns and self.changes else "-"
        return [f"{rate:.1f}", f"{self.detected}/{self.changes}", delay, per_change, warn_rate, warned]


Runner = Callable[[str, list[float], bool], Alarms]


def run(args: argparse.Namespace) -> str:
    variants: dict[str, Runner] = {"raw": lambda name, values, _: raw_alarms(name, values)}
    for span in args.debounce:
        variants[f"debounce {span}"] = lambda name, values, warns, span=span: debounced_alarms(
            name, values, span, warns
        )
    change_at, length = args.change_at, args.change_at + HORIZON
    scenarios: dict[str, Callable[[int], tuple[list[float], int | None]]] = {
        "concept: stationary": lambda s: (sea_errors(args.stationary, s), None),
        "concept: abrupt": lambda s: (sea_errors(length, s, change_at, 1), change_at),
        "concept: gradual (width 2000)": lambda s: (sea_errors(length, s, change_at, 2000), change_at),
        "data: stationary": lambda s: (sensor(args.stationary, s), None),
        "data: mean shift 1 sd": lambda s: (sensor(length, s, change_at), change_at),
    }
    lines = [
        "# Drift detectors: false alarms and detection delay",
        "",
        f"Generated by `python benchmarks/bench_detectors.py {' '.join(args.argv)}`".replace(" `", "`"),
        "",
        f"Seeds: {args.seeds}; stationary streams of {args.stationary} events; changes at event {change_at}, "
        f"judged over the next {HORIZON} events. Concept streams: SEA (10% noise) judged by its first concept's rule, "
        "switching to SEA variant 3 (error rate about 11% -> 21%). Data streams: N(20, 1) shifting by 1 sd. "
        "Binary detectors (DDM, EDDM, HDDM_A, HDDM_W) only judge 0/1 errors, so they have no data rows.",
        "",
        "Columns: false alarms per 100k stationary events (stationary streams plus the pre-change part of the "
        "others), changes detected within the horizon, median delay in events, mean alarms per change (1 is ideal); "
        "for debounced concept detectors, which warn as the monitor's do (ADWIN, PageHinkley and KSWIN through a "
        "more sensitive twin), warnings per 100k stationary events and the detections a warning preceded after "
        "the change (a warm reset needs one). Data detectors do not warn in the monitor.",
        "",
    ]
    started = time.monotonic()
    for scenario, make in scenarios.items():
        streams = [make(seed) for seed in range(args.seeds)]
        lines += [
            f"## {scenario}",
            "",
            "| detector | variant | alarms/100k | detected | median delay | alarms/change "
            "| warnings/100k | warned first |",
        ]
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for name in args.detectors:
            if scenario.startswith("data") and name in BINARY_DETECTORS:
                continue
            for variant, runner in variants.items():
                tally = Tally()
                for values, at in streams:
                    alarms, warnings = runner(name, values, scenario.startswith("concept"))
                    if at is None:
                        tally.stationary(len(values), alarms, warnings)
                    else:
                        tally.change(alarms, warnings, at)
                lines.append("| " + " | ".join([name, variant, *tally.row()]) + " |")
        lines.append("")
        print(f"{scenario}: done after {time.monotonic() - started:.0f}s", flush=True)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="Streams per scenario (default 5).")
    parser.add_argument("--stationary", type=int, default=20_000, help="Length of each stationary stream.")
    parser.add_argument("--change-at", type=int, default=3000, help="Where the change happens.")
    parser.add_argument("--debounce", type=int, nargs="+", default=[500, 1000], help="Debounce spans to compare.")
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS), choices=list(DETECTORS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="Markdown report (default: results/detectors.md).")
    args = parser.parse_args(argv)
    args.argv = argv if argv is not None else __import__("sys").argv[1:]
    report = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
