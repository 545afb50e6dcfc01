"""`driftline bench recall`: recurring concepts recalled from a model key's library, against cold and warm resets and
River's ARF.

Each stream switches abruptly between two concepts of one River generator, A -> B -> A -> B -> A, ``period``
events each (the concepts of `driftline bench drift`: SEA variant 0 / 3 with 10% noise, Agrawal function 0 / 2,
STAGGER function 0 / 1; each concept's events continue its own generator). A HoeffdingTree is served under the
trainer's ADWIN judge (rising only, warm-up and debounce at their defaults) and each policy; the recall policies
keep the replaced models in a :class:`~driftline.learning.library.ModelLibrary` and score them on the last
``window`` labelled events at each drift, as the trainer's model slot does. The figure of merit: accuracy over
the 1,000 labels after each recurrence (every switch back to a concept seen before), and after the first switch
(a concept never seen: recall has nothing to recall there, and must not hurt). In process, no Kafka. Writes
recall.json, recall.md and recall.png.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from river import tree

from driftline.learning.library import ModelLibrary
from driftline.learning.model_input import ModelInput
from driftline_lab.drift_streams import DetectorSpec, Policy, Reset, concept, make_policy

GENERATORS = ("SEA", "Agrawal", "STAGGER")
COLD, WARM, ARF = "cold reset", "warm reset", "River ARF"
AFTER = 1000  # labels scored after each switch


@dataclass
class Plan:
    """What one run measures; :meth:`quick` is the smoke run (seconds)."""

    seeds: int = 5
    generators: tuple[str, ...] = GENERATORS
    period: int = 3_000  # events per concept before the next switch
    segments: int = 5  # A, B, A, B, A
    library: int = 3  # models kept per key (the default under test)
    windows: tuple[int, ...] = (100, 200, 500)  # labelled events the library is scored on
    window: int = 200  # the default under test, first in the tables
    warmup: int = 500  # the judge's defaults
    debounce: int = 500
    arf: bool = True
    jobs: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))

    @classmethod
    def quick(cls) -> Plan:
        return cls(1, ("STAGGER",), period=2000, segments=3, windows=(200,), arf=False, jobs=1)


def recall_label(mode: str, window: int) -> str:
    return f"recall ({mode}, window {window})"


# The stream: two concepts of one generator, switching every ``period`` events.


def recurring(generator: str, seed: int, period: int, segments: int) -> Iterator[tuple[dict[str, float], Any]]:
    """A, B, A, B... ``period`` events each, every concept continuing its own generator; features as the trainer's."""
    sources = [iter(concept(generator, seed, changed=False)), iter(concept(generator, seed, changed=True))]
    inputs = ModelInput()
    for segment in range(segments):
        source = sources[segment % 2]
        for _ in range(period):
            x, y = next(source)
            yield inputs.encode(x).numbers, y


class Recall(Policy):
    """A reset policy with a library: at a drift the replaced model is kept and a trial begins; after ``window``
    labelled events the best of the library and the served model serves. What
    :class:`~driftline.learning.slot.ModelSlot` does, on a lone River model."""

    def __init__(
        self,
        make: Callable[[], Any],
        reset: Reset,
        size: int,
        window: int,
        in_sample: bool = False,
        margin: float = 0.0,
    ) -> None:
        super().__init__(make, reset)
        self.in_sample, self.margin = in_sample, margin
        self.library = ModelLibrary(size, window)
        self.recalls: list[int] = []  # events at which a library model came back
        self.largest = 0  # pickled bytes of the library at its fullest

    def step(self, i: int, x: dict[str, float], y: Any) -> bool:
        replaced, alarms = self.model, len(self.alarms)
        right = super().step(i, x, y)  # predicts, learns, judges, and at a drift resets as its Reset says
        library = self.library
        if len(self.alarms) != alarms:
            library.drifted(replaced, alarms)
        elif library.trial is not None and library.record(x, y, 0.0 if right else 1.0):
            self.largest = max(self.largest, len(pickle.dumps(library)))
            entry = library.recall(lambda model, x: model.predict_one(x))
            if entry is not None:
                library.keep(self.model, -1)
                self.model = entry.item
                self.background = None
                self.recalls.append(i)
                # A new version, as in the trainer: a fresh detector, quiet for its warm-up.
                self.watch = self.reset.detector.build()
                self.quiet_until = max(self.quiet_until, i + 1 + self.reset.warmup)
        return right

    def memory(self) -> dict[str, int]:
        """Pickled bytes of the library (models, and a full trial window) and of the served model."""
        return {
            "library_models": len(self.library.entries),
            "library_bytes": self.largest,
            "model_bytes": len(pickle.dumps(self.model)),
        }


