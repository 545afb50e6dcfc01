"""The chaos run's nemesis: a seeded schedule of faults, and the thread that injects them.

:func:`schedule` is pure: the same seed, length and targets give the same faults, so a run can be
replayed. A fault strikes one target, sometimes two at once, at a time since the run began, and
lasts a pause before the targets are started again. Targets are named ``<kind>-<n>``: a service
process (``trainer``, ``monitor``, ``collector``, ``archiver``) is killed with SIGKILL, a Kafka
node (``kafka``) is killed with SIGKILL as in a power cut, and Mosquitto (``mosquitto``) is stopped
(SIGTERM: its queued QoS 1 messages are on disk only once it saved them, so a SIGKILL would lose
what it acknowledged to devices; see docs/runbook.md). Kinds are drawn as from a shuffled deck,
every kind once before any repeats, so a short run meets every kind.

:class:`Nemesis` injects the schedule through :class:`Targets` (the run's processes): a fault
strikes once it is due and its targets are up again (and, for a Kafka node, every node is: one
node down at most, as the topics keep three replicas and need two in sync); while it waits,
later faults whose targets are up go first. The same faults strike, in an order timing decides.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


def kind_of(target: str) -> str:
    """``trainer-2`` -> ``trainer``."""
    return target.rpartition("-")[0] or target


@dataclass(frozen=True)
class Fault:
    """One planned fault: at ``at_s`` seconds into the run, ``targets`` go down for ``pause_s``."""

    at_s: float
    targets: tuple[str, ...]
    pause_s: float

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(kind_of(t) for t in self.targets)


@dataclass(frozen=True)
class Spacing:
    """How faults are spread: seconds between two, how long each lasts, how often two strike at once."""

    gap_s: tuple[float, float] = (10.0, 40.0)
    pause_s: tuple[float, float] = (2.0, 20.0)
    pair_chance: float = 0.25


def schedule(seed: int, seconds: float, targets: list[str], spacing: Spacing = Spacing()) -> list[Fault]:
    """The faults of a run of ``seconds``, drawn from ``seed`` over ``targets`` (``<kind>-<n>`` names)."""
    if not targets:
        raise ValueError("the nemesis needs at least one target")
    rng = random.Random(seed)
    by_kind: dict[str, list[str]] = {}
    for target in sorted(targets):
        by_kind.setdefault(kind_of(target), []).append(target)
    deck: list[str] = []

    def draw(exclude: set[str]) -> str | None:
        nonlocal deck
        if not deck:
            deck = sorted(by_kind)
            rng.shuffle(deck)
        for kind in list(deck):
            if kind not in exclude:
                deck.remove(kind)
                return rng.choice(by_kind[kind])
        return None

    faults: list[Fault] = []
    t = rng.uniform(*spacing.gap_s) / 2
    while t < seconds:
        first = draw(set())
        assert first is not None
        chosen = [first]
        if len(by_kind) > 1 and rng.random() < spacing.pair_chance:
            # Two different kinds at once; never a second Kafka node (one may be down at most).
            second = draw({kind_of(first)})
            if second is not None:
                chosen.append(second)
        faults.append(Fault(round(t, 1), tuple(chosen), round(rng.uniform(*spacing.pause_s), 1)))
        t += rng.uniform(*spacing.gap_s)
    return faults


class Targets(Protocol):
    """What the nemesis strikes: the run's processes, by target name."""

    def up(self, target: str) -> bool: ...

    def strike(self, target: str) -> None: ...

    def restore(self, target: str) -> None:
        """Start ``target`` again and return once it is ready."""


@dataclass
class Injected:
    """A fault as it happened: seconds since the run began."""

    fault: Fault
    struck_s: float
    restored_s: float | None = None
    #: From restored to the first outcome committed after it; filled in by the run.
    first_outcome_s: float | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(eq=False)  # a thread: hashed by identity
class Nemesis(threading.Thread):
    """Injects ``faults`` into ``targets`` until they are done or :meth:`halt` is called."""

    faults: list[Fault]
    targets: Targets
    began: float = field(default_factory=time.monotonic)
    say: Callable[[str], None] = lambda _: None
    injected: list[Injected] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(daemon=True, name="nemesis")
        self._halt = threading.Event()

    def halt(self) -> None:
        """No new fault; those under way are restored before :meth:`run` returns."""
        self._halt.set()

    @property
    def through(self) -> bool:
        """Whether every fault of the schedule was injected (or the nemesis was halted)."""
        return len(self.injected) == len(self.faults) or self._halt.is_set()

    def _now(self) -> float:
        return time.monotonic() - self.began

    def _ready_for(self, fault: Fault) -> bool:
        """Its targets are up (not down from an earlier fault), and every Kafka node too if one is a target."""
        kafka = [t for f in self.faults for t in f.targets if kind_of(t) == "kafka"]
        needs = [*fault.targets, *(kafka if "kafka" in fault.kinds else [])]
        return all(self.targets.up(t) for t in needs)

    def run(self) -> None:
        """Strike each fault once it is due and its targets are ready, the earliest planned first; each is restored
        on a thread of its own after its pause, so a slow restore (a Kafka node's log recovery) holds up only the
        faults that need its target."""
        pending = list(self.faults)
        restoring: list[threading.Thread] = []
        try:
            while pending:
                due = [f for f in pending if f.at_s <= self._now()]
                fault = next((f for f in due if self._ready_for(f)), None)
                if fault is None:
                    if self._halt.wait(0.2):
                        return
                    continue
                pending.remove(fault)
                happened = Injected(fault, self._now())
                self.injected.append(happened)
                self.say(f"nemesis: {', '.join(fault.targets)} down for {fault.pause_s:g} s")
                for target in fault.targets:
                    self.targets.strike(target)
                thread = threading.Thread(target=self._restore, args=(happened,), daemon=True)
                thread.start()
                restoring.append(thread)
        finally:
            for thread in restoring:
                thread.join()

    def _restore(self, happened: Injected) -> None:
        time.sleep(happened.fault.pause_s)  # even when halted: a fault once struck lasts its pause
        try:
            for target in happened.fault.targets:
                self.targets.restore(target)
            happened.restored_s = self._now()
        except Exception as e:  # reported: a target that never came back fails the run's checks
            happened.error = str(e)
