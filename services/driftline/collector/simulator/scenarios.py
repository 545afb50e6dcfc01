"""Realistic scenarios: each concept says how likely the label is and how features look per label."""

from __future__ import annotations

from dataclasses import dataclass

#: (mean, standard deviation) of a feature's reading.
Normal = tuple[float, float]


@dataclass(frozen=True)
class Concept:
    """One relation between features and label: the positive rate and per-label feature distributions."""

    name: str
    positive_rate: float
    positive: dict[str, Normal]
    negative: dict[str, Normal]


@dataclass(frozen=True)
class Scenario:
    name: str  # also the stream the events are posted to
    units: dict[str, str]
    concepts: tuple[Concept, ...]
    nonnegative: frozenset[str] = frozenset()

    @property
    def features(self) -> list[str]:
        return list(self.units)

    def concept(self, name: str) -> Concept:
        return next(c for c in self.concepts if c.name == name)


ROOMS = Scenario(
    name="rooms",
    units={"temperature": "degC", "humidity": "percent", "co2": "ppm", "light": "lux"},
    nonnegative=frozenset({"humidity", "co2", "light"}),
    concepts=(
        # A: office hours; people switch lights on and breathe CO2 into the room.
        Concept(
            "A",
            0.4,
            positive={"temperature": (23.0, 1.0), "humidity": (45, 5), "co2": (950, 150), "light": (450, 80)},
            negative={"temperature": (20.5, 1.0), "humidity": (40, 5), "co2": (480, 60), "light": (80, 50)},
        ),
        # B: daylight season and screen work: occupied rooms are dim, empty ones bright.
        Concept(
            "B",
            0.5,
            positive={"temperature": (22.0, 1.0), "humidity": (50, 5), "co2": (800, 150), "light": (120, 60)},
            negative={"temperature": (21.0, 1.0), "humidity": (42, 5), "co2": (520, 60), "light": (520, 100)},
        ),
    ),
)

MACHINES = Scenario(
    name="machines",
    units={"vibration": "mm/s", "temperature": "degC", "current": "A"},
    nonnegative=frozenset({"vibration", "current"}),
    concepts=(
        # A: bearing wear: failing machines vibrate and run hot.
        Concept(
            "A",
            0.1,
            positive={"vibration": (12.0, 3.0), "temperature": (85, 6), "current": (30, 4)},
            negative={"vibration": (4.0, 1.5), "temperature": (60, 5), "current": (20, 3)},
        ),
        # B: a heavier product line: every machine vibrates more; failures show in motor current.
        Concept(
            "B",
            0.15,
            positive={"vibration": (7.0, 2.0), "temperature": (72, 5), "current": (42, 4)},
            negative={"vibration": (8.0, 2.0), "temperature": (74, 5), "current": (25, 3)},
        ),
    ),
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (ROOMS, MACHINES)}
