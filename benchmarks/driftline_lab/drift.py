"""The whole of `driftline bench drift`: concept-drift detection and recovery on the errors of learning
models, and data-drift detection on an annotated real series, scored and reported in drift.json,
drift.md and drift.png. Pure in-process River; :mod:`driftline_lab.drift_streams` runs the streams.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import textwrap
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from driftline_lab.drift_streams import (
    GENERATORS,
    KINDS,
    MODELS,
    OCCUPANCY,
    OCCUPANCY_SAMPLES,
    Case,
    Detection,
    DetectorSpec,
    PolicySpec,
    Recovery,
    Reset,
    detect,
    occupancy_alarms,
    occupancy_points,
    recover,
)

CHANGES = [k for k, width in KINDS.items() if width is not None]
LOOP = 3  # more alarms than this after one change, under a reset policy, is a reset loop
DATA_DEBOUNCES = (0, 32, 64, 128, 256, 500)
MARGIN_BEFORE, MARGIN_AFTER = 5, 37  # TCPD's margin of 5, plus ADWIN's check interval (clock=32) after
DRIFTLINE, RAW, TODAY = "driftline", "River ADWIN raw", "today"
NONE, WARM, COLD, EXPIRE, DRC, ARF = (
    "no reset",
    "driftline warm reset",
    "driftline cold reset",
    "driftline warm reset, background dropped 1000 after its warning",
    "River DriftRetrainingClassifier",
    "River ARF",
)


@dataclass
class Plan:
    """What one run measures; :meth:`quick` is the smoke run (under a minute)."""

    seeds: int = 10
    generators: tuple[str, ...] = GENERATORS
    models: tuple[str, ...] = MODELS
    start: int = 5_000  # events before each change: the model has learned the first concept
    horizon: int = 5_000  # a change is scored over this many events from its start
    stationary: int = 50_000  # events of each stationary control (per generator, seed and model)
    warmup: int = 500  # driftline's defaults under test
    debounce: int = 500
    warmups: tuple[int, ...] = (0, 200, 500, 1000, 2000, 5000)
    debounces: tuple[int, ...] = (500, 1000, 2000)
    arf: bool = True
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)

    @classmethod
    def quick(cls) -> Plan:
        # Agrawal: a learning tree's error falls in steps there, which two-sided detectors report.
        return cls(1, ("Agrawal", "STAGGER"), start=2000, horizon=2000, stationary=20_000, warmups=(0, 500, 1000))


@dataclass(frozen=True)
class Variant:
    """A detector as scored: an instance that watched the errors, its alarms ignored for the first ``warmup``."""

    label: str
    instance: str
    warmup: int = 0
    debounce: int = 0
    short: str = ""


def instances(plan: Plan) -> dict[str, DetectorSpec]:
    """Every detector instance watching the errors of the undisturbed models (warm-up is applied when scoring)."""
    specs = {RAW: DetectorSpec(raw=True), TODAY: DetectorSpec(rising_only=False, debounce=500)}
    for d in sorted({*plan.debounces, plan.debounce}):
        specs[f"ADWIN up {d}"] = DetectorSpec(debounce=d)
    specs["DDM up"] = DetectorSpec("DDM", debounce=plan.debounce)
    specs["HDDM_A up"] = DetectorSpec("HDDM_A", debounce=plan.debounce)
    return specs


def variants(plan: Plan) -> list[Variant]:
    w, d = plan.warmup, plan.debounce
    return [
        Variant(f"{DRIFTLINE}: ADWIN rising-only, W={w}, D={d}", f"ADWIN up {d}", w, d, DRIFTLINE),
        Variant("River ADWIN (raw, two-sided)", RAW, short=RAW),
        Variant("today: ADWIN wrapper two-sided, D=500, no warm-up", TODAY, 0, 500, TODAY),
        Variant(f"DDM wrapper rising-only, W={w}, D={d}", "DDM up", w, d, "DDM wrapper"),
        Variant(f"HDDM_A wrapper rising-only, W={w}, D={d}", "HDDM_A up", w, d, "HDDM_A wrapper"),
    ]


def sweep(plan: Plan) -> list[Variant]:
    return [Variant(f"W={w}, D={d}", f"ADWIN up {d}", w, d) for w in plan.warmups for d in plan.debounces]


def policies(plan: Plan) -> dict[str, PolicySpec]:
    """The recovery contenders on a HoeffdingTree (ARF runs apart: it is by far the slowest)."""
    ours = DetectorSpec(debounce=plan.debounce)
    return {
        NONE: "none",
        WARM: Reset(ours, warm=True, warmup=plan.warmup),
        COLD: Reset(ours, warm=False, warmup=plan.warmup),
        EXPIRE: Reset(ours, warm=True, warmup=plan.warmup, expire=1000),
        "today: two-sided wrapper, warm reset, debounce lost at reset": Reset(
            DetectorSpec(rising_only=False, debounce=500), warm=True, lasting=False
        ),
        "River ADWIN raw, cold reset": Reset(DetectorSpec(raw=True), warm=False, per_version=False, lasting=False),
        "DDM wrapper, warm reset": Reset(DetectorSpec("DDM", debounce=plan.debounce), warmup=plan.warmup),
        "HDDM_A wrapper, warm reset": Reset(DetectorSpec("HDDM_A", debounce=plan.debounce), warmup=plan.warmup),
        DRC: "DriftRetrainingClassifier",
    }


def sweep_policies(plan: Plan) -> dict[str, PolicySpec]:
    """driftline's warm reset sweeping W at the default D, then D at the default W (the defaults are :data:`WARM`).

    A reset by an alarm keeps the new version quiet for max(W, D) anyway, so the full grid adds little.
    """
    pairs = [(w, plan.debounce) for w in plan.warmups] + [(plan.warmup, d) for d in plan.debounces]
    return {
        f"W={w}, D={d}": Reset(DetectorSpec(debounce=d), warm=True, warmup=w)
        for w, d in dict.fromkeys(pairs)
        if (w, d) != (plan.warmup, plan.debounce)
    }


# Running: independent units of work, the largest first, over a pool of processes.


def cases(plan: Plan) -> list[Case]:
    out = []
    for g in plan.generators:
        for seed in range(plan.seeds):
            for kind, width in KINDS.items():
                length = plan.stationary if width is None else plan.start + plan.horizon
                out.append(Case(g, kind, seed, 0 if width is None else plan.start, length))
    return out


Unit = tuple[Callable[..., list[Any]], tuple[Any, ...], float]  # function, arguments, cost estimate


def units(plan: Plan) -> list[Unit]:
    specs = instances(plan)
    contenders = {**policies(plan), **sweep_policies(plan)}
    work: list[Unit] = []
    for case in cases(plan):
        work.append((detect, (case, plan.models, specs), case.length * len(plan.models)))
        if case.kind == "abrupt":
            work.append((recover, (case, contenders, plan.horizon), case.length * len(contenders)))
            if plan.arf:
                work.append((recover, (case, {ARF: "ARF"}, plan.horizon), case.length * 20))
    return sorted(work, key=lambda u: -u[2])


def execute(work: list[Unit], jobs: int, advance: Callable[[], None]) -> list[Any]:
    """Every unit's results, in no particular order; in this process when ``jobs`` is 1."""
    results: list[Any] = []
    if jobs <= 1:
        for fn, args, _ in work:
            results += fn(*args)
            advance()
        return results
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for future in as_completed([pool.submit(fn, *args) for fn, args, _ in work]):
            results += future.result()
            advance()
    return results


