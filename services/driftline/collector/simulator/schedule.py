"""The drift schedule: when each concept change starts and ends, compiled from fractions of a run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

DriftKind = Literal["abrupt", "gradual", "incremental", "recurring"]
KINDS: tuple[DriftKind, ...] = ("abrupt", "gradual", "incremental", "recurring")


@dataclass(frozen=True)
class DriftPoint:
    """One true concept change of a stream, from event ``start_seq`` (inclusive) to ``end_seq`` (exclusive).

    An abrupt or recurring change is complete at ``start_seq`` (``end_seq == start_seq + 1``);
    gradual and incremental ones move from the old concept to the new over the window.
    """

    stream: str
    kind: DriftKind
    start_seq: int
    end_seq: int
    from_concept: str
    to_concept: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The fewest events of a stream that leave every drift of :func:`default_schedule` room of its own.
MIN_EVENTS = 17


def default_schedule(stream: str, events: int, concepts: tuple[str, str] = ("A", "B")) -> list[DriftPoint]:
    """Every kind once: abrupt at 20%, gradual 35-45%, incremental 55-65%, recurring switches 75-95%."""
    if events < MIN_EVENTS:
        raise ValueError(
            f"{events} events per stream are too few for the drift schedule: its drifts need at least {MIN_EVENTS}"
        )
    a, b = concepts

    def at(fraction: float) -> int:
        return int(events * fraction)

    points = [
        DriftPoint(stream, "abrupt", at(0.20), at(0.20) + 1, a, b),
        DriftPoint(stream, "gradual", at(0.35), at(0.45), b, a),
        DriftPoint(stream, "incremental", at(0.55), at(0.65), a, b),
    ]
    current, other = b, a
    for fraction in (0.75, 0.80, 0.85, 0.90):
        points.append(DriftPoint(stream, "recurring", at(fraction), at(fraction) + 1, current, other))
        current, other = other, current
    return points


def check_schedule(points: list[DriftPoint], initial: str) -> None:
    """Points must be ordered, non-overlapping and chained (each starts from the previous concept)."""
    concept, end = initial, 0
    for p in points:
        if p.start_seq < end or p.end_seq <= p.start_seq:
            raise ValueError(f"drift point {p} overlaps the previous one or is empty")
        if p.from_concept != concept:
            raise ValueError(f"drift point {p} starts from {p.from_concept!r} but the concept is {concept!r}")
        concept, end = p.to_concept, p.end_seq


def concept_at(points: list[DriftPoint], initial: str, seq: int) -> tuple[str, str, float]:
    """``(from, to, progress)`` at event ``seq``: progress 0 is all ``from``, 1 all ``to``."""
    concept = initial
    for p in points:
        if seq < p.start_seq:
            break
        if seq < p.end_seq and p.kind in ("gradual", "incremental"):
            return p.from_concept, p.to_concept, (seq - p.start_seq + 1) / (p.end_seq - p.start_seq)
        concept = p.to_concept
    return concept, concept, 1.0
