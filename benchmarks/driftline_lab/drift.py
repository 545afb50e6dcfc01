"""The whole of `driftline bench drift`: concept-drift detection and recovery on the errors of learning
models, and data-drift detection on an annotated real series, scored and reported in drift.json,
drift.md and drift.png. Pure in-process River; :mod:`driftline_lab.drift_streams` runs the streams.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from driftline.config.streams import DriftSpec
from driftline_lab.drift_report import report
from driftline_lab.drift_scores import (
    ARF,
    COLD,
    DRC,
    DRIFTLINE,
    EXPIRE,
    NONE,
    RAW,
    TODAY,
    WARM,
    Variant,
    by_generator,
    data_drift,
    detector_row,
    kind_errors,
    kind_row,
    recommend,
    recovery,
    targets,
)
from driftline_lab.drift_streams import (
    GENERATORS,
    INCREMENTAL,
    KINDS,
    MODELS,
    Case,
    Detection,
    DetectorSpec,
    PolicySpec,
    Recovery,
    Reset,
    detect,
    recover,
)

DEFAULTS = DriftSpec()
#: Seeds 0-9 tuned the defaults (warm-up, debounce, confirmation); the figures come from seeds from here on.
HELD_OUT = 1000


@dataclass
class Plan:
    """What one run measures; :meth:`quick` is the smoke run (under a minute)."""

    seeds: int = 3
    generators: tuple[str, ...] = GENERATORS
    models: tuple[str, ...] = MODELS
    start: int = 5_000  # events before each change: the model has learned the first concept
    horizon: int = 5_000  # a change is scored over this many events from its start
    stationary: int = 20_000  # events of each stationary control (per generator, seed and model)
    first_seed: int = HELD_OUT
    young: int = 5_000  # a model's first events: its error still falls in steps as it learns
    warmup: int = DEFAULTS.warmup  # driftline's defaults under test
    debounce: int = DEFAULTS.debounce
    confirm: int = DEFAULTS.confirm
    confirms: tuple[int, ...] = (200, 500, 1000)  # the young-model confirmation spans compared
    warmups: tuple[int, ...] = (0, 500, 2000, 5000)
    debounces: tuple[int, ...] = (500,)  # 1,000 and 2,000 lost to 500 on seeds 0-9
    arf: bool = True
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)

    @classmethod
    def quick(cls) -> Plan:
        # Agrawal: a learning tree's error falls in steps there, which two-sided detectors report.
        return cls(
            1,
            ("Agrawal", "Hyperplane"),
            start=1500,
            horizon=1500,
            stationary=5000,
            young=1500,
            warmup=min(DEFAULTS.warmup, 1500),
            confirms=(200,),
            warmups=(0,),
            debounces=(500,),
        )

    @property
    def seed_range(self) -> range:
        return range(self.first_seed, self.first_seed + self.seeds)

    def detector(self, name: str = "ADWIN", confirm: int | None = None) -> DetectorSpec:
        """driftline's detector ``name`` at the plan's debounce, confirming rises of young models over ``confirm``."""
        c = self.confirm if confirm is None else confirm
        return DetectorSpec(name, debounce=self.debounce, confirm=c, young=self.young if c else 0)


#: The detector families compared inside the judge (rising-only wrapper, same W, D and confirmation). KSWIN
#: is left out: a Kolmogorov-Smirnov test at every outcome, 3.7 ms each (ADWIN 3 µs), too slow to judge
#: every outcome of a fleet.
FAMILIES = ("CUSUM", "DDM", "HDDM_A", "HDDM_W", "PageHinkley")


def instances(plan: Plan) -> dict[str, DetectorSpec]:
    """Every detector instance watching the errors of the undisturbed models (warm-up is applied when scoring)."""
    specs = {RAW: DetectorSpec(raw=True), TODAY: DetectorSpec(rising_only=False, debounce=500)}
    for d in sorted({*plan.debounces, plan.debounce}):
        specs[f"ADWIN up {d}"] = DetectorSpec(debounce=d)
    for c in sorted({*plan.confirms, plan.confirm} - {0}):
        specs[f"ADWIN up {plan.debounce} confirm {c}"] = plan.detector(confirm=c)
    for name in FAMILIES:
        specs[f"{name} up"] = plan.detector(name)
    return specs


def _adwin(plan: Plan, confirm: int) -> str:
    return f"ADWIN up {plan.debounce}" + (f" confirm {confirm}" if confirm else "")


def variants(plan: Plan) -> list[Variant]:
    w, d, c = plan.warmup, plan.debounce, plan.confirm
    confirm = f", young rises confirmed over {c}" if c else ""
    return [
        Variant(f"{DRIFTLINE}: ADWIN rising-only, W={w}, D={d}{confirm}", _adwin(plan, c), w, d, DRIFTLINE),
        Variant("River ADWIN (raw, two-sided)", RAW, short=RAW),
        Variant("today: ADWIN wrapper two-sided, D=500, no warm-up", TODAY, 0, 500, TODAY),
        *(
            Variant(f"{n} wrapper rising-only, W={w}, D={d}{confirm}", f"{n} up", w, d, f"{n} wrapper")
            for n in FAMILIES
        ),
    ]


def young_means(plan: Plan) -> list[Variant]:
    """The ways to keep a young model quiet, at driftline's D: a longer warm-up W, or a rise confirmed (C)."""
    d = plan.debounce
    rows = [Variant(f"W={w}", _adwin(plan, 0), w, d) for w in sorted({*plan.warmups, plan.warmup})]
    rows += [Variant(f"W={plan.warmup}, C={c}", _adwin(plan, c), plan.warmup, d) for c in plan.confirms]
    return rows