def run(plan: Plan, out: Path, command: str, say: Callable[[str], None], progress) -> Path:
    """Run the suite and write drift.json, drift.md and drift.png into ``out``; returns the markdown file.

    ``progress(total)`` returns the callable advancing a progress bar by one finished unit.
    """
    began = time.perf_counter()
    work = units(plan)
    say(f"drift suite: {len(work)} units of work on {plan.jobs} process(es)")
    results = execute(work, plan.jobs, progress(len(work)))
    detections = [r for r in results if isinstance(r, Detection)]
    recoveries = [r for r in results if isinstance(r, Recovery)]
    scores = score(plan, detections, recoveries)
    scores["seconds"] = round(time.perf_counter() - began, 1)
    return report(plan, scores, command, out)


# Scoring.


def _mean(xs: Iterable[float]) -> float | None:
    xs = list(xs)
    return statistics.fmean(xs) if xs else None


def _median(xs: Iterable[float]) -> float | None:
    xs = list(xs)
    return statistics.median(xs) if xs else None


def detection(ds: list[Detection], v: Variant, kind: str, horizon: int) -> dict[str, Any]:
    """Detection of the ``kind`` changes: rate, delay, alarms within the horizon, and alarms before the change."""
    delays, counts, early, early_events = [], [], 0, 0
    for d in ds:
        if d.case.kind != kind:
            continue
        alarms = [i for i, _, _ in d.alarms[v.instance] if i >= v.warmup]
        window = [i for i in alarms if d.case.start <= i < d.case.start + horizon]
        counts.append(len(window))
        if window:
            delays.append(window[0] - d.case.start)
        early += sum(i < d.case.start for i in alarms)
        early_events += max(0, d.case.start - v.warmup)
    return {
        "changes": len(counts),
        "detected": len(delays),
        "detection_rate": len(delays) / len(counts) if counts else None,
        "median_delay": _median(delays),
        "mean_delay": _mean(delays),
        "alarms_per_change": _mean(counts),
        "alarms_per_detected": _mean(n for n in counts if n),
        "early_alarms_per_100k": early / early_events * 1e5 if early_events else None,
    }


