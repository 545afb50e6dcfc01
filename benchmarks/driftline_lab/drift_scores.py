"""The scores of `driftline bench drift`: detection of each kind of change, false alarms on young and
grown models, recovery after a change, data drift on Occupancy, and the targets they are held to."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from driftline_lab.drift_streams import (
    KINDS,
    OCCUPANCY,
    OCCUPANCY_SAMPLES,
    Detection,
    Recovery,
    occupancy_alarms,
    occupancy_points,
    undisturbed,
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


@dataclass(frozen=True)
class Variant:
    """A detector as scored: an instance that watched the errors, its alarms ignored for the first ``warmup``."""

    label: str
    instance: str
    warmup: int = 0
    debounce: int = 0
    short: str = ""


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


def young_alarms(ds: list[Detection], v: Variant, young: int) -> dict[str, Any]:
    """Alarms on young models: in every stream's first ``young`` events while its first concept holds.

    Each stream's model starts empty there and learns a concept that does not change, so every alarm is false.
    """
    streams = alarmed = alarms = events = 0
    for d in ds:
        end = min(young, undisturbed(d.case))
        found = sum(v.warmup <= i < end for i, _, _ in d.alarms[v.instance])
        streams, events, alarms, alarmed = streams + 1, events + end, alarms + found, alarmed + bool(found)
    return {
        "streams": streams,
        "events": events,
        "alarms": alarms,
        "streams_alarmed": alarmed,
        "per_100k": alarms / events * 1e5 if events else None,
    }


def grown_alarms(ds: list[Detection], v: Variant, young: int) -> dict[str, Any]:
    """Alarms on the stationary controls after their first ``young`` events, per 100k of those events."""
    controls = [d for d in ds if KINDS[d.case.kind] is None]
    events = sum(max(0, d.case.length - young) for d in controls)
    alarms = sum(max(young, v.warmup) <= i for d in controls for i, _, _ in d.alarms[v.instance])
    return {"events": events, "alarms": alarms, "per_100k": alarms / events * 1e5 if events else None}


def kind_row(ds: list[Detection], v: Variant, horizon: int, young: int) -> dict[str, Any]:
    """One detector on every kind of change, and its false alarms on young and grown models."""
    return {
        "variant": v.label,
        "short": v.short or v.label,
        "warmup": v.warmup,
        "young": young_alarms(ds, v, young),
        "grown": grown_alarms(ds, v, young),
        **{kind: detection(ds, v, kind, horizon) for kind in CHANGES},
    }


def kind_errors(ds: list[Detection]) -> dict[str, dict[str, Any]]:
    """Per kind of change and model: streams, and the mean error over the 1,000 events before and after it."""
    out: dict[str, dict[str, Any]] = {}
    for kind in CHANGES:
        for m in dict.fromkeys(d.model for d in ds):
            mine = [d for d in ds if d.case.kind == kind and d.model == m]
            if mine:
                out.setdefault(kind, {})[m] = {
                    "streams": len(mine),
                    "generators": list(dict.fromkeys(d.case.generator for d in mine)),
                    "error_before": _mean(d.error_before for d in mine),
                    "error_after": _mean(d.error_after for d in mine),
                }
    return out


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