def sweep(plan: Plan) -> list[Variant]:
    return [Variant(f"W={w}, D={d}", _adwin(plan, plan.confirm) if d == plan.debounce else f"ADWIN up {d}", w, d)
            for w in sorted({*plan.warmups, plan.warmup}) for d in plan.debounces]  # fmt: skip


def policies(plan: Plan) -> dict[str, PolicySpec]:
    """The recovery contenders on a HoeffdingTree (ARF runs apart: it is by far the slowest)."""
    ours = plan.detector()
    return {
        NONE: "none",
        WARM: Reset(ours, warm=True, warmup=plan.warmup),
        COLD: Reset(ours, warm=False, warmup=plan.warmup),
        EXPIRE: Reset(ours, warm=True, warmup=plan.warmup, expire=1000),
        "River ADWIN raw, cold reset": Reset(DetectorSpec(raw=True), warm=False, per_version=False, lasting=False),
        "HDDM_A wrapper, cold reset": Reset(plan.detector("HDDM_A"), warm=False, warmup=plan.warmup),
        DRC: "DriftRetrainingClassifier",
    }


def sweep_policies(plan: Plan) -> dict[str, PolicySpec]:
    """driftline's warm reset sweeping W at the default D, then D at the default W (the defaults are :data:`WARM`).

    A reset by an alarm keeps the new version quiet for max(W, D) anyway, so the full grid adds little.
    """
    pairs = [(w, plan.debounce) for w in sorted({*plan.warmups, plan.warmup})]
    pairs += [(plan.warmup, d) for d in plan.debounces]
    return {
        f"W={w}, D={d}": Reset(plan.detector() if d == plan.debounce else DetectorSpec(debounce=d), warmup=w)
        for w, d in dict.fromkeys(pairs)
        if (w, d) != (plan.warmup, plan.debounce)
    }


# Running: independent units of work, the largest first, over a pool of processes.


def cases(plan: Plan) -> list[Case]:
    out = []
    for g in plan.generators:
        for seed in plan.seed_range:
            for kind, width in KINDS.items():
                if kind == "incremental" and g not in INCREMENTAL:
                    continue
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
    h, y = plan.horizon, plan.young
    return {
        "plan": asdict(plan),
        "defaults": {"concept": DEFAULTS.concept, "on_alert": DEFAULTS.on_alert, "young": DEFAULTS.young},
        "kinds": {
            "errors": kind_errors(ds),
            "detectors": [kind_row(ds, v, h, y) for v in vs],
            "young_means": [kind_row(ds, v, h, y) for v in young_means(plan)],
        },
        "resets": {n: recoveries[n] for n in (WARM, COLD, EXPIRE, ARF) if n in recoveries},
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