def false_alarms(ds: list[Detection], v: Variant) -> dict[str, Any]:
    """Alarms on the stationary controls per 100k events, split by whether the error rose or fell around them.

    ``falls``: the error mean of the 500 events after the alarm is not above that of the 500 up to it.
    ``falls_before``: the 500 up to the alarm are not above the 500 before them (what the detector saw).
    """
    controls = [d for d in ds if d.case.kind == "stationary"]
    events = sum(d.case.length for d in controls)
    alarms = [(around, before) for d in controls for i, around, before in d.alarms[v.instance] if i >= v.warmup]
    per = 1e5 / events if events else 0.0
    falls = sum(not around for around, _ in alarms)
    return {
        "events": events,
        "alarms": len(alarms),
        "falls": falls,
        "falls_before": sum(not before for _, before in alarms),
        "per_100k": len(alarms) * per,
        "rises_per_100k": (len(alarms) - falls) * per,
        "falls_per_100k": falls * per,
    }


def detector_row(ds: list[Detection], v: Variant, horizon: int) -> dict[str, Any]:
    return {
        "variant": v.label,
        "short": v.short or v.label,
        "instance": v.instance,
        "warmup": v.warmup,
        "stationary": false_alarms(ds, v),
        **{kind: detection(ds, v, kind, horizon) for kind in CHANGES},
    }


def by_generator(ds: list[Detection], vs: list[Variant], horizon: int) -> list[dict[str, Any]]:
    rows = []
    for g in dict.fromkeys(d.case.generator for d in ds):
        for m in dict.fromkeys(d.model for d in ds):
            mine = [d for d in ds if d.case.generator == g and d.model == m]
            abrupt = [d for d in mine if d.case.kind == "abrupt"]
            rows.append(
                {
                    "generator": g,
                    "model": m,
                    "error_before": _mean(d.error_before for d in abrupt),
                    "error_after": _mean(d.error_after for d in abrupt),
                    **{v.short: {"abrupt": detection(mine, v, "abrupt", horizon), **false_alarms(mine, v)} for v in vs},
                }
            )
    return rows


def recovery(rs: list[Recovery], name: str, horizon: int) -> dict[str, Any]:
    """Mean accuracy after the abrupt changes, by generator too; alarms per change and reset loops."""
    runs = [r for r in rs if r.policy == name]
    tracked = name not in (NONE, DRC, ARF)  # River's learners keep their detections to themselves
    counts = [sum(r.case.start <= i < r.case.start + horizon for i in r.alarms) for r in runs]
    return {
        "policy": name,
        "streams": len(runs),
        "accuracy": _mean(r.accuracy for r in runs),
        "by_generator": {
            g: _mean(r.accuracy for r in runs if r.case.generator == g)
            for g in dict.fromkeys(r.case.generator for r in runs)
        },
        "alarms_per_change": _mean(counts) if tracked else None,
        "alarms_per_detected": _mean(n for n in counts if n) if tracked else None,
        "reset_loops": sum(n > LOOP for n in counts) if tracked else None,
        "resets": sum(len(r.alarms) for r in runs) if tracked else None,
        "warm_swaps": sum(r.swaps for r in runs) if tracked else None,
    }