def contenders(plan: Plan) -> dict[str, Callable[[int], Policy]]:
    ours = DetectorSpec(debounce=plan.debounce)
    warm, cold = Reset(ours, warm=True, warmup=plan.warmup), Reset(ours, warm=False, warmup=plan.warmup)
    out: dict[str, Callable[[int], Policy]] = {
        COLD: lambda seed: make_policy(cold, seed),
        WARM: lambda seed: make_policy(warm, seed),
    }
    # The default (warm reset, the default window) first; cold reset at it; the other windows under warm reset.
    for mode, reset, w in [
        ("warm", warm, plan.window),
        ("cold", cold, plan.window),
        *[("warm", warm, w) for w in plan.windows if w != plan.window],
    ]:
        out[recall_label(mode, w)] = lambda seed, r=reset, w=w: Recall(tree.HoeffdingTreeClassifier, r, plan.library, w)
    return out


def run_case(plan: Plan, generator: str, seed: int, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every named policy on one recurring stream: accuracy after each switch, its alarms and recalls."""
    made = {**contenders(plan), ARF: lambda s: make_policy("ARF", s)}
    running = {name: made[name](seed) for name in names}
    hits = {name: [0] * plan.segments for name in running}
    total = dict.fromkeys(running, 0)
    for i, (x, y) in enumerate(recurring(generator, seed, plan.period, plan.segments)):
        segment, offset = divmod(i, plan.period)
        for name, policy in running.items():
            right = policy.step(i, x, y)
            total[name] += right
            if right and offset < AFTER:
                hits[name][segment] += right
    n = plan.period * plan.segments
    rows = []
    for name, policy in running.items():
        rows.append(
            {
                "generator": generator,
                "seed": seed,
                "policy": name,
                "after_switch": [h / AFTER for h in hits[name]],
                "accuracy": total[name] / n,
                "alarms": list(policy.alarms),
                "recalls": list(getattr(policy, "recalls", [])),
                **({"memory": policy.memory()} if isinstance(policy, Recall) else {}),
            }
        )
    return rows


def units(plan: Plan) -> list[tuple[str, int, tuple[str, ...]]]:
    ours = tuple(contenders(plan))
    work = []
    for g in plan.generators:
        for seed in range(plan.seeds):
            work.append((g, seed, ours))
            if plan.arf:
                work.append((g, seed, (ARF,)))  # the slowest by far: a unit of its own
    return sorted(work, key=lambda u: u[2] != (ARF,))


def execute(plan: Plan, advance: Callable[[], None]) -> list[dict[str, Any]]:
    work = units(plan)
    rows: list[dict[str, Any]] = []
    if plan.jobs <= 1:
        for unit in work:
            rows += run_case(plan, *unit)
            advance()
        return rows
    with ProcessPoolExecutor(max_workers=plan.jobs) as pool:
        for future in as_completed([pool.submit(run_case, plan, *unit) for unit in work]):
            rows += future.result()
            advance()
    return rows


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def score(plan: Plan, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per policy: accuracy over the labels after a recurrence (switches 2 on), after the first switch, overall."""
    order = [*contenders(plan), ARF]
    names = sorted(dict.fromkeys(r["policy"] for r in rows), key=order.index)
    out = []
    for name in names:
        mine = [r for r in rows if r["policy"] == name]
        recurrence = [a for r in mine for a in r["after_switch"][2:]]
        by_generator = {
            g: _mean([a for r in mine if r["generator"] == g for a in r["after_switch"][2:]]) for g in plan.generators
        }
        memory = [r["memory"] for r in mine if "memory" in r]
        out.append(
            {
                "policy": name,
                "after_recurrence": _mean(recurrence),
                "by_generator": by_generator,
                "after_first_switch": _mean([r["after_switch"][1] for r in mine]),
                "accuracy": _mean([r["accuracy"] for r in mine]),
                "alarms_per_switch": _mean([len(r["alarms"]) / (plan.segments - 1) for r in mine]),
                "recalls": sum(len(r["recalls"]) for r in mine),
                "memory": {k: max(m[k] for m in memory) for k in memory[0]} if memory else None,
            }
        )
    return {"policies": out}


def run(plan: Plan, out: Path, command: str, say: Callable[[str], None], progress) -> Path:
    """Run the bench and write recall.json, recall.md and recall.png into ``out``; returns the markdown file."""
    began = time.perf_counter()
    work = units(plan)
    say(f"recall bench: {len(work)} streams on {plan.jobs} process(es)")
    rows = execute(plan, progress(len(work)))
    rows.sort(key=lambda r: (r["generator"], r["seed"], r["policy"]))
    scores = score(plan, rows)
    scores["seconds"] = round(time.perf_counter() - began, 1)
    data = {
        "command": command,
        "plan": {k: v for k, v in asdict(plan).items() if k != "jobs"},
        "python": platform.python_version(),
        **scores,
        "streams": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "recall.json").write_text(json.dumps(data, indent=1) + "\n")
    chart(data, out / "recall.png")
    path = out / "recall.md"
    path.write_text(report(data))
    return path


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "-" if value is None else format(value, fmt)


def report(data: dict[str, Any]) -> str:
    plan = data["plan"]
    generators = plan["generators"]
    lines = [
        "# Recurring concepts: recall from the library, against resets and ARF",
        "",
        f"Made by `{data['command']}` in {data['seconds']} s (Python {data['python']}). "
        f"{plan['seeds']} seed(s) of {', '.join(generators)}; each stream switches A -> B -> A... every "
        f"{plan['period']:,} events ({plan['segments']} segments), abruptly. A HoeffdingTree under driftline's ADWIN "
        f"judge (rising only, warm-up {plan['warmup']}, debounce {plan['debounce']}); the recall policies keep "
        f"{plan['library']} replaced models per key and score them on the `window` labelled events after each "
        "drift, against the model the reset served (its errors on them, each predicted before it was learned); the "
        "best serves. A recurrence is every switch back to a concept seen before (switches 2 on).",
        "",
        f"| policy | accuracy, {AFTER:,} labels after a recurrence | "
        + " | ".join(generators)
        + f" | {AFTER:,} after the first switch (new concept) | whole stream | alarms per switch | recalls |",
        "| --- | ---: |" + " ---: |" * len(generators) + " ---: | ---: | ---: | ---: |",
    ]
    for p in data["policies"]:
        cells = [_num(p["by_generator"].get(g)) for g in generators]
        lines.append(
            f"| {p['policy']} | {_num(p['after_recurrence'])} | "
            + " | ".join(cells)
            + f" | {_num(p['after_first_switch'])} | {_num(p['accuracy'])} | {_num(p['alarms_per_switch'], '.2f')} "
            f"| {p['recalls']} |"
        )
    memory = [(p["policy"], p["memory"]) for p in data["policies"] if p["memory"]]
    if memory:
        lines += [
            "",
            "## Memory per key (pickled, as in a checkpoint; largest over the streams)",
            "",
            "| policy | models in the library at the end | library bytes, fullest (with a full trial) | "
            "served model bytes |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, m in memory:
            lines.append(f"| {name} | {m['library_models']} | {m['library_bytes']:,} | {m['model_bytes']:,} |")
    return "\n".join([*lines, "", "![accuracy after each switch](recall.png)", ""])


def chart(data: dict[str, Any], path: Path) -> None:
    """Mean accuracy over the labels after each switch, per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plan = data["plan"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    segments = range(plan["segments"])
    for p in data["policies"]:
        mine = [r for r in data["streams"] if r["policy"] == p["policy"]]
        ys = [statistics.fmean(r["after_switch"][s] for r in mine) for s in segments]
        ax.plot(list(segments), ys, marker="o", label=p["policy"])
    ax.set_xticks(list(segments), ["A (start)"] + [f"{'AB'[s % 2]} ({'new' if s == 1 else 'again'})"
                                                   for s in segments[1:]])  # fmt: skip
    ax.set_ylabel(f"accuracy, {AFTER:,} labels after the switch")
    ax.set_title(f"recurring concepts ({', '.join(plan['generators'])}; {plan['seeds']} seed(s))")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
