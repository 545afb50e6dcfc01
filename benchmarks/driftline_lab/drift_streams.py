"""What happens on one stream of `driftline bench drift`: the streams, the learners, the detectors and the
reset policies, each run in one pass over River's generated events, in process (no Kafka).

Streams are River ``synth`` generators. A change switches a generator's concept with River's
``ConceptDriftStream`` (the new concept's share of events follows a sigmoid of ``width`` events centred
``width / 2`` after the change start): SEA variant 0 -> 3 (10% label noise), Agrawal function 0 -> 2,
STAGGER function 0 -> 1, Mixed function 0 -> 1. Hyperplane and RandomRBFDrift drift continuously by
parameter; here they are held still (``mag_change`` / ``change_speed`` 0) and the change is a switch to
the same generator with another seed, i.e. another random hyperplane or other random centroids.
An *incremental* change (Hyperplane, RandomRBFDrift only) sets the held generator moving at the change
start (``mag_change`` / ``change_speed``, :data:`INCREMENTAL`) and keeps it moving. A *recurring* change
returns to the first concept: the stream switches to the changed concept (abrupt) halfway to the change
start (:func:`undisturbed`), and back at the change start. Features go through the trainer's
``ModelInput``. River's generators send categories as integer codes
(STAGGER's size, colour and shape; Agrawal's elevel, car and zipcode), which it passes on as numbers, so
every model gets the same dict and reads them as ordered values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

from river import drift, forest, tree
from river.datasets import synth
from river.datasets.base import SyntheticDataset
from river.drift.datasets import Occupancy

from driftline.learning.model_input import ModelInput
from driftline.modelspec import build_model
from driftline.rules.detectors import BINARY_DETECTORS, DebouncedDetector, make_detector

GENERATORS = ("SEA", "Agrawal", "STAGGER", "Hyperplane", "RandomRBFDrift", "Mixed")
#: Change kinds and their widths in events (None: a stationary control; incremental: no width, it keeps on).
KINDS: dict[str, int | None] = {
    "abrupt": 100,
    "gradual 1000": 1000,
    "gradual 5000": 5000,
    "incremental": 0,
    "recurring": 100,
    "stationary": None,
}
#: Generators that drift by parameter, and the speed an incremental change sets: Hyperplane's weights move
#: on 5 of its 10 features, RandomRBFDrift's centroids cross the unit cube in 1,000 events. Both lowered a
#: tree's accuracy by 5-15 points over the next 2,000 events (slower ones, River's defaults, by none).
INCREMENTAL = {"Hyperplane": 0.005, "RandomRBFDrift": 0.001}
MODELS = ("HoeffdingTree", "logistic")
AFTER_SEED = 7919  # the changed concept's generator draws from its own seed
TAIL = 500  # events generated past a stream's end, so an alarm near the end still has an "after"


@dataclass(frozen=True)
class Case:
    """One stream: a generator, a change kind and a seed; the change starts at event ``start``."""

    generator: str
    kind: str
    seed: int
    start: int  # first event of the change; unused for a stationary control
    length: int  # events scored; TAIL more are generated


def concept(generator: str, seed: int, changed: bool, again: bool = False) -> SyntheticDataset:
    """The generator's concept before the change, or (``changed``) after it; ``again``: the first concept
    back, with other events where the generator's seed does not also draw the concept."""
    s = seed + AFTER_SEED if changed else seed
    if again and generator in ("SEA", "Agrawal", "STAGGER", "Mixed"):
        s = seed + 2 * AFTER_SEED
    match generator:
        case "SEA":
            return synth.SEA(variant=3 if changed else 0, noise=0.1, seed=s)
        case "Agrawal":
            return synth.Agrawal(classification_function=2 if changed else 0, seed=s)
        case "STAGGER":
            return synth.STAGGER(classification_function=1 if changed else 0, seed=s)
        case "Hyperplane":
            return synth.Hyperplane(seed=s, mag_change=0.0, n_drift_features=5)
        case "RandomRBFDrift":
            return synth.RandomRBFDrift(seed_model=s, seed_sample=s, change_speed=0.0)
        case "Mixed":
            return synth.Mixed(classification_function=1 if changed else 0, seed=s)
    raise ValueError(f"unknown generator {generator!r}")