def data_drift() -> dict[str, Any]:
    """Annotated change points of River's Occupancy series found by ADWIN per sensor, and the other alarms."""
    points = occupancy_points()
    n = OCCUPANCY_SAMPLES

    def near(i: int, p: int) -> bool:
        return p - MARGIN_BEFORE <= i <= p + MARGIN_AFTER

    rows = []
    for label, params in (("ADWIN", None), ("ADWIN clock=1", {"clock": 1})):
        for d in DATA_DEBOUNCES:
            alarms = occupancy_alarms(d, params)
            every = [i for found in alarms.values() for i in found]
            rows.append(
                {
                    "detector": label,
                    "debounce": d,
                    "alarms": len(every),
                    "found": sum(any(near(i, p) for i in every) for p, _ in points),
                    "found_majority": sum(any(near(i, p) for i in every) for p, k in points if k >= 3),
                    "false_alarms": sum(not any(near(i, p) for p, _ in points) for i in every),
                    "by_feature": {OCCUPANCY[f]: found for f, found in alarms.items()},
                }
            )
    return {
        "points": points,
        "majority": [p for p, k in points if k >= 3],
        "margin": [MARGIN_BEFORE, MARGIN_AFTER],
        "coverage": sum(any(near(i, p) for p, _ in points) for i in range(n)) / n,
        "rows": rows,
    }


def score(plan: Plan, ds: list[Detection], rs: list[Recovery]) -> dict[str, Any]:
    vs = variants(plan)
    names = list(dict.fromkeys(r.policy for r in rs))
    recoveries = {n: recovery(rs, n, plan.horizon) for n in names}
    grid = []
    for v in sweep(plan):
        row = detector_row(ds, v, plan.horizon)
        row["debounce"] = v.debounce
        row["warm_reset"] = recoveries.get(WARM if (v.warmup, v.debounce) == (plan.warmup, plan.debounce) else v.label)
        grid.append(row)
    detectors = [{**detector_row(ds, v, plan.horizon), "debounce": v.debounce} for v in vs]
    raw, drc = detectors[1], recoveries.get(DRC)
    best = recommend(grid, drc)
    return {
        "plan": asdict(plan),
        "detectors": detectors,
        "by_generator": by_generator(ds, vs[:2], plan.horizon),
        "sweep": grid,
        "recovery": [recoveries[n] for n in names if not n.startswith("W=")],
        "data_drift": data_drift(),
        "targets": targets(detectors[0], raw, recoveries.get(WARM), recoveries.get(COLD), drc),
        "recommended": {
            "warmup": best["warmup"],
            "debounce": best["debounce"],
            "targets": targets(best, raw, best["warm_reset"], None, drc),
        },
    }