def undisturbed(case: Case) -> int:
    """Events of the case's first concept before anything changes: a recurring change leaves it halfway, a
    gradual one sends under 2% of events from the new concept until width / 2 before its start."""
    width = KINDS[case.kind]
    if width is None:
        return case.length
    if case.kind == "recurring":
        return case.start // 2
    return max(0, case.start - width // 2) if case.kind.startswith("gradual") else case.start


def events(case: Case) -> Iterator[tuple[dict[str, float], Any]]:
    """The case's events, features encoded as the trainer's models receive them."""
    width = KINDS[case.kind]
    before = concept(case.generator, case.seed, changed=False)
    if width is None:
        stream: SyntheticDataset = before
    elif case.kind == "incremental":
        yield from _incremental(case, before)
        return
    elif case.kind == "recurring":
        away = concept(case.generator, case.seed, changed=True)
        gone = undisturbed(case)
        again = concept(case.generator, case.seed, False, again=True)
        back = synth.ConceptDriftStream(
            away, again, position=case.start - gone + width // 2, width=width, seed=case.seed + 1
        )
        stream = synth.ConceptDriftStream(before, back, position=gone + width // 2, width=width, seed=case.seed)
    else:
        # River computes exp(4 * position / width) at the first event: width >= 4 * position / 700.
        position = case.start + width // 2
        after = concept(case.generator, case.seed, changed=True)
        stream = synth.ConceptDriftStream(before, after, position=position, width=width, seed=case.seed)
    inputs = ModelInput()
    for x, y in islice(iter(stream), case.length + TAIL):
        yield inputs.encode(x).numbers, y


def _incremental(case: Case, stream: SyntheticDataset) -> Iterator[tuple[dict[str, float], Any]]:
    """The held generator's events, moving from the change start on."""
    if case.generator not in INCREMENTAL:
        raise ValueError(f"{case.generator} has no incremental change; only {', '.join(INCREMENTAL)}")
    inputs = ModelInput()
    for i, (x, y) in enumerate(islice(iter(stream), case.length + TAIL)):
        if i == case.start:  # both generators read their speed at every event
            setattr(
                stream, "mag_change" if case.generator == "Hyperplane" else "change_speed", INCREMENTAL[case.generator]
            )
        yield inputs.encode(x).numbers, y


def make_model(name: str, seed: int = 42) -> Any:
    """A learner of the suite: River's HoeffdingTree, driftline's logistic preset, or River's ARF."""
    if name == "HoeffdingTree":
        return tree.HoeffdingTreeClassifier()
    if name == "ARF":
        return forest.ARFClassifier(seed=seed)
    return build_model(name)


# Detectors: one call per 0/1 error, answering None, "warning" or "drift".

Alarmer = Callable[[float], str | None]


@dataclass(frozen=True)
class DetectorSpec:
    """A detector of the error stream: River's own (``raw``) or driftline's wrapper around it."""

    name: str = "ADWIN"
    raw: bool = False
    rising_only: bool = True
    debounce: int = 500
    confirm: int = 0  # a young model's rise must last this many errors (DriftSpec.confirm) ...
    young: int = 0  # ... within this many errors of its start (DriftSpec.young)

    def build(self) -> Alarmer:
        """A fresh detector: one call per 0/1 error."""
        if self.raw:
            return _raw(self.name)
        wrapper = DebouncedDetector(
            self.name,
            debounce=self.debounce,
            warnings=True,
            rising_only=self.rising_only,
            confirm=self.confirm,
            young=self.young,
        )

        def update(error: float) -> str | None:
            alarm = wrapper.update(error)
            return None if alarm is None else alarm.level

        return update


def _raw(name: str) -> Alarmer:
    detector = make_detector(name)
    binary = name in BINARY_DETECTORS

    def update(error: float) -> str | None:
        detector.update(bool(error) if binary else error)
        return "drift" if detector.drift_detected else None

    return update


def _mean(errors: bytearray, lo: int, hi: int) -> float | None:
    part = errors[max(0, lo) : max(0, hi)]
    return sum(part) / len(part) if part else None


def rose(errors: bytearray, i: int, span: int = TAIL) -> bool:
    """Whether the error mean of the ``span`` events after event ``i`` exceeds that of the ``span`` up to it."""
    before, after = _mean(errors, i + 1 - span, i + 1), _mean(errors, i + 1, i + 1 + span)
    return before is not None and after is not None and after > before


def rose_before(errors: bytearray, i: int, span: int = TAIL) -> bool:
    """Whether the error mean of the ``span`` events up to event ``i`` exceeds that of the ``span`` before them.

    What a detector can have seen: a short rise that the model soon learns away is a rise here, and a
    fall by :func:`rose`.
    """
    before, recent = _mean(errors, i + 1 - 2 * span, i + 1 - span), _mean(errors, i + 1 - span, i + 1)
    return before is not None and recent is not None and recent > before


# Detection: each model learns the stream undisturbed; every detector watches each model's errors.

Alarms = list[tuple[int, bool, bool]]  # (event index, rose around it, rose up to it) of each drift alarm


@dataclass
class Detection:
    """Every detector's drift alarms on one model's errors, and that model's error around the change."""

    case: Case
    model: str
    alarms: dict[str, Alarms]
    error_before: float  # over the 1000 events before the change start
    error_after: float  # over the 1000 events from it


def detect(case: Case, models: tuple[str, ...], specs: dict[str, DetectorSpec]) -> list[Detection]:
    """Run ``models`` prequentially on the case (predict, then learn) and ``specs`` on their errors."""
    learners = {m: make_model(m, case.seed) for m in models}
    errors = {m: bytearray() for m in models}
    found: dict[str, dict[str, list[int]]] = {m: {k: [] for k in specs} for m in models}
    watchers = {m: {k: spec.build() for k, spec in specs.items()} for m in models}
    for i, (x, y) in enumerate(events(case)):
        for m, model in learners.items():
            error = int(model.predict_one(x) != y)
            model.learn_one(x, y)
            errors[m].append(error)
            if i >= case.length:
                continue
            for k, watch in watchers[m].items():
                if watch(float(error)) == "drift":
                    found[m][k].append(i)
    out = []
    for m in models:
        e = errors[m]
        lo, hi = max(0, case.start - 1000), case.start + 1000
        out.append(
            Detection(
                case,
                m,
                {k: [(i, rose(e, i), rose_before(e, i)) for i in positions] for k, positions in found[m].items()},
                sum(e[lo : case.start]) / max(1, case.start - lo),
                sum(e[case.start : hi]) / max(1, len(e[case.start : hi])),
            )
        )
    return out


# Policies: what a drift alarm does to the served model.


@dataclass(frozen=True)
class Reset:
    """A reset policy: ``detector`` on the served model's errors; a drift replaces the model.

    ``warm``: a warning starts a background model that a drift swaps in (cold when none runs).
    ``per_version``: every model version gets a fresh detector, as the monitor does; otherwise one
    detector sees the whole stream (River's wrappers). ``warmup``: a new version's first outcomes may
    not alarm. ``lasting``: the debounce outlives the reset it causes. ``expire``: a background model
    that no drift followed within this many outcomes of its warning is dropped (None: kept until a drift).
    """

    detector: DetectorSpec
    warm: bool = True
    per_version: bool = True
    warmup: int = 0
    lasting: bool = True
    expire: int | None = None


class Policy:
    """A served model and how it is replaced; :meth:`step` answers whether its prediction was right."""

    def __init__(self, make: Callable[[], Any], reset: Reset | None = None) -> None:
        self.make = make
        self.reset = reset
        self.model = make()
        self.background: Any = None
        self.background_since = 0
        self.alarms: list[int] = []
        self.swaps = 0  # warm resets
        self.watch = reset.detector.build() if reset else None
        self.quiet_until = reset.warmup if reset else 0

    def step(self, i: int, x: dict[str, float], y: Any) -> bool:
        right = self.model.predict_one(x) == y
        self.model.learn_one(x, y)
        if self.background is not None:
            self.background.learn_one(x, y)
        if self.watch is None or self.reset is None:
            return right
        expire = self.reset.expire
        if expire is not None and self.background is not None and i - self.background_since > expire:
            self.background = None  # its warning was not a change: it learned the old concept
        level = self.watch(0.0 if right else 1.0)
        if level is None or i < self.quiet_until:
            return right
        if level == "warning":
            if self.reset.warm and self.background is None:
                self.background, self.background_since = self.make(), i
            return right
        self.alarms.append(i)
        if self.reset.warm and self.background is not None:
            self.model, self.swaps = self.background, self.swaps + 1
        else:
            self.model = self.make()
        self.background = None
        if self.reset.per_version:
            self.watch = self.reset.detector.build()
        # The new version starts at the next event: quiet for its warm-up, and the debounce if it lasts.
        quiet = max(self.reset.warmup, self.reset.detector.debounce if self.reset.lasting else 0)
        self.quiet_until = i + 1 + quiet
        return right


class River(Policy):
    """River's own adaptive learners (DriftRetrainingClassifier, ARF): they handle drift themselves."""

    def step(self, i: int, x: dict[str, float], y: Any) -> bool:
        right = self.model.predict_one(x) == y
        self.model.learn_one(x, y)
        return right


@dataclass
class Recovery:
    """One policy on one abrupt change: accuracy over the horizon after it, and its drift alarms."""

    case: Case
    policy: str
    accuracy: float
    alarms: list[int]
    swaps: int


PolicySpec = Reset | Literal["none", "DriftRetrainingClassifier", "ARF"]


def make_policy(spec: PolicySpec, seed: int) -> Policy:
    """A HoeffdingTree served as ``spec`` says ("none": never reset), or one of River's adaptive learners."""
    if spec == "DriftRetrainingClassifier":
        # Its default detector is DDM; the wrapped tree and its background twin start empty.
        return River(lambda: drift.DriftRetrainingClassifier(model=tree.HoeffdingTreeClassifier()))
    if spec == "ARF":
        return River(lambda: make_model("ARF", seed))
    return Policy(tree.HoeffdingTreeClassifier, None if spec == "none" else spec)


def recover(case: Case, policies: dict[str, PolicySpec], horizon: int) -> list[Recovery]:
    """Run every policy on the case side by side; score the served predictions of [start, start + horizon)."""
    running = {name: make_policy(spec, case.seed) for name, spec in policies.items()}
    hits = dict.fromkeys(running, 0)
    for i, (x, y) in enumerate(events(case)):
        if i >= case.length:
            break
        scored = case.start <= i < case.start + horizon
        for name, policy in running.items():
            if policy.step(i, x, y) and scored:
                hits[name] += 1
    return [Recovery(case, n, hits[n] / horizon, p.alarms, p.swaps) for n, p in running.items()]


# Data drift: River's Occupancy series (509 samples of 4 sensors) and its annotated change points.

OCCUPANCY = {"V1": "temperature", "V2": "humidity", "V3": "light", "V4": "CO2"}
OCCUPANCY_SAMPLES = Occupancy().n_samples


def occupancy_points(merge: int = 5) -> list[tuple[int, int]]:
    """Annotated change points as (first index, annotators): points of several annotators within ``merge`` are one."""
    dataset = Occupancy()
    marks = sorted((p, who) for who, points in dataset.annotations.items() for p in points)
    clusters: list[list[tuple[int, str]]] = []
    for p, who in marks:
        if clusters and p - clusters[-1][-1][0] <= merge:
            clusters[-1].append((p, who))
        else:
            clusters.append([(p, who)])
    return [(c[0][0], len({who for _, who in c})) for c in clusters]


def occupancy_alarms(debounce: int, params: dict[str, Any] | None = None) -> dict[str, list[int]]:
    """Drift alarm indices of ``DebouncedDetector("ADWIN")`` per sensor of the Occupancy series."""
    detectors = {f: DebouncedDetector("ADWIN", params, debounce=debounce) for f in OCCUPANCY}
    found: dict[str, list[int]] = {f: [] for f in OCCUPANCY}
    for i, (_, values) in enumerate(Occupancy()):
        for f, detector in detectors.items():
            alarm = detector.update(values[f])
            if alarm is not None and alarm.level == "drift":
                found[f].append(i)
    return found