def targets(
    ours: dict[str, Any],
    raw: dict[str, Any],
    warm: dict[str, Any] | None,
    cold: dict[str, Any] | None,
    drc: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """Each target, what was measured (and by how much it is met or missed), and whether it is met.

    ``ours``: a detector row of driftline's detector; ``warm`` / ``cold``: its reset policies' recovery rows.
    """
    st, ab = ours["stationary"], ours["abrupt"]
    rate, apd = ab["detection_rate"] or 0.0, ab["alarms_per_detected"]
    mine, theirs = ab["median_delay"], raw["abrupt"]["median_delay"]
    slower = None if mine is None or theirs is None else mine - theirs
    rows = [
        ("detection rate >= 95% on abrupt changes", f"{rate:.1%} ({(rate - 0.95) * 100:+.1f} pts)", rate >= 0.95),
        ("median delay no worse than River ADWIN at defaults (abrupt)",
         f"{_num(mine)} vs {_num(theirs)} events ({_num(slower, '+.0f')})", slower is not None and slower <= 0),
        ("<= 0.5 false alarms per 100k stationary events", f"{st['per_100k']:.2f} ({st['per_100k'] - 0.5:+.2f})",
         st["per_100k"] <= 0.5),
        ("no false alarm on an error decrease", f"{st['falls']} in {st['events']:,} events "
         f"({st['falls_per_100k']:.2f} / 100k; {st['falls_before']} falls up to the alarm)", st["falls"] == 0),
        ("1.0-1.1 alarms per detected abrupt change (model not reset)", _num(apd, ".2f"),
         apd is not None and apd <= 1.1),
    ]  # fmt: skip
    if warm is not None:
        apd = warm["alarms_per_detected"]
        runs = [r for r in (warm, cold) if r is not None]
        loops = sum(r["reset_loops"] for r in runs)
        rows += [
            ("1.0-1.1 alarms per detected abrupt change (warm reset)", _num(apd, ".2f"),
             apd is not None and apd <= 1.1),
            ("no reset loop (driftline's reset policies)",
             f"{loops} of {sum(r['streams'] for r in runs)} runs ({' and '.join(r['policy'] for r in runs)})",
             loops == 0),
        ]  # fmt: skip
    if warm is not None and drc is not None:
        gain = (warm["accuracy"] - drc["accuracy"]) * 100
        rows.append(("recovery >= River DriftRetrainingClassifier (accuracy after abrupt changes, warm reset)",
                     f"{warm['accuracy']:.3f} vs {drc['accuracy']:.3f} ({gain:+.1f} pts)", gain >= 0))  # fmt: skip
    return [{"target": t, "measured": m, "met": ok} for t, m, ok in rows]


def recommend(grid: list[dict[str, Any]], drc: dict[str, Any] | None) -> dict[str, Any]:
    """The swept (W, D), among those run under warm reset, meeting the most targets; then the highest
    detection rate, the best recovery, the fewest false alarms, and the shortest quiet span."""
    raw_delay = {"abrupt": {"median_delay": None}}  # delay is not a (W, D) matter: ADWIN decides it

    def rank(row: dict[str, Any]) -> tuple[float, ...]:
        met = sum(t["met"] for t in targets(row, raw_delay, row["warm_reset"], None, drc))
        accuracy = row["warm_reset"]["accuracy"]
        rate = row["abrupt"]["detection_rate"] or 0.0
        return -met, -round(rate, 3), -round(accuracy, 3), row["stationary"]["per_100k"], row["debounce"], row["warmup"]

    return min((row for row in grid if row["warm_reset"] is not None), key=rank)


def _num(x: float | None, spec: str = ".0f") -> str:
    return "-" if x is None else format(x, spec)


# Reporting.


def report(plan: Plan, s: dict[str, Any], command: str, out: Path) -> Path:
    """Write drift.json, drift.md and drift.png into ``out``; returns the markdown file."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "drift.json").write_text(json.dumps(s, indent=1))
    chart(s, out / "drift.png")
    path = out / "drift.md"
    path.write_text(
        "\n".join(
            [
                *_intro(plan, s, command),
                *_targets(s),
                *_detectors(s),
                *_generators(s),
                *_sweep(s),
                *_recovery(s),
                *_data(s),
            ]
        )
    )
    return path


def _intro(plan: Plan, s: dict[str, Any], command: str) -> list[str]:
    w, d, h = plan.warmup, plan.debounce, plan.horizon
    return [
        "# Drift: concept-drift detection and recovery, data-drift detection",
        "",
        f"`{command}` on {platform.node() or 'this machine'} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}), {time.strftime('%Y-%m-%d')}, {s['seconds']:.0f} s. In-process River, no Kafka.",
        "",
        f"**Streams.** River synth generators {', '.join(plan.generators)}; {plan.seeds} seeds each. A change "
        "switches the generator's concept with `ConceptDriftStream` (SEA variant 0 -> 3 with 10% label noise, "
        "Agrawal function 0 -> 2, STAGGER 0 -> 1, Mixed 0 -> 1; Hyperplane and RandomRBFDrift held still and "
        "switched to the same generator with another seed, i.e. another hyperplane / other centroids), "
        "abrupt (width 100) or gradual (widths 1,000 and 5,000). The change *starts* where 12% of events come "
        f"from the new concept (width / 2 before the sigmoid's centre), after {plan.start:,} events; it is scored "
        f"over the {h:,} events from there. Stationary controls: {plan.stationary:,} events of the first concept "
        "per generator, seed and model. Features go through the trainer's `ModelInput`; the generators' "
        "categories are integer codes (STAGGER, Agrawal) and stay numbers, read as ordered values by both models.",
        "",
        f"**Models.** {' and '.join(plan.models)} learn each stream prequentially (predict, then learn); "
        "detectors watch the 0/1 error of each prediction. Detection is scored on the undisturbed models; "
        "recovery and reset loops on a HoeffdingTree under each reset policy, on the abrupt changes.",
        "",
        f'**driftline\'s detector**: `DebouncedDetector("ADWIN", debounce=D, warnings=True, rising_only=True)` '
        f"with D={d}, its alarms ignored for the first W={w} outcomes of a model version. Under a reset policy "
        "every version gets a fresh detector (as the monitor does) and the debounce outlives the reset, so a "
        "new version is quiet for max(W, D). Compared with River's `drift.ADWIN()` (raw, two-sided), today's "
        "wrapper (two-sided, D=500, no warm-up, debounce lost at a reset), and DDM / HDDM_A through the wrapper "
        "(rising-only, same W and D).",
        "",
        f"**Scores.** Detection: a drift alarm within {h:,} events of the change start; delay from the start; "
        "alarms per detected change counted within the horizon. False alarms: alarms on the stationary "
        "controls per 100k events, classed as an error *rise* or *fall* by comparing the error mean of the 500 "
        "events after the alarm with that of the 500 up to it (*around*); *up to* compares the 500 up to the "
        "alarm with the 500 before them, which is what a detector can have seen (a short rise that the model "
        f"then learns away is a fall around the alarm but a rise up to it). Reset loop: more than {LOOP} alarms "
        "within the horizon after one change under a reset policy. Recovery: accuracy of the served model over "
        f"the {h:,} events after an abrupt change, mean over seeds x generators. The extra policy *background "
        "dropped 1000 after its warning* is driftline's warm reset whose background model is discarded when no "
        "drift follows its warning within 1,000 outcomes (today's trainer keeps it until the next drift).",
        "",
    ]


def _targets(s: dict[str, Any]) -> list[str]:
    plan, rec = s["plan"], s["recommended"]
    at = {t["target"]: t for t in rec["targets"]}
    lines = [
        "## Targets",
        "",
        f"| target | at today's defaults W={plan['warmup']}, D={plan['debounce']} | met | at the recommended "
        f"W={rec['warmup']}, D={rec['debounce']} | met |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    for t in s["targets"]:
        other = at.get(t["target"])
        there = "- | -" if other is None else f"{other['measured']} | {'yes' if other['met'] else '**no**'}"
        lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} | {there} |")
    lines += [
        "",
        f"**Recommended defaults: warm-up W={rec['warmup']}, debounce D={rec['debounce']}**: of the swept pairs "
        "run under warm reset, the one meeting the most targets, then with the highest detection rate, the best "
        "recovery, the fewest stationary false alarms and the shortest quiet span (a quiet detector is blind to "
        "a second change). See the sweep below.",
        "",
        _why(s),
        "",
    ]
    return lines


def _why(s: dict[str, Any]) -> str:
    """The recommended pair against today's defaults, in the figures that differ between swept pairs."""
    plan, rec = s["plan"], s["recommended"]

    def row(w: int, d: int) -> dict[str, Any]:
        return next(r for r in s["sweep"] if (r["warmup"], r["debounce"]) == (w, d))

    old, new = row(plan["warmup"], plan["debounce"]), row(rec["warmup"], rec["debounce"])
    if old is new:
        return "The recommendation is today's defaults."
    ow, nw = old["warm_reset"], new["warm_reset"]
    return (
        f"Against today's W={plan['warmup']}, D={plan['debounce']}: stationary false alarms "
        f"{old['stationary']['per_100k']:.2f} -> {new['stationary']['per_100k']:.2f} per 100k (falls around the "
        f"alarm {old['stationary']['falls']} -> {new['stationary']['falls']}), abrupt changes detected "
        f"{_num(old['abrupt']['detection_rate'], '.1%')} -> {_num(new['abrupt']['detection_rate'], '.1%')}; under "
        f"warm reset, alarms per detected change {_num(ow['alarms_per_detected'], '.2f')} -> "
        f"{_num(nw['alarms_per_detected'], '.2f')} and accuracy after the change {ow['accuracy']:.3f} -> "
        f"{nw['accuracy']:.3f}."
    )


def _detectors(s: dict[str, Any]) -> list[str]:
    lines = [
        "## Concept drift: detection (models not reset)",
        "",
        "| detector | stationary alarms / 100k (rises / falls) | falls: around / up to the alarm | "
        + " | ".join(f"{k}: detected, median / mean delay, alarms per detected change" for k in CHANGES)
        + " |",
        "| --- | ---: | ---: |" + " ---: |" * len(CHANGES),
    ]
    for row in s["detectors"]:
        st = row["stationary"]
        cells = [
            f"{st['per_100k']:.2f} ({st['rises_per_100k']:.2f} / {st['falls_per_100k']:.2f})",
            f"{st['falls']} / {st['falls_before']}",
        ]
        for k in CHANGES:
            c = row[k]
            cells.append(
                f"{_num(c['detection_rate'], '.0%')}, {_num(c['median_delay'])} / {_num(c['mean_delay'])}, "
                f"{_num(c['alarms_per_detected'], '.2f')}"
            )
        lines.append(f"| {row['variant']} | " + " | ".join(cells) + " |")
    events = s["detectors"][0]["stationary"]["events"]
    lines += [
        "",
        f"Stationary events: {events:,}. Alarms before a change start (also false alarms, on models "
        "still learning), per 100k pre-change events: "
        + ", ".join(f"{r['short']} {_num(r['abrupt']['early_alarms_per_100k'], '.1f')}" for r in s["detectors"])
        + ".",
        "",
    ]
    return lines


def _generators(s: dict[str, Any]) -> list[str]:
    labels = [k for k in s["by_generator"][0] if k not in ("generator", "model", "error_before", "error_after")]
    lines = [
        "## By generator and model (abrupt changes; stationary false alarms)",
        "",
        "| generator | model | error before -> after | "
        + " | ".join(f"{lab}: detected, median delay, false alarms / 100k (falls)" for lab in labels)
        + " |",
        "| --- | --- | ---: |" + " ---: |" * len(labels),
    ]
    for row in s["by_generator"]:
        cells = [f"{_num(row['error_before'], '.3f')} -> {_num(row['error_after'], '.3f')}"]
        for lab in labels:
            r = row[lab]
            cells.append(
                f"{_num(r['abrupt']['detection_rate'], '.0%')}, {_num(r['abrupt']['median_delay'])}, "
                f"{r['per_100k']:.1f} ({r['falls']})"
            )
        lines.append(f"| {row['generator']} | {row['model']} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _sweep(s: dict[str, Any]) -> list[str]:
    lines = [
        "## Warm-up W and debounce D of driftline's detector",
        "",
        "Stationary false alarms and detection on the undisturbed models; alarms per detected change, reset loops and "
        "accuracy under driftline's warm reset (HoeffdingTree, abrupt changes; `-`: pair not run under reset).",
        "",
        "| W | D | false alarms / 100k (falls) | abrupt: detected, median delay, alarms per detected change | "
        "gradual 5000: detected, median delay | warm reset: alarms per detected change, loops, accuracy |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in s["sweep"]:
        st, ab, gr, wr = row["stationary"], row["abrupt"], row["gradual 5000"], row["warm_reset"]
        reset = (
            "-"
            if wr is None
            else f"{_num(wr['alarms_per_detected'], '.2f')}, {wr['reset_loops']}, {wr['accuracy']:.3f}"
        )
        lines.append(
            f"| {row['warmup']} | {row['debounce']} | {st['per_100k']:.2f} ({st['falls']}) | "
            f"{_num(ab['detection_rate'], '.1%')}, {_num(ab['median_delay'])}, "
            f"{_num(ab['alarms_per_detected'], '.2f')} | {_num(gr['detection_rate'], '.1%')}, "
            f"{_num(gr['median_delay'])} | {reset} |"
        )
    return [*lines, ""]


def _recovery(s: dict[str, Any]) -> list[str]:
    generators = list(s["recovery"][0]["by_generator"]) if s["recovery"] else []
    lines = [
        "## Recovery after an abrupt change (HoeffdingTree)",
        "",
        "| policy | accuracy | "
        + " | ".join(generators)
        + " | alarms per detected change | reset loops | warm swaps / resets |",
        "| --- | ---: |" + " ---: |" * len(generators) + " ---: | ---: | ---: |",
    ]
    for r in s["recovery"]:
        swaps = "-" if r["resets"] is None else f"{r['warm_swaps']} / {r['resets']}"
        loops = "-" if r["reset_loops"] is None else f"{r['reset_loops']} of {r['streams']}"
        cells = [_num(r["by_generator"].get(g), ".3f") for g in generators]
        lines.append(
            f"| {r['policy']} | {r['accuracy']:.3f} | "
            + " | ".join(cells)
            + f" | {_num(r['alarms_per_detected'], '.2f')} | {loops} | {swaps} |"
        )
    return [*lines, "", "![median delay against false alarms; recovery](drift.png)", ""]


def _data(s: dict[str, Any]) -> list[str]:
    dd = s["data_drift"]
    before, after = dd["margin"]
    lines = [
        "## Data drift: River's Occupancy series (annotated change points)",
        "",
        f'`DebouncedDetector("ADWIN", debounce=D)` on each of the 4 sensors (temperature, humidity, light, '
        f"CO2; {OCCUPANCY_SAMPLES} samples). The 5 annotators' {len(dd['points'])} distinct change points "
        f"(annotations within 5 samples merged; {len(dd['majority'])} marked by a majority) count as found "
        f"when any sensor alarms from {before} samples before to {after} after (TCPD's margin of 5, plus "
        f"ADWIN's check interval of 32 samples). Those windows cover {dd['coverage']:.0%} of the series, so "
        "a false alarm is one outside all of them. `clock=1`: ADWIN checks at every sample.",
        "",
        "| detector | D | alarms | change points found | majority points found | false alarms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in dd["rows"]:
        lines.append(
            f"| {r['detector']} | {r['debounce']} | {r['alarms']} | {r['found']} / {len(dd['points'])} | "
            f"{r['found_majority']} / {len(dd['majority'])} | {r['false_alarms']} |"
        )
    first = dd["rows"][0]
    lines += [
        "",
        "Change points (annotators): " + ", ".join(f"{p} ({k})" for p, k in dd["points"]) + ". Alarms of "
        f"{first['detector']} at D={first['debounce']}: "
        + "; ".join(f"{name} {found}" for name, found in first["by_feature"].items())
        + ".",
    ]
    return [*lines, ""]


def chart(s: dict[str, Any], path: Path) -> None:
    """Median delay against false alarms per detector (abrupt changes), and recovery accuracy per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1.1, 1]})
    spots: dict[tuple[float, float], dict[int, list[str]]] = {}
    for row in s["sweep"]:
        if row["abrupt"]["median_delay"] is not None:
            xy = (row["stationary"]["per_100k"], row["abrupt"]["median_delay"])
            spots.setdefault(xy, {}).setdefault(row["warmup"], []).append(str(row["debounce"]))
    for n, ((x, y), by_w) in enumerate(sorted(spots.items(), key=lambda spot: spot[0][::-1])):
        left.scatter(x, y, s=14, color="0.6", zorder=1)
        pairs = [f"W{w}/D{'+'.join(ds)}" for w, ds in by_w.items()]
        text = "; ".join(pairs) if len(pairs) <= 2 else f"{sum(map(len, by_w.values()))} W/D pairs"
        # Below and above in turn: neighbours on one delay stay readable.
        left.annotate(text, (x, y), xytext=(4, -10 if n % 2 else 5), textcoords="offset points", fontsize=6,
                      color="0.45")  # fmt: skip
    markers = "os^Dv"
    for i, row in enumerate(s["detectors"]):
        x, y = row["stationary"]["per_100k"], row["abrupt"]["median_delay"]
        if y is not None:  # shrinking hollow markers: variants on the same spot stay visible
            left.scatter(x, y, s=160 - 25 * i, marker=markers[i % 5], facecolors="none", edgecolors=f"C{i}",
                         linewidths=1.5, label=row["variant"], zorder=2)  # fmt: skip
    left.axvline(0.5, color="0.7", linestyle="--", linewidth=1)
    left.set_xlabel("false alarms per 100k stationary events (dashed: the 0.5 target)")
    left.set_ylabel("median detection delay, abrupt change (events)")
    left.set_title("delay against false alarms (grey: driftline's W/D sweep)")
    left.legend(fontsize=7, loc="upper right")
    recs = [r for r in s["recovery"] if r["accuracy"] is not None]
    names = [textwrap.fill(r["policy"], 34) for r in recs]
    bars = right.barh(names, [r["accuracy"] for r in recs], color="tab:blue")
    right.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    right.set_xlabel(f"accuracy over the {s['plan']['horizon']:,} events after an abrupt change")
    right.set_xlim(min([r["accuracy"] for r in recs] + [1.0]) - 0.05, 1.0)
    right.invert_yaxis()
    right.tick_params(axis="y", labelsize=7)
    right.set_title("recovery (HoeffdingTree)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
